//! PostgreSQL partitioned tables, in place.
//!
//! Every in-place `UPDATE` on PostgreSQL is `UPDATE ONLY`, so a row is
//! masked through the one table the rules declare for it and never again
//! through an inheritance parent. `UPDATE ONLY` on a partitioned table
//! changes nothing (its rows live in the partitions), so the rules declare
//! the partitioned table and its mask step becomes one step per leaf
//! partition, each chunked and resumed on its own. A partition declared
//! beside an ancestor would be masked twice and is refused, and so is a
//! foreign-table partition (masking it would write to another server).
//! MySQL partitions are internal to one table and need nothing here.

use crate::db::{Bind, Conn};
use crate::error::MaskError;
use crate::plan::TablePlan;
use crate::sql::{Dialect, TableRef};

/// A leaf of a partition tree.
struct Leaf {
    tref: TableRef,
    foreign: bool,
}

/// Fill in the leaf partitions of every partitioned table of `plans` and
/// return what cannot be masked as declared (one line per problem).
pub(crate) async fn expand(
    conn: &mut Conn,
    plans: &mut [TablePlan],
) -> Result<Vec<String>, MaskError> {
    if conn.dialect() != Dialect::Postgres {
        return Ok(Vec::new());
    }
    let declared: Vec<TableRef> = plans.iter().map(|p| p.tref.clone()).collect();
    let mut problems = Vec::new();
    for p in plans.iter_mut() {
        let leaves = leaves(conn, &p.tref).await?;
        for l in leaves.iter().filter(|l| l.foreign) {
            problems.push(format!(
                "{}: partition {} of {} is a foreign table; masking it would write to another server: detach it or mask it there",
                p.rules.origin, l.tref, p.tref
            ));
        }
        p.partitions = leaves.into_iter().map(|l| l.tref).collect();
        for a in ancestors(conn, &p.tref).await? {
            if declared.contains(&a) {
                problems.push(format!(
                    "{}: {} is a partition of {a}, which the rules also declare, so its rows would be masked twice: declare the partitioned table only",
                    p.rules.origin, p.tref
                ));
            }
        }
    }
    Ok(problems)
}

/// Leaf partitions of `t`, sorted; empty when `t` is not partitioned.
async fn leaves(conn: &mut Conn, t: &TableRef) -> Result<Vec<Leaf>, MaskError> {
    let sql = "SELECT n.nspname::text, c.relname::text, (c.relkind = 'f')::text \
         FROM pg_class p JOIN pg_namespace pn ON pn.oid = p.relnamespace \
         CROSS JOIN LATERAL pg_partition_tree(p.oid) t \
         JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE pn.nspname = $1 AND p.relname = $2 AND p.relkind = 'p' AND t.isleaf \
         ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\"";
    let rows = conn
        .rows(sql, &[Bind::Str(&t.schema), Bind::Str(&t.table)])
        .await
        .map_err(MaskError::db(format!("listing the partitions of {t}")))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Leaf {
                tref: TableRef {
                    schema: r.first()?.text()?,
                    table: r.get(1)?.text()?,
                },
                foreign: r.get(2)?.text()? == "true",
            })
        })
        .collect())
}

/// Partitioned tables `t` belongs to, nearest first; empty for a table that
/// is not a partition.
async fn ancestors(conn: &mut Conn, t: &TableRef) -> Result<Vec<TableRef>, MaskError> {
    let sql = "SELECT n.nspname::text, c.relname::text \
         FROM pg_class p JOIN pg_namespace pn ON pn.oid = p.relnamespace \
         CROSS JOIN LATERAL pg_partition_ancestors(p.oid) WITH ORDINALITY a(relid, depth) \
         JOIN pg_class c ON c.oid = a.relid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE pn.nspname = $1 AND p.relname = $2 AND p.relispartition AND a.relid <> p.oid \
         ORDER BY a.depth";
    let rows = conn
        .rows(sql, &[Bind::Str(&t.schema), Bind::Str(&t.table)])
        .await
        .map_err(MaskError::db(format!(
            "reading the partition ancestors of {t}"
        )))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(TableRef {
                schema: r.first()?.text()?,
                table: r.get(1)?.text()?,
            })
        })
        .collect())
}
