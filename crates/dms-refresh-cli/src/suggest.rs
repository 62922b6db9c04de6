//! `dms-refresh suggest`: load the rules, connect, walk the schema's
//! columns, sample the text ones, run the detectors, build the report.

use std::collections::{BTreeMap, BTreeSet};

use masking::{Dialect, Rules};

use crate::args::SuggestArgs;
use crate::catalog::{self, Column, is_identifier};
use crate::connect::{self, Conn, engine_name};
use crate::detect::{ColumnView, TypeClass, ValueCounts, classify};
use crate::fragment;
use crate::report::{Finding, Report, Skipped};

/// Which columns the rules file already takes care of, for one schema.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// `(table, column)` with a masking strategy (anything but `keep`).
    masked: BTreeSet<(String, String)>,
    /// Tables emptied by `truncate = true`: nothing left to mask.
    truncated: BTreeSet<String>,
    /// Every table the rules name (bare name).
    tables: BTreeSet<String>,
    /// MySQL compares names without case.
    fold_case: bool,
}

impl Coverage {
    /// An empty coverage for a dialect.
    pub fn new(d: Dialect) -> Coverage {
        Coverage {
            fold_case: d == Dialect::MySql,
            ..Coverage::default()
        }
    }

    /// What `rules` covers in `schema`.
    pub fn of(rules: &Rules, schema: &str, d: Dialect) -> Coverage {
        let mut c = Coverage::new(d);
        for t in &rules.tables {
            let columns: Vec<(&str, &str)> = t
                .columns
                .iter()
                .map(|r| (r.column.as_str(), r.strategy.name()))
                .collect();
            c.add(&t.name, schema, t.truncate, &columns);
        }
        c
    }

    fn norm(&self, s: &str) -> String {
        if self.fold_case {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    }

    /// Record one table of the rules: its key (`table` or `schema.table`),
    /// whether it is truncated, and `(column, strategy)` pairs.
    pub fn add(&mut self, key: &str, schema: &str, truncate: bool, columns: &[(&str, &str)]) {
        let table = match key.split_once('.') {
            Some((s, t)) if self.norm(s) == self.norm(schema) => t,
            Some(_) => return,
            None => key,
        };
        let table = self.norm(table);
        if truncate {
            self.truncated.insert(table.clone());
        }
        for (column, strategy) in columns {
            if *strategy != "keep" {
                self.masked.insert((table.clone(), self.norm(column)));
            }
        }
        self.tables.insert(table);
    }

    /// Whether the rules mask this column (or empty its table).
    pub fn covers(&self, table: &str, column: &str) -> bool {
        let table = self.norm(table);
        self.truncated.contains(&table) || self.masked.contains(&(table, self.norm(column)))
    }

    /// Whether the rules have a block for this table.
    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains(&self.norm(table))
    }
}

/// Run the command. `Err`: a message for stderr, exit status 2.
pub async fn run(args: &SuggestArgs) -> Result<Report, String> {
    let rules = match &args.rules {
        Some(path) => Some(Rules::load(path).map_err(|e| format!("bad rules file: {e}"))?),
        None => None,
    };
    let mut conn = connect::connect(&args.conn).await?;
    let result = scan(&mut conn, args, rules.as_ref()).await;
    conn.close().await;
    result
}

async fn resolve_schema(conn: &mut Conn, args: &SuggestArgs) -> Result<String, String> {
    let read_err = |e: sqlx::Error| format!("cannot read the catalog: {e}");
    let schema = match &args.conn.schema {
        Some(s) => s.clone(),
        None => catalog::default_schema(conn)
            .await
            .map_err(read_err)?
            .ok_or("the connection has no default database: give --schema")?,
    };
    if !catalog::schema_exists(conn, &schema)
        .await
        .map_err(read_err)?
    {
        return Err(format!(
            "unknown schema `{schema}` on this {} server",
            engine_name(conn.dialect())
        ));
    }
    Ok(schema)
}

async fn scan(
    conn: &mut Conn,
    args: &SuggestArgs,
    rules: Option<&Rules>,
) -> Result<Report, String> {
    let d = conn.dialect();
    let schema = resolve_schema(conn, args).await?;
    let columns = catalog::columns(conn, &schema)
        .await
        .map_err(|e| format!("cannot read the columns of `{schema}`: {e}"))?;
    let coverage = rules.map_or_else(|| Coverage::new(d), |r| Coverage::of(r, &schema, d));
    let mut report = Report::new(engine_name(d), &schema);
    for (table, cols) in by_table(&columns) {
        if !is_identifier(table) {
            report.skipped.push(unnameable(table, None));
            continue;
        }
        for col in cols {
            examine(conn, args.sample, &schema, &coverage, col, &mut report).await;
        }
    }
    let existing: BTreeSet<String> = report
        .findings
        .iter()
        .filter(|f| coverage.has_table(&f.table))
        .map(|f| f.table.clone())
        .collect();
    let target = fragment::Target {
        dialect: d,
        schema: &schema,
        existing: &existing,
    };
    report.fragment = fragment::render(target, &report.findings);
    Ok(report)
}

fn by_table(columns: &[Column]) -> BTreeMap<&str, Vec<&Column>> {
    let mut map: BTreeMap<&str, Vec<&Column>> = BTreeMap::new();
    for c in columns {
        map.entry(c.table.as_str()).or_default().push(c);
    }
    map
}

fn unnameable(table: &str, column: Option<&str>) -> Skipped {
    Skipped {
        table: table.to_string(),
        column: column.map(str::to_string),
        reason: "name does not match [A-Za-z_][A-Za-z0-9_$]*, so no rule can name it".into(),
        error: false,
    }
}

async fn examine(
    conn: &mut Conn,
    sample: u32,
    schema: &str,
    coverage: &Coverage,
    col: &Column,
    report: &mut Report,
) {
    if !is_identifier(&col.name) {
        report.skipped.push(unnameable(&col.table, Some(&col.name)));
        return;
    }
    report.columns_checked += 1;
    if coverage.covers(&col.table, &col.name) {
        report.columns_masked += 1;
        return;
    }
    let counts = if col.class == TypeClass::Text {
        match catalog::sample(conn, schema, col, sample).await {
            // The values are dropped here: only the counts go on.
            Ok(values) => Some(ValueCounts::of(&values)),
            Err(e) => {
                report.skipped.push(Skipped {
                    table: col.table.clone(),
                    column: Some(col.name.clone()),
                    reason: format!("sampling failed: {e}"),
                    error: true,
                });
                return;
            }
        }
    } else {
        None
    };
    let view = ColumnView {
        table: &col.table,
        column: &col.name,
        class: col.class,
    };
    if let Some(d) = classify(view, counts.as_ref()) {
        report.findings.push(Finding::new(col, d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_cover_bare_and_qualified_tables_of_the_schema() {
        let mut c = Coverage::new(Dialect::Postgres);
        c.add(
            "customers",
            "app",
            false,
            &[("email", "email"), ("notes", "keep")],
        );
        c.add("app.orders", "app", false, &[("card", "partial")]);
        c.add("other.orders", "app", false, &[("ip", "null")]);
        c.add("audit", "app", true, &[]);
        assert!(c.covers("customers", "email"));
        assert!(!c.covers("customers", "notes"), "keep does not mask");
        assert!(!c.covers("customers", "phone"));
        assert!(c.covers("orders", "card"));
        assert!(!c.covers("orders", "ip"), "another schema's rule");
        assert!(
            c.covers("audit", "anything"),
            "a truncated table holds nothing"
        );
        assert!(
            !c.covers("Customers", "email"),
            "PostgreSQL names keep their case"
        );
        assert!(c.has_table("customers") && c.has_table("orders"));
        assert!(!c.has_table("other"));
    }

    #[test]
    fn mysql_names_compare_without_case() {
        let mut c = Coverage::new(Dialect::MySql);
        c.add("APP.Customers", "app", false, &[("Email", "email")]);
        assert!(c.covers("customers", "EMAIL"));
    }

    #[test]
    fn keep_columns_are_not_masked() {
        // A column declared `keep` is copied as it is: if its values look
        // personal it is still listed, for a reviewer to confirm the reason.
        let src = "[tables.customers.columns]\n\
                   email = { strategy = \"email\" }\n\
                   notes = { strategy = \"keep\" }\n";
        let rules = Rules::parse(src, "r.toml").unwrap();
        assert_eq!(rules.tables[0].kept.len(), 1);
        let c = Coverage::of(&rules, "app", Dialect::Postgres);
        assert!(c.covers("customers", "email"));
        assert!(!c.covers("customers", "notes"));
    }

    #[test]
    fn coverage_from_a_parsed_rules_file() {
        let src = r#"
[tables.customers.columns]
email = { strategy = "email" }
[tables."app.payments".columns]
card = { strategy = "partial", keep_last = 4 }
[tables.sessions]
truncate = true
"#;
        let rules = Rules::parse(src, "r.toml").unwrap();
        let c = Coverage::of(&rules, "app", Dialect::Postgres);
        assert!(c.covers("customers", "email"));
        assert!(c.covers("payments", "card"));
        assert!(c.covers("sessions", "ip"));
        assert!(!c.covers("customers", "phone"));
    }
}
