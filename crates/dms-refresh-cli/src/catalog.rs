//! Reads from the target: the current database, whether a schema exists,
//! the columns of its base tables, and a sample of a column's values. Every
//! identifier put into SQL is validated and quoted; values go through bind
//! parameters.

use masking::Dialect;
use masking::sql::quote_ident;
use sqlx::{AssertSqlSafe, Row};

use crate::connect::Conn;
use crate::detect::{TypeClass, type_class};

/// One column of a base table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Table name.
    pub table: String,
    /// Column name.
    pub name: String,
    /// `information_schema` data type (PostgreSQL user-defined types by
    /// their own name, e.g. `citext`).
    pub data_type: String,
    /// Type family.
    pub class: TypeClass,
    /// Maximum length in characters for text types (`None`: unbounded).
    pub max_len: Option<u64>,
    /// Whether the column accepts NULL.
    pub nullable: bool,
}

/// Whether `s` matches `[A-Za-z_][A-Za-z0-9_$]*` (at most 63 bytes), the
/// names the rules file accepts.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && s.len() <= 63 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// `schema.table`, both parts quoted for the dialect.
pub fn qualified(d: Dialect, schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(d, schema), quote_ident(d, table))
}

/// The statement that samples up to `limit` non-NULL values of a column,
/// as text.
pub fn sample_sql(d: Dialect, schema: &str, table: &str, column: &str, limit: u32) -> String {
    let col = quote_ident(d, column);
    let as_text = match d {
        Dialect::MySql => "CHAR",
        Dialect::Postgres => "TEXT",
    };
    format!(
        "SELECT CAST({col} AS {as_text}) FROM {} WHERE {col} IS NOT NULL LIMIT {limit}",
        qualified(d, schema, table)
    )
}

const MY_COLUMNS: &str = "\
SELECT CAST(c.TABLE_NAME AS CHAR), CAST(c.COLUMN_NAME AS CHAR), CAST(c.DATA_TYPE AS CHAR),
       CAST(c.CHARACTER_MAXIMUM_LENGTH AS SIGNED), CAST(c.IS_NULLABLE AS CHAR)
FROM information_schema.COLUMNS c
JOIN information_schema.TABLES t
  ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE'
ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION";

const PG_COLUMNS: &str = "\
SELECT c.table_name::text, c.column_name::text,
       (CASE WHEN c.data_type = 'USER-DEFINED' THEN c.udt_name ELSE c.data_type END)::text,
       c.character_maximum_length::int8, c.is_nullable::text
FROM information_schema.columns c
JOIN information_schema.tables t
  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE'
ORDER BY c.table_name, c.ordinal_position";

type RawColumn = (String, String, String, Option<i64>, String);

fn to_column((table, name, data_type, max_len, nullable): RawColumn) -> Column {
    Column {
        class: type_class(&data_type),
        table,
        name,
        data_type,
        max_len: max_len.and_then(|n| u64::try_from(n).ok()),
        nullable: nullable.eq_ignore_ascii_case("YES"),
    }
}

/// Columns of the base tables (not views) of `schema`, in table and
/// ordinal order.
pub async fn columns(conn: &mut Conn, schema: &str) -> Result<Vec<Column>, sqlx::Error> {
    let raw: Vec<RawColumn> = match conn {
        Conn::My(c) => sqlx::query_as(MY_COLUMNS).bind(schema).fetch_all(c).await?,
        Conn::Pg(c) => sqlx::query_as(PG_COLUMNS).bind(schema).fetch_all(c).await?,
    };
    Ok(raw.into_iter().map(to_column).collect())
}

/// The default schema: the connection's database on MySQL (may be none),
/// `public` on PostgreSQL.
pub async fn default_schema(conn: &mut Conn) -> Result<Option<String>, sqlx::Error> {
    match conn {
        Conn::My(c) => {
            sqlx::query_scalar::<_, Option<String>>("SELECT CAST(DATABASE() AS CHAR)")
                .fetch_one(c)
                .await
        }
        Conn::Pg(_) => Ok(Some("public".into())),
    }
}

/// Whether the schema (PostgreSQL) or database (MySQL) exists.
pub async fn schema_exists(conn: &mut Conn, schema: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = match conn {
        Conn::My(c) => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            )
            .bind(schema)
            .fetch_one(c)
            .await?
        }
        Conn::Pg(c) => {
            sqlx::query_scalar("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1")
                .bind(schema)
                .fetch_one(c)
                .await?
        }
    };
    Ok(n > 0)
}

/// Up to `limit` non-NULL values of a column, as text. The caller has
/// validated the names; they are quoted all the same.
pub async fn sample(
    conn: &mut Conn,
    schema: &str,
    column: &Column,
    limit: u32,
) -> Result<Vec<String>, sqlx::Error> {
    let sql = sample_sql(conn.dialect(), schema, &column.table, &column.name, limit);
    let values = match conn {
        Conn::My(c) => {
            let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(c).await?;
            rows.iter()
                .map(|r| r.try_get::<Option<String>, _>(0))
                .collect::<Result<Vec<_>, _>>()?
        }
        Conn::Pg(c) => {
            let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(c).await?;
            rows.iter()
                .map(|r| r.try_get::<Option<String>, _>(0))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    Ok(values.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["customers", "_x", "a$1", "T2"] {
            assert!(is_identifier(ok), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "1a",
            "a-b",
            "a b",
            "a.b",
            "naïve",
            "a`b",
            "a\"b",
            long.as_str(),
        ] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn sample_statements_quote_every_name() {
        assert_eq!(
            sample_sql(Dialect::MySql, "app", "customers", "email", 200),
            "SELECT CAST(`email` AS CHAR) FROM `app`.`customers` WHERE `email` IS NOT NULL LIMIT 200"
        );
        assert_eq!(
            sample_sql(Dialect::Postgres, "public", "Customers", "e\"mail", 5),
            "SELECT CAST(\"e\"\"mail\" AS TEXT) FROM \"public\".\"Customers\" WHERE \"e\"\"mail\" IS NOT NULL LIMIT 5"
        );
        assert_eq!(qualified(Dialect::MySql, "a`b", "t"), "`a``b`.`t`");
    }

    #[test]
    fn raw_columns_are_classified() {
        let c = to_column((
            "t".into(),
            "email".into(),
            "varchar".into(),
            Some(120),
            "YES".into(),
        ));
        assert_eq!(c.class, TypeClass::Text);
        assert_eq!(c.max_len, Some(120));
        assert!(c.nullable);
        let c = to_column(("t".into(), "n".into(), "text".into(), None, "NO".into()));
        assert_eq!((c.max_len, c.nullable), (None, false));
    }
}
