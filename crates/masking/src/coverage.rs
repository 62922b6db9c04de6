//! Coverage: every column of every table in the masked schema is declared in
//! the rules file, masked or `keep`, so a column production gains tomorrow
//! stops the refresh (`coverage = "strict"`) or is at least named in the
//! report (`"report"`) instead of being copied unmasked in silence.
//!
//! Generated columns are computed from their inputs (which are declared) and
//! need no declaration. A table declared `truncate = true` copies no row and
//! needs no column declared.
//! PostgreSQL partitions are declared through their partitioned table, whose
//! columns they have.

use std::collections::BTreeMap;

use crate::catalog::{base_tables, columns};
use crate::db::Conn;
use crate::error::MaskError;
use crate::rules::{Coverage, Rules, TableRules};
use crate::sql::TableRef;

/// A table of the masked schema as the catalog shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTable {
    /// The table as the rules file names it (bare in the default schema).
    pub label: String,
    /// Columns that must be declared (generated columns left out).
    pub columns: Vec<String>,
}

/// What the rules file misses or names in vain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gaps {
    /// Tables without any rule, with their columns.
    pub tables: Vec<LiveTable>,
    /// `(table label, column)` present but not declared.
    pub columns: Vec<(String, String)>,
    /// Columns declared `keep` that no longer exist, with where they are
    /// declared.
    pub vanished: Vec<String>,
}

impl Gaps {
    /// Nothing missing.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.columns.is_empty() && self.vanished.is_empty()
    }

    /// One line per gap, each saying what to add or remove.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .tables
            .iter()
            .map(|t| {
                format!(
                    "table `{}` has no rules: declare each of its columns ({}) under [tables.{}.columns], or set truncate = true",
                    t.label,
                    t.columns.join(", "),
                    t.label
                )
            })
            .collect();
        out.extend(self.columns.iter().map(|(t, c)| {
            format!(
                "column `{t}.{c}` is not declared: add tables.{t}.columns.{c} with a strategy, or {{ strategy = \"keep\", reason = \"...\" }}"
            )
        }));
        out.extend(self.vanished.iter().cloned());
        out
    }
}

/// Compare the live tables with the declared ones. `declared` maps a live
/// table label to its rules (labels as in [`LiveTable::label`]).
pub fn find_gaps(live: &[LiveTable], declared: &BTreeMap<String, &TableRules>) -> Gaps {
    let mut gaps = Gaps::default();
    for t in live {
        let Some(rules) = declared.get(&t.label) else {
            gaps.tables.push(t.clone());
            continue;
        };
        if rules.truncate {
            continue;
        }
        for c in &t.columns {
            let named = rules.columns.iter().any(|r| &r.column == c)
                || rules.kept.iter().any(|k| &k.column == c);
            if !named {
                gaps.columns.push((t.label.clone(), c.clone()));
            }
        }
        for k in &rules.kept {
            if !t.columns.contains(&k.column) {
                gaps.vanished.push(format!(
                    "{}: column `{}.{}` is declared keep but does not exist: remove it",
                    k.origin, t.label, k.column
                ));
            }
        }
    }
    gaps
}

/// Apply the rules' coverage setting: strict fails with every gap, report
/// returns them as warnings.
pub fn enforce(rules: &Rules, gaps: &Gaps) -> Result<Vec<String>, MaskError> {
    if gaps.is_empty() {
        return Ok(Vec::new());
    }
    match rules.settings.coverage {
        Coverage::Strict => {
            let mut problems = vec![format!(
                "{}: coverage is strict and the rules do not match the schema; nothing was written",
                rules.file
            )];
            problems.extend(gaps.lines());
            Err(MaskError::Schema { problems })
        }
        Coverage::Report => {
            let w = format!(
                "coverage (report): copied without masking or declaration: {}",
                gaps.lines().join("; ")
            );
            tracing::warn!(warning = %w, "coverage");
            Ok(vec![w])
        }
    }
}

/// The tables of `schema` with the columns that need a declaration; labels
/// are `label_of(table)`.
pub(crate) async fn live_tables(
    conn: &mut Conn,
    schema: &str,
    label_of: impl Fn(&str) -> String,
) -> Result<Vec<LiveTable>, MaskError> {
    let mut out = Vec::new();
    for t in base_tables(conn, schema).await? {
        if t.partition {
            // Declared through its partitioned table, whose columns it has.
            continue;
        }
        let tref = TableRef {
            schema: schema.to_string(),
            table: t.name.clone(),
        };
        let cols = columns(conn, &tref).await?;
        out.push(LiveTable {
            label: label_of(&t.name),
            columns: cols
                .into_iter()
                .filter(|c| !c.generated)
                .map(|c| c.name)
                .collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(src: &str) -> Rules {
        Rules::parse(&format!("version = 1\n{src}"), "r.toml").expect("valid rules")
    }

    fn live(label: &str, cols: &[&str]) -> LiveTable {
        LiveTable {
            label: label.into(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn declared(r: &Rules) -> BTreeMap<String, &TableRules> {
        r.tables.iter().map(|t| (t.name.clone(), t)).collect()
    }

    const SRC: &str = r#"
[settings]
coverage = "strict"
[tables.customers.columns]
id = { strategy = "keep", reason = "surrogate key" }
email = { strategy = "email" }
legacy = { strategy = "keep" }
[tables.audit]
truncate = true
"#;

    #[test]
    fn a_new_column_a_new_table_and_a_vanished_keep_are_all_found() {
        let r = rules(SRC);
        let gaps = find_gaps(
            &[
                live("audit", &["id", "payload"]),
                live("customers", &["id", "email", "loyalty_no"]),
                live("invoices", &["id", "iban"]),
            ],
            &declared(&r),
        );
        assert_eq!(gaps.tables, vec![live("invoices", &["id", "iban"])]);
        assert_eq!(
            gaps.columns,
            vec![("customers".to_string(), "loyalty_no".to_string())]
        );
        assert_eq!(gaps.vanished.len(), 1);
        assert!(gaps.vanished[0].contains("customers.legacy"), "{gaps:?}");
        let lines = gaps.lines();
        assert!(lines[0].contains("[tables.invoices.columns]") && lines[0].contains("id, iban"));
        assert!(lines[1].contains("tables.customers.columns.loyalty_no"));
    }

    #[test]
    fn strict_fails_listing_every_gap_and_report_warns() {
        let r = rules(SRC);
        let gaps = find_gaps(&[live("customers", &["id", "email", "x"])], &declared(&r));
        let err = enforce(&r, &gaps).expect_err("strict");
        let MaskError::Schema { problems } = err else {
            panic!("{err}")
        };
        assert!(problems[0].contains("coverage is strict"));
        assert!(problems.iter().any(|p| p.contains("customers.x")));
        assert!(problems.iter().any(|p| p.contains("customers.legacy")));

        let report = rules(&SRC.replace("\"strict\"", "\"report\""));
        let w = enforce(&report, &gaps).expect("report mode goes on");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("customers.x"), "{w:?}");
    }

    #[test]
    fn a_fully_declared_schema_has_no_gaps() {
        let r = rules(SRC);
        let gaps = find_gaps(
            &[
                live("customers", &["id", "email", "legacy"]),
                live("audit", &["anything"]),
            ],
            &declared(&r),
        );
        assert!(gaps.is_empty(), "{gaps:?}");
        assert_eq!(
            enforce(&r, &gaps).expect("nothing to say"),
            Vec::<String>::new()
        );
    }
}
