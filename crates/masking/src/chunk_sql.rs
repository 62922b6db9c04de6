//! Pure SQL of the chunk filters: which rows of a table one chunk covers,
//! for every kind of [`ChunkKey`], with the values of its placeholders.
//! Nothing here talks to a database.
//!
//! * integer key: `k > lo AND k <= hi`, integer binds;
//! * keyset (any other key): `key > after AND key <= upto` in key order,
//!   values bound as text and read back as the column's type
//!   ([`KeyValue`]); PostgreSQL compares row values (`(a, b) > (x, y)`,
//!   which its btree indexes serve), MySQL/MariaDB the equivalent
//!   `a > x OR (a = x AND b > y)` (MariaDB does not use an index for a row
//!   comparison; it does for this form);
//! * pages (PostgreSQL): `ctid >= '(from,0)' AND ctid < '(to,0)'` (a TID
//!   range scan, PostgreSQL 14+), optionally skipping row versions written
//!   by given transactions (`xmin`).
//!
//! Text keys compare under the column's own collation (a bound value has
//! none of its own), in the `ORDER BY` and in the predicate alike.

use crate::chunk_key::{KeyColumn, KeyValue};
use crate::db::Bind;
use crate::sql::{Dialect, TableRef, quote_ident};

/// A bind value of a chunk filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Int(i64),
    Text(String),
}

/// A condition on the rows of the source table and the values of its
/// placeholders, in order (`$1...` on PostgreSQL, `?` on MySQL: the
/// condition's are the statement's only binds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    pub cond: String,
    pub binds: Vec<Value>,
    /// Page chunks of a step that rewrites its own table: a condition on
    /// the row versions the chunk writes (no placeholders), true for those
    /// that land on pages a later chunk of the step reads (see
    /// [`pages_ahead`]).
    pub ahead: Option<String>,
}

impl Filter {
    /// The binds, borrowed for a driver call.
    pub(crate) fn bind_refs(&self) -> Vec<Bind<'_>> {
        self.binds
            .iter()
            .map(|v| match v {
                Value::Int(i) => Bind::I64(*i),
                Value::Text(s) => Bind::Str(s),
            })
            .collect()
    }
}

/// Collects bind values and numbers their placeholders.
struct Binder {
    d: Dialect,
    values: Vec<Value>,
}

impl Binder {
    fn new(d: Dialect) -> Self {
        Self {
            d,
            values: Vec::new(),
        }
    }

    fn push(&mut self, v: Value) -> String {
        self.values.push(v);
        self.d.placeholder(self.values.len())
    }

    /// A key value, bound as text and read back as the column's type.
    fn key(&mut self, c: &KeyColumn, v: &str) -> String {
        let ph = self.push(Value::Text(v.to_string()));
        match (self.d, &c.value) {
            (Dialect::Postgres, KeyValue::Hex) => format!("decode({ph}, 'hex')"),
            (Dialect::MySql, KeyValue::Hex) => format!("UNHEX({ph})"),
            (_, KeyValue::Cast(t)) => format!("CAST({ph} AS {t})"),
            (_, KeyValue::Text) => ph,
        }
    }

    fn finish(self, cond: String) -> Filter {
        Filter {
            cond,
            binds: self.values,
            ahead: None,
        }
    }
}

/// Integer key range `lo < k <= hi`.
pub(crate) fn int_range(d: Dialect, pk: &str, lo: i64, hi: i64) -> Filter {
    let mut b = Binder::new(d);
    let k = quote_ident(d, pk);
    let lo = b.push(Value::Int(lo));
    let hi = b.push(Value::Int(hi));
    b.finish(format!("{k} > {lo} AND {k} <= {hi}"))
}

/// `key > after` (strictly after) or `key <= upto` (up to and including),
/// as a row comparison on PostgreSQL and its expansion on MySQL.
fn compare(b: &mut Binder, cols: &[KeyColumn], vals: &[String], after: bool) -> String {
    let d = b.d;
    let (strict, last) = if after { (">", ">") } else { ("<", "<=") };
    if let [c] = cols {
        let v = vals.first().map_or("", String::as_str);
        return format!("{} {last} {}", quote_ident(d, &c.name), b.key(c, v));
    }
    match d {
        Dialect::Postgres => {
            let names: Vec<String> = cols.iter().map(|c| quote_ident(d, &c.name)).collect();
            let values: Vec<String> = cols.iter().zip(vals).map(|(c, v)| b.key(c, v)).collect();
            format!("({}) {last} ({})", names.join(", "), values.join(", "))
        }
        Dialect::MySql => {
            let mut terms = Vec::new();
            for i in 0..cols.len() {
                let mut parts = Vec::new();
                for (c, v) in cols.iter().zip(vals).take(i) {
                    parts.push(format!("{} = {}", quote_ident(d, &c.name), b.key(c, v)));
                }
                let op = if i + 1 == cols.len() { last } else { strict };
                if let (Some(c), Some(v)) = (cols.get(i), vals.get(i)) {
                    parts.push(format!("{} {op} {}", quote_ident(d, &c.name), b.key(c, v)));
                }
                terms.push(if parts.len() == 1 {
                    parts.remove(0)
                } else {
                    format!("({})", parts.join(" AND "))
                });
            }
            format!("({})", terms.join(" OR "))
        }
    }
}

/// Keyset chunk: the rows after `after` (all rows from the first when
/// `None`) up to and including `upto` (to the end when `None`).
pub(crate) fn keyset_range(
    d: Dialect,
    cols: &[KeyColumn],
    after: Option<&[String]>,
    upto: Option<&[String]>,
) -> Filter {
    let mut b = Binder::new(d);
    let mut conds = Vec::new();
    if let Some(a) = after {
        conds.push(compare(&mut b, cols, a, true));
    }
    if let Some(u) = upto {
        conds.push(compare(&mut b, cols, u, false));
    }
    let cond = if conds.is_empty() {
        "1 = 1".to_string()
    } else {
        conds.join(" AND ")
    };
    b.finish(cond)
}

/// The text form of a key column, as the bound query reads it.
fn read_expr(d: Dialect, c: &KeyColumn) -> String {
    let q = quote_ident(d, &c.name);
    match (d, &c.value) {
        (Dialect::Postgres, KeyValue::Hex) => format!("encode({q}, 'hex')"),
        (Dialect::MySql, KeyValue::Hex) => format!("HEX({q})"),
        (Dialect::Postgres, _) => format!("{q}::text"),
        (Dialect::MySql, _) => format!("CAST({q} AS CHAR)"),
    }
}

/// The key, as text, of the `n`-th row after `after` (from the first row
/// when `None`) in key order: the inclusive upper bound of the next chunk.
/// No row means fewer than `n` rows are left: the next chunk is the last
/// and goes to the end. The `ORDER BY` names the table's columns (an output
/// column `"a"::text` is also called `a`, and PostgreSQL would sort by it).
pub(crate) fn keyset_bound(
    d: Dialect,
    table: &TableRef,
    cols: &[KeyColumn],
    after: Option<&[String]>,
    n: u64,
) -> Filter {
    let from = keyset_range(d, cols, after, None);
    let t = table.quoted(d);
    let read: Vec<String> = cols.iter().map(|c| read_expr(d, c)).collect();
    let order: Vec<String> = cols
        .iter()
        .map(|c| format!("{t}.{}", quote_ident(d, &c.name)))
        .collect();
    let filter = if after.is_some() {
        format!(" WHERE {}", from.cond)
    } else {
        String::new()
    };
    Filter {
        cond: format!(
            "SELECT {} FROM {t}{filter} ORDER BY {} LIMIT 1 OFFSET {}",
            read.join(", "),
            order.join(", "),
            n.saturating_sub(1)
        ),
        binds: from.binds,
        ahead: None,
    }
}

/// PostgreSQL: the rows on heap pages `from..to` (half-open), minus the
/// row versions written by the transactions `skip_xids`: an in-place chunk
/// whose updated rows landed on pages a later chunk reads (see
/// [`pages_ahead`]).
pub(crate) fn page_range(from: u64, to: u64, skip_xids: &[String]) -> Filter {
    let mut b = Binder::new(Dialect::Postgres);
    let lo = b.push(Value::Text(format!("({from},0)")));
    let hi = b.push(Value::Text(format!("({to},0)")));
    let mut cond = format!("ctid >= CAST({lo} AS tid) AND ctid < CAST({hi} AS tid)");
    if !skip_xids.is_empty() {
        let xids = b.push(Value::Text(format!("{{{}}}", skip_xids.join(","))));
        cond.push_str(&format!(" AND NOT (xmin = ANY (CAST({xids} AS xid[])))"));
    }
    b.finish(cond)
}

/// PostgreSQL: true for a row version on pages `from..to` (half-open),
/// the pages the later chunks of a step still read: no condition when there
/// are none. An `UPDATE` writes the new version of a row on the same page
/// when it fits, else on a page with free space (which can be one a later
/// chunk reads) or at the end of the table (past them). Counting its
/// `RETURNING ctid` with this condition tells whether the chunk's
/// transaction must be skipped by the later chunks: most chunks land none
/// there, and their ids stay out of the filter every later row is tested
/// against. The page numbers are written as literals (no placeholder).
pub(crate) fn pages_ahead(from: u64, to: u64) -> Option<String> {
    (from < to).then(|| format!("ctid >= '({from},0)'::tid AND ctid < '({to},0)'::tid"))
}

/// PostgreSQL: heap pages of a table (binds: the quoted table name).
pub(crate) const PAGES_SQL: &str =
    "SELECT (pg_relation_size(CAST($1 AS regclass)) / current_setting('block_size')::int8)::int8";

/// PostgreSQL: the file node of a table, which changes when its storage is
/// rewritten (binds: the quoted table name).
pub(crate) const FILENODE_SQL: &str = "SELECT pg_relation_filenode(CAST($1 AS regclass))::text";

/// PostgreSQL: the (32-bit) id of the current transaction, as text.
pub(crate) const CURRENT_XID_SQL: &str = "SELECT xid(pg_current_xact_id())::text";

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> TableRef {
        TableRef {
            schema: "app".into(),
            table: "t".into(),
        }
    }

    fn col(name: &str, value: KeyValue) -> KeyColumn {
        KeyColumn {
            name: name.into(),
            value,
        }
    }

    fn texts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn text_binds(f: &Filter) -> Vec<String> {
        f.binds
            .iter()
            .map(|b| match b {
                Value::Int(i) => i.to_string(),
                Value::Text(s) => s.clone(),
            })
            .collect()
    }

    #[test]
    fn integer_ranges() {
        let f = int_range(Dialect::Postgres, "id", 7, 9);
        assert_eq!(f.cond, "\"id\" > $1 AND \"id\" <= $2");
        assert_eq!(f.binds, vec![Value::Int(7), Value::Int(9)]);
        assert_eq!(
            int_range(Dialect::MySql, "id", 7, 9).cond,
            "`id` > ? AND `id` <= ?"
        );
    }

    #[test]
    fn postgres_keyset_compares_row_values_cast_to_the_column_types() {
        let cols = [
            col("a", KeyValue::Cast("integer".into())),
            col("b", KeyValue::Cast("character varying(20)".into())),
        ];
        let f = keyset_range(
            Dialect::Postgres,
            &cols,
            Some(&texts(&["5", "k'3"])),
            Some(&texts(&["9", "k1"])),
        );
        assert_eq!(
            f.cond,
            "(\"a\", \"b\") > (CAST($1 AS integer), CAST($2 AS character varying(20))) AND (\"a\", \"b\") <= (CAST($3 AS integer), CAST($4 AS character varying(20)))"
        );
        assert_eq!(text_binds(&f), ["5", "k'3", "9", "k1"]);
        let first = keyset_range(Dialect::Postgres, &cols, None, Some(&texts(&["9", "k1"])));
        assert_eq!(
            first.cond,
            "(\"a\", \"b\") <= (CAST($1 AS integer), CAST($2 AS character varying(20)))"
        );
        let last = keyset_range(Dialect::Postgres, &cols, Some(&texts(&["9", "k1"])), None);
        assert_eq!(
            last.cond,
            "(\"a\", \"b\") > (CAST($1 AS integer), CAST($2 AS character varying(20)))"
        );
        assert_eq!(
            keyset_range(Dialect::Postgres, &cols, None, None).cond,
            "1 = 1"
        );
    }

    #[test]
    fn mysql_keyset_expands_the_row_comparison() {
        let cols = [
            col("a", KeyValue::Cast("SIGNED".into())),
            col("b", KeyValue::Text),
            col("c", KeyValue::Hex),
        ];
        let f = keyset_range(
            Dialect::MySql,
            &cols,
            Some(&texts(&["1", "x", "0a"])),
            Some(&texts(&["2", "y", "ff"])),
        );
        assert_eq!(
            f.cond,
            "(`a` > CAST(? AS SIGNED) OR (`a` = CAST(? AS SIGNED) AND `b` > ?) OR (`a` = CAST(? AS SIGNED) AND `b` = ? AND `c` > UNHEX(?))) \
             AND (`a` < CAST(? AS SIGNED) OR (`a` = CAST(? AS SIGNED) AND `b` < ?) OR (`a` = CAST(? AS SIGNED) AND `b` = ? AND `c` <= UNHEX(?)))"
        );
        assert_eq!(
            text_binds(&f),
            ["1", "1", "x", "1", "x", "0a", "2", "2", "y", "2", "y", "ff"]
        );
    }

    #[test]
    fn single_column_keys_compare_directly() {
        let uuid = [col("id", KeyValue::Cast("uuid".into()))];
        assert_eq!(
            keyset_range(
                Dialect::Postgres,
                &uuid,
                Some(&texts(&["u1"])),
                Some(&texts(&["u2"]))
            )
            .cond,
            "\"id\" > CAST($1 AS uuid) AND \"id\" <= CAST($2 AS uuid)"
        );
        let bin = [col("id", KeyValue::Hex)];
        assert_eq!(
            keyset_range(
                Dialect::MySql,
                &bin,
                Some(&texts(&["00"])),
                Some(&texts(&["ff"]))
            )
            .cond,
            "`id` > UNHEX(?) AND `id` <= UNHEX(?)"
        );
        let bytea = [col("id", KeyValue::Hex)];
        assert_eq!(
            keyset_range(Dialect::Postgres, &bytea, None, Some(&texts(&["ff"]))).cond,
            "\"id\" <= decode($1, 'hex')"
        );
    }

    #[test]
    fn bounds_read_text_and_order_by_the_table_columns() {
        let cols = [
            col("a", KeyValue::Cast("integer".into())),
            col("b", KeyValue::Cast("text".into())),
        ];
        let f = keyset_bound(
            Dialect::Postgres,
            &t(),
            &cols,
            Some(&texts(&["5", "x"])),
            1000,
        );
        assert_eq!(
            f.cond,
            "SELECT \"a\"::text, \"b\"::text FROM \"app\".\"t\" WHERE (\"a\", \"b\") > (CAST($1 AS integer), CAST($2 AS text)) \
             ORDER BY \"app\".\"t\".\"a\", \"app\".\"t\".\"b\" LIMIT 1 OFFSET 999"
        );
        assert_eq!(text_binds(&f), ["5", "x"]);
        let my = [col("u", KeyValue::Hex)];
        let f = keyset_bound(Dialect::MySql, &t(), &my, None, 10);
        assert_eq!(
            f.cond,
            "SELECT HEX(`u`) FROM `app`.`t` ORDER BY `app`.`t`.`u` LIMIT 1 OFFSET 9"
        );
        assert!(f.binds.is_empty());
    }

    #[test]
    fn page_ranges() {
        let f = page_range(0, 250, &[]);
        assert_eq!(f.cond, "ctid >= CAST($1 AS tid) AND ctid < CAST($2 AS tid)");
        assert_eq!(text_binds(&f), ["(0,0)", "(250,0)"]);
        let f = page_range(250, 500, &texts(&["731", "735"]));
        assert_eq!(
            f.cond,
            "ctid >= CAST($1 AS tid) AND ctid < CAST($2 AS tid) AND NOT (xmin = ANY (CAST($3 AS xid[])))"
        );
        assert_eq!(text_binds(&f), ["(250,0)", "(500,0)", "{731,735}"]);
        assert_eq!(f.ahead, None);
    }

    #[test]
    fn the_pages_ahead_are_the_ones_later_chunks_read() {
        assert_eq!(
            pages_ahead(500, 900).as_deref(),
            Some("ctid >= '(500,0)'::tid AND ctid < '(900,0)'::tid")
        );
        assert_eq!(pages_ahead(900, 900), None, "the last chunk");
    }
}
