//! Verification (fail closed): per table one scan counting rows and the rows
//! whose masked columns do not look masked, an expected row count, and no
//! orphans for every foreign key in scope.

use std::collections::HashMap;

use crate::db::{Conn, Val};
use crate::error::MaskError;
use crate::plan::ColumnPlan;
use crate::progress::to_u64;
use crate::report::{VerificationCheck, VerificationReport};
use crate::sql::{self, ForeignKey, TableRef};

/// One table to verify.
#[derive(Debug)]
pub(crate) struct TableCheck<'a> {
    /// The table scanned.
    pub table: &'a TableRef,
    /// Its masked columns.
    pub columns: &'a [ColumnPlan],
    /// Row count it must have, and how that number was obtained
    /// (`before` for in-place runs, `expected` for a rewrite).
    pub expected_rows: Option<(&'static str, i64)>,
}

/// Run every check. Returns the report and the row count of each table
/// (keyed by `schema.table`).
pub(crate) async fn verify_tables(
    conn: &mut Conn,
    tables: &[TableCheck<'_>],
    fk_in_scope: impl Fn(&ForeignKey) -> bool,
) -> Result<(VerificationReport, HashMap<String, u64>), MaskError> {
    let mut report = VerificationReport::default();
    let mut rows_after = HashMap::new();
    for t in tables {
        let after = check_table(conn, t, &mut report).await?;
        rows_after.insert(t.table.to_string(), to_u64(after));
    }
    let fks = foreign_keys(conn)
        .await
        .map_err(MaskError::db("reading foreign keys"))?;
    for fk in fks.iter().filter(|fk| fk_in_scope(fk)) {
        let n = conn
            .scalar_i64(&sql::orphan_count_sql(conn.dialect(), fk), &[])
            .await
            .map_err(MaskError::db(format!("checking foreign key {}", fk.name)))?
            .unwrap_or(0);
        report.checks.push(VerificationCheck {
            table: fk.child.to_string(),
            check: format!("fk:{}", fk.name),
            violations: to_u64(n),
        });
    }
    report.passed = report.checks.iter().all(|c| c.violations == 0);
    Ok((report, rows_after))
}

/// One scan: `COUNT(*)` and one violation count per verifiable column.
/// Returns the row count.
async fn check_table(
    conn: &mut Conn,
    t: &TableCheck<'_>,
    report: &mut VerificationReport,
) -> Result<i64, MaskError> {
    let d = conn.dialect();
    let table = t.table.to_string();
    let mut checked = Vec::new();
    let mut preds = Vec::new();
    for c in t.columns {
        match sql::violation_predicate(d, &c.strategy, &c.quoted) {
            Some(pred) => {
                checked.push(format!("{}:{}", c.name, c.strategy.name()));
                preds.push(pred);
            }
            None => report
                .unverifiable
                .push(format!("{table}.{} ({})", c.name, c.strategy.name())),
        }
    }
    let row = conn
        .rows(&sql::table_check_sql(d, t.table, &preds), &[])
        .await
        .map_err(MaskError::db(format!("verifying {table}")))?
        .into_iter()
        .next()
        .unwrap_or_default();
    let cell = |i: usize| row.get(i).and_then(Val::int).unwrap_or(0);
    let after = cell(0);
    for (i, check) in checked.into_iter().enumerate() {
        report.checks.push(VerificationCheck {
            table: table.clone(),
            check,
            violations: to_u64(cell(i + 1)),
        });
    }
    if let Some((what, expected)) = t.expected_rows {
        report.checks.push(VerificationCheck {
            table,
            check: format!("row_count ({what} {expected}, after {after})"),
            violations: expected.abs_diff(after),
        });
    }
    Ok(after)
}

/// One message per failed check (empty when verification passed).
pub(crate) fn failures(report: &VerificationReport) -> Vec<String> {
    report
        .checks
        .iter()
        .filter(|c| c.violations > 0)
        .map(|c| format!("{} {}: {} offending row(s)", c.table, c.check, c.violations))
        .collect()
}

/// Every foreign key declared in the catalog, columns in order.
pub(crate) async fn foreign_keys(conn: &mut Conn) -> Result<Vec<ForeignKey>, sqlx::Error> {
    let d = conn.dialect();
    let rows = conn.rows(sql::foreign_keys_sql(d), &[]).await?;
    let mut out: Vec<ForeignKey> = Vec::new();
    for r in rows {
        let cell = |i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
        let (name, child, parent) = (
            cell(0),
            TableRef {
                schema: cell(1),
                table: cell(2),
            },
            TableRef {
                schema: cell(4),
                table: cell(5),
            },
        );
        match out.last_mut() {
            Some(last) if last.name == name && last.child == child => {
                last.child_cols.push(cell(3));
                last.parent_cols.push(cell(6));
            }
            _ => out.push(ForeignKey {
                name,
                child,
                child_cols: vec![cell(3)],
                parent,
                parent_cols: vec![cell(6)],
            }),
        }
    }
    Ok(out)
}
