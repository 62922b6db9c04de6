//! The chunk key of a table, chosen at plan time: how its rows are cut into
//! chunks that each commit with their progress row (see
//! [`crate::progress::run_in_chunks`]).
//!
//! In order of preference:
//!
//! 1. the primary key, then the unique indexes whose columns are all NOT
//!    NULL (fewest columns first, then by name), skipping a key that
//!    * has a masked column: in place an `UPDATE` would move rows across the
//!      cursor (masked twice or never), and the cursor would keep a raw
//!      value of a masked column in the progress row;
//!    * has a column whose value does not read back exactly from its text
//!      form, or does not compare as it sorts (floating point, MySQL
//!      `TIMESTAMP` (compared through the session time zone), `ENUM`/`SET`,
//!      `BIT`, JSON, LOBs, PostgreSQL domains and other types);
//!    * is partial, on expressions or column prefixes, not a btree, or
//!      (PostgreSQL) uses another collation or operator class than its
//!      column's default.
//!
//!    A single integer column is [`ChunkKey::Int`] (integer ranges, cursor
//!    in `last_key`); any other is [`ChunkKey::Keyset`] (cursor in
//!    `last_key_text`).
//! 2. PostgreSQL 14+ without such a key: [`ChunkKey::Pages`], ranges of heap
//!    pages read by `ctid` (a TID range scan).
//! 3. Otherwise one statement ([`ChunkKey::Whole`], listed in the run's
//!    warnings): MySQL/MariaDB tables without a usable key.
//!
//! On PostgreSQL 14+, a keyset key gives way to heap pages
//! ([`in_heap_order`]), for the in-place `UPDATE` and for the copy out of
//! quarantine alike: the heap is not ordered by such a key (a UUID, a text
//! or a composite key), so each chunk in key order would touch rows on most
//! of the table's pages (in place, every page would be rewritten by many
//! chunks), and the planner estimates a range of a composite key by its
//! first column, so a chunk of one can be read by a scan of the whole
//! table. Page chunks read (and in place rewrite) each page once, in the
//! order a single statement does. An integer key keeps its ranges (usually
//! the insertion order), and so does every key on MySQL/MariaDB, whose
//! InnoDB tables are stored in primary key order.

use std::collections::BTreeMap;

use crate::db::{Bind, Conn, Val};
use crate::error::MaskError;
use crate::sql::{Dialect, TableRef, is_integer_type};

/// How a table is cut into chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkKey {
    /// A single integer column: ranges `lo < k <= hi`.
    Int(String),
    /// Any other key: a keyset cursor over its columns, in key order.
    Keyset(Vec<KeyColumn>),
    /// PostgreSQL without a usable key: ranges of heap pages.
    Pages,
    /// One statement, and why.
    Whole(String),
}

impl std::fmt::Display for ChunkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChunkKey::Int(c) => write!(f, "integer key ({c})"),
            ChunkKey::Keyset(cols) => {
                let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
                write!(f, "key ({})", names.join(", "))
            }
            ChunkKey::Pages => f.write_str("heap pages"),
            ChunkKey::Whole(_) => f.write_str("one statement"),
        }
    }
}

/// A column of a keyset key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyColumn {
    pub name: String,
    pub value: KeyValue,
}

/// How a key value travels: read as text, bound back as text and turned
/// into the column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyValue {
    /// MySQL character columns: the bound string as it is.
    Text,
    /// `CAST(? AS <type>)`: PostgreSQL the column's catalog type
    /// (`format_type`, e.g. `uuid`, `character varying(20)`,
    /// `numeric(12,2)`); MySQL `SIGNED`, `UNSIGNED`, `DECIMAL(p,s)`, `DATE`,
    /// `DATETIME(6)`, `TIME(6)` (a string compared with a number is
    /// compared as a double on MySQL, which loses digits).
    Cast(String),
    /// Binary columns: hex text (`HEX`/`UNHEX`, `encode`/`decode`).
    Hex,
}

/// A unique index (or the primary key) as read from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UniqueKey {
    pub name: String,
    pub primary: bool,
    /// A plain btree on whole columns, without predicate (PostgreSQL: with
    /// the columns' collations and default operator classes).
    pub plain: bool,
    pub columns: Vec<KeyPart>,
}

/// A column of a [`UniqueKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPart {
    pub column: String,
    pub not_null: bool,
    /// MySQL `DATA_TYPE`; PostgreSQL `format_type(type, NULL)`.
    pub data_type: String,
    /// MySQL `COLUMN_TYPE`; PostgreSQL `format_type(type, typmod)`.
    pub sql_type: String,
}

/// How a value of this column travels as text, if it reads back exactly
/// and compares as it sorts.
pub(crate) fn key_value(d: Dialect, data_type: &str, sql_type: &str) -> Option<KeyValue> {
    let t = data_type.to_ascii_lowercase();
    let full = sql_type.to_ascii_lowercase();
    match d {
        Dialect::Postgres => match t.as_str() {
            "smallint"
            | "integer"
            | "bigint"
            | "numeric"
            | "text"
            | "character varying"
            | "character"
            | "uuid"
            | "date"
            | "timestamp without time zone"
            | "timestamp with time zone"
            | "time without time zone" => Some(KeyValue::Cast(sql_type.to_string())),
            "bytea" => Some(KeyValue::Hex),
            _ => None,
        },
        Dialect::MySql => match t.as_str() {
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
                Some(KeyValue::Cast(
                    if full.contains("unsigned") {
                        "UNSIGNED"
                    } else {
                        "SIGNED"
                    }
                    .to_string(),
                ))
            }
            "decimal" | "numeric" => mysql_decimal(&full).map(KeyValue::Cast),
            "char" | "varchar" => Some(KeyValue::Text),
            "binary" | "varbinary" => Some(KeyValue::Hex),
            "date" => Some(KeyValue::Cast("DATE".into())),
            "datetime" => Some(KeyValue::Cast("DATETIME(6)".into())),
            "time" => Some(KeyValue::Cast("TIME(6)".into())),
            _ => None,
        },
    }
}

/// `DECIMAL(p,s)` of a MySQL `COLUMN_TYPE` such as `decimal(14,2) unsigned`.
fn mysql_decimal(column_type: &str) -> Option<String> {
    let args = match column_type.split_once('(') {
        None => "10,0",
        Some((_, rest)) => rest.split_once(')')?.0,
    };
    args.chars()
        .all(|c| c.is_ascii_digit() || c == ',')
        .then(|| format!("DECIMAL({args})"))
}

/// Choose the chunk key among `keys` (the table's unique indexes), given
/// the masked columns and whether heap pages can be used (PostgreSQL 14+).
pub(crate) fn choose(d: Dialect, keys: &[UniqueKey], masked: &[&str], pages: bool) -> ChunkKey {
    let mut candidates: Vec<&UniqueKey> = keys
        .iter()
        .filter(|k| k.primary || k.columns.iter().all(|c| c.not_null))
        .collect();
    candidates.sort_by(|a, b| {
        (!a.primary, a.columns.len(), &a.name).cmp(&(!b.primary, b.columns.len(), &b.name))
    });
    let mut skipped = Vec::new();
    for k in candidates {
        match usable(d, k, masked) {
            Ok(key) => return key,
            Err(why) => skipped.push(format!(
                "{} `{}` {why}",
                if k.primary {
                    "primary key"
                } else {
                    "unique index"
                },
                k.name
            )),
        }
    }
    if pages {
        return ChunkKey::Pages;
    }
    ChunkKey::Whole(if skipped.is_empty() {
        "no primary key or unique index on NOT NULL columns".to_string()
    } else {
        skipped.join("; ")
    })
}

fn usable(d: Dialect, k: &UniqueKey, masked: &[&str]) -> Result<ChunkKey, String> {
    if !k.plain {
        return Err("is partial, on an expression or a prefix, or not a plain btree".to_string());
    }
    if let Some(c) = k
        .columns
        .iter()
        .find(|c| masked.contains(&c.column.as_str()))
    {
        return Err(format!("has the masked column `{}`", c.column));
    }
    if let [c] = k.columns.as_slice()
        && is_integer_type(d, &c.data_type)
        && !(c.data_type.eq_ignore_ascii_case("bigint")
            && c.sql_type.to_ascii_lowercase().contains("unsigned"))
    {
        return Ok(ChunkKey::Int(c.column.clone()));
    }
    let mut cols = Vec::new();
    for c in &k.columns {
        let value = key_value(d, &c.data_type, &c.sql_type).ok_or_else(|| {
            format!(
                "has the column `{}` of type {}, which does not read back exactly from text or does not compare as it sorts",
                c.column, c.sql_type
            )
        })?;
        cols.push(KeyColumn {
            name: c.column.clone(),
            value,
        });
    }
    Ok(ChunkKey::Keyset(cols))
}

/// Unique indexes of `t` with their columns in key order. Binds: schema,
/// table.
fn unique_keys_sql(d: Dialect) -> &'static str {
    match d {
        Dialect::MySql => {
            "SELECT CAST(s.INDEX_NAME AS CHAR), CAST(s.INDEX_NAME = 'PRIMARY' AS CHAR), \
             CAST(s.INDEX_TYPE = 'BTREE' AND s.SUB_PART IS NULL AND c.COLUMN_NAME IS NOT NULL AS CHAR), \
             CAST(c.COLUMN_NAME AS CHAR), CAST(c.IS_NULLABLE = 'NO' AS CHAR), \
             CAST(c.DATA_TYPE AS CHAR), CAST(c.COLUMN_TYPE AS CHAR) \
             FROM information_schema.STATISTICS s \
             LEFT JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA \
             AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME \
             WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND s.NON_UNIQUE = 0 \
             ORDER BY s.INDEX_NAME, s.SEQ_IN_INDEX"
        }
        Dialect::Postgres => {
            "SELECT ic.relname::text, i.indisprimary::text, \
             (i.indpred IS NULL AND i.indexprs IS NULL AND i.indisvalid AND am.amname = 'btree' \
              AND a.attnum IS NOT NULL AND i.indcollation[k.ord - 1] = a.attcollation \
              AND COALESCE(op.opcdefault, false))::text, \
             a.attname::text, COALESCE(a.attnotnull, false)::text, \
             format_type(a.atttypid, NULL)::text, format_type(a.atttypid, a.atttypmod)::text \
             FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0 \
             LEFT JOIN pg_opclass op ON op.oid = i.indclass[k.ord - 1] \
             WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique AND k.ord <= i.indnkeyatts \
             ORDER BY ic.relname, k.ord"
        }
    }
}

/// The unique indexes (primary key included) of `t`.
pub(crate) async fn unique_keys(
    conn: &mut Conn,
    t: &TableRef,
) -> Result<Vec<UniqueKey>, MaskError> {
    let rows = conn
        .rows(
            unique_keys_sql(conn.dialect()),
            &[Bind::Str(&t.schema), Bind::Str(&t.table)],
        )
        .await
        .map_err(MaskError::db(format!("reading the unique keys of {t}")))?;
    let text = |r: &[Val], i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
    let flag = |r: &[Val], i: usize| matches!(text(r, i).as_str(), "1" | "true");
    let mut keys: BTreeMap<String, UniqueKey> = BTreeMap::new();
    for r in &rows {
        let name = text(r, 0);
        let key = keys.entry(name.clone()).or_insert_with(|| UniqueKey {
            name,
            primary: flag(r, 1),
            plain: true,
            columns: Vec::new(),
        });
        key.plain &= flag(r, 2);
        key.columns.push(KeyPart {
            column: text(r, 3),
            not_null: flag(r, 4),
            data_type: text(r, 5).to_ascii_lowercase(),
            sql_type: text(r, 6),
        });
    }
    Ok(keys.into_values().collect())
}

/// Whether heap-page chunks can be used: PostgreSQL 14+ (TID range scans).
pub(crate) async fn pages_supported(conn: &mut Conn) -> Result<bool, MaskError> {
    if conn.dialect() != Dialect::Postgres {
        return Ok(false);
    }
    let v = conn
        .scalar_i64("SELECT current_setting('server_version_num')::int8", &[])
        .await
        .map_err(MaskError::db("reading the server version"))?
        .unwrap_or(0);
    Ok(v >= 140_000)
}

/// The chunk key of `t` with `masked` columns.
pub(crate) async fn chunk_key(
    conn: &mut Conn,
    t: &TableRef,
    masked: &[&str],
    pages: bool,
) -> Result<ChunkKey, MaskError> {
    let keys = unique_keys(conn, t).await?;
    Ok(choose(conn.dialect(), &keys, masked, pages))
}

/// How to cut a table whose best key is `key`: heap pages instead of a
/// keyset when they can be used (`pages`, PostgreSQL 14+), `key` otherwise
/// (see the module documentation).
pub(crate) fn in_heap_order(key: &ChunkKey, pages: bool) -> ChunkKey {
    match key {
        ChunkKey::Keyset(_) if pages => ChunkKey::Pages,
        other => other.clone(),
    }
}

/// The warning listing the tables worked on in one statement, if any.
pub(crate) fn whole_tables_warning<'a>(
    verb: &str,
    tables: impl Iterator<Item = (String, &'a ChunkKey)>,
) -> Option<String> {
    let list: Vec<String> = tables
        .filter_map(|(t, k)| match k {
            ChunkKey::Whole(why) => Some(format!("{t} ({why})")),
            _ => None,
        })
        .collect();
    (!list.is_empty()).then(|| {
        format!(
            "tables without a key usable for chunking, {verb} in one statement each (each must fit in one invocation): {}",
            list.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(column: &str, not_null: bool, data_type: &str, sql_type: &str) -> KeyPart {
        KeyPart {
            column: column.into(),
            not_null,
            data_type: data_type.into(),
            sql_type: sql_type.into(),
        }
    }

    fn key(name: &str, primary: bool, columns: Vec<KeyPart>) -> UniqueKey {
        UniqueKey {
            name: name.into(),
            primary,
            plain: true,
            columns,
        }
    }

    fn keyset(cols: &[(&str, KeyValue)]) -> ChunkKey {
        ChunkKey::Keyset(
            cols.iter()
                .map(|(n, v)| KeyColumn {
                    name: n.to_string(),
                    value: v.clone(),
                })
                .collect(),
        )
    }

    #[test]
    fn the_primary_key_comes_first_whatever_its_shape() {
        let d = Dialect::Postgres;
        let keys = [
            key(
                "a_code",
                false,
                vec![part("code", true, "integer", "integer")],
            ),
            key(
                "t_pkey",
                true,
                vec![
                    part("region", true, "integer", "integer"),
                    part("name", true, "character varying", "character varying(20)"),
                ],
            ),
        ];
        assert_eq!(
            choose(d, &keys, &[], true),
            keyset(&[
                ("region", KeyValue::Cast("integer".into())),
                ("name", KeyValue::Cast("character varying(20)".into())),
            ])
        );
        // A single integer primary key keeps the integer ranges.
        let int = [key(
            "t_pkey",
            true,
            vec![part("id", true, "bigint", "bigint")],
        )];
        assert_eq!(choose(d, &int, &[], true), ChunkKey::Int("id".into()));
        let uuid = [key("t_pkey", true, vec![part("id", true, "uuid", "uuid")])];
        assert_eq!(
            choose(d, &uuid, &[], true),
            keyset(&[("id", KeyValue::Cast("uuid".into()))])
        );
    }

    #[test]
    fn otherwise_the_smallest_not_null_unique_index_then_by_name() {
        let d = Dialect::MySql;
        let keys = [
            key(
                "z_one",
                false,
                vec![part("z", true, "varchar", "varchar(10)")],
            ),
            key(
                "a_two",
                false,
                vec![
                    part("a", true, "int", "int(11)"),
                    part("b", true, "int", "int(11)"),
                ],
            ),
            key(
                "b_one",
                false,
                vec![part("b", true, "binary", "binary(16)")],
            ),
            key("a_null", false, vec![part("n", false, "int", "int(11)")]),
        ];
        assert_eq!(
            choose(d, &keys, &[], false),
            keyset(&[("b", KeyValue::Hex)])
        );
        assert_eq!(
            choose(d, &keys, &["b"], false),
            keyset(&[("z", KeyValue::Text)])
        );
        assert_eq!(
            choose(d, &keys, &["b", "z"], false),
            ChunkKey::Whole(
                "unique index `b_one` has the masked column `b`; unique index `z_one` has the masked column `z`; unique index `a_two` has the masked column `b`".into()
            )
        );
    }

    #[test]
    fn without_a_usable_key_postgres_uses_pages_and_mysql_one_statement() {
        let nullable = [key(
            "u",
            false,
            vec![part("n", false, "integer", "integer")],
        )];
        assert_eq!(
            choose(Dialect::Postgres, &nullable, &[], true),
            ChunkKey::Pages
        );
        assert_eq!(
            choose(Dialect::Postgres, &nullable, &[], false),
            ChunkKey::Whole("no primary key or unique index on NOT NULL columns".into())
        );
        assert_eq!(
            choose(Dialect::MySql, &[], &[], false),
            ChunkKey::Whole("no primary key or unique index on NOT NULL columns".into())
        );
        let float = [key(
            "PRIMARY",
            true,
            vec![part("f", true, "double", "double")],
        )];
        assert!(matches!(
            choose(Dialect::MySql, &float, &[], false),
            ChunkKey::Whole(w) if w.contains("`f` of type double")
        ));
        let prefix = [UniqueKey {
            plain: false,
            ..key(
                "PRIMARY",
                true,
                vec![part("t", true, "varchar", "varchar(10)")],
            )
        }];
        assert!(matches!(
            choose(Dialect::MySql, &prefix, &[], false),
            ChunkKey::Whole(w) if w.contains("prefix")
        ));
    }

    #[test]
    fn masked_integer_primary_keys_are_not_chunk_keys() {
        let keys = [key(
            "PRIMARY",
            true,
            vec![part("id", true, "int", "int(11)")],
        )];
        assert_eq!(
            choose(Dialect::MySql, &keys, &["id"], false),
            ChunkKey::Whole("primary key `PRIMARY` has the masked column `id`".into())
        );
    }

    #[test]
    fn key_values_by_type() {
        let my = Dialect::MySql;
        assert_eq!(
            key_value(my, "bigint", "bigint(20) unsigned"),
            Some(KeyValue::Cast("UNSIGNED".into()))
        );
        assert_eq!(
            key_value(my, "decimal", "decimal(14,2) unsigned"),
            Some(KeyValue::Cast("DECIMAL(14,2)".into()))
        );
        assert_eq!(
            key_value(my, "datetime", "datetime(3)"),
            Some(KeyValue::Cast("DATETIME(6)".into()))
        );
        assert_eq!(
            key_value(my, "varbinary", "varbinary(64)"),
            Some(KeyValue::Hex)
        );
        for t in [
            "timestamp",
            "float",
            "double",
            "enum",
            "set",
            "bit",
            "json",
            "text",
        ] {
            assert_eq!(key_value(my, t, t), None, "{t}");
        }
        let pg = Dialect::Postgres;
        assert_eq!(
            key_value(pg, "numeric", "numeric(12,2)"),
            Some(KeyValue::Cast("numeric(12,2)".into()))
        );
        assert_eq!(
            key_value(pg, "character", "character(4)"),
            Some(KeyValue::Cast("character(4)".into()))
        );
        assert_eq!(key_value(pg, "bytea", "bytea"), Some(KeyValue::Hex));
        for t in ["double precision", "real", "jsonb", "money", "my_domain"] {
            assert_eq!(key_value(pg, t, t), None, "{t}");
        }
    }

    #[test]
    fn a_keyset_gives_way_to_pages_where_they_can_be_used() {
        let keyset = ChunkKey::Keyset(vec![KeyColumn {
            name: "id".into(),
            value: KeyValue::Cast("uuid".into()),
        }]);
        assert_eq!(in_heap_order(&keyset, true), ChunkKey::Pages);
        assert_eq!(in_heap_order(&keyset, false), keyset);
        let int = ChunkKey::Int("id".into());
        assert_eq!(in_heap_order(&int, true), int);
        let whole = ChunkKey::Whole("no key".into());
        assert_eq!(in_heap_order(&whole, false), whole);
        assert_eq!(in_heap_order(&ChunkKey::Pages, true), ChunkKey::Pages);
    }

    #[test]
    fn the_warning_names_each_table_and_why() {
        let whole = ChunkKey::Whole("no primary key or unique index on NOT NULL columns".into());
        let int = ChunkKey::Int("id".into());
        assert_eq!(
            whole_tables_warning("masked", [("db.a".to_string(), &whole), ("db.b".to_string(), &int)].into_iter()),
            Some("tables without a key usable for chunking, masked in one statement each (each must fit in one invocation): db.a (no primary key or unique index on NOT NULL columns)".into())
        );
        assert_eq!(
            whole_tables_warning("copied", [("db.b".to_string(), &int)].into_iter()),
            None
        );
    }
}
