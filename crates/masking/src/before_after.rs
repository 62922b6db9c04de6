//! Verification that means something: for a sample of rows, every masked
//! value must differ from the original. The shape checks of [`crate::verify`]
//! cannot see a value that was left as it was but already had the right
//! shape, nor check strategies without a shape (`date_shift`, `noise`,
//! `fake`, `partial`, `sql` without `check`); this does.
//!
//! Nothing readable is kept: each sampled value is recorded as a keyed
//! fingerprint (HMAC under the run's key, domain `verify`), and each row by a
//! fingerprint of its primary key. In place the originals are gone once
//! masked, so the fingerprints of the first [`SAMPLE_ROWS`] rows in key order
//! are stored in `<control>.sample_prints` by a `sample:<table>` step before
//! the table's first mask step. A rewrite compares the build copy with
//! quarantine, which still holds the originals.
//!
//! A value the strategy maps to itself by design (a sentinel date, a zero
//! under `noise`, a value `partial` keeps whole, a name `fake` happens to
//! draw, the `fixed` value itself) is recognised when the sample is taken,
//! by evaluating the run's own masking expression on it, and is not
//! compared. Every other sampled value must have changed: one that did not
//! means the masking was not applied to it, and fails verification.

use std::collections::HashMap;

use crate::catalog::primary_key;
use crate::db::{Bind, Conn, Target, Val};
use crate::error::MaskError;
use crate::keyed::keyed_hex;
use crate::plan::{ColumnPlan, TablePlan};
use crate::progress::{ProgressLog, Start, in_tx};
use crate::report::VerificationCheck;
use crate::runner::mask_step_id;
use crate::sql::{Dialect, TableRef, numbered, quote_ident};
use crate::stored_value::{SampleColumn, masked_columns, stored_equals_original};
use crate::verify_store::UnitResult;

/// Rows sampled per table.
pub const SAMPLE_ROWS: u32 = 100;

/// The fingerprints of one sampled row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowPrints {
    /// Fingerprint of the row's primary key.
    pub key: String,
    /// Fingerprint of each masked column's value, in plan order (`None`:
    /// NULL).
    pub values: Vec<Option<String>>,
}

/// Where the sample is read: a table, its primary key and, for a rewrite,
/// the `delete_where` its copy leaves out.
#[derive(Debug, Clone)]
pub(crate) struct SampleSource<'a> {
    pub table: &'a TableRef,
    pub key: &'a [String],
    pub delete_where: Option<&'a str>,
}

/// Columns that can be sampled: a primary key none of whose columns is
/// masked (so the same row is found after masking).
pub(crate) fn sampleable(key: &[String], columns: &[ColumnPlan]) -> bool {
    !key.is_empty() && !columns.iter().any(|c| key.contains(&c.name))
}

/// The SQL reading the fingerprints of the first [`SAMPLE_ROWS`] rows of
/// `src` in key order. With `masks` (each column's masking expression and
/// storage type, before masking), a value its expression maps to itself
/// gets no fingerprint: it is kept by design and not compared.
pub(crate) fn prints_sql(
    d: Dialect,
    src: &SampleSource<'_>,
    columns: &[ColumnPlan],
    masks: Option<&[SampleColumn]>,
) -> String {
    let key_cols: Vec<String> = src.key.iter().map(|k| quote_ident(d, k)).collect();
    let key_text = match d {
        Dialect::MySql => format!("CONCAT_WS(CHAR(31), {})", key_cols.join(", ")),
        Dialect::Postgres => format!(
            "concat_ws(chr(31), {})",
            key_cols
                .iter()
                .map(|k| format!("{k}::text"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut list = vec![keyed_hex(d, "verify-key", &key_text)];
    for (i, c) in columns.iter().enumerate() {
        let print = keyed_hex(d, "verify", &c.quoted);
        list.push(match masks.and_then(|m| m.get(i)) {
            Some(m) => format!(
                "CASE WHEN {} THEN NULL ELSE {print} END",
                stored_equals_original(d, m)
            ),
            None => print,
        });
    }
    let filter = src
        .delete_where
        .map(|c| format!(" WHERE ({c}) IS NOT TRUE"))
        .unwrap_or_default();
    format!(
        "SELECT {} FROM {}{filter} ORDER BY {} LIMIT {SAMPLE_ROWS}",
        list.join(", "),
        src.table.quoted(d),
        key_cols.join(", ")
    )
}

/// Read the fingerprints of the sample of `src`.
pub(crate) async fn read_prints(
    conn: &mut Conn,
    src: &SampleSource<'_>,
    columns: &[ColumnPlan],
    masks: Option<&[SampleColumn]>,
) -> Result<Vec<RowPrints>, sqlx::Error> {
    let rows = conn
        .rows(&prints_sql(conn.dialect(), src, columns, masks), &[])
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let mut cells = r.into_iter().map(|v| v.text());
            Some(RowPrints {
                key: cells.next()??,
                values: cells.collect(),
            })
        })
        .collect())
}

/// In place, before the table is masked: store the sample's fingerprints
/// (inside the caller's transaction, replacing any of an earlier attempt).
pub(crate) async fn store_prints(
    target: &Target,
    conn: &mut Conn,
    run_id: &str,
    table: &str,
    prints: &[RowPrints],
) -> Result<(), sqlx::Error> {
    let d = target.dialect();
    let t = target.ctl("sample_prints");
    let del = format!("DELETE FROM {t} WHERE run_id = ? AND table_name = ?");
    conn.execute(&numbered(d, &del), &[Bind::Str(run_id), Bind::Str(table)])
        .await?;
    let ins = format!(
        "INSERT INTO {t} (run_id, table_name, position, key_print, value_prints) VALUES (?, ?, ?, ?, ?)"
    );
    for (i, p) in prints.iter().enumerate() {
        let position = i64::try_from(i).unwrap_or(i64::MAX);
        conn.execute(
            &numbered(d, &ins),
            &[
                Bind::Str(run_id),
                Bind::Str(table),
                Bind::I64(position),
                Bind::Str(&p.key),
                Bind::Str(&join_values(&p.values)),
            ],
        )
        .await?;
    }
    Ok(())
}

/// The stored sample of `table` in this run.
pub(crate) async fn load_prints(
    target: &Target,
    conn: &mut Conn,
    run_id: &str,
    table: &str,
) -> Result<Vec<RowPrints>, MaskError> {
    let sql = format!(
        "SELECT key_print, value_prints FROM {} WHERE run_id = ? AND table_name = ? ORDER BY position",
        target.ctl("sample_prints")
    );
    let rows = conn
        .rows(
            &numbered(target.dialect(), &sql),
            &[Bind::Str(run_id), Bind::Str(table)],
        )
        .await
        .map_err(MaskError::db(format!("reading the sample of {table}")))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(RowPrints {
                key: r.first().and_then(Val::text)?,
                values: split_values(&r.get(1).and_then(Val::text)?),
            })
        })
        .collect())
}

/// Forget the stored samples of a verified run.
pub(crate) async fn forget_prints(target: &Target, conn: &mut Conn, run_id: &str) {
    let sql = format!(
        "DELETE FROM {} WHERE run_id = ?",
        target.ctl("sample_prints")
    );
    if let Err(e) = conn
        .execute(&numbered(target.dialect(), &sql), &[Bind::Str(run_id)])
        .await
    {
        tracing::warn!(run_id, error = %e, "the verified run's sample fingerprints were not removed");
    }
}

/// The after-masking side: read `src` again and compare with `before`.
pub(crate) async fn checks_against(
    conn: &mut Conn,
    label: &str,
    src: &SampleSource<'_>,
    columns: &[ColumnPlan],
    before: &[RowPrints],
) -> Result<Vec<VerificationCheck>, MaskError> {
    let after = read_prints(conn, src, columns, None)
        .await
        .map_err(MaskError::db(format!("sampling {label} after masking")))?;
    Ok(compare(label, columns, before, &after))
}

/// The line for a table whose rows cannot be found again after masking.
pub(crate) fn unsampled(table: &str) -> String {
    format!("{table} (no before/after sample: no primary key, or a masked key column)")
}

/// In place, the `sample:<table>` step: record the fingerprints of the
/// table's sample before its first mask step, exactly once (the step row is
/// locked and marked done in the same transaction).
pub(crate) async fn record_sample(
    target: &Target,
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    step: &str,
    p: &TablePlan,
) -> Result<(), MaskError> {
    let key = primary_key(conn, &p.tref).await?;
    let table = p.tref.to_string();
    log.ensure_row(conn, step, Some(&table), &Start::Whole, None)
        .await
        .map_err(MaskError::db("creating progress"))?;
    let masks = masked_columns(conn, p).await?;
    let src = SampleSource {
        table: &p.tref,
        key: &key,
        delete_where: None,
    };
    // A run begun by a version without samples may have masked rows of the
    // table already: sampling them now would compare masked with masked.
    let progress = log.load(conn).await?;
    let begun = p
        .mask_targets()
        .into_iter()
        .any(|t| progress.contains_key(&mask_step_id(t)));
    let sampled = sampleable(&key, &p.columns) && !begun;
    in_tx!(conn, format!("sampling {table} before masking"), {
        let prog = log.lock(conn, step).await?;
        if !prog.done {
            let prints = if sampled {
                read_prints(conn, &src, &p.columns, Some(&masks)).await?
            } else {
                Vec::new()
            };
            store_prints(target, conn, log.run_id(), &table, &prints).await?;
            log.save(conn, step, None, true, to_i64_len(prints.len()), 1)
                .await?;
        }
    })
}

/// In place, at verification: compare the table with its stored sample;
/// a table that cannot be sampled is listed as unverifiable.
pub(crate) async fn verify_in_place(
    target: &Target,
    run_id: &str,
    conn: &mut Conn,
    p: &TablePlan,
    out: &mut UnitResult,
) -> Result<(), MaskError> {
    let key = primary_key(conn, &p.tref).await?;
    let table = p.tref.to_string();
    if !sampleable(&key, &p.columns) {
        out.unverifiable.push(unsampled(&table));
        return Ok(());
    }
    let before = load_prints(target, conn, run_id, &table).await?;
    let src = SampleSource {
        table: &p.tref,
        key: &key,
        delete_where: None,
    };
    out.checks
        .extend(checks_against(conn, &table, &src, &p.columns, &before).await?);
    Ok(())
}

/// A rewrite, at verification: each masked table of the build copy against
/// its quarantine table (rows `delete_where` keeps), which still holds the
/// originals.
pub(crate) async fn verify_copy(
    conn: &mut Conn,
    quarantine: &TableRef,
    build: &TableRef,
    p: &TablePlan,
    out: &mut UnitResult,
) -> Result<(), MaskError> {
    let key = primary_key(conn, quarantine).await?;
    let label = build.to_string();
    if !sampleable(&key, &p.columns) {
        out.unverifiable.push(unsampled(&label));
        return Ok(());
    }
    let masks = masked_columns(conn, p).await?;
    let src = SampleSource {
        table: quarantine,
        key: &key,
        delete_where: p.rules.delete_where.as_deref(),
    };
    let before = read_prints(conn, &src, &p.columns, Some(&masks))
        .await
        .map_err(MaskError::db(format!("sampling {quarantine}")))?;
    let built = SampleSource {
        table: build,
        key: &key,
        delete_where: None,
    };
    out.checks
        .extend(checks_against(conn, &label, &built, &p.columns, &before).await?);
    Ok(())
}

fn to_i64_len(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `a,b,,c` with an empty field for NULL (fingerprints are hex).
fn join_values(values: &[Option<String>]) -> String {
    values
        .iter()
        .map(|v| v.as_deref().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(",")
}

fn split_values(s: &str) -> Vec<Option<String>> {
    s.split(',')
        .map(|v| (!v.is_empty()).then(|| v.to_string()))
        .collect()
}

/// One check per masked column: the sampled values of `before` (those not
/// kept by design) found again in `after` (by key) and unchanged.
pub(crate) fn compare(
    table: &str,
    columns: &[ColumnPlan],
    before: &[RowPrints],
    after: &[RowPrints],
) -> Vec<VerificationCheck> {
    let after: HashMap<&str, &RowPrints> = after.iter().map(|r| (r.key.as_str(), r)).collect();
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (mut compared, mut unchanged) = (0u64, 0u64);
            for b in before {
                let (Some(Some(was)), Some(a)) = (b.values.get(i), after.get(b.key.as_str()))
                else {
                    continue;
                };
                compared += 1;
                if a.values.get(i).and_then(Option::as_ref) == Some(was) {
                    unchanged += 1;
                }
            }
            VerificationCheck {
                table: table.to_string(),
                check: format!(
                    "sample:{}:{} ({compared} sampled values compared)",
                    c.name,
                    c.strategy.name()
                ),
                violations: unchanged,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::text_column as col;
    use crate::rules::{Dictionary, Strategy};

    fn row(key: &str, values: &[Option<&str>]) -> RowPrints {
        RowPrints {
            key: key.into(),
            values: values.iter().map(|v| v.map(str::to_string)).collect(),
        }
    }

    #[test]
    fn every_unchanged_value_is_a_violation() {
        let cols = [
            col("email", Strategy::Hash { length: 64 }),
            col(
                "name",
                Strategy::Fake {
                    dictionary: Dictionary::FirstName,
                },
            ),
        ];
        let before = [
            row("k1", &[Some("a"), Some("n1")]),
            row("k2", &[Some("b"), None]),
        ];
        let after = [
            row("k2", &[Some("b"), Some("n2")]),
            row("k1", &[Some("z"), Some("n1")]),
        ];
        let checks = compare("t", &cols, &before, &after);
        assert_eq!(checks[0].violations, 1, "{checks:?}");
        assert!(checks[0].check.contains("2 sampled values compared"));
        assert_eq!(checks[1].violations, 1, "{checks:?}");
        assert!(
            checks[1].check.contains("1 sampled values compared"),
            "NULL or kept by design"
        );
    }

    #[test]
    fn rows_not_found_again_are_not_compared() {
        let cols = [col("a", Strategy::Null)];
        let before = [row("gone", &[Some("v")]), row("k1", &[Some("x")])];
        let after = [row("k1", &[None])];
        let checks = compare("t", &cols, &before, &after);
        assert_eq!(checks[0].violations, 0);
        assert!(
            checks[0].check.contains("1 sampled values compared"),
            "{checks:?}"
        );
    }

    #[test]
    fn the_before_sample_skips_values_the_mask_keeps() {
        let src = SampleSource {
            table: &TableRef {
                schema: "app".into(),
                table: "t".into(),
            },
            key: &["a".into(), "b".into()],
            delete_where: Some("x > 1"),
        };
        let cols = [col("c", Strategy::Null)];
        let mask = SampleColumn {
            quoted: "\"c\"".into(),
            expr: "NULL".into(),
            cast: None,
        };
        let sql = prints_sql(Dialect::Postgres, &src, &cols, Some(&[mask]));
        assert!(
            sql.contains("CASE WHEN (NULL)::text = (\"c\")::text THEN NULL ELSE"),
            "{sql}"
        );
        assert!(
            sql.ends_with(
                "FROM \"app\".\"t\" WHERE (x > 1) IS NOT TRUE ORDER BY \"a\", \"b\" LIMIT 100"
            ),
            "{sql}"
        );
        let plain = prints_sql(Dialect::MySql, &src, &cols, None);
        assert!(
            !plain.contains("CASE WHEN") && plain.contains("CONCAT_WS(CHAR(31), `a`, `b`)"),
            "{plain}"
        );
    }

    #[test]
    fn stored_values_round_trip() {
        let v = vec![Some("ab".to_string()), None, Some("cd".to_string())];
        assert_eq!(split_values(&join_values(&v)), v);
    }

    #[test]
    fn a_masked_key_column_cannot_be_sampled() {
        let cols = [col("id", Strategy::Hash { length: 64 })];
        assert!(!sampleable(&["id".into()], &cols));
        assert!(!sampleable(&[], &cols));
        assert!(sampleable(&["pk".into()], &cols));
    }
}
