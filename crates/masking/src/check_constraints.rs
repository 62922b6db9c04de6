//! CHECK constraints known before writing: a masked value the table's CHECK
//! constraints reject (`email LIKE '%@corp.com'`, `json_valid(doc)`, a length
//! bound) fails the `UPDATE` or the copy after part of it is written. Before
//! any write, each CHECK constraint of a table with masked columns is
//! evaluated against the masked values of a sample of its rows, and a
//! violation names the constraint, the clause and the columns to change.
//!
//! A sample, not the table: systematic conflicts (every masked e-mail leaves
//! the corporate domain) show on the first rows; a conflict only rare rows
//! hit still fails the run at write time (rewrite: nothing published; in
//! place: the chunk rolls back and the run stops).

use crate::catalog::columns;
use crate::db::{Bind, Conn, Val};
use crate::error::{MaskError, is_transient};
use crate::sql::{Dialect, TableRef};

/// Rows of the sample each CHECK constraint is evaluated on.
pub(crate) const SAMPLE_ROWS: u32 = 1000;

/// One CHECK constraint: its name and boolean clause.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Check {
    name: String,
    clause: String,
}

/// Problems of masking `table` with `sets` (`(quoted column, expression)`)
/// against its CHECK constraints; `what` locates the rules (`file:line`).
pub(crate) async fn check_conflicts(
    conn: &mut Conn,
    table: &TableRef,
    sets: &[(String, String)],
    what: &str,
) -> Result<Vec<String>, MaskError> {
    if sets.is_empty() {
        return Ok(Vec::new());
    }
    let checks = checks_of(conn, table).await?;
    if checks.is_empty() {
        return Ok(Vec::new());
    }
    let masked_rows = masked_sample_sql(conn, table, sets).await?;
    let mut problems = Vec::new();
    for c in checks {
        let sql = format!(
            "SELECT COUNT(*) FROM ({masked_rows}) dmsr_masked WHERE NOT ({})",
            c.clause
        );
        match conn.scalar_i64(&sql, &[]).await {
            Ok(Some(0) | None) => {}
            Ok(Some(n)) => problems.push(format!(
                "{what}: masking {table} would violate CHECK constraint `{}` ({}) on {n} of the first {SAMPLE_ROWS} rows: change the strategy of the columns it reads, or drop the constraint in the target",
                c.name, c.clause
            )),
            Err(e) if is_transient(&e) => {
                return Err(MaskError::Database {
                    context: format!("testing CHECK constraint {} of {table}", c.name),
                    source: e,
                });
            }
            Err(e) => problems.push(format!(
                "{what}: CHECK constraint `{}` of {table} could not be tested against the masked values: {e}",
                c.name
            )),
        }
    }
    Ok(problems)
}

/// The first [`SAMPLE_ROWS`] rows of `table` with the masked columns
/// replaced by their expressions, under the columns' own names.
async fn masked_sample_sql(
    conn: &mut Conn,
    table: &TableRef,
    sets: &[(String, String)],
) -> Result<String, MaskError> {
    let d = conn.dialect();
    let list: Vec<String> = columns(conn, table)
        .await?
        .into_iter()
        .map(|c| {
            let q = crate::sql::quote_ident(d, &c.name);
            match sets.iter().find(|(col, _)| *col == q) {
                Some((_, e)) => format!("{e} AS {q}"),
                None => q,
            }
        })
        .collect();
    Ok(format!(
        "SELECT {} FROM {} LIMIT {SAMPLE_ROWS}",
        list.join(", "),
        table.quoted(d)
    ))
}

/// The CHECK constraints of `t` (NOT NULL is not one).
async fn checks_of(conn: &mut Conn, t: &TableRef) -> Result<Vec<Check>, MaskError> {
    let sql = match conn.dialect() {
        Dialect::MySql => {
            "SELECT CAST(tc.CONSTRAINT_NAME AS CHAR), CAST(cc.CHECK_CLAUSE AS CHAR) \
             FROM information_schema.TABLE_CONSTRAINTS tc \
             JOIN information_schema.CHECK_CONSTRAINTS cc \
               ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
             WHERE tc.TABLE_SCHEMA = ? AND tc.TABLE_NAME = ? AND tc.CONSTRAINT_TYPE = 'CHECK' \
             ORDER BY 1"
        }
        Dialect::Postgres => {
            "SELECT con.conname::text, pg_get_expr(con.conbin, con.conrelid) \
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND con.contype = 'c' ORDER BY 1"
        }
    };
    let rows = conn
        .rows(sql, &[Bind::Str(&t.schema), Bind::Str(&t.table)])
        .await
        .map_err(MaskError::db(format!(
            "reading the CHECK constraints of {t}"
        )))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Check {
                name: r.first().and_then(Val::text)?,
                clause: r.get(1).and_then(Val::text)?,
            })
        })
        .collect())
}
