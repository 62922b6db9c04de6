//! Resolve the rules against the live schema (information_schema) before any
//! write: every table and column must exist and every strategy must fit the
//! column's type, nullability and length.

use std::collections::BTreeSet;

use crate::chunk_key::{ChunkKey, chunk_key, in_heap_order, pages_supported};
use crate::constraints::unique_conflicts;
use crate::db::{Bind, Conn};
use crate::error::MaskError;
use crate::partitions::expand;
use crate::rules::{Normalize, Origin, Rules, Strategy, TableRules};
use crate::sql::{self, Dialect, TableRef, quote_ident};
use crate::value_edges::ColumnKind;

/// A live column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumn {
    /// Name.
    pub name: String,
    /// information_schema DATA_TYPE.
    pub data_type: String,
    /// IS_NULLABLE = YES.
    pub nullable: bool,
    /// CHARACTER_MAXIMUM_LENGTH.
    pub max_len: Option<i64>,
    /// MySQL COLUMN_TYPE / PostgreSQL udt_name (for `unsigned` detection).
    pub full_type: String,
}

/// A column to mask.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ColumnPlan {
    pub name: String,
    pub quoted: String,
    pub strategy: Strategy,
    pub kind: ColumnKind,
    /// Keyed strategies: the value is normalised before hashing.
    pub normalize: Option<Normalize>,
}

/// A table to process.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TablePlan {
    pub tref: TableRef,
    pub rules: TableRules,
    pub columns: Vec<ColumnPlan>,
    /// How the table is cut into chunks, by the copy out of quarantine and
    /// by the in-place `UPDATE` alike (see [`crate::chunk_key`]).
    pub chunk_key: ChunkKey,
    /// PostgreSQL: the leaf partitions of a partitioned table, masked one by
    /// one (see [`crate::partitions`]); empty otherwise.
    pub partitions: Vec<TableRef>,
}

/// Tests: a masked `text` column named `name` (quoted for PostgreSQL).
#[cfg(test)]
pub(crate) fn text_column(name: &str, strategy: crate::rules::Strategy) -> ColumnPlan {
    ColumnPlan {
        name: name.into(),
        quoted: format!("\"{name}\""),
        strategy,
        kind: ColumnKind {
            data_type: "text".into(),
            unsigned: false,
        },
        normalize: None,
    }
}

impl TablePlan {
    /// The tables the masking `UPDATE`s write: the leaf partitions of a
    /// partitioned table, the table itself otherwise.
    pub(crate) fn mask_targets(&self) -> Vec<&TableRef> {
        if self.partitions.is_empty() {
            vec![&self.tref]
        } else {
            self.partitions.iter().collect()
        }
    }
}

/// Split a rules-file table name into (schema, table).
pub fn resolve_table(
    d: Dialect,
    name: &str,
    default_schema: Option<&str>,
) -> Result<TableRef, String> {
    match name.split_once('.') {
        Some((s, t)) => Ok(TableRef {
            schema: s.to_string(),
            table: t.to_string(),
        }),
        None => {
            let schema = match d {
                Dialect::Postgres => default_schema.unwrap_or("public"),
                Dialect::MySql => default_schema.ok_or_else(|| {
                    format!("table `{name}` is not qualified and the connection has no default database (set `dbname` in the secret or write `db.{name}`)")
                })?,
            };
            Ok(TableRef {
                schema: schema.to_string(),
                table: name.to_string(),
            })
        }
    }
}

/// Length in characters of the strategy's output, when fixed or bounded.
pub fn output_len(strategy: &Strategy) -> Option<usize> {
    match strategy {
        Strategy::Hash { length } => Some(usize::from(*length)),
        Strategy::Email { domain, hex_length } => Some(usize::from(*hex_length) + 1 + domain.len()),
        Strategy::Fake { dictionary } => Some(dictionary.max_output_len()),
        Strategy::Fixed { value, .. } => Some(value.chars().count()),
        _ => None,
    }
}

/// Check one strategy against one live column. Pure; returns the problem.
pub fn check_column(d: Dialect, strategy: &Strategy, col: &LiveColumn) -> Result<(), String> {
    let needs_text = matches!(
        strategy,
        Strategy::Hash { .. }
            | Strategy::Email { .. }
            | Strategy::Fake { .. }
            | Strategy::Partial { .. }
    );
    if needs_text && !sql::is_text_type(d, &col.data_type) {
        return Err(format!(
            "strategy `{}` needs a text column but `{}` is {}",
            strategy.name(),
            col.name,
            col.data_type
        ));
    }
    match strategy {
        Strategy::Null if !col.nullable => {
            return Err(format!("strategy `null` on NOT NULL column `{}`", col.name));
        }
        Strategy::Fixed {
            keep_null: false, ..
        }
        | Strategy::Sql {
            keep_null: false, ..
        } => {}
        Strategy::DateShift { .. } if !sql::is_date_type(d, &col.data_type) => {
            return Err(format!(
                "strategy `date_shift` needs a date/time column but `{}` is {}",
                col.name, col.data_type
            ));
        }
        Strategy::Noise { .. } if !sql::is_numeric_type(d, &col.data_type) => {
            return Err(format!(
                "strategy `noise` needs a numeric column but `{}` is {}",
                col.name, col.data_type
            ));
        }
        _ => {}
    }
    if let (Some(max), Some(out)) = (col.max_len, output_len(strategy))
        && sql::is_text_type(d, &col.data_type)
        && i64::try_from(out).unwrap_or(i64::MAX) > max
    {
        return Err(format!(
            "strategy `{}` produces up to {out} characters but `{}` is limited to {max}",
            strategy.name(),
            col.name
        ));
    }
    Ok(())
}

fn problem(origin: &Origin, msg: impl std::fmt::Display) -> String {
    format!("{origin}: {msg}")
}

pub(crate) async fn live_columns(
    conn: &mut Conn,
    d: Dialect,
    t: &TableRef,
) -> Result<Vec<LiveColumn>, MaskError> {
    let rows = conn
        .rows(
            sql::columns_sql(d),
            &[Bind::Str(&t.schema), Bind::Str(&t.table)],
        )
        .await
        .map_err(MaskError::db(format!("reading the columns of {t}")))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let cell = |i: usize| r.get(i).cloned().unwrap_or(crate::db::Val::Null);
            LiveColumn {
                name: cell(0).text().unwrap_or_default(),
                data_type: cell(1).text().unwrap_or_default().to_ascii_lowercase(),
                nullable: cell(2)
                    .text()
                    .is_some_and(|s| s.eq_ignore_ascii_case("YES")),
                max_len: cell(3).int(),
                full_type: cell(4).text().unwrap_or_default().to_ascii_lowercase(),
            }
        })
        .collect())
}

/// Resolve every table of the rules. All problems are collected and returned
/// together as [`MaskError::Schema`].
pub(crate) async fn build_plan(
    conn: &mut Conn,
    d: Dialect,
    default_schema: Option<&str>,
    rules: &Rules,
) -> Result<Vec<TablePlan>, MaskError> {
    let mut problems = Vec::new();
    let mut plans = Vec::new();
    let mut seen = BTreeSet::new();
    let pages = pages_supported(conn).await?;
    for t in &rules.tables {
        let tref = match resolve_table(d, &t.name, default_schema) {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(&t.origin, e));
                continue;
            }
        };
        if !seen.insert(tref.clone()) {
            problems.push(problem(&t.origin, format!("table {tref} is listed twice")));
            continue;
        }
        let exists = conn
            .scalar_i64(
                sql::table_exists_sql(d),
                &[Bind::Str(&tref.schema), Bind::Str(&tref.table)],
            )
            .await
            .map_err(MaskError::db(format!("looking up table {tref}")))?
            .unwrap_or(0);
        if exists == 0 {
            problems.push(problem(&t.origin, format!("table {tref} does not exist")));
            continue;
        }
        let live = live_columns(conn, d, &tref).await?;
        let mut columns = Vec::new();
        for c in &t.columns {
            match live.iter().find(|l| l.name == c.column) {
                None => problems.push(problem(
                    &c.origin,
                    format!(
                        "column `{}` does not exist in {tref} (columns: {})",
                        c.column,
                        live.iter()
                            .map(|l| l.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
                Some(l) => match check_column(d, &c.strategy, l) {
                    Err(e) => problems.push(problem(&c.origin, format!("{tref}: {e}"))),
                    Ok(()) => columns.push(ColumnPlan {
                        name: c.column.clone(),
                        quoted: quote_ident(d, &c.column),
                        strategy: c.strategy.clone(),
                        normalize: c.normalize,
                        kind: ColumnKind {
                            data_type: l.data_type.clone(),
                            unsigned: l.full_type.contains("unsigned"),
                        },
                    }),
                },
            }
        }
        problems.extend(unique_conflicts(conn, &tref, &columns).await?);
        let masked: Vec<&str> = t.columns.iter().map(|c| c.column.as_str()).collect();
        let best = chunk_key(conn, &tref, &masked, pages).await?;
        plans.push(TablePlan {
            tref,
            rules: t.clone(),
            columns,
            chunk_key: in_heap_order(&best, pages),
            partitions: Vec::new(),
        });
    }
    problems.extend(expand(conn, &mut plans).await?);
    if problems.is_empty() {
        Ok(plans)
    } else {
        Err(MaskError::Schema { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Dictionary;

    fn col(name: &str, ty: &str, nullable: bool, max: Option<i64>) -> LiveColumn {
        LiveColumn {
            name: name.into(),
            data_type: ty.into(),
            nullable,
            max_len: max,
            full_type: ty.into(),
        }
    }

    #[test]
    fn resolves_table_names() {
        assert_eq!(
            resolve_table(Dialect::Postgres, "customers", None).unwrap(),
            TableRef {
                schema: "public".into(),
                table: "customers".into()
            }
        );
        assert_eq!(
            resolve_table(Dialect::MySql, "shop.orders", None)
                .unwrap()
                .schema,
            "shop"
        );
        assert!(resolve_table(Dialect::MySql, "orders", None).is_err());
        assert_eq!(
            resolve_table(Dialect::MySql, "orders", Some("db1"))
                .unwrap()
                .schema,
            "db1"
        );
    }

    #[test]
    fn type_checks() {
        let d = Dialect::Postgres;
        assert!(
            check_column(d, &Strategy::Null, &col("a", "text", false, None))
                .unwrap_err()
                .contains("NOT NULL")
        );
        assert!(check_column(d, &Strategy::Null, &col("a", "text", true, None)).is_ok());
        let ds = Strategy::DateShift {
            max_days: 5,
            keep_dates: Vec::new(),
        };
        assert!(
            check_column(d, &ds, &col("a", "text", true, None))
                .unwrap_err()
                .contains("date/time")
        );
        assert!(check_column(d, &ds, &col("a", "date", true, None)).is_ok());
        let n = Strategy::Noise {
            percent: "5".into(),
        };
        assert!(check_column(Dialect::MySql, &n, &col("a", "varchar", true, Some(9))).is_err());
        assert!(check_column(Dialect::MySql, &n, &col("a", "decimal", true, None)).is_ok());
        let e = Strategy::Email {
            domain: "example.invalid".into(),
            hex_length: 32,
        };
        assert!(
            check_column(d, &e, &col("a", "character varying", true, Some(40)))
                .unwrap_err()
                .contains("limited to 40")
        );
        assert!(check_column(d, &e, &col("a", "character varying", true, Some(48))).is_ok());
        assert!(
            check_column(d, &e, &col("a", "integer", true, None))
                .unwrap_err()
                .contains("text column")
        );
        let f = Strategy::Fake {
            dictionary: Dictionary::Phone,
        };
        assert!(check_column(d, &f, &col("a", "character varying", true, Some(13))).is_ok());
        assert!(check_column(d, &f, &col("a", "character varying", true, Some(12))).is_err());
    }
}
