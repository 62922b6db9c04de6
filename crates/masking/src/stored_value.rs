//! How the run stores a masked value: the masking expression of a column
//! cast to the column's own type, so a comparison with the original sees what
//! the table will hold (a `noise` rounded to `decimal(10,2)`, a PostgreSQL
//! `date` shifted through a timestamp). Shared by `validate`'s samples and
//! the before/after verification sample.

use std::collections::BTreeMap;

use crate::db::{Bind, Conn};
use crate::error::MaskError;
use crate::plan::TablePlan;
use crate::runner::mask_sets;
use crate::sql::{self, Dialect, TableRef};

/// One masked column of a sample query: the quoted column, its masking
/// expression, and the storage cast if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleColumn {
    /// Quoted column.
    pub quoted: String,
    /// Masking expression (as the run's `UPDATE` sets it).
    pub expr: String,
    /// [`storage_cast`] of the column.
    pub cast: Option<String>,
}

/// The masked columns of `p` with their masking expressions and storage
/// casts, in plan order.
pub(crate) async fn masked_columns(
    conn: &mut Conn,
    p: &TablePlan,
) -> Result<Vec<SampleColumn>, MaskError> {
    let d = conn.dialect();
    let types = column_types(conn, &p.tref).await?;
    Ok(p.columns
        .iter()
        .zip(mask_sets(d, p))
        .map(|(c, (quoted, expr))| SampleColumn {
            quoted,
            expr,
            cast: types
                .get(&c.name)
                .and_then(|t| storage_cast(d, &c.kind.data_type, t)),
        })
        .collect())
}

/// `masked = original` as the table would compare them: in the storage type
/// when there is one, else byte for byte (MySQL `_ci` collations would call
/// `'A'` and `'a'` equal).
pub(crate) fn stored_equals_original(d: Dialect, c: &SampleColumn) -> String {
    match (&c.cast, d) {
        (Some(t), _) => format!("CAST(({}) AS {t}) = {}", c.expr, c.quoted),
        (None, Dialect::MySql) => format!(
            "CAST(({}) AS BINARY) = CAST({} AS BINARY)",
            c.expr, c.quoted
        ),
        (None, Dialect::Postgres) => format!("({})::text = ({})::text", c.expr, c.quoted),
    }
}

/// The type the run stores a masked value as, as a `CAST` target, when the
/// expression's own type can show it differently: numbers are rounded to
/// the column (a `noise` on `decimal(10,2)`), PostgreSQL computes a shifted
/// `date` as a timestamp, a `fixed` literal becomes a number. `None` for
/// text and any other type (the value is shown as computed).
/// `column_type` is MySQL's `COLUMN_TYPE` or PostgreSQL's `format_type`.
pub fn storage_cast(d: Dialect, data_type: &str, column_type: &str) -> Option<String> {
    let data_type = data_type.to_ascii_lowercase();
    let column_type = column_type.to_ascii_lowercase();
    if !(sql::is_numeric_type(d, &data_type) || sql::is_date_type(d, &data_type)) {
        return None;
    }
    match d {
        Dialect::Postgres => column_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " (),_".contains(c))
            .then_some(column_type),
        Dialect::MySql => {
            let args = parenthesised_numbers(&column_type);
            let unsigned = column_type.contains("unsigned");
            match data_type.as_str() {
                "decimal" | "numeric" => match args.as_slice() {
                    [m, s] => Some(format!("DECIMAL({m},{s})")),
                    [m] => Some(format!("DECIMAL({m},0)")),
                    _ => Some("DECIMAL(10,0)".to_string()),
                },
                "float" => Some("FLOAT".to_string()),
                "double" | "real" => Some("DOUBLE".to_string()),
                "date" => Some("DATE".to_string()),
                "datetime" | "timestamp" => Some(match args.as_slice() {
                    [fsp] => format!("DATETIME({fsp})"),
                    _ => "DATETIME".to_string(),
                }),
                _ if sql::is_integer_type(d, &data_type) => {
                    Some(if unsigned { "UNSIGNED" } else { "SIGNED" }.to_string())
                }
                _ => None,
            }
        }
    }
}

/// The numbers between the first parentheses of `decimal(10,2) unsigned`.
fn parenthesised_numbers(column_type: &str) -> Vec<u32> {
    let Some((_, rest)) = column_type.split_once('(') else {
        return Vec::new();
    };
    let Some((inside, _)) = rest.split_once(')') else {
        return Vec::new();
    };
    inside
        .split(',')
        .map(|n| n.trim().parse::<u32>())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default()
}

/// `column -> type` as MySQL's `COLUMN_TYPE` or PostgreSQL's `format_type`.
pub(crate) async fn column_types(
    conn: &mut Conn,
    t: &TableRef,
) -> Result<BTreeMap<String, String>, MaskError> {
    let q = match conn.dialect() {
        Dialect::MySql => {
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?"
        }
        Dialect::Postgres => {
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped"
        }
    };
    let rows = conn
        .rows(q, &[Bind::Str(&t.schema), Bind::Str(&t.table)])
        .await
        .map_err(MaskError::db(format!("reading the column types of {t}")))?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r.first()?.text()?, r.get(1)?.text()?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_casts_to_the_stored_type() {
        let d = Dialect::MySql;
        assert_eq!(
            storage_cast(d, "decimal", "decimal(10,2) unsigned").as_deref(),
            Some("DECIMAL(10,2)")
        );
        assert_eq!(
            storage_cast(d, "int", "int(11) unsigned").as_deref(),
            Some("UNSIGNED")
        );
        assert_eq!(
            storage_cast(d, "bigint", "bigint(20)").as_deref(),
            Some("SIGNED")
        );
        assert_eq!(
            storage_cast(d, "datetime", "datetime(3)").as_deref(),
            Some("DATETIME(3)")
        );
        assert_eq!(
            storage_cast(d, "timestamp", "timestamp").as_deref(),
            Some("DATETIME")
        );
        assert_eq!(storage_cast(d, "date", "date").as_deref(), Some("DATE"));
        assert_eq!(storage_cast(d, "float", "float").as_deref(), Some("FLOAT"));
        assert_eq!(storage_cast(d, "varchar", "varchar(255)"), None);
        assert_eq!(storage_cast(d, "json", "json"), None);
    }

    #[test]
    fn postgres_casts_to_format_type_of_numbers_and_dates_only() {
        let d = Dialect::Postgres;
        assert_eq!(
            storage_cast(d, "numeric", "numeric(10,2)").as_deref(),
            Some("numeric(10,2)")
        );
        assert_eq!(storage_cast(d, "date", "date").as_deref(), Some("date"));
        assert_eq!(
            storage_cast(d, "timestamp with time zone", "timestamp(3) with time zone").as_deref(),
            Some("timestamp(3) with time zone")
        );
        assert_eq!(
            storage_cast(d, "character varying", "character varying(20)"),
            None,
            "text is shown as computed: a cast would truncate"
        );
        assert_eq!(
            storage_cast(d, "numeric", "\"odd\"\"type\""),
            None,
            "anything but plain words is not put in SQL"
        );
    }

    #[test]
    fn mysql_type_arguments() {
        assert_eq!(parenthesised_numbers("decimal(10,2) unsigned"), vec![10, 2]);
        assert_eq!(parenthesised_numbers("datetime(6)"), vec![6]);
        assert_eq!(parenthesised_numbers("date"), Vec::<u32>::new());
        assert_eq!(parenthesised_numbers("enum('a','b')"), Vec::<u32>::new());
    }
}
