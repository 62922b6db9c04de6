//! The steps of a rewrite that build the masked copy in the build place:
//! `prepare` (empty tables with the quarantine definitions), `copy:<t>`
//! (masked rows in key chunks: MySQL `INSERT ... SELECT`, PostgreSQL staged
//! through a temporary table so that parallel workers compute them), `index:<t>` (PostgreSQL:
//! keys and indexes after the data) and `constraints` (foreign keys among
//! the copied tables; PostgreSQL sequences to max+1).
//!
//! PostgreSQL runs each step in one transaction with its progress row
//! (exactly once). MySQL DDL commits implicitly: `prepare` drops and
//! recreates the build database, so it can simply run again; `constraints`
//! skips keys that already exist.

use std::collections::BTreeSet;

use crate::catalog::{
    CopyColumn, ForeignKeyDef, IndexDef, foreign_key_defs, pg_foreign_sequence_defaults,
    pg_index_defs, pg_table_comment,
};
use crate::chunk_checks::{Written, count_written, predicates};
use crate::chunk_key::ChunkKey;
use crate::chunk_sql::Filter;
use crate::db::Conn;
use crate::error::MaskError;
use crate::hooks::sync_owned_sequences;
use crate::plan::TablePlan;
use crate::progress::{
    ChunkWork, ChunkedStatement, Clock, ProgressLog, Start, begin_tx, end_tx, run_in_chunks,
};
use crate::publish::fk_checks_off;
use crate::rewrite_sql::{
    CopyRows, STAGE_TABLE, add_constraint_sql, add_foreign_keys_sql, comment_sql, copy_sql,
    create_like_sql, index_sql, masked_select_sql, own_sequence_sql, recreate_place_sql,
    stage_table, staged_copy_sql,
};
use crate::rules::Settings;
use crate::runner::mask_sets;
use crate::sql::{self, Dialect, TableRef, quote_ident};

/// One table of quarantine and its copy in build.
#[derive(Debug, Clone)]
pub(crate) struct TableCopy {
    /// The plan against the quarantine table (`plan.tref`).
    pub plan: TablePlan,
    /// The table in build.
    pub build: TableRef,
    /// `live.table`: how the table is named in step ids and reports.
    pub label: String,
    /// Columns to copy (generated columns excluded), in order.
    pub columns: Vec<CopyColumn>,
    /// Whether the rules file names this table.
    pub ruled: bool,
}

impl TableCopy {
    /// `(quoted column, expression)` of every copied column: the masking
    /// expression for masked columns, the
    /// column itself otherwise.
    pub(crate) fn select_list(&self, d: Dialect) -> Vec<(String, String)> {
        let masked = mask_sets(d, &self.plan);
        self.columns
            .iter()
            .map(|c| {
                let q = quote_ident(d, &c.name);
                let e = masked
                    .iter()
                    .find(|(m, _)| m == &q)
                    .map_or_else(|| q.clone(), |(_, e)| e.clone());
                (q, e)
            })
            .collect()
    }

    fn rows(&self) -> CopyRows<'static> {
        if self.plan.rules.truncate {
            CopyRows::None
        } else {
            CopyRows::All
        }
    }

    /// How the copy is cut into chunks; a truncated table copies nothing,
    /// in one statement.
    fn chunk_key(&self) -> &ChunkKey {
        static TRUNCATED: ChunkKey = ChunkKey::Whole(String::new());
        if self.plan.rules.truncate {
            &TRUNCATED
        } else {
            &self.plan.chunk_key
        }
    }

    /// The chunked copy of this table.
    pub(crate) fn statement<'a>(
        &'a self,
        d: Dialect,
        step: &'a str,
        settings: &Settings,
    ) -> ChunkedStatement<'a, CopyWork<'a>> {
        let src = &self.plan.tref;
        ChunkedStatement {
            step,
            what: format!("copying {src} into {}", self.build),
            source: src,
            key: self.chunk_key(),
            rewrites_source: false,
            threshold: settings.chunk_threshold,
            chunk_size: self.plan.rules.chunk_size.unwrap_or(settings.chunk_size),
            work: CopyWork {
                copy: self,
                cols: self.select_list(d),
            },
        }
    }

    /// Rows the build table must hold: quarantine's rows minus those the
    /// table action removes.
    pub(crate) async fn expected_rows(&self, conn: &mut Conn) -> Result<i64, MaskError> {
        let d = conn.dialect();
        let src = &self.plan.tref;
        if self.plan.rules.truncate {
            return Ok(0);
        }
        let sql = match &self.plan.rules.delete_where {
            Some(c) => sql::count_where_sql(d, src, &format!("({c}) IS NOT TRUE")),
            None => sql::count_sql(d, src),
        };
        Ok(conn
            .scalar_i64(&sql, &[])
            .await
            .map_err(MaskError::db(format!("counting rows of {src}")))?
            .unwrap_or(0))
    }
}

/// How a chunk of a copy writes its rows: MySQL `INSERT ... SELECT` with
/// the masking expressions; PostgreSQL staged through a temporary table
/// computed by `CREATE TEMPORARY TABLE AS` (which can use parallel workers,
/// unlike `INSERT ... SELECT`) and inserted into the build table, in the
/// chunk's transaction.
pub(crate) struct CopyWork<'a> {
    copy: &'a TableCopy,
    /// Select list.
    cols: Vec<(String, String)>,
}

impl std::fmt::Debug for CopyWork<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CopyWork({})", self.copy.build)
    }
}

impl ChunkWork for CopyWork<'_> {
    async fn apply(&self, conn: &mut Conn, rows: Option<&Filter>) -> Result<Written, sqlx::Error> {
        let d = conn.dialect();
        let c = self.copy;
        let (which, binds) = match rows {
            Some(f) => (CopyRows::Where(&f.cond), f.bind_refs()),
            None => (c.rows(), Vec::new()),
        };
        let del = c.plan.rules.delete_where.as_deref();
        let preds = predicates(d, &c.plan.columns);
        match d {
            Dialect::MySql => {
                let insert = copy_sql(d, &c.build, &c.plan.tref, &self.cols, which, del);
                let n = conn.execute(&insert, &binds).await?;
                // The chunk's rows of build: the same key condition.
                let violations = count_written(conn, &c.build, rows, &preds).await?;
                Ok(Written {
                    rows: n,
                    violations,
                    ahead: None,
                })
            }
            Dialect::Postgres => {
                let select = masked_select_sql(d, &c.plan.tref, &self.cols, which, del);
                let [setup, stage, insert] = staged_copy_sql(&c.build, &self.cols, &select);
                conn.raw(&setup).await?;
                conn.execute(&stage, &binds).await?;
                let violations = count_written(conn, &stage_table(), None, &preds).await?;
                let n = conn.raw(&insert).await?;
                conn.raw(&format!("DROP TABLE {}", quote_ident(d, STAGE_TABLE)))
                    .await?;
                Ok(Written {
                    rows: n,
                    violations,
                    ahead: None,
                })
            }
        }
    }
}

/// Copy one table (exactly once per chunk). `false` when stopped early.
pub(crate) async fn copy_table(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    step: &str,
    copy: &TableCopy,
    settings: &Settings,
    clock: &mut Clock,
) -> Result<bool, MaskError> {
    let stmt = copy.statement(conn.dialect(), step, settings);
    run_in_chunks(log, conn, &stmt, clock).await
}

/// Run `body` once for `step`: PostgreSQL in one transaction with the
/// locked progress row; MySQL (DDL commits implicitly) then mark it done.
macro_rules! once {
    ($log:expr, $conn:expr, $step:expr, $body:expr) => {{
        $log.ensure_row($conn, $step, None, &Start::Whole, None)
            .await
            .map_err(MaskError::db("creating progress"))?;
        match $conn.dialect() {
            Dialect::Postgres => {
                begin_tx($conn, $step).await?;
                let r: Result<(), MaskError> = async {
                    let prog = $log
                        .lock($conn, $step)
                        .await
                        .map_err(MaskError::db("locking progress"))?;
                    if !prog.done {
                        $body;
                        $log.save($conn, $step, None, true, 0, 1)
                            .await
                            .map_err(MaskError::db("recording progress"))?;
                    }
                    Ok(())
                }
                .await;
                end_tx($conn, r, $step).await
            }
            Dialect::MySql => {
                $body;
                $log.mark_done($conn, $step).await
            }
        }
    }};
}

async fn exec_all(conn: &mut Conn, stmts: &[String], what: &str) -> Result<(), MaskError> {
    for s in stmts {
        conn.raw(s)
            .await
            .map_err(MaskError::db(format!("{what}: {s}")))?;
    }
    Ok(())
}

/// `prepare`: drop and recreate build, create every table with the
/// definition of its quarantine table; PostgreSQL: table comments copied,
/// serial columns get their own sequence in build.
pub(crate) async fn prepare(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    build: &str,
    copies: &[TableCopy],
    charset: Option<(&str, &str)>,
) -> Result<(), MaskError> {
    let d = conn.dialect();
    once!(log, conn, "prepare", {
        let mut stmts = recreate_place_sql(d, build, charset);
        stmts.extend(
            copies
                .iter()
                .map(|c| create_like_sql(d, &c.build, &c.plan.tref)),
        );
        exec_all(conn, &stmts, "preparing the build place").await?;
        if d == Dialect::Postgres {
            carry_comments_and_sequences(conn, copies).await?;
        }
    })
}

/// PostgreSQL: what `LIKE` leaves behind: the table comment, and serial
/// defaults still calling quarantine's sequences.
async fn carry_comments_and_sequences(
    conn: &mut Conn,
    copies: &[TableCopy],
) -> Result<(), MaskError> {
    for c in copies {
        if let Some(comment) = pg_table_comment(conn, &c.plan.tref).await? {
            let what = format!("TABLE {}", c.build.quoted(Dialect::Postgres));
            exec_all(conn, &[comment_sql(&what, &comment)], "copying comments").await?;
        }
        for s in pg_foreign_sequence_defaults(conn, &c.build).await? {
            let stmts = own_sequence_sql(&c.build, &s)
                .map_err(|e| MaskError::Schema { problems: vec![e] })?;
            exec_all(conn, &stmts, "giving a serial column its own sequence").await?;
        }
    }
    Ok(())
}

/// `index:<t>` (PostgreSQL): primary key, unique and exclusion constraints,
/// then the other indexes of the quarantine table, same names.
pub(crate) async fn add_indexes(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    step: &str,
    copy: &TableCopy,
) -> Result<(), MaskError> {
    once!(log, conn, step, {
        let mut stmts = Vec::new();
        for def in pg_index_defs(conn, &copy.plan.tref).await? {
            stmts.extend(index_statements(copy, def)?);
        }
        exec_all(conn, &stmts, "adding keys and indexes").await?;
    })
}

/// The statements re-creating one constraint or index (and its comment) on
/// the build table.
fn index_statements(copy: &TableCopy, def: IndexDef) -> Result<Vec<String>, MaskError> {
    let d = Dialect::Postgres;
    let t = &copy.build;
    Ok(match def {
        IndexDef::Constraint {
            name,
            definition,
            comment,
        } => {
            let what = format!("CONSTRAINT {} ON {}", quote_ident(d, &name), t.quoted(d));
            std::iter::once(add_constraint_sql(t, &name, &definition))
                .chain(comment.map(|c| comment_sql(&what, &c)))
                .collect()
        }
        IndexDef::Index {
            name,
            indexdef,
            comment,
        } => {
            let create = index_sql(t, &name, &indexdef).ok_or_else(|| MaskError::Schema {
                problems: vec![format!(
                    "{}: index `{name}` has an unexpected definition: {indexdef}",
                    copy.plan.tref
                )],
            })?;
            let index = TableRef {
                schema: t.schema.clone(),
                table: name,
            };
            let what = format!("INDEX {}", index.quoted(d));
            std::iter::once(create)
                .chain(comment.map(|c| comment_sql(&what, &c)))
                .collect()
        }
    })
}

/// Foreign keys of quarantine whose parent is a copied table too.
pub(crate) async fn carried_foreign_keys(
    conn: &mut Conn,
    quarantine: &str,
    copies: &[TableCopy],
) -> Result<(Vec<ForeignKeyDef>, Vec<String>), MaskError> {
    let copied: BTreeSet<&str> = copies.iter().map(|c| c.plan.tref.table.as_str()).collect();
    let mut carried = Vec::new();
    let mut left = Vec::new();
    for fk in foreign_key_defs(conn, quarantine).await? {
        if fk.parent_schema == quarantine && copied.contains(fk.parent.as_str()) {
            carried.push(fk);
        } else {
            left.push(format!(
                "{quarantine}.{}: foreign key `{}` references {}.{} outside quarantine and is not carried into the published copy",
                fk.child, fk.name, fk.parent_schema, fk.parent
            ));
        }
    }
    Ok((carried, left))
}

/// `constraints`: foreign keys among the copied tables, pointing into build
/// (MySQL: added with `FOREIGN_KEY_CHECKS = 0`, checked by `verify`;
/// PostgreSQL: validated when added); PostgreSQL identity and serial
/// sequences set to max+1.
pub(crate) async fn add_constraints(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    quarantine: &str,
    build: &str,
    copies: &[TableCopy],
) -> Result<(), MaskError> {
    let d = conn.dialect();
    if d == Dialect::MySql {
        // Add keys in place, without a table rebuild (`verify` checks
        // orphans), even if a `before` hook turned checks on.
        fk_checks_off(conn).await?;
    }
    once!(log, conn, "constraints", {
        let (fks, _) = carried_foreign_keys(conn, quarantine, copies).await?;
        // MySQL re-runs this step after a crash: skip keys already there.
        let present: BTreeSet<(String, String)> = foreign_key_defs(conn, build)
            .await?
            .into_iter()
            .map(|fk| (fk.child, fk.name))
            .collect();
        let mut by_child: Vec<(&str, Vec<&ForeignKeyDef>)> = Vec::new();
        for fk in fks
            .iter()
            .filter(|fk| !present.contains(&(fk.child.clone(), fk.name.clone())))
        {
            match by_child.last_mut() {
                Some((c, v)) if *c == fk.child => v.push(fk),
                _ => by_child.push((&fk.child, vec![fk])),
            }
        }
        let stmts: Vec<String> = by_child
            .iter()
            .map(|(child, fks)| add_foreign_keys_sql(d, build, child, fks))
            .collect();
        exec_all(conn, &stmts, "adding foreign keys").await?;
        if d == Dialect::Postgres {
            sync_owned_sequences(conn, |t| t.schema == build)
                .await
                .map_err(MaskError::db("setting sequences to max+1"))?;
        }
    })
}
