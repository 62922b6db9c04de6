//! What an in-place run on MySQL/MariaDB refuses before writing, where the
//! rewrite cannot meet it: tables in a storage engine without transactions
//! (a chunk and its progress row would not commit together, so a retry could
//! mask a row twice), and `UPDATE` triggers the rules do not acknowledge
//! (MySQL cannot disable triggers; an audit trigger copying `OLD` values
//! would keep the unmasked rows elsewhere).

use std::collections::{BTreeSet, HashMap};

use crate::catalog::base_tables;
use crate::db::{Bind, Conn, Val};
use crate::error::MaskError;
use crate::plan::TablePlan;
use crate::sql::Dialect;

/// Refusals as one [`MaskError::Schema`]; acknowledged triggers come back as
/// warnings.
pub(crate) async fn mysql_in_place_guards(
    conn: &mut Conn,
    plans: &[TablePlan],
) -> Result<Vec<String>, MaskError> {
    if conn.dialect() != Dialect::MySql {
        return Ok(Vec::new());
    }
    let mut engines = HashMap::new();
    for schema in plans
        .iter()
        .map(|p| &p.tref.schema)
        .collect::<BTreeSet<_>>()
    {
        for t in base_tables(conn, schema).await? {
            engines.insert((schema.clone(), t.name), t.engine);
        }
    }
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for p in plans {
        let key = (p.tref.schema.clone(), p.tref.table.clone());
        if let Some(Some(engine)) = engines.get(&key)
            && !engine.eq_ignore_ascii_case("InnoDB")
        {
            problems.push(format!(
                "{}: storage engine {engine} has no transactions; in-place masking needs InnoDB for exactly-once chunks",
                p.tref
            ));
        }
        if p.columns.is_empty() {
            continue;
        }
        for name in update_triggers(conn, p).await? {
            if p.rules.acknowledged_triggers.contains(&name) {
                let w = format!(
                    "{}: UPDATE trigger `{name}` fired for every masked row (acknowledged in the rules)",
                    p.tref
                );
                tracing::warn!(warning = %w, "masking");
                warnings.push(w);
            } else {
                problems.push(format!(
                    "{}: UPDATE trigger `{name}` would fire for every masked row (MySQL triggers cannot be disabled) and could keep unmasked values; drop it in the target, or list it in tables.{}.acknowledged_triggers once you know what it does",
                    p.tref, p.rules.name
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(warnings)
    } else {
        Err(MaskError::Schema { problems })
    }
}

async fn update_triggers(conn: &mut Conn, p: &TablePlan) -> Result<Vec<String>, MaskError> {
    let rows = conn
        .rows(
            "SELECT CAST(TRIGGER_NAME AS CHAR) FROM information_schema.TRIGGERS \
             WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ? AND EVENT_MANIPULATION = 'UPDATE'",
            &[Bind::Str(&p.tref.schema), Bind::Str(&p.tref.table)],
        )
        .await
        .map_err(MaskError::db("reading triggers"))?;
    Ok(rows
        .iter()
        .filter_map(|r| r.first().and_then(Val::text))
        .collect())
}
