//! Pre-flight: compile generated statements without changing anything, so
//! raw SQL the server rejects (syntax, unknown function or column) fails the
//! run before any write.

use crate::check_constraints::check_conflicts;
use crate::db::Conn;
use crate::error::{MaskError, is_transient};
use crate::plan::TablePlan;
use crate::runner::mask_sets;
use crate::sql::{self, Dialect, TableRef};

/// A statement to compile. It must not change anything when executed
/// (callers append `WHERE 1 = 0` / `AND 1 = 0`); it runs in a transaction
/// that is rolled back anyway.
#[derive(Debug)]
pub(crate) struct Probe {
    pub sql: String,
    /// What it is, for the error (`file:line (key): masking UPDATE`).
    pub what: String,
}

/// Execute every probe; collect rejected ones into one
/// [`MaskError::Schema`]. A transient error is returned as such.
pub(crate) async fn compile_all(conn: &mut Conn, probes: &[Probe]) -> Result<(), MaskError> {
    let mut problems = Vec::new();
    for p in probes {
        let r: Result<(), sqlx::Error> = async {
            conn.begin().await?;
            conn.execute(&p.sql, &[]).await?;
            Ok(())
        }
        .await;
        conn.rollback().await;
        if let Err(e) = r {
            if is_transient(&e) {
                return Err(MaskError::Database {
                    context: format!("pre-flight of {}", p.what),
                    source: e,
                });
            }
            problems.push(format!(
                "{}: the generated SQL is rejected by the server: {e}",
                p.what
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(MaskError::Schema { problems })
    }
}

/// The masking `UPDATE` of `p` setting `sets`, compiled on no row.
pub(crate) fn update_probe(
    d: Dialect,
    p: &TablePlan,
    sets: &[(String, String)],
    what: String,
) -> Probe {
    Probe {
        sql: format!("{} WHERE 1 = 0", sql::update_all_sql(d, &p.tref, sets)),
        what,
    }
}

/// The `delete_where` of `p` counted on no row.
pub(crate) fn delete_probe(d: Dialect, p: &TablePlan, cond: &str) -> Probe {
    Probe {
        sql: format!("{} AND 1 = 0", sql::delete_sql(d, &p.tref, cond)),
        what: format!("{}.delete_where", p.rules.origin),
    }
}

/// Verification probes of the masked columns of `p` read from `table` (in
/// place the table itself, in a rewrite its quarantine copy).
pub(crate) fn verification_probes(d: Dialect, p: &TablePlan, table: &TableRef) -> Vec<Probe> {
    p.columns
        .iter()
        .filter_map(|c| {
            let pred = sql::violation_predicate(d, &c.strategy, &c.quoted)?;
            Some(Probe {
                sql: format!(
                    "{} AND 1 = 0",
                    sql::count_where_sql(d, table, &format!("({pred})"))
                ),
                what: format!("{}: verification of `{}`", p.rules.origin, c.name),
            })
        })
        .collect()
}

/// Every probe of an in-place table: its masking `UPDATE`, verification
/// queries and `delete_where`.
pub(crate) fn in_place_probes(d: Dialect, p: &TablePlan) -> Vec<Probe> {
    let mut probes = Vec::new();
    if !p.columns.is_empty() {
        let what = format!("{}: masking UPDATE", p.rules.origin);
        probes.push(update_probe(d, p, &mask_sets(d, p), what));
        probes.extend(verification_probes(d, p, &p.tref));
    }
    if let Some(cond) = &p.rules.delete_where {
        probes.push(delete_probe(d, p, cond));
    }
    probes
}

/// The CHECK constraint conflicts of every table of `plans` with masked
/// columns (see [`crate::check_constraints`]).
pub(crate) async fn check_conflicts_of(
    conn: &mut Conn,
    plans: impl IntoIterator<Item = &TablePlan>,
) -> Result<Vec<String>, MaskError> {
    let d = conn.dialect();
    let mut problems = Vec::new();
    for p in plans.into_iter().filter(|p| !p.columns.is_empty()) {
        let what = p.rules.origin.to_string();
        problems.extend(check_conflicts(conn, &p.tref, &mask_sets(d, p), &what).await?);
    }
    Ok(problems)
}
