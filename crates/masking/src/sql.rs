//! Pure SQL generators, one branch per dialect. Nothing here talks to a
//! database; every function is unit-tested below and exercised against the
//! real servers by the integration tests.
//!
//! Conventions:
//! * identifiers are validated by the rules layer and always quoted here
//!   (backticks doubled on MySQL, double quotes doubled on PostgreSQL);
//! * string literals are escaped by [`quote_literal`];
//! * the key is never in a statement: keyed strategies refer to the HMAC key
//!   blocks the session holds ([`crate::keyed`]).

use crate::dict::{CITIES, FIRST_NAMES, LAST_NAMES};
pub use crate::keyed::keyed_hex;
use crate::rules::{Dictionary, Keep, Strategy};
use crate::value_edges::{ColumnKind, date_shift_expr, noise_expr};

/// SQL dialect of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Dialect {
    /// MySQL, MariaDB, Aurora MySQL.
    MySql,
    /// PostgreSQL, Aurora PostgreSQL.
    Postgres,
}

impl Dialect {
    /// The `n`-th (1-based) bind placeholder.
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::MySql => "?".to_string(),
            Dialect::Postgres => format!("${n}"),
        }
    }
}

/// Quote an identifier (one part).
pub fn quote_ident(d: Dialect, ident: &str) -> String {
    match d {
        Dialect::MySql => format!("`{}`", ident.replace('`', "``")),
        Dialect::Postgres => format!("\"{}\"", ident.replace('"', "\"\"")),
    }
}

/// A resolved table: schema (PostgreSQL) or database (MySQL) plus name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRef {
    /// Schema or database.
    pub schema: String,
    /// Table name.
    pub table: String,
}

impl TableRef {
    /// `schema.table` quoted for the dialect.
    pub fn quoted(&self, d: Dialect) -> String {
        format!(
            "{}.{}",
            quote_ident(d, &self.schema),
            quote_ident(d, &self.table)
        )
    }
}

impl std::fmt::Display for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// Quote a string literal. MySQL: backslash and quote escaped (the runner
/// removes `NO_BACKSLASH_ESCAPES` from its session so this is exact);
/// PostgreSQL: an `E'...'` literal, whose meaning does not depend on
/// `standard_conforming_strings`.
pub fn quote_literal(d: Dialect, s: &str) -> String {
    let body = s.replace('\\', "\\\\").replace('\'', "''");
    match d {
        Dialect::MySql => format!("'{body}'"),
        Dialect::Postgres => format!("E'{body}'"),
    }
}

/// The 8 hex characters starting at 0-based `offset` of `hex`, as an unsigned
/// 32-bit integer (0..=4294967295) of SQL type signed BIGINT.
pub fn hex_u32(d: Dialect, hex: &str, offset: usize) -> String {
    let start = offset + 1;
    match d {
        Dialect::MySql => format!("CAST(CONV(SUBSTRING({hex}, {start}, 8), 16, 10) AS SIGNED)"),
        Dialect::Postgres => format!("('x' || substr({hex}, {start}, 8))::bit(32)::bigint"),
    }
}

fn dict_list(dict: &[&str], d: Dialect) -> String {
    dict.iter()
        .map(|w| quote_literal(d, w))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1 + (n % len)`-th entry of `dict` (1-based), `n` an integer expression.
fn pick(d: Dialect, dict: &[&str], n: &str) -> String {
    let len = dict.len();
    match d {
        Dialect::MySql => format!("ELT(1 + {n} % {len}, {})", dict_list(dict, Dialect::MySql)),
        Dialect::Postgres => format!(
            "(ARRAY[{}])[(1 + {n} % {len})::int]",
            dict_list(dict, Dialect::Postgres)
        ),
    }
}

/// The SQL expression that replaces `col` (already quoted) for `strategy`.
/// Keyed strategies hash with their own domain ([`keyed_hex`]). NULL input
/// gives NULL output for every strategy except `fixed`/`sql` with
/// `keep_null = false`.
pub fn column_expr(d: Dialect, strategy: &Strategy, col: &str) -> String {
    column_expr_for(d, strategy, col, None)
}

/// [`column_expr`] knowing the column's type: `date_shift` stays within the
/// type's range and `noise` moves integers by at least one
/// ([`crate::value_edges`]).
pub fn column_expr_for(
    d: Dialect,
    strategy: &Strategy,
    col: &str,
    kind: Option<&ColumnKind>,
) -> String {
    let h = || keyed_hex(d, strategy.name(), col);
    match strategy {
        Strategy::Hash { length } => {
            if *length >= 64 {
                h()
            } else {
                match d {
                    Dialect::MySql => format!("LEFT({}, {length})", h()),
                    Dialect::Postgres => format!("left({}, {length})", h()),
                }
            }
        }
        Strategy::Email { domain, hex_length } => {
            let at = quote_literal(d, &format!("@{domain}"));
            match d {
                Dialect::MySql => format!("CONCAT(LEFT({}, {hex_length}), {at})", h()),
                Dialect::Postgres => format!("(left({}, {hex_length}) || {at})", h()),
            }
        }
        Strategy::Fake { dictionary } => fake_expr(d, *dictionary, &h()),
        Strategy::Partial {
            keep,
            count,
            mask_char,
        } => partial_expr(d, *keep, *count, *mask_char, col),
        Strategy::Fixed { value, keep_null } => {
            let lit = quote_literal(d, value);
            if *keep_null {
                format!("CASE WHEN {col} IS NULL THEN {col} ELSE {lit} END")
            } else {
                lit
            }
        }
        Strategy::Null => "NULL".to_string(),
        Strategy::DateShift {
            max_days,
            keep_dates,
        } => {
            let off = shift_days(d, &hex_u32(d, &h(), 0), *max_days);
            date_shift_expr(d, col, &off, keep_dates, kind)
        }
        Strategy::Noise { percent } => {
            let k = format!("({} % 20001 - 10000)", hex_u32(d, &h(), 0));
            noise_expr(d, col, &k, percent, kind)
        }
        Strategy::Sql {
            expression,
            keep_null,
            ..
        } => {
            let e = format!(
                "({})",
                expression
                    .replace("{hmac}", &keyed_hex(d, "sql", col))
                    .replace("{column}", col)
            );
            if *keep_null {
                format!("CASE WHEN {col} IS NULL THEN {col} ELSE {e} END")
            } else {
                e
            }
        }
    }
}

/// Days to shift: `±(1 + n % max_days)`, the sign from bit `n / max_days`.
/// Never 0, always within ±max_days.
fn shift_days(d: Dialect, n: &str, max_days: u32) -> String {
    let div = match d {
        Dialect::MySql => "DIV",
        Dialect::Postgres => "/",
    };
    format!("((1 + {n} % {max_days}) * (1 - 2 * (({n} {div} {max_days}) % 2)))")
}

fn fake_expr(d: Dialect, dict: Dictionary, hex: &str) -> String {
    let n0 = hex_u32(d, hex, 0);
    match dict {
        Dictionary::FirstName => pick(d, FIRST_NAMES, &n0),
        Dictionary::LastName => pick(d, LAST_NAMES, &n0),
        Dictionary::City => pick(d, CITIES, &n0),
        Dictionary::FullName => {
            let first = pick(d, FIRST_NAMES, &n0);
            let last = pick(d, LAST_NAMES, &hex_u32(d, hex, 8));
            match d {
                Dialect::MySql => format!("CONCAT({first}, ' ', {last})"),
                Dialect::Postgres => format!("({first} || ' ' || {last})"),
            }
        }
        Dictionary::Phone => match d {
            // six digits DDDDDD -> "555-01DD-DDDD"
            Dialect::MySql => {
                format!("CONCAT('555-01', INSERT(LPAD({n0} % 1000000, 6, '0'), 3, 0, '-'))")
            }
            Dialect::Postgres => format!(
                "('555-01' || overlay(lpad(({n0} % 1000000)::text, 6, '0') placing '-' from 3 for 0))"
            ),
        },
    }
}

fn partial_expr(d: Dialect, keep: Keep, count: u32, mask: char, col: &str) -> String {
    let m = quote_literal(d, &mask.to_string());
    match d {
        Dialect::MySql => {
            let kept = match keep {
                Keep::First => format!(
                    "CONCAT(LEFT({col}, {count}), REPEAT({m}, CHAR_LENGTH({col}) - {count}))"
                ),
                Keep::Last => format!(
                    "CONCAT(REPEAT({m}, CHAR_LENGTH({col}) - {count}), RIGHT({col}, {count}))"
                ),
            };
            format!(
                "CASE WHEN {col} IS NULL THEN NULL WHEN CHAR_LENGTH({col}) <= {count} THEN REPEAT({m}, CHAR_LENGTH({col})) ELSE {kept} END"
            )
        }
        Dialect::Postgres => {
            let kept = match keep {
                Keep::First => {
                    format!("left({col}, {count}) || repeat({m}, char_length({col}) - {count})")
                }
                Keep::Last => {
                    format!("repeat({m}, char_length({col}) - {count}) || right({col}, {count})")
                }
            };
            format!(
                "CASE WHEN {col} IS NULL THEN NULL WHEN char_length({col}) <= {count} THEN repeat({m}, char_length({col})) ELSE {kept} END"
            )
        }
    }
}

/// `SET a = expr, b = expr` body.
pub fn set_list(sets: &[(String, String)]) -> String {
    sets.iter()
        .map(|(c, e)| format!("{c} = {e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Unchunked update of the whole table.
pub fn update_all_sql(d: Dialect, table: &TableRef, sets: &[(String, String)]) -> String {
    format!("UPDATE {} SET {}", update_target(d, table), set_list(sets))
}

/// The table an `UPDATE` writes: on PostgreSQL `ONLY` the table, never its
/// inheritance children (see `crate::partitions`).
fn update_target(d: Dialect, table: &TableRef) -> String {
    match d {
        Dialect::MySql => table.quoted(d),
        Dialect::Postgres => format!("ONLY {}", table.quoted(d)),
    }
}

/// Update of one primary-key range `lo < pk <= hi`; `lo`/`hi` are bind
/// placeholders (on PostgreSQL `$1`/`$2`).
pub fn update_chunk_sql(
    d: Dialect,
    table: &TableRef,
    sets: &[(String, String)],
    pk: &str,
    lo: &str,
    hi: &str,
) -> String {
    let pk = quote_ident(d, pk);
    update_where_sql(d, table, sets, &format!("{pk} > {lo} AND {pk} <= {hi}"))
}

/// Update of the rows of one chunk: `condition` selects them (a key range,
/// a keyset range or a page range, with its bind placeholders).
pub fn update_where_sql(
    d: Dialect,
    table: &TableRef,
    sets: &[(String, String)],
    condition: &str,
) -> String {
    format!(
        "UPDATE {} SET {} WHERE {condition}",
        update_target(d, table),
        set_list(sets)
    )
}

/// Largest key among the next `n` keys above the bind placeholder `after`
/// (NULL when there is none): the upper bound of the next chunk.
pub fn next_chunk_bound_sql(d: Dialect, table: &TableRef, pk: &str, after: &str, n: u64) -> String {
    let q = quote_ident(d, pk);
    let cast = int_cast(d, "k");
    format!(
        "SELECT MAX({cast}) FROM (SELECT {q} AS k FROM {} WHERE {q} > {after} ORDER BY {q} LIMIT {n}) s",
        table.quoted(d)
    )
}

/// `MIN(pk) - 1` as a signed 64-bit integer (NULL for an empty table).
pub fn min_key_sql(d: Dialect, table: &TableRef, pk: &str) -> String {
    let q = quote_ident(d, pk);
    format!(
        "SELECT {} - 1 FROM {}",
        int_cast(d, &format!("MIN({q})")),
        table.quoted(d)
    )
}

/// Cast an integer expression to a signed 64-bit integer.
pub fn int_cast(d: Dialect, e: &str) -> String {
    match d {
        Dialect::MySql => format!("CAST({e} AS SIGNED)"),
        Dialect::Postgres => format!("({e})::int8"),
    }
}

/// `SELECT COUNT(*)` of a table.
pub fn count_sql(d: Dialect, table: &TableRef) -> String {
    format!(
        "SELECT {} FROM {}",
        int_cast(d, "COUNT(*)"),
        table.quoted(d)
    )
}

/// `DELETE FROM t WHERE (<condition>)`.
pub fn delete_sql(d: Dialect, table: &TableRef, condition: &str) -> String {
    format!("DELETE FROM {} WHERE ({condition})", table.quoted(d))
}

/// `TRUNCATE TABLE t`.
pub fn truncate_sql(d: Dialect, table: &TableRef) -> String {
    format!("TRUNCATE TABLE {}", table.quoted(d))
}

/// `col ~ pattern` / `col REGEXP pattern`. MySQL's `$` (PCRE and ICU) also
/// matches before a final newline: callers that need the whole value check
/// its length too.
fn regex_match(d: Dialect, col: &str, pattern: &str) -> String {
    match d {
        // `(?-i)` turns case-insensitivity off in both PCRE (MariaDB) and ICU (MySQL 8).
        Dialect::MySql => format!(
            "{col} REGEXP {}",
            quote_literal(d, &format!("(?-i){pattern}"))
        ),
        Dialect::Postgres => format!("{col} ~ {}", quote_literal(d, pattern)),
    }
}

fn in_list(d: Dialect, e: &str, dict: &[&str]) -> String {
    match d {
        Dialect::MySql => format!(
            "CAST({e} AS BINARY) IN ({})",
            dict.iter()
                .map(|w| format!("CAST({} AS BINARY)", quote_literal(d, w)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Dialect::Postgres => format!("{e} IN ({})", dict_list(dict, d)),
    }
}

/// PostgreSQL: `e` holds no character but `0-9a-f` (an unanchored search
/// for one outside the class, cheaper than an anchored match of the class).
fn only_lower_hex(e: &str) -> String {
    format!("{e} !~ '[^0-9a-f]'")
}

/// `col` is `555-01DD-DDDD`. PostgreSQL: the fixed characters and the length
/// by `LIKE` on the value as text (without a `character(n)` column's
/// padding), then that only the two dashes are not digits (a third of the
/// cost of the regex, whose counted repetitions PostgreSQL runs slowly).
fn phone_shape(d: Dialect, col: &str) -> String {
    match d {
        Dialect::MySql => format!(
            "CHAR_LENGTH({col}) = 13 AND {}",
            regex_match(d, col, "^555-01[0-9]{2}-[0-9]{4}$")
        ),
        Dialect::Postgres => format!(
            "{col}::text LIKE '555-01__-____' AND translate({col}, '0123456789', '') = '--'"
        ),
    }
}

/// `col` is a first name, one space and a last name from the dictionaries.
/// PostgreSQL: the names are letters only (a `dict` test holds them to
/// it), so the two dictionary checks and `col` being exactly the two parts
/// joined by a space say what the regex `^[A-Za-z]+ [A-Za-z]+$` said, for
/// less than the regex alone.
fn full_name_shape(d: Dialect, col: &str) -> String {
    match d {
        Dialect::MySql => format!(
            "{} AND {} AND {}",
            regex_match(d, col, "^[A-Za-z]+ [A-Za-z]+$"),
            in_list(d, &format!("SUBSTRING_INDEX({col}, ' ', 1)"), FIRST_NAMES),
            in_list(d, &format!("SUBSTRING_INDEX({col}, ' ', -1)"), LAST_NAMES)
        ),
        Dialect::Postgres => {
            let (first, last) = (
                format!("split_part({col}, ' ', 1)"),
                format!("split_part({col}, ' ', 2)"),
            );
            format!(
                "{} AND {} AND {col} = {first} || ' ' || {last}",
                in_list(d, &first, FIRST_NAMES),
                in_list(d, &last, LAST_NAMES)
            )
        }
    }
}

/// Condition true for a row whose `col` does NOT look masked by `strategy`,
/// or `None` when the strategy's output cannot be recognised (`date_shift`,
/// `noise`, `sql` without `check`). Used as `SELECT COUNT(*) ... WHERE <it>`.
pub fn violation_predicate(d: Dialect, strategy: &Strategy, col: &str) -> Option<String> {
    let not_null_and_not = |ok: String| format!("{col} IS NOT NULL AND NOT ({ok})");
    match strategy {
        Strategy::Hash { length } => Some(not_null_and_not(match d {
            Dialect::MySql => format!(
                "CHAR_LENGTH({col}) = {length} AND {}",
                regex_match(d, col, &format!("^[0-9a-f]{{{length}}}$"))
            ),
            // PostgreSQL's regex engine is slow on counted repetitions:
            // check the length separately, then that no other character
            // occurs (in the value as text: a `character(n)` column's
            // padding is not part of it).
            Dialect::Postgres => format!(
                "char_length({col}) = {length} AND {}",
                only_lower_hex(&format!("{col}::text"))
            ),
        })),
        Strategy::Email { domain, hex_length } => Some(not_null_and_not(match d {
            Dialect::MySql => format!(
                "CHAR_LENGTH({col}) = {} AND {}",
                usize::from(*hex_length) + 1 + domain.chars().count(),
                regex_match(
                    d,
                    col,
                    &format!("^[0-9a-f]{{{hex_length}}}@{}$", domain.replace('.', "\\."))
                )
            ),
            Dialect::Postgres => {
                let suffix = format!("@{domain}");
                format!(
                    "char_length({col}) = {} AND right({col}, {}) = {} AND {}",
                    usize::from(*hex_length) + suffix.len(),
                    suffix.len(),
                    quote_literal(d, &suffix),
                    only_lower_hex(&format!("left({col}, {hex_length})"))
                )
            }
        })),
        Strategy::Fake { dictionary } => Some(not_null_and_not(match dictionary {
            Dictionary::FirstName => in_list(d, col, FIRST_NAMES),
            Dictionary::LastName => in_list(d, col, LAST_NAMES),
            Dictionary::City => in_list(d, col, CITIES),
            Dictionary::Phone => phone_shape(d, col),
            Dictionary::FullName => full_name_shape(d, col),
        })),
        Strategy::Partial {
            keep,
            count,
            mask_char,
        } => {
            let m = quote_literal(d, &mask_char.to_string());
            let (len, rep, left, right) = match d {
                Dialect::MySql => ("CHAR_LENGTH", "REPEAT", "LEFT", "RIGHT"),
                Dialect::Postgres => ("char_length", "repeat", "left", "right"),
            };
            let masked_part = match keep {
                Keep::First => format!("{right}({col}, GREATEST({len}({col}) - {count}, 0))"),
                Keep::Last => format!("{left}({col}, GREATEST({len}({col}) - {count}, 0))"),
            };
            let whole =
                format!("CASE WHEN {len}({col}) <= {count} THEN {col} ELSE {masked_part} END");
            let expected = format!(
                "{rep}({m}, CASE WHEN {len}({col}) <= {count} THEN {len}({col}) ELSE {len}({col}) - {count} END)"
            );
            Some(match d {
                Dialect::MySql => format!(
                    "{col} IS NOT NULL AND CAST({whole} AS BINARY) <> CAST({expected} AS BINARY)"
                ),
                Dialect::Postgres => format!("{col} IS NOT NULL AND ({whole}) <> {expected}"),
            })
        }
        Strategy::Fixed { value, keep_null } => {
            let lit = quote_literal(d, value);
            Some(if *keep_null {
                format!("{col} IS NOT NULL AND {col} <> {lit}")
            } else {
                format!("({col} IS NULL OR {col} <> {lit})")
            })
        }
        Strategy::Null => Some(format!("{col} IS NOT NULL")),
        Strategy::DateShift { .. } | Strategy::Noise { .. } => None,
        Strategy::Sql {
            check, keep_null, ..
        } => check.as_ref().map(|c| {
            let c = c.replace("{column}", col);
            if *keep_null {
                format!("{col} IS NOT NULL AND NOT COALESCE(({c}), FALSE)")
            } else {
                format!("NOT COALESCE(({c}), FALSE)")
            }
        }),
    }
}

/// `SELECT COUNT(*) FROM t WHERE <predicate>`.
pub fn count_where_sql(d: Dialect, table: &TableRef, predicate: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE {predicate}",
        int_cast(d, "COUNT(*)"),
        table.quoted(d)
    )
}

/// One scan of a table: `COUNT(*)` then, per predicate, the number of rows
/// for which it holds.
pub fn table_check_sql(d: Dialect, table: &TableRef, predicates: &[String]) -> String {
    let mut cols = vec![int_cast(d, "COUNT(*)")];
    for p in predicates {
        cols.push(int_cast(
            d,
            &format!("COALESCE(SUM(CASE WHEN {p} THEN 1 ELSE 0 END), 0)"),
        ));
    }
    format!("SELECT {} FROM {}", cols.join(", "), table.quoted(d))
}

/// A foreign key as read from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// Constraint name.
    pub name: String,
    /// Referencing table.
    pub child: TableRef,
    /// Referencing columns, in order.
    pub child_cols: Vec<String>,
    /// Referenced table.
    pub parent: TableRef,
    /// Referenced columns, in order.
    pub parent_cols: Vec<String>,
}

/// Rows of `fk.child` whose non-NULL key has no parent row.
pub fn orphan_count_sql(d: Dialect, fk: &ForeignKey) -> String {
    let not_null = fk
        .child_cols
        .iter()
        .map(|c| format!("c.{} IS NOT NULL", quote_ident(d, c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let join = fk
        .child_cols
        .iter()
        .zip(&fk.parent_cols)
        .map(|(c, p)| format!("p.{} = c.{}", quote_ident(d, p), quote_ident(d, c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    format!(
        "SELECT {} FROM {} c WHERE {not_null} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {join})",
        int_cast(d, "COUNT(*)"),
        fk.child.quoted(d),
        fk.parent.quoted(d)
    )
}

/// Foreign keys whose child or parent lives in one of the schemas bound as
/// the only parameter... (see runner). Rows: name, child schema, child table,
/// child column, parent schema, parent table, parent column, ordinal.
pub fn foreign_keys_sql(d: Dialect) -> &'static str {
    match d {
        Dialect::MySql => {
            "SELECT CONSTRAINT_NAME, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, \
             REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME, \
             CAST(ORDINAL_POSITION AS SIGNED) \
             FROM information_schema.KEY_COLUMN_USAGE \
             WHERE REFERENCED_TABLE_NAME IS NOT NULL \
             AND TABLE_SCHEMA NOT IN ('mysql', 'sys', 'information_schema', 'performance_schema') \
             ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"
        }
        Dialect::Postgres => {
            "SELECT con.conname::text, cn.nspname::text, cl.relname::text, ca.attname::text, \
             pn.nspname::text, pl.relname::text, pa.attname::text, k.ord::int8 \
             FROM pg_constraint con \
             JOIN pg_class cl ON cl.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = cl.relnamespace \
             JOIN pg_class pl ON pl.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = pl.relnamespace \
             CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(ck, pk, ord) \
             JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.ck \
             JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.pk \
             WHERE con.contype = 'f' \
             AND cn.nspname NOT IN ('pg_catalog', 'information_schema') \
             ORDER BY cn.nspname, cl.relname, con.conname, k.ord"
        }
    }
}

/// Columns of one table: name, data type, nullable (YES/NO), max char length.
/// Binds: schema, table.
pub fn columns_sql(d: Dialect) -> &'static str {
    match d {
        Dialect::MySql => {
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR), \
             CAST(CHARACTER_MAXIMUM_LENGTH AS SIGNED), CAST(COLUMN_TYPE AS CHAR) \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
        }
        Dialect::Postgres => {
            "SELECT column_name::text, data_type::text, is_nullable::text, \
             character_maximum_length::int8, udt_name::text \
             FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position"
        }
    }
}

/// Whether a base table exists. Binds: schema, table.
pub fn table_exists_sql(d: Dialect) -> &'static str {
    match d {
        Dialect::MySql => {
            "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'"
        }
        Dialect::Postgres => {
            "SELECT COUNT(*)::int8 FROM information_schema.tables \
             WHERE table_schema = $1 AND table_name = $2 AND table_type = 'BASE TABLE'"
        }
    }
}

/// Primary-key columns in order. Binds: schema, table.
pub fn primary_key_sql(d: Dialect) -> &'static str {
    match d {
        Dialect::MySql => {
            "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION"
        }
        Dialect::Postgres => {
            "SELECT kcu.column_name::text FROM information_schema.table_constraints tc \
             JOIN information_schema.key_column_usage kcu ON kcu.constraint_schema = tc.constraint_schema \
             AND kcu.constraint_name = tc.constraint_name AND kcu.table_name = tc.table_name \
             WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = $1 AND tc.table_name = $2 \
             ORDER BY kcu.ordinal_position"
        }
    }
}

/// Data types (information_schema `DATA_TYPE`) the text strategies accept.
pub fn is_text_type(d: Dialect, data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    match d {
        Dialect::MySql => matches!(
            t.as_str(),
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext"
        ),
        Dialect::Postgres => matches!(t.as_str(), "character varying" | "character" | "text"),
    }
}

/// Data types `date_shift` accepts.
pub fn is_date_type(d: Dialect, data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    match d {
        Dialect::MySql => matches!(t.as_str(), "date" | "datetime" | "timestamp"),
        Dialect::Postgres => matches!(
            t.as_str(),
            "date" | "timestamp without time zone" | "timestamp with time zone"
        ),
    }
}

/// Data types `noise` accepts.
pub fn is_numeric_type(d: Dialect, data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    match d {
        Dialect::MySql => matches!(
            t.as_str(),
            "tinyint"
                | "smallint"
                | "mediumint"
                | "int"
                | "integer"
                | "bigint"
                | "decimal"
                | "numeric"
                | "float"
                | "double"
                | "real"
        ),
        Dialect::Postgres => matches!(
            t.as_str(),
            "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision"
        ),
    }
}

/// Data types usable as a chunking key.
pub fn is_integer_type(d: Dialect, data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    match d {
        Dialect::MySql => matches!(
            t.as_str(),
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
        ),
        Dialect::Postgres => matches!(t.as_str(), "smallint" | "integer" | "bigint"),
    }
}

// ---------------------------------------------------------------------------
// control schema and ledger

/// Statements creating the control schema/database and its tables.
pub fn control_ddl(d: Dialect, schema: &str) -> Vec<String> {
    let s = quote_ident(d, schema);
    match d {
        Dialect::MySql => vec![
            format!("CREATE DATABASE IF NOT EXISTS {s} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
            format!(
                "CREATE TABLE IF NOT EXISTS {s}.`runs` (\
                 `run_id` VARCHAR(255) NOT NULL PRIMARY KEY, \
                 `status` VARCHAR(16) NOT NULL, \
                 `lease_owner` VARCHAR(255) NULL, \
                 `lease_until_ms` BIGINT NULL, \
                 `started_at_ms` BIGINT NOT NULL, \
                 `finished_at_ms` BIGINT NULL, \
                 `updated_at_ms` BIGINT NOT NULL, \
                 `rules_fingerprint` VARCHAR(64) NULL, \
                 `outcome` TEXT NULL, \
                 `rows_affected` BIGINT NULL, \
                 `key_fingerprint` VARCHAR(64) NULL\
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {s}.`table_progress` (\
                 `run_id` VARCHAR(255) NOT NULL, \
                 `step` VARCHAR(255) NOT NULL, \
                 `table_name` VARCHAR(255) NULL, \
                 `last_key` BIGINT NULL, \
                 `last_key_text` TEXT NULL, \
                 `violations` TEXT NULL, \
                 `done` BIGINT NOT NULL DEFAULT 0, \
                 `rows_affected` BIGINT NOT NULL DEFAULT 0, \
                 `chunks` BIGINT NOT NULL DEFAULT 0, \
                 `rows_before` BIGINT NULL, \
                 `updated_at_ms` BIGINT NOT NULL, \
                 PRIMARY KEY (`run_id`, `step`)\
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {s}.`sample_prints` (\
                 `run_id` VARCHAR(255) NOT NULL, \
                 `table_name` VARCHAR(255) NOT NULL, \
                 `position` BIGINT NOT NULL, \
                 `key_print` CHAR(64) NOT NULL, \
                 `value_prints` TEXT NOT NULL, \
                 PRIMARY KEY (`run_id`, `table_name`, `position`)\
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {s}.`verify_results` (\
                 `run_id` VARCHAR(255) NOT NULL, \
                 `unit` VARCHAR(255) NOT NULL, \
                 `position` BIGINT NOT NULL, \
                 `kind` VARCHAR(16) NOT NULL, \
                 `table_name` VARCHAR(255) NOT NULL, \
                 `label` TEXT NOT NULL, \
                 `value` BIGINT NULL, \
                 PRIMARY KEY (`run_id`, `unit`, `position`)\
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            ),
        ],
        Dialect::Postgres => vec![
            format!("CREATE SCHEMA IF NOT EXISTS {s}"),
            format!(
                "CREATE TABLE IF NOT EXISTS {s}.\"runs\" (\
                 run_id VARCHAR(255) NOT NULL PRIMARY KEY, \
                 status VARCHAR(16) NOT NULL, \
                 lease_owner VARCHAR(255) NULL, \
                 lease_until_ms BIGINT NULL, \
                 started_at_ms BIGINT NOT NULL, \
                 finished_at_ms BIGINT NULL, \
                 updated_at_ms BIGINT NOT NULL, \
                 rules_fingerprint VARCHAR(64) NULL, \
                 outcome TEXT NULL, \
                 rows_affected BIGINT NULL, \
                 key_fingerprint VARCHAR(64) NULL)"
            ),
            // Control tables created before the key fingerprint existed.
            format!(
                "ALTER TABLE {s}.\"runs\" ADD COLUMN IF NOT EXISTS key_fingerprint VARCHAR(64) NULL"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {s}.\"table_progress\" (\
                 run_id VARCHAR(255) NOT NULL, \
                 step VARCHAR(255) NOT NULL, \
                 table_name VARCHAR(255) NULL, \
                 last_key BIGINT NULL, \
                 last_key_text TEXT NULL, \
                 violations TEXT NULL, \
                 done BIGINT NOT NULL DEFAULT 0, \
                 rows_affected BIGINT NOT NULL DEFAULT 0, \
                 chunks BIGINT NOT NULL DEFAULT 0, \
                 rows_before BIGINT NULL, \
                 updated_at_ms BIGINT NOT NULL, \
                 PRIMARY KEY (run_id, step))"
            ),
            // Control tables created before keyset and page chunks existed.
            format!(
                "ALTER TABLE {s}.\"table_progress\" ADD COLUMN IF NOT EXISTS last_key_text TEXT NULL"
            ),
            format!(
                "ALTER TABLE {s}.\"table_progress\" ADD COLUMN IF NOT EXISTS violations TEXT NULL"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {s}.\"sample_prints\" (\
                 run_id VARCHAR(255) NOT NULL, \
                 table_name VARCHAR(255) NOT NULL, \
                 position BIGINT NOT NULL, \
                 key_print CHAR(64) NOT NULL, \
                 value_prints TEXT NOT NULL, \
                 PRIMARY KEY (run_id, table_name, position))"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {s}.\"verify_results\" (\
                 run_id VARCHAR(255) NOT NULL, \
                 unit VARCHAR(255) NOT NULL, \
                 position BIGINT NOT NULL, \
                 kind VARCHAR(16) NOT NULL, \
                 table_name VARCHAR(255) NOT NULL, \
                 label TEXT NOT NULL, \
                 value BIGINT NULL, \
                 PRIMARY KEY (run_id, unit, position))"
            ),
        ],
    }
}

/// Replace `?` placeholders by `$1, $2, ...` for PostgreSQL. The input must
/// not contain `?` inside literals (only used on our own fixed statements).
pub fn numbered(d: Dialect, sql: &str) -> String {
    match d {
        Dialect::MySql => sql.to_string(),
        Dialect::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_doubling() {
        assert_eq!(quote_ident(Dialect::MySql, "a`b"), "`a``b`");
        assert_eq!(quote_ident(Dialect::Postgres, "a\"b"), "\"a\"\"b\"");
        let t = TableRef {
            schema: "s".into(),
            table: "t".into(),
        };
        assert_eq!(t.quoted(Dialect::MySql), "`s`.`t`");
        assert_eq!(t.quoted(Dialect::Postgres), "\"s\".\"t\"");
    }

    #[test]
    fn literals_are_escaped() {
        assert_eq!(
            quote_literal(Dialect::MySql, "it's \\ ok"),
            "'it''s \\\\ ok'"
        );
        assert_eq!(
            quote_literal(Dialect::Postgres, "it's \\ ok"),
            "E'it''s \\\\ ok'"
        );
    }

    #[test]
    fn hash_expressions() {
        let s = Strategy::Hash { length: 64 };
        assert_eq!(
            column_expr(Dialect::MySql, &s, "`c`"),
            "SHA2(CONCAT(@dmsr_ko, UNHEX(SHA2(CONCAT(@dmsr_ki, 'hash:', CONVERT(`c` USING utf8mb4)), 256))), 256)"
        );
        assert_eq!(
            column_expr(Dialect::Postgres, &s, "\"c\""),
            "encode(sha256((SELECT decode(current_setting('dmsr.ko'), 'hex')) || sha256((SELECT decode(current_setting('dmsr.ki'), 'hex')) || convert_to('hash:' || \"c\"::text, 'UTF8'))), 'hex')"
        );
        let s = Strategy::Hash { length: 12 };
        assert!(column_expr(Dialect::MySql, &s, "`c`").starts_with("LEFT(SHA2("));
        assert!(column_expr(Dialect::Postgres, &s, "\"c\"").ends_with(", 12)"));
    }

    #[test]
    fn email_expressions() {
        let s = Strategy::Email {
            domain: "example.invalid".into(),
            hex_length: 32,
        };
        assert_eq!(
            column_expr(Dialect::MySql, &s, "`e`"),
            "CONCAT(LEFT(SHA2(CONCAT(@dmsr_ko, UNHEX(SHA2(CONCAT(@dmsr_ki, 'email:', CONVERT(`e` USING utf8mb4)), 256))), 256), 32), '@example.invalid')"
        );
        assert_eq!(
            column_expr(Dialect::Postgres, &s, "\"e\""),
            "(left(encode(sha256((SELECT decode(current_setting('dmsr.ko'), 'hex')) || sha256((SELECT decode(current_setting('dmsr.ki'), 'hex')) || convert_to('email:' || \"e\"::text, 'UTF8'))), 'hex'), 32) || E'@example.invalid')"
        );
    }

    #[test]
    fn fake_expressions_embed_dictionary() {
        let s = Strategy::Fake {
            dictionary: Dictionary::City,
        };
        let my = column_expr(Dialect::MySql, &s, "`c`");
        assert!(my.starts_with("ELT(1 + CAST(CONV(SUBSTRING(SHA2("), "{my}");
        assert!(my.contains(&format!("% {}, 'Aarhus'", CITIES.len())));
        let pg = column_expr(Dialect::Postgres, &s, "\"c\"");
        assert!(pg.starts_with("(ARRAY[E'Aarhus'"), "{pg}");
        assert!(pg.contains("::bit(32)::bigint"));
        let full = column_expr(
            Dialect::Postgres,
            &Strategy::Fake {
                dictionary: Dictionary::FullName,
            },
            "\"n\"",
        );
        assert!(full.contains("substr(encode(") && full.contains(", 9, 8)"));
        let phone = column_expr(
            Dialect::MySql,
            &Strategy::Fake {
                dictionary: Dictionary::Phone,
            },
            "`p`",
        );
        assert!(phone.starts_with("CONCAT('555-01', INSERT(LPAD("));
    }

    #[test]
    fn partial_fixed_null_expressions() {
        let s = Strategy::Partial {
            keep: Keep::Last,
            count: 4,
            mask_char: '#',
        };
        assert_eq!(
            column_expr(Dialect::Postgres, &s, "c"),
            "CASE WHEN c IS NULL THEN NULL WHEN char_length(c) <= 4 THEN repeat(E'#', char_length(c)) ELSE repeat(E'#', char_length(c) - 4) || right(c, 4) END"
        );
        let s = Strategy::Fixed {
            value: "O'Brien".into(),
            keep_null: true,
        };
        assert_eq!(
            column_expr(Dialect::MySql, &s, "c"),
            "CASE WHEN c IS NULL THEN c ELSE 'O''Brien' END"
        );
        let s = Strategy::Fixed {
            value: "x".into(),
            keep_null: false,
        };
        assert_eq!(column_expr(Dialect::Postgres, &s, "c"), "E'x'");
        assert_eq!(column_expr(Dialect::Postgres, &Strategy::Null, "c"), "NULL");
    }

    #[test]
    fn date_shift_and_noise_expressions() {
        let s = Strategy::DateShift {
            max_days: 30,
            keep_dates: Vec::new(),
        };
        let my = column_expr(Dialect::MySql, &s, "`d`");
        assert!(
            my.starts_with("CASE WHEN `d` IS NULL THEN NULL WHEN"),
            "{my}"
        );
        assert!(
            my.contains("ELSE DATE_ADD(`d`, INTERVAL ((1 + CAST(CONV("),
            "{my}"
        );
        assert!(my.contains(" DIV 30"));
        let pg = column_expr(Dialect::Postgres, &s, "\"d\"");
        assert!(pg.contains("ELSE (\"d\" + make_interval(days => "), "{pg}");
        let s = Strategy::Noise {
            percent: "12.5".into(),
        };
        let pg = column_expr(Dialect::Postgres, &s, "\"a\"");
        assert!(
            pg.contains("% 20001 - 10000)::numeric * 12.5 * 0.000001"),
            "{pg}"
        );
    }

    #[test]
    fn sql_escape_hatch_substitutes_tokens() {
        let s = Strategy::Sql {
            expression: "upper({column}) || {hmac}".into(),
            keep_null: false,
            check: None,
        };
        assert_eq!(
            column_expr(Dialect::Postgres, &s, "\"c\""),
            format!(
                "(upper(\"c\") || {})",
                keyed_hex(Dialect::Postgres, "sql", "\"c\"")
            )
        );
        assert!(s.uses_salt());
        let s = Strategy::Sql {
            expression: "'x'".into(),
            keep_null: true,
            check: Some("{column} = 'x'".into()),
        };
        assert_eq!(
            column_expr(Dialect::MySql, &s, "`c`"),
            "CASE WHEN `c` IS NULL THEN `c` ELSE ('x') END"
        );
        assert_eq!(
            violation_predicate(Dialect::MySql, &s, "`c`").as_deref(),
            Some("`c` IS NOT NULL AND NOT COALESCE((`c` = 'x'), FALSE)")
        );
    }

    #[test]
    fn chunk_sql() {
        let t = TableRef {
            schema: "app".into(),
            table: "customers".into(),
        };
        let sets = vec![("\"email\"".to_string(), "NULL".to_string())];
        assert_eq!(
            update_chunk_sql(Dialect::Postgres, &t, &sets, "id", "$2", "$3"),
            "UPDATE ONLY \"app\".\"customers\" SET \"email\" = NULL WHERE \"id\" > $2 AND \"id\" <= $3"
        );
        assert_eq!(
            next_chunk_bound_sql(Dialect::MySql, &t, "id", "?", 500),
            "SELECT MAX(CAST(k AS SIGNED)) FROM (SELECT `id` AS k FROM `app`.`customers` WHERE `id` > ? ORDER BY `id` LIMIT 500) s"
        );
        assert_eq!(
            update_all_sql(
                Dialect::MySql,
                &t,
                &[("`a`".into(), "1".into()), ("`b`".into(), "2".into())]
            ),
            "UPDATE `app`.`customers` SET `a` = 1, `b` = 2"
        );
    }

    #[test]
    fn verification_predicates() {
        let e = Strategy::Email {
            domain: "example.invalid".into(),
            hex_length: 24,
        };
        assert_eq!(
            violation_predicate(Dialect::Postgres, &e, "c").as_deref(),
            Some(
                "c IS NOT NULL AND NOT (char_length(c) = 40 AND right(c, 16) = E'@example.invalid' AND left(c, 24) !~ '[^0-9a-f]')"
            )
        );
        assert_eq!(
            violation_predicate(Dialect::MySql, &e, "c").as_deref(),
            Some(
                "c IS NOT NULL AND NOT (CHAR_LENGTH(c) = 40 AND c REGEXP '(?-i)^[0-9a-f]{24}@example\\\\.invalid$')"
            )
        );
        assert_eq!(
            violation_predicate(Dialect::MySql, &Strategy::Hash { length: 8 }, "c").as_deref(),
            Some("c IS NOT NULL AND NOT (CHAR_LENGTH(c) = 8 AND c REGEXP '(?-i)^[0-9a-f]{8}$')")
        );
        assert_eq!(
            violation_predicate(Dialect::MySql, &Strategy::Null, "c").as_deref(),
            Some("c IS NOT NULL")
        );
        assert!(
            violation_predicate(
                Dialect::MySql,
                &Strategy::Noise {
                    percent: "1".into()
                },
                "c"
            )
            .is_none()
        );
        let f = Strategy::Fixed {
            value: "x".into(),
            keep_null: false,
        };
        assert_eq!(
            violation_predicate(Dialect::MySql, &f, "c").as_deref(),
            Some("(c IS NULL OR c <> 'x')")
        );
    }

    #[test]
    fn table_check() {
        let t = TableRef {
            schema: "s".into(),
            table: "t".into(),
        };
        assert_eq!(
            table_check_sql(Dialect::MySql, &t, &["a IS NULL".to_string()]),
            "SELECT CAST(COUNT(*) AS SIGNED), CAST(COALESCE(SUM(CASE WHEN a IS NULL THEN 1 ELSE 0 END), 0) AS SIGNED) FROM `s`.`t`"
        );
    }

    #[test]
    fn orphan_sql() {
        let fk = ForeignKey {
            name: "fk".into(),
            child: TableRef {
                schema: "s".into(),
                table: "orders".into(),
            },
            child_cols: vec!["customer_id".into()],
            parent: TableRef {
                schema: "s".into(),
                table: "customers".into(),
            },
            parent_cols: vec!["id".into()],
        };
        assert_eq!(
            orphan_count_sql(Dialect::Postgres, &fk),
            "SELECT (COUNT(*))::int8 FROM \"s\".\"orders\" c WHERE c.\"customer_id\" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM \"s\".\"customers\" p WHERE p.\"id\" = c.\"customer_id\")"
        );
    }

    #[test]
    fn numbered_placeholders() {
        assert_eq!(
            numbered(Dialect::Postgres, "a = ? AND b = ?"),
            "a = $1 AND b = $2"
        );
        assert_eq!(numbered(Dialect::MySql, "a = ?"), "a = ?");
    }

    #[test]
    fn type_classes() {
        assert!(is_text_type(Dialect::MySql, "VARCHAR"));
        assert!(!is_text_type(Dialect::Postgres, "integer"));
        assert!(is_date_type(Dialect::Postgres, "timestamp with time zone"));
        assert!(!is_date_type(Dialect::MySql, "varchar"));
        assert!(is_numeric_type(Dialect::Postgres, "numeric"));
        assert!(is_integer_type(Dialect::MySql, "bigint"));
    }
}
