//! The in-place mask step: the masking `UPDATE` of one table (or one leaf
//! partition), whole or chunk by chunk under the exactly-once protocol of
//! [`crate::progress`], counting the shape violations of the rows each
//! chunk writes ([`crate::chunk_checks`]).

use crate::chunk_checks::{Written, count_written, counted_update, predicates, run_counted};
use crate::chunk_sql::Filter;
use crate::db::Conn;
use crate::error::MaskError;
use crate::plan::{ColumnPlan, TablePlan};
use crate::progress::{ChunkWork, ChunkedStatement, Clock, ProgressLog, run_in_chunks};
use crate::rules::Settings;
use crate::runner::mask_sets;
use crate::sql::{self, Dialect, TableRef};

/// The masking `UPDATE` of one table, whole or for the rows of a chunk,
/// counting the shape violations among the rows it wrote
/// ([`crate::chunk_checks`]).
#[derive(Debug)]
struct UpdateWork<'a> {
    table: &'a TableRef,
    sets: Vec<(String, String)>,
    columns: &'a [ColumnPlan],
    predicates: Vec<String>,
}

impl ChunkWork for UpdateWork<'_> {
    async fn apply(&self, conn: &mut Conn, rows: Option<&Filter>) -> Result<Written, sqlx::Error> {
        let d = conn.dialect();
        let (update, binds) = match rows {
            None => (sql::update_all_sql(d, self.table, &self.sets), Vec::new()),
            Some(f) => (
                sql::update_where_sql(d, self.table, &self.sets, &f.cond),
                f.bind_refs(),
            ),
        };
        let ahead = rows.and_then(|f| f.ahead.as_deref());
        if self.predicates.is_empty() && ahead.is_none() {
            return conn.execute(&update, &binds).await.map(Written::rows);
        }
        match d {
            Dialect::Postgres => {
                let counted = counted_update(&update, self.columns, &self.predicates, ahead);
                run_counted(conn, &counted, &binds, ahead.is_some()).await
            }
            Dialect::MySql => {
                let n = conn.execute(&update, &binds).await?;
                let violations = count_written(conn, self.table, rows, &self.predicates).await?;
                Ok(Written {
                    rows: n,
                    violations,
                    ahead: None,
                })
            }
        }
    }
}

/// Mask one table. Returns `false` when it stopped early (deadline).
pub(crate) async fn mask_table(
    log: &ProgressLog<'_>,
    settings: &Settings,
    conn: &mut Conn,
    id: &str,
    p: &TablePlan,
    target: &TableRef,
    clock: &mut Clock,
) -> Result<bool, MaskError> {
    let stmt = ChunkedStatement {
        step: id,
        what: format!("masking {target}"),
        source: target,
        key: &p.chunk_key,
        rewrites_source: true,
        threshold: settings.chunk_threshold,
        chunk_size: p.rules.chunk_size.unwrap_or(settings.chunk_size),
        work: UpdateWork {
            table: target,
            sets: mask_sets(log.dialect(), p),
            columns: &p.columns,
            predicates: predicates(log.dialect(), &p.columns),
        },
    };
    run_in_chunks(log, conn, &stmt, clock).await
}
