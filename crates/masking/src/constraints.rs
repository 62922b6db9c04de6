//! Constraints known before writing: a strategy that can give two different
//! inputs the same output (`fake`, `partial`, `fixed`, `date_shift`,
//! `noise`, a `hash` or `email` shorter than 16 hex digits) on a column of a
//! unique index or primary key would fail mid-run with a duplicate key, after
//! part of the copy is written. The plan reads the unique indexes first and
//! refuses such a rule.

use crate::db::{Bind, Conn, Val};
use crate::error::MaskError;
use crate::plan::ColumnPlan;
use crate::rules::Strategy;
use crate::sql::{Dialect, TableRef};

/// Hex digits below which a digest prefix is treated as colliding.
pub const MIN_UNIQUE_HEX: u8 = 16;

/// Whether distinct inputs keep distinct outputs (up to hash collisions of at
/// least 64 bits). `sql` is the user's business; `null` keeps NULLs, which
/// unique indexes accept more than once.
pub fn keeps_distinct(strategy: &Strategy) -> bool {
    match strategy {
        Strategy::Hash { length } => *length >= MIN_UNIQUE_HEX,
        Strategy::Email { hex_length, .. } => *hex_length >= MIN_UNIQUE_HEX,
        Strategy::Null | Strategy::Sql { .. } => true,
        Strategy::Fake { .. }
        | Strategy::Partial { .. }
        | Strategy::Fixed { .. }
        | Strategy::DateShift { .. }
        | Strategy::Noise { .. } => false,
    }
}

/// `(index, column)` of every unique index (and primary key) of `t`.
async fn unique_index_columns(
    conn: &mut Conn,
    t: &TableRef,
) -> Result<Vec<(String, String)>, MaskError> {
    let sql = match conn.dialect() {
        Dialect::MySql => {
            "SELECT CAST(INDEX_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 AND COLUMN_NAME IS NOT NULL"
        }
        Dialect::Postgres => {
            "SELECT ic.relname::text, a.attname::text FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey) \
             WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique"
        }
    };
    let rows = conn
        .rows(sql, &[Bind::Str(&t.schema), Bind::Str(&t.table)])
        .await
        .map_err(MaskError::db(format!("reading the unique indexes of {t}")))?;
    Ok(rows
        .iter()
        .map(|r| {
            let cell = |i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
            (cell(0), cell(1))
        })
        .collect())
}

/// The problems of masking `columns` of `t` with strategies that do not keep
/// distinct values distinct, where a unique index requires it.
pub(crate) async fn unique_conflicts(
    conn: &mut Conn,
    t: &TableRef,
    columns: &[ColumnPlan],
) -> Result<Vec<String>, MaskError> {
    if columns
        .iter()
        .all(|c| keeps_distinct(&c.strategy) && c.normalize.is_none())
    {
        return Ok(Vec::new());
    }
    let unique = unique_index_columns(conn, t).await?;
    let mut out = Vec::new();
    for c in columns {
        let Some((index, _)) = unique.iter().find(|(_, col)| *col == c.name) else {
            continue;
        };
        if !keeps_distinct(&c.strategy) {
            out.push(format!(
                "{t}: column `{}` is in unique index `{index}` but strategy `{}` can give different values the same output (use `hash` or `email` with at least {MIN_UNIQUE_HEX} hex digits, or drop the index in the target)",
                c.name,
                c.strategy.name()
            ));
        } else if c.normalize.is_some() && !case_insensitive(conn, t, &c.name).await? {
            out.push(format!(
                "{t}: column `{}` is in unique index `{index}`, which tells 'A' from 'a', but normalize makes them one value (a duplicate key): drop normalize, or use it where the column's collation is case-insensitive (MySQL `_ci`)",
                c.name
            ));
        }
    }
    Ok(out)
}

/// Whether the column's collation already treats `'A'` and `'a'` as one
/// (MySQL `_ci` collations); PostgreSQL's deterministic collations never do.
async fn case_insensitive(conn: &mut Conn, t: &TableRef, column: &str) -> Result<bool, MaskError> {
    if conn.dialect() != Dialect::MySql {
        return Ok(false);
    }
    let sql = "SELECT CAST(COALESCE(COLLATION_NAME, '') AS CHAR) FROM information_schema.COLUMNS \
               WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?";
    let rows = conn
        .rows(
            sql,
            &[Bind::Str(&t.schema), Bind::Str(&t.table), Bind::Str(column)],
        )
        .await
        .map_err(MaskError::db(format!(
            "reading the collation of {t}.{column}"
        )))?;
    let collation = rows
        .first()
        .and_then(|r| r.first())
        .and_then(Val::text)
        .unwrap_or_default();
    Ok(collation.ends_with("_ci"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Dictionary;

    #[test]
    fn only_long_digests_null_and_sql_count_as_distinct() {
        assert!(keeps_distinct(&Strategy::Hash { length: 64 }));
        assert!(keeps_distinct(&Strategy::Hash { length: 16 }));
        assert!(!keeps_distinct(&Strategy::Hash { length: 12 }));
        assert!(!keeps_distinct(&Strategy::Email {
            domain: "example.invalid".into(),
            hex_length: 8
        }));
        assert!(keeps_distinct(&Strategy::Null));
        assert!(!keeps_distinct(&Strategy::Fake {
            dictionary: Dictionary::FirstName
        }));
        assert!(!keeps_distinct(&Strategy::DateShift {
            max_days: 5,
            keep_dates: Vec::new(),
        }));
        assert!(!keeps_distinct(&Strategy::Fixed {
            value: "x".into(),
            keep_null: true
        }));
    }
}
