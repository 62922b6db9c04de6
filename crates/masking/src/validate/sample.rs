//! The before/after sample of [`crate::Target::validate`]: up to N rows of a
//! masked table, each masked column's original and the value the run's own
//! expression gives it ([`crate::runner::mask_sets`]), cast to the column's
//! type as the run would store it. Read inside the validation's read-only
//! transaction; originals leave this module only when asked for.

use serde::Serialize;

use super::{Check, Issue, ValidateOptions, column_origin};
use crate::catalog::primary_key;
use crate::db::{Conn, Val};
use crate::error::{MaskError, is_transient};
use crate::plan::TablePlan;
use crate::rules::Strategy;
use crate::sql::{Dialect, TableRef, quote_ident};
use crate::stored_value::{SampleColumn, masked_columns};

/// A masked column of a sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampledColumn {
    /// Column.
    pub column: String,
    /// Its strategy.
    pub strategy: &'static str,
}

/// One masked cell of a sampled row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampleCell {
    /// Column.
    pub column: String,
    /// The value the run would write (`None`: NULL, or withheld).
    pub masked: Option<String>,
    /// Whether it differs from the original.
    pub changed: bool,
    /// The masked value equals a non-NULL original, so showing it would show
    /// the original: it is left out unless originals are revealed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub withheld: bool,
    /// The original value, only when originals are revealed (`Some(None)`:
    /// NULL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<Option<String>>,
}

/// Up to N rows of one table, before and after masking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSample {
    /// `schema.table`.
    pub table: String,
    /// Where the rules declare it.
    pub origin: String,
    /// Primary-key columns the rows are ordered by (empty: no primary key,
    /// the server's order).
    pub order_by: Vec<String>,
    /// Only rows a `delete_where` keeps are sampled.
    pub filtered_by_delete_where: bool,
    /// The masked columns, in the order of the cells.
    pub columns: Vec<SampledColumn>,
    /// Rows of cells.
    pub rows: Vec<Vec<SampleCell>>,
}

/// `SELECT <original as text>, <masked as text>, ... FROM t [WHERE (cond) IS
/// NOT TRUE] [ORDER BY pk] LIMIT n`.
pub fn sample_sql(
    d: Dialect,
    table: &TableRef,
    columns: &[SampleColumn],
    order_by: &[String],
    delete_where: Option<&str>,
    limit: u32,
) -> String {
    let as_text = |e: &str| match d {
        Dialect::MySql => format!("CAST({e} AS CHAR)"),
        Dialect::Postgres => format!("CAST({e} AS text)"),
    };
    let select: Vec<String> = columns
        .iter()
        .flat_map(|c| {
            let masked = match &c.cast {
                Some(t) => format!("CAST(({}) AS {t})", c.expr),
                None => format!("({})", c.expr),
            };
            [as_text(&c.quoted), as_text(&masked)]
        })
        .collect();
    let mut out = format!("SELECT {} FROM {}", select.join(", "), table.quoted(d));
    if let Some(cond) = delete_where {
        out.push_str(&format!(" WHERE ({cond}) IS NOT TRUE"));
    }
    if !order_by.is_empty() {
        let keys: Vec<String> = order_by.iter().map(|k| quote_ident(d, k)).collect();
        out.push_str(&format!(" ORDER BY {}", keys.join(", ")));
    }
    out.push_str(&format!(" LIMIT {limit}"));
    out
}

/// Sample one table inside the read-only transaction, under a savepoint so a
/// failing expression does not end the transaction. Also returns, per masked
/// column, how many sampled values came out unchanged (see
/// [`left_readable`]). `Ok(Err(line))`: the masking expressions fail on these
/// rows (the run would fail too); the server's message is only quoted with
/// originals revealed, since it can hold a value.
pub(super) async fn sample_table(
    conn: &mut Conn,
    p: &TablePlan,
    opts: &ValidateOptions,
) -> Result<Result<(TableSample, Vec<usize>), String>, MaskError> {
    let d = conn.dialect();
    let order_by = primary_key(conn, &p.tref).await?;
    let columns = masked_columns(conn, p).await?;
    let q = sample_sql(
        d,
        &p.tref,
        &columns,
        &order_by,
        p.rules.delete_where.as_deref(),
        opts.sample_rows,
    );
    conn.raw("SAVEPOINT dmsr_sample")
        .await
        .map_err(MaskError::db("setting a savepoint"))?;
    let rows = match conn.rows(&q, &[]).await {
        Ok(rows) => rows,
        Err(e) if is_transient(&e) => {
            return Err(MaskError::Database {
                context: format!("sampling {}", p.tref),
                source: e,
            });
        }
        Err(e) => {
            conn.raw("ROLLBACK TO SAVEPOINT dmsr_sample")
                .await
                .map_err(MaskError::db("rolling back to the savepoint"))?;
            return Ok(Err(sample_failure(p, &e, opts.reveal_originals)));
        }
    };
    let mut unchanged = vec![0; p.columns.len()];
    let rows = rows
        .iter()
        .map(|r| {
            p.columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let cell = |j: usize| r.get(j).and_then(Val::text);
                    let (original, masked) = (cell(2 * i), cell(2 * i + 1));
                    if left_readable(&c.strategy, original.as_deref(), masked.as_deref()) {
                        unchanged[i] += 1;
                    }
                    sample_cell(&c.name, original, masked, opts)
                })
                .collect()
        })
        .collect();
    let sample = TableSample {
        table: p.tref.to_string(),
        origin: p.rules.origin.to_string(),
        order_by,
        filtered_by_delete_where: p.rules.delete_where.is_some(),
        columns: p
            .columns
            .iter()
            .map(|c| SampledColumn {
                column: c.name.clone(),
                strategy: c.strategy.name(),
            })
            .collect(),
        rows,
    };
    Ok(Ok((sample, unchanged)))
}

fn sample_failure(p: &TablePlan, e: &sqlx::Error, reveal: bool) -> String {
    let code = match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
    .unwrap_or_else(|| "unknown".into());
    let detail = if reveal {
        format!(": {e}")
    } else {
        " (the server's message may quote a value: rerun with --reveal-originals to see it)"
            .to_string()
    };
    format!(
        "{}: the masking expressions of {} fail on the sampled rows, error {code}{detail}; the run would fail there: fix the rules of the columns the message names",
        p.rules.origin, p.tref
    )
}

/// One cell: the masked value is withheld when it equals a non-NULL
/// original and originals are not revealed (it would be the original).
pub fn sample_cell(
    column: &str,
    original: Option<String>,
    masked: Option<String>,
    opts: &ValidateOptions,
) -> SampleCell {
    let changed = original != masked;
    let withheld = !changed && original.is_some() && !opts.reveal_originals;
    SampleCell {
        column: column.to_string(),
        masked: if withheld { None } else { masked },
        changed,
        withheld,
        original: opts.reveal_originals.then_some(original),
    }
}

/// A value a strategy leaves as it is on purpose: a `date_shift` sentinel
/// date (`keep_dates`) or a PostgreSQL infinity.
pub fn kept_on_purpose(strategy: &Strategy, original: &str) -> bool {
    match strategy {
        Strategy::DateShift { keep_dates, .. } => {
            original.ends_with("infinity")
                || keep_dates.iter().any(|k| original.starts_with(k.as_str()))
        }
        _ => false,
    }
}

/// A non-NULL original that masking leaves as it is, and not on purpose:
/// the masked copy would show it.
pub fn left_readable(strategy: &Strategy, original: Option<&str>, masked: Option<&str>) -> bool {
    match original {
        Some(o) => masked == Some(o) && !kept_on_purpose(strategy, o),
        None => false,
    }
}

/// One warning per column with values left readable in the sample.
pub(super) fn unchanged_warnings(p: &TablePlan, sampled: usize, unchanged: &[usize]) -> Vec<Issue> {
    p.columns
        .iter()
        .zip(unchanged)
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| {
            Issue::new(
                Check::Sample,
                format!(
                    "{}: {n} of {sampled} sampled values of {}.{} come out of `{}` unchanged, so the masked copy would show them as they are: choose a strategy (or options) that changes every value",
                    column_origin(p, &c.name),
                    p.tref,
                    c.name,
                    c.strategy.name()
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_query_per_dialect() {
        let t = TableRef {
            schema: "app".into(),
            table: "customers".into(),
        };
        let cols = [
            SampleColumn {
                quoted: "`email`".into(),
                expr: "E".into(),
                cast: None,
            },
            SampleColumn {
                quoted: "`balance`".into(),
                expr: "N".into(),
                cast: Some("DECIMAL(10,2)".into()),
            },
        ];
        assert_eq!(
            sample_sql(Dialect::MySql, &t, &cols, &["id".into()], None, 3),
            "SELECT CAST(`email` AS CHAR), CAST((E) AS CHAR), CAST(`balance` AS CHAR), \
             CAST(CAST((N) AS DECIMAL(10,2)) AS CHAR) FROM `app`.`customers` ORDER BY `id` LIMIT 3"
        );
        let pg = [SampleColumn {
            quoted: "\"email\"".into(),
            expr: "E".into(),
            cast: None,
        }];
        assert_eq!(
            sample_sql(
                Dialect::Postgres,
                &t,
                &pg,
                &[],
                Some("created < '2020-01-01'"),
                50
            ),
            "SELECT CAST(\"email\" AS text), CAST((E) AS text) FROM \"app\".\"customers\" \
             WHERE (created < '2020-01-01') IS NOT TRUE LIMIT 50"
        );
    }

    #[test]
    fn an_unchanged_value_is_withheld_unless_originals_are_revealed() {
        let hidden = ValidateOptions::default();
        let c = sample_cell("email", Some("a@x".into()), Some("a@x".into()), &hidden);
        assert!(!c.changed && c.withheld);
        assert_eq!((c.masked, c.original), (None, None));

        let c = sample_cell("email", Some("a@x".into()), Some("f00@y".into()), &hidden);
        assert!(c.changed && !c.withheld);
        assert_eq!(c.masked.as_deref(), Some("f00@y"));
        assert_eq!(c.original, None, "no original without reveal");

        let c = sample_cell("ip", None, None, &hidden);
        assert!(
            !c.changed && !c.withheld,
            "NULL stays NULL: nothing to hide"
        );

        let shown = ValidateOptions {
            reveal_originals: true,
            ..ValidateOptions::default()
        };
        let c = sample_cell("email", Some("a@x".into()), Some("a@x".into()), &shown);
        assert!(!c.withheld);
        assert_eq!(c.original, Some(Some("a@x".into())));
        assert_eq!(c.masked.as_deref(), Some("a@x"));
    }

    #[test]
    fn cells_serialise_without_originals_by_default() {
        let c = sample_cell(
            "email",
            Some("a@x".into()),
            Some("f00@y".into()),
            &ValidateOptions::default(),
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap_or_default(),
            serde_json::json!({"column": "email", "masked": "f00@y", "changed": true})
        );
        let shown = ValidateOptions {
            reveal_originals: true,
            ..ValidateOptions::default()
        };
        let c = sample_cell("ip", None, None, &shown);
        assert_eq!(
            serde_json::to_value(&c).unwrap_or_default(),
            serde_json::json!({"column": "ip", "masked": null, "changed": false, "original": null})
        );
    }

    #[test]
    fn sentinel_dates_are_kept_on_purpose() {
        let s = Strategy::DateShift {
            max_days: 30,
            keep_dates: vec!["9999-12-31".into()],
        };
        assert!(kept_on_purpose(&s, "9999-12-31"));
        assert!(kept_on_purpose(&s, "9999-12-31 23:59:59"));
        assert!(kept_on_purpose(&s, "infinity"));
        assert!(!kept_on_purpose(&s, "2020-01-01"));
        assert!(!kept_on_purpose(&Strategy::Null, "9999-12-31"));
        assert!(!left_readable(&s, Some("9999-12-31"), Some("9999-12-31")));
        assert!(left_readable(&s, Some("2020-01-01"), Some("2020-01-01")));
        assert!(!left_readable(&s, Some("2020-01-01"), Some("2020-01-09")));
        assert!(
            !left_readable(&Strategy::Null, None, None),
            "NULL stays NULL"
        );
        assert!(!left_readable(&Strategy::Null, Some("x"), None));
    }
}
