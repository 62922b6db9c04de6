//! Resolve a rewrite against quarantine, before any write: which tables
//! are copied and how (the rules mapped onto quarantine, unruled tables
//! copied as they are), and the refusals (missing or empty quarantine,
//! names outside `[A-Za-z_][A-Za-z0-9_$]*`, partitioned tables, non-InnoDB
//! engines, MySQL triggers, rules on generated columns).

use crate::build_steps::TableCopy;
use crate::catalog::{base_tables, columns, mysql_triggers, place_exists};
use crate::chunk_key::whole_tables_warning;
use crate::coverage::{enforce, find_gaps, live_tables};
use crate::db::{Bind, Conn, Val};
use crate::error::MaskError;
use crate::places::Publish;
use crate::plan::{TablePlan, build_plan};
use crate::rules::{Origin, Rules, TableRules, is_valid_identifier};
use crate::sql::{Dialect, TableRef};

pub(crate) async fn quarantine_charset(
    conn: &mut Conn,
    quarantine: &str,
) -> Result<Option<(String, String)>, MaskError> {
    if conn.dialect() != Dialect::MySql {
        return Ok(None);
    }
    let rows = conn
        .rows(
            "SELECT CAST(DEFAULT_CHARACTER_SET_NAME AS CHAR), CAST(DEFAULT_COLLATION_NAME AS CHAR) \
             FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            &[Bind::Str(quarantine)],
        )
        .await
        .map_err(MaskError::db("reading the quarantine character set"))?;
    Ok(rows.first().and_then(|r| {
        let cs = r.first().and_then(Val::text)?;
        let co = r.get(1).and_then(Val::text)?;
        (is_valid_identifier(&cs) && is_valid_identifier(&co)).then_some((cs, co))
    }))
}

/// Rules-file table name → quarantine table: a bare name is the table in
/// quarantine; a qualified name must use the live place (it names the
/// published table).
fn map_rule_table(t: &TableRules, publish: &Publish) -> Result<TableRules, String> {
    let p = &publish.places;
    let table = match t.name.split_once('.') {
        None => t.name.clone(),
        Some((s, n)) if s == p.live => n.to_string(),
        Some((s, _)) => {
            return Err(format!(
                "{}: table `{}`: a qualified name must use the live place `{}` (bare names mean the table loaded into quarantine `{}`), not `{s}`",
                t.origin, t.name, p.live, p.quarantine
            ));
        }
    };
    Ok(TableRules {
        name: format!("{}.{table}", p.quarantine),
        ..t.clone()
    })
}

/// A plan entry for a quarantine table the rules do not name: copied as it is.
fn unruled(rules: &Rules, quarantine: &str, table: &str) -> TableRules {
    TableRules {
        name: format!("{quarantine}.{table}"),
        truncate: false,
        delete_where: None,
        chunk_size: None,
        columns: Vec::new(),
        kept: Vec::new(),
        acknowledged_triggers: Vec::new(),
        origin: Origin {
            file: rules.file.clone(),
            line: None,
            key: format!("(no rule for {table})"),
        },
    }
}

/// Quarantine tables this rewrite can copy, or the problems (refusals are
/// detected before any write).
async fn quarantine_tables(conn: &mut Conn, publish: &Publish) -> Result<Vec<String>, MaskError> {
    let p = &publish.places;
    if !place_exists(conn, &p.quarantine).await? {
        return Err(MaskError::Places(format!(
            "the quarantine place `{}` does not exist",
            p.quarantine
        )));
    }
    let tables = base_tables(conn, &p.quarantine).await?;
    if tables.is_empty() {
        return Err(MaskError::Places(format!(
            "the quarantine place `{}` holds no tables: nothing to publish",
            p.quarantine
        )));
    }
    let mut problems = Vec::new();
    for t in &tables {
        if !is_valid_identifier(&t.name) {
            problems.push(format!(
                "{}.{}: table names must match [A-Za-z_][A-Za-z0-9_$]*",
                p.quarantine, t.name
            ));
        }
        if t.partitioned {
            problems.push(format!(
                "{}.{}: partitioned tables and partitions are not supported by the rewrite",
                p.quarantine, t.name
            ));
        }
        if let Some(engine) = t
            .engine
            .as_deref()
            .filter(|e| !e.eq_ignore_ascii_case("InnoDB"))
        {
            problems.push(format!(
                "{}.{}: storage engine {engine} is not transactional; the rewrite needs InnoDB for exactly-once copies",
                p.quarantine, t.name
            ));
        }
    }
    for place in [&p.quarantine, &p.live] {
        for (table, trigger) in mysql_triggers(conn, place).await? {
            problems.push(format!(
                "{place}.{table}: trigger `{trigger}`: RENAME TABLE cannot move a table with triggers to another database (and triggers are not carried into the copy); drop it"
            ));
        }
    }
    if problems.is_empty() {
        Ok(tables.into_iter().map(|t| t.name).collect())
    } else {
        Err(MaskError::Schema { problems })
    }
}

/// Resolve the rules against quarantine: one [`TableCopy`] per quarantine
/// table, sorted. Also returns the coverage warnings (report mode).
pub(crate) async fn plan_copies(
    conn: &mut Conn,
    rules: &Rules,
    publish: &Publish,
) -> Result<(Vec<TableCopy>, Vec<String>), MaskError> {
    let p = &publish.places;
    let d = conn.dialect();
    let names = quarantine_tables(conn, publish).await?;
    let mut problems = Vec::new();
    let mut tables = Vec::new();
    for t in &rules.tables {
        match map_rule_table(t, publish) {
            Ok(m) => tables.push(m),
            Err(e) => problems.push(e),
        }
    }
    if !problems.is_empty() {
        return Err(MaskError::Schema { problems });
    }
    let ruled: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
    let warnings = check_coverage(conn, rules, &p.quarantine, &tables).await?;
    let unruled_names: Vec<&String> = names
        .iter()
        .filter(|n| !ruled.contains(&format!("{}.{n}", p.quarantine)))
        .collect();
    tables.extend(
        unruled_names
            .iter()
            .map(|n| unruled(rules, &p.quarantine, n)),
    );
    let mapped = Rules {
        tables,
        ..rules.clone()
    };
    let plans = build_plan(conn, d, Some(&p.quarantine), &mapped).await?;
    let mut copies = Vec::new();
    for plan in plans {
        copies.push(table_copy(conn, plan, publish, &ruled, &mut problems).await?);
    }
    if !problems.is_empty() {
        return Err(MaskError::Schema { problems });
    }
    copies.sort_by(|a, b| a.plan.tref.table.cmp(&b.plan.tref.table));
    let mut warnings = warnings;
    warnings.extend(whole_tables_warning(
        "copied",
        copies
            .iter()
            .filter(|c| !c.plan.rules.truncate)
            .map(|c| (c.plan.tref.to_string(), &c.plan.chunk_key)),
    ));
    Ok((copies, warnings))
}

/// Coverage of quarantine by the rules (mapped onto quarantine): strict
/// fails, report returns the warnings. Labels are bare table names, as the
/// rules file writes them.
async fn check_coverage(
    conn: &mut Conn,
    rules: &Rules,
    quarantine: &str,
    mapped: &[TableRules],
) -> Result<Vec<String>, MaskError> {
    let prefix = format!("{quarantine}.");
    let declared = mapped
        .iter()
        .map(|t| (t.name.trim_start_matches(&prefix).to_string(), t))
        .collect();
    let live = live_tables(conn, quarantine, str::to_string).await?;
    enforce(rules, &find_gaps(&live, &declared))
}

async fn table_copy(
    conn: &mut Conn,
    plan: TablePlan,
    publish: &Publish,
    ruled: &[String],
    problems: &mut Vec<String>,
) -> Result<TableCopy, MaskError> {
    let p = &publish.places;
    let cols = columns(conn, &plan.tref).await?;
    for c in &cols {
        if !is_valid_identifier(&c.name) {
            problems.push(format!(
                "{}.{}: column names must match [A-Za-z_][A-Za-z0-9_$]*",
                plan.tref, c.name
            ));
        }
        if c.generated && plan.columns.iter().any(|m| m.name == c.name) {
            problems.push(format!(
                "{}: column `{}` is generated; the copy computes it from its inputs, mask those instead",
                plan.tref, c.name
            ));
        }
    }
    let table = plan.tref.table.clone();
    Ok(TableCopy {
        build: TableRef {
            schema: p.build.clone(),
            table: table.clone(),
        },
        label: format!("{}.{table}", p.live),
        columns: cols.into_iter().filter(|c| !c.generated).collect(),
        ruled: ruled.contains(&plan.tref.to_string()),
        plan,
    })
}
