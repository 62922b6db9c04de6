//! Shape violations counted inside each chunk's transaction, so verification
//! needs no second scan of the masked values: right after a chunk writes
//! its rows, the rows it wrote are counted against the verification
//! predicates of [`crate::sql::violation_predicate`] (PostgreSQL in place:
//! from the `UPDATE`'s own `RETURNING` rows; otherwise the chunk's rows,
//! still in the buffer cache), and the counts are added to the step's
//! progress row in the same transaction, so they are exactly once like the
//! chunk. Verification adds them up instead of scanning the table.

use crate::chunk_sql::Filter;
use crate::db::{Bind, Conn, Val};
use crate::plan::ColumnPlan;
use crate::progress::StepState;
use crate::rules::{HookKind, Phase, Rules};
use crate::sql::{self, Dialect, TableRef};

/// What one chunk wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Written {
    /// Rows written.
    pub rows: u64,
    /// Per verifiable masked column (in plan order), the written rows whose
    /// value does not look masked; empty when not counted.
    pub violations: Vec<i64>,
    /// Page chunks in place: the written row versions that landed on pages
    /// a later chunk reads ([`crate::chunk_sql::pages_ahead`]); `None` when
    /// not counted.
    pub ahead: Option<u64>,
}

impl Written {
    /// Rows written, nothing else counted.
    pub(crate) fn rows(rows: u64) -> Self {
        Self {
            rows,
            ..Self::default()
        }
    }
}

/// The verification predicates of `columns`, in plan order (columns without
/// one are left out, as verification leaves them out).
pub(crate) fn predicates(d: Dialect, columns: &[ColumnPlan]) -> Vec<String> {
    columns
        .iter()
        .filter_map(|c| sql::violation_predicate(d, &c.strategy, &c.quoted))
        .collect()
}

/// `COUNT(*)` and one violation count per predicate, as a select list over
/// rows that have the masked columns.
pub(crate) fn count_list(d: Dialect, predicates: &[String]) -> String {
    let int = |e: String| match d {
        Dialect::MySql => format!("CAST({e} AS SIGNED)"),
        Dialect::Postgres => format!("({e})::bigint"),
    };
    let mut list = vec![int("COUNT(*)".to_string())];
    list.extend(predicates.iter().map(|p| {
        int(format!(
            "COALESCE(SUM(CASE WHEN ({p}) THEN 1 ELSE 0 END), 0)"
        ))
    }));
    list.join(", ")
}

/// Count the violations among the rows of `table` that `rows` selects (all
/// of them with `None`), after they were written in this transaction.
pub(crate) async fn count_written(
    conn: &mut Conn,
    table: &TableRef,
    rows: Option<&Filter>,
    predicates: &[String],
) -> Result<Vec<i64>, sqlx::Error> {
    if predicates.is_empty() {
        return Ok(Vec::new());
    }
    let d = conn.dialect();
    let (cond, binds) = match rows {
        Some(f) => (format!(" WHERE {}", f.cond), f.bind_refs()),
        None => (String::new(), Vec::new()),
    };
    let sql = format!(
        "SELECT {} FROM {}{cond}",
        count_list(d, predicates),
        table.quoted(d)
    );
    Ok(first_row_counts(conn.rows(&sql, &binds).await?).split_off(1))
}

/// The integers of the first row (`COUNT(*)` first).
pub(crate) fn first_row_counts(rows: Vec<Vec<Val>>) -> Vec<i64> {
    rows.into_iter()
        .next()
        .unwrap_or_default()
        .iter()
        .map(|v| v.int().unwrap_or(0))
        .collect()
}

/// PostgreSQL: an `UPDATE` that returns its row count and violation counts
/// in one statement (`WITH u AS (UPDATE ... RETURNING <masked columns>)`),
/// and last, with `ahead` (a condition on `ctid`), the count of the written
/// row versions it holds for.
pub(crate) fn counted_update(
    update: &str,
    columns: &[ColumnPlan],
    predicates: &[String],
    ahead: Option<&str>,
) -> String {
    let mut returning: Vec<&str> = columns.iter().map(|c| c.quoted.as_str()).collect();
    let mut counts = count_list(Dialect::Postgres, predicates);
    if let Some(cond) = ahead {
        // No user column is called ctid: PostgreSQL reserves the name.
        returning.push("ctid");
        counts.push_str(&format!(", (COUNT(*) FILTER (WHERE {cond}))::bigint"));
    }
    format!(
        "WITH dmsr_written AS ({update} RETURNING {}) SELECT {counts} FROM dmsr_written",
        returning.join(", "),
    )
}

/// Run a [`counted_update`] (`ahead`: it counts the rows ahead): the rows
/// it wrote, the violations among them, and the rows ahead.
pub(crate) async fn run_counted(
    conn: &mut Conn,
    sql: &str,
    binds: &[Bind<'_>],
    ahead: bool,
) -> Result<Written, sqlx::Error> {
    let mut counts = first_row_counts(conn.rows(sql, binds).await?);
    let ahead = if ahead { counts.pop() } else { None };
    let rows = if counts.is_empty() {
        0
    } else {
        counts.remove(0)
    };
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(Written {
        rows: count(rows),
        violations: counts,
        ahead: ahead.map(count),
    })
}

/// Whether the chunks' counts still describe the tables at verification: an
/// `after` hook of kind `sql` may have written rows or values since (the
/// other kinds change no value), and then verification scans.
pub(crate) fn counts_hold(rules: &Rules) -> bool {
    !rules
        .hooks
        .iter()
        .any(|h| h.phase == Phase::After && matches!(h.kind, HookKind::Sql { .. }))
}

/// The violation counts of a table's chunked steps added up, for `n`
/// predicates; `None` when one of them has none (a run begun by a version
/// that did not count, or a step not run), and verification scans instead.
pub(crate) fn summed<'a>(
    steps: impl IntoIterator<Item = Option<&'a StepState>>,
    n: usize,
) -> Option<Vec<i64>> {
    let mut total = vec![0; n];
    for step in steps {
        let counts = parse(step?.violations.as_deref());
        if counts.len() != n {
            return None;
        }
        for (t, c) in total.iter_mut().zip(counts) {
            *t += c;
        }
    }
    Some(total)
}

/// `stored` (comma-separated counts) plus `counts`.
pub(crate) fn add(stored: Option<&str>, counts: &[i64]) -> String {
    let before = parse(stored);
    counts
        .iter()
        .enumerate()
        .map(|(i, n)| (before.get(i).copied().unwrap_or(0) + n).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The counts stored in a progress row (empty when none were).
pub(crate) fn parse(stored: Option<&str>) -> Vec<i64> {
    stored
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.split(',')
                .map(|n| n.trim().parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::text_column as col;
    use crate::rules::Strategy;

    #[test]
    fn steps_sum_only_when_every_one_counted() {
        let step = |v: Option<&str>| StepState {
            violations: v.map(str::to_string),
            ..StepState::default()
        };
        let (a, b, old) = (step(Some("1,0")), step(Some("2,5")), step(None));
        assert_eq!(summed([Some(&a), Some(&b)], 2), Some(vec![3, 5]));
        assert_eq!(
            summed([Some(&a), Some(&old)], 2),
            None,
            "begun before counting"
        );
        assert_eq!(summed([Some(&a), None], 2), None, "a step not run");
        assert_eq!(summed([Some(&a)], 3), None, "other columns");
        assert_eq!(summed([Some(&old)], 0), Some(vec![]), "nothing to count");
    }

    #[test]
    fn counts_add_up_per_column() {
        assert_eq!(add(None, &[1, 0, 2]), "1,0,2");
        assert_eq!(add(Some("1,0,2"), &[0, 3, 1]), "1,3,3");
        assert_eq!(parse(Some("")), Vec::<i64>::new());
        assert_eq!(parse(Some("4,5")), vec![4, 5]);
    }

    #[test]
    fn the_postgres_update_returns_its_counts() {
        let cols = [
            col("a", Strategy::Hash { length: 64 }),
            col(
                "b",
                Strategy::DateShift {
                    max_days: 3,
                    keep_dates: Vec::new(),
                },
            ),
        ];
        let preds = predicates(Dialect::Postgres, &cols);
        assert_eq!(preds.len(), 1, "date_shift has no shape");
        let sql = counted_update("UPDATE ONLY t SET a = 1", &cols, &preds, None);
        assert!(sql.starts_with("WITH dmsr_written AS (UPDATE ONLY t SET a = 1 RETURNING \"a\", \"b\") SELECT (COUNT(*))::bigint, (COALESCE(SUM(CASE WHEN ("), "{sql}");
        assert!(
            sql.ends_with(" THEN 1 ELSE 0 END), 0))::bigint FROM dmsr_written"),
            "{sql}"
        );
        let ahead = counted_update(
            "UPDATE t SET a = 1",
            &cols,
            &[],
            Some("ctid >= '(9,0)'::tid"),
        );
        assert_eq!(
            ahead,
            "WITH dmsr_written AS (UPDATE t SET a = 1 RETURNING \"a\", \"b\", ctid) \
             SELECT (COUNT(*))::bigint, (COUNT(*) FILTER (WHERE ctid >= '(9,0)'::tid))::bigint FROM dmsr_written"
        );
    }
}
