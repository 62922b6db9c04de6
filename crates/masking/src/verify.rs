//! Verification (fail closed), unit by unit: per table one scan counting
//! rows and the rows whose masked columns do not look masked, an expected
//! row count and the before/after sample ([`crate::before_after`]); per
//! foreign key in scope, no orphans. Each unit's result is stored when it is
//! done ([`crate::verify_store`]): an invocation near its deadline stops
//! between units and the next one verifies only the rest.

use std::collections::HashMap;
use std::time::Instant;

use crate::before_after::{verify_copy, verify_in_place};
use crate::build_steps::TableCopy;
use crate::db::{Conn, Target, Val};
use crate::error::MaskError;
use crate::plan::{ColumnPlan, TablePlan};
use crate::progress::{Clock, to_u64};
use crate::report::{VerificationCheck, VerificationReport};
use crate::sql::{self, ForeignKey, TableRef};
use crate::verify_store::{UnitResult, VerifyStore};

/// Where the originals of the before/after sample come from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Before<'a> {
    /// In place: stored by the `sample:<table>` step.
    Stored { target: &'a Target, run_id: &'a str },
    /// A rewrite: the quarantine table, which still holds them.
    Quarantine(&'a TableRef),
}

/// The row count a table must have.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expected<'a> {
    /// No expectation (an action changed the count in place).
    Any,
    /// In place: the count before masking.
    Before(i64),
    /// A rewrite: quarantine's rows minus those the table action removes,
    /// counted when the unit runs.
    CopyOf(&'a TableCopy),
}

/// One table to verify.
#[derive(Debug)]
pub(crate) struct TableCheck<'a> {
    /// The table scanned.
    pub table: &'a TableRef,
    /// Its masked columns.
    pub columns: &'a [ColumnPlan],
    /// Row count it must have.
    pub expected_rows: Expected<'a>,
    /// The plan of its masked columns and where their originals are, for
    /// the before/after sample (`None`: no masked column).
    pub sample: Option<(&'a TablePlan, Before<'a>)>,
    /// The shape violations the chunks counted, per verifiable column
    /// ([`crate::chunk_checks`]); `None`: scan for them.
    pub counted: Option<Vec<i64>>,
}

/// Verify every unit not verified yet, storing each result; `None` when the
/// clock stopped it first. Returns the report and the row count of each
/// table (keyed by `schema.table`).
pub(crate) async fn verify_units(
    conn: &mut Conn,
    store: &VerifyStore<'_>,
    tables: &[TableCheck<'_>],
    fk_in_scope: impl Fn(&ForeignKey) -> bool,
    clock: &mut Clock,
) -> Result<Option<(VerificationReport, HashMap<String, u64>)>, MaskError> {
    let mut done = store.load(conn).await?;
    let fks: Vec<ForeignKey> = foreign_keys(conn)
        .await
        .map_err(MaskError::db("reading foreign keys"))?
        .into_iter()
        .filter(|fk| fk_in_scope(fk))
        .collect();
    let units: Vec<String> = tables
        .iter()
        .map(|t| format!("table:{}", t.table))
        .chain(fks.iter().map(|fk| format!("fk:{}:{}", fk.child, fk.name)))
        .collect();
    for (i, unit) in units.iter().enumerate() {
        if done.contains_key(unit) {
            continue;
        }
        if clock.should_stop() {
            return Ok(None);
        }
        let t0 = Instant::now();
        let result = match tables.get(i) {
            Some(t) => check_table(conn, t).await?,
            None => match fks.get(i - tables.len()) {
                Some(fk) => check_foreign_key(conn, fk).await?,
                None => UnitResult::default(),
            },
        };
        store.save(conn, unit, &result).await?;
        clock.chunk_done(t0.elapsed());
        done.insert(unit.clone(), result);
    }
    Ok(Some(assemble(tables, &units, &done)))
}

/// The report of every unit, in order.
fn assemble(
    tables: &[TableCheck<'_>],
    units: &[String],
    done: &HashMap<String, UnitResult>,
) -> (VerificationReport, HashMap<String, u64>) {
    let mut report = VerificationReport::default();
    let mut rows_after = HashMap::new();
    for (i, unit) in units.iter().enumerate() {
        let Some(r) = done.get(unit) else { continue };
        report.checks.extend(r.checks.iter().cloned());
        report.unverifiable.extend(r.unverifiable.iter().cloned());
        if let (Some(t), Some(n)) = (tables.get(i), r.rows) {
            rows_after.insert(t.table.to_string(), to_u64(n));
        }
    }
    report.passed = report.checks.iter().all(|c| c.violations == 0);
    (report, rows_after)
}

async fn check_foreign_key(conn: &mut Conn, fk: &ForeignKey) -> Result<UnitResult, MaskError> {
    let n = conn
        .scalar_i64(&sql::orphan_count_sql(conn.dialect(), fk), &[])
        .await
        .map_err(MaskError::db(format!("checking foreign key {}", fk.name)))?
        .unwrap_or(0);
    Ok(UnitResult {
        checks: vec![VerificationCheck {
            table: fk.child.to_string(),
            check: format!("fk:{}", fk.name),
            violations: to_u64(n),
        }],
        ..UnitResult::default()
    })
}

/// One scan (`COUNT(*)` and one violation count per verifiable column), the
/// expected row count and the before/after sample.
async fn check_table(conn: &mut Conn, t: &TableCheck<'_>) -> Result<UnitResult, MaskError> {
    let d = conn.dialect();
    let table = t.table.to_string();
    let mut out = UnitResult::default();
    let mut checked = Vec::new();
    let mut preds = Vec::new();
    for c in t.columns {
        match sql::violation_predicate(d, &c.strategy, &c.quoted) {
            Some(pred) => {
                checked.push(format!("{}:{}", c.name, c.strategy.name()));
                preds.push(pred);
            }
            None => out
                .unverifiable
                .push(format!("{table}.{} ({})", c.name, c.strategy.name())),
        }
    }
    let counted = t.counted.as_ref().filter(|c| c.len() == preds.len());
    let scanned: &[String] = if counted.is_some() { &[] } else { &preds };
    let row = conn
        .rows(&sql::table_check_sql(d, t.table, scanned), &[])
        .await
        .map_err(MaskError::db(format!("verifying {table}")))?
        .into_iter()
        .next()
        .unwrap_or_default();
    let cell = |i: usize| row.get(i).and_then(Val::int).unwrap_or(0);
    let after = cell(0);
    for (i, check) in checked.into_iter().enumerate() {
        let n = counted.map_or_else(|| cell(i + 1), |c| c[i]);
        out.checks.push(VerificationCheck {
            table: table.clone(),
            check,
            violations: to_u64(n),
        });
    }
    let expected = match t.expected_rows {
        Expected::Any => None,
        Expected::Before(n) => Some(("before", n)),
        Expected::CopyOf(c) => Some(("expected", c.expected_rows(conn).await?)),
    };
    if let Some((what, expected)) = expected {
        out.checks.push(VerificationCheck {
            table: table.clone(),
            check: format!("row_count ({what} {expected}, after {after})"),
            violations: expected.abs_diff(after),
        });
    }
    match t.sample {
        Some((p, Before::Stored { target, run_id })) => {
            verify_in_place(target, run_id, conn, p, &mut out).await?;
        }
        Some((p, Before::Quarantine(q))) => verify_copy(conn, q, t.table, p, &mut out).await?,
        None => {}
    }
    out.rows = Some(after);
    Ok(out)
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
