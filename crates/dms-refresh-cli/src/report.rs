//! What `suggest` found, and its two renderings: a text table plus the
//! fragment, or one JSON object. Sampled values are never part of it.

use serde::Serialize;

use crate::catalog::Column;
use crate::detect::{Detection, Kind};
use crate::strategy::{Suggested, suggest};

/// Exit status: nothing found.
pub const EXIT_CLEAN: u8 = 0;
/// Exit status: unmasked columns look personal.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit status: usage, connection, rules or read error.
pub const EXIT_ERROR: u8 = 2;

/// One column that looks personal and is not masked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Table.
    pub table: String,
    /// Column.
    pub column: String,
    /// Column type as the catalog names it.
    pub data_type: String,
    /// What it seems to hold.
    pub kind: Kind,
    /// Why.
    pub reason: String,
    /// 0..=1.
    pub confidence: f64,
    /// The rule to add.
    pub suggested: Suggested,
}

impl Finding {
    /// A finding for `col` from a detection, with its suggested rule.
    pub fn new(col: &Column, d: Detection) -> Finding {
        Finding {
            table: col.table.clone(),
            column: col.name.clone(),
            data_type: col.data_type.clone(),
            suggested: suggest(d.kind, col),
            kind: d.kind,
            reason: d.reason,
            confidence: d.confidence,
        }
    }
}

/// A table or column that was not examined, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Table.
    pub table: String,
    /// Column (`None`: the whole table).
    pub column: Option<String>,
    /// Why.
    pub reason: String,
    /// Whether this is an error (a failed read) rather than a limitation.
    pub error: bool,
}

/// The outcome of one `suggest` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `MySQL` or `PostgreSQL`.
    pub engine: &'static str,
    /// Scanned schema or database.
    pub schema: String,
    /// Columns examined (valid names).
    pub columns_checked: usize,
    /// Of those, already masked by the rules file.
    pub columns_masked: usize,
    /// Unmasked columns that look personal.
    pub findings: Vec<Finding>,
    /// What could not be examined.
    pub skipped: Vec<Skipped>,
    /// The rules fragment (empty without findings).
    pub fragment: String,
}

impl Report {
    /// An empty report.
    pub fn new(engine: &'static str, schema: &str) -> Report {
        Report {
            engine,
            schema: schema.to_string(),
            columns_checked: 0,
            columns_masked: 0,
            findings: Vec::new(),
            skipped: Vec::new(),
            fragment: String::new(),
        }
    }

    /// 2 if a read failed, else 1 with findings, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.skipped.iter().any(|s| s.error) {
            EXIT_ERROR
        } else if self.findings.is_empty() {
            EXIT_CLEAN
        } else {
            EXIT_FINDINGS
        }
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot render the report: {e}\"}}"))
    }

    /// The text rendering (stdout); skipped items go to stderr separately.
    pub fn to_text(&self) -> String {
        let mut out = self.summary();
        if !self.findings.is_empty() {
            out.push('\n');
            out.push_str(&table(&self.findings));
            out.push_str("\nRules fragment:\n\n");
            out.push_str(&self.fragment);
        }
        out
    }

    fn summary(&self) -> String {
        let head = format!(
            "{} {}: {} columns checked, {} masked by the rules",
            self.engine, self.schema, self.columns_checked, self.columns_masked
        );
        match self.findings.len() {
            0 => format!("{head}; no unmasked column looks personal.\n"),
            1 => format!("{head}; 1 unmasked column looks personal.\n"),
            n => format!("{head}; {n} unmasked columns look personal.\n"),
        }
    }

    /// One line per skipped item, for stderr.
    pub fn warnings(&self) -> Vec<String> {
        self.skipped
            .iter()
            .map(|s| {
                let what = match &s.column {
                    Some(c) => format!("column {}.{}", s.table, c),
                    None => format!("table {}", s.table),
                };
                let level = if s.error { "error" } else { "warning" };
                format!("dms-refresh: {level}: {what} not examined: {}", s.reason)
            })
            .collect()
    }
}

/// The findings as an aligned text table.
fn table(findings: &[Finding]) -> String {
    let header = ["TABLE", "COLUMN", "TYPE", "KIND", "CONFIDENCE", "REASON"].map(String::from);
    let rows: Vec<[String; 6]> = findings
        .iter()
        .map(|f| {
            [
                f.table.clone(),
                f.column.clone(),
                f.data_type.clone(),
                f.kind.id().to_string(),
                format!("{:.2}", f.confidence),
                f.reason.clone(),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| line(row, &widths))
        .collect()
}

fn line(row: &[String; 6], widths: &[usize; 6]) -> String {
    let mut out = String::new();
    for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
        if i + 1 == row.len() {
            out.push_str(cell);
        } else {
            out.push_str(&format!("{cell:<w$}  "));
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::type_class;

    fn sample_report() -> Report {
        let col = Column {
            table: "customers".into(),
            name: "email".into(),
            data_type: "varchar".into(),
            class: type_class("varchar"),
            max_len: Some(255),
            nullable: false,
        };
        let d = Detection {
            kind: Kind::Email,
            confidence: 1.0,
            reason: "name suggests e-mail addresses".into(),
        };
        let mut r = Report::new("MySQL", "app");
        r.columns_checked = 3;
        r.findings.push(Finding::new(&col, d));
        r.fragment = "[tables.customers.columns]\n".into();
        r
    }

    #[test]
    fn exit_codes() {
        let mut r = Report::new("MySQL", "app");
        assert_eq!(r.exit_code(), EXIT_CLEAN);
        r.skipped.push(Skipped {
            table: "t".into(),
            column: None,
            reason: "bad name".into(),
            error: false,
        });
        assert_eq!(r.exit_code(), EXIT_CLEAN);
        let mut r = sample_report();
        assert_eq!(r.exit_code(), EXIT_FINDINGS);
        r.skipped.push(Skipped {
            table: "t".into(),
            column: Some("c".into()),
            reason: "read failed".into(),
            error: true,
        });
        assert_eq!(r.exit_code(), EXIT_ERROR);
        assert_eq!(
            r.warnings()[0],
            "dms-refresh: error: column t.c not examined: read failed"
        );
    }

    #[test]
    fn text_has_a_table_and_the_fragment() {
        let text = sample_report().to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "MySQL app: 3 columns checked, 0 masked by the rules; 1 unmasked column looks personal."
        );
        assert_eq!(
            lines[2],
            "TABLE      COLUMN  TYPE     KIND   CONFIDENCE  REASON"
        );
        assert_eq!(
            lines[3],
            "customers  email   varchar  email  1.00        name suggests e-mail addresses"
        );
        assert!(
            text.ends_with("Rules fragment:\n\n[tables.customers.columns]\n"),
            "{text}"
        );
    }

    #[test]
    fn json_shape() {
        let v: serde_json::Value = serde_json::from_str(&sample_report().to_json()).unwrap();
        assert_eq!(v["schema"], "app");
        let f = &v["findings"][0];
        assert_eq!(f["table"], "customers");
        assert_eq!(f["column"], "email");
        assert_eq!(f["data_type"], "varchar");
        assert_eq!(f["kind"], "email");
        assert_eq!(f["confidence"], 1.0);
        assert_eq!(f["suggested"], serde_json::json!({"strategy": "email"}));
        assert_eq!(v["fragment"], "[tables.customers.columns]\n");
    }
}
