//! What `validate` found, and its two renderings: text for a DBA, or one
//! JSON object (the masking crate's report plus where the key came from).

use masking::ValidationReport;
use masking::validate::{Issue, SampleCell, TableSample};
use serde::Serialize;

use crate::key::KeySource;
use crate::report::{EXIT_CLEAN, EXIT_FINDINGS};

/// Longest value shown in the text rendering (JSON has them whole).
const MAX_SHOWN: usize = 60;

/// The outcome of one `validate` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Where the masking key came from.
    pub key: KeySource,
    /// The masking crate's report.
    pub report: ValidationReport,
}

#[derive(Serialize)]
struct Document<'a> {
    key: &'a KeySource,
    #[serde(flatten)]
    report: &'a ValidationReport,
}

impl Outcome {
    /// 1 with problems, else 0 (warnings do not fail).
    pub fn exit_code(&self) -> u8 {
        if self.report.is_clean() {
            EXIT_CLEAN
        } else {
            EXIT_FINDINGS
        }
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        let doc = Document {
            key: &self.key,
            report: &self.report,
        };
        serde_json::to_string_pretty(&doc)
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot render the report: {e}\"}}"))
    }

    /// The text rendering.
    pub fn to_text(&self) -> String {
        let r = &self.report;
        let mut out = format!(
            "{} {}, rules {} (coverage {}): {} of {} tables pass the schema checks, {} masked columns.\n",
            r.engine,
            r.schema,
            r.rules_file,
            coverage_name(r),
            r.tables_planned,
            r.tables_in_rules,
            r.columns_masked
        );
        out.push_str(&match &self.key {
            KeySource::File { fingerprint } => {
                format!("Key: from --key-file, fingerprint {fingerprint}.\n")
            }
            KeySource::Random => "Key: random, generated for this run only: the masked values below are not the ones the run will write (give --key-file for those).\n".to_string(),
        });
        out.push('\n');
        if r.problems.is_empty() {
            out.push_str("No problem: a masking run with these rules would start writing.\n");
        } else {
            out.push_str(&format!(
                "{} (a masking run would stop before writing):\n",
                count(r.problems.len(), "problem", "problems")
            ));
            out.push_str(&issues(&r.problems));
        }
        if !r.warnings.is_empty() {
            out.push_str(&format!(
                "\n{}:\n",
                count(r.warnings.len(), "warning", "warnings")
            ));
            out.push_str(&issues(&r.warnings));
        }
        if !r.samples.is_empty() {
            let shown = if r.originals_revealed {
                "originals shown"
            } else {
                "originals hidden (--reveal-originals shows them)"
            };
            out.push_str(&format!("\nSamples, {shown}:\n"));
            for s in &r.samples {
                out.push('\n');
                out.push_str(&sample(s, r.originals_revealed));
            }
        }
        out
    }
}

fn coverage_name(r: &ValidationReport) -> String {
    serde_json::to_value(r.coverage_mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn issues(list: &[Issue]) -> String {
    list.iter()
        .map(|i| {
            let check = serde_json::to_value(i.check)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            format!("  {check:<14} {}\n", i.message)
        })
        .collect()
}

fn sample(s: &TableSample, revealed: bool) -> String {
    let order = if s.order_by.is_empty() {
        "no primary key, server order".to_string()
    } else {
        format!("ordered by {}", s.order_by.join(", "))
    };
    let filtered = if s.filtered_by_delete_where {
        ", rows delete_where keeps"
    } else {
        ""
    };
    let mut out = format!("{} ({order}{filtered}), {}\n", s.table, s.origin);
    if s.rows.is_empty() {
        out.push_str("  (no rows)\n");
        return out;
    }
    let mut header = vec!["ROW", "COLUMN", "STRATEGY"];
    if revealed {
        header.push("ORIGINAL");
    }
    header.extend(["MASKED", "CHANGED"]);
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for (i, row) in s.rows.iter().enumerate() {
        for (cell, col) in row.iter().zip(&s.columns) {
            let mut line = vec![
                (i + 1).to_string(),
                cell.column.clone(),
                col.strategy.to_string(),
            ];
            if revealed {
                line.push(shown(cell.original.clone().flatten().as_deref()));
            }
            line.push(masked(cell));
            line.push(if cell.changed { "yes" } else { "no" }.to_string());
            rows.push(line);
        }
    }
    out.push_str(&aligned(&rows, "  "));
    out
}

fn masked(cell: &SampleCell) -> String {
    if cell.withheld {
        "(hidden: same as the original)".to_string()
    } else {
        shown(cell.masked.as_deref())
    }
}

/// A value on one line, control characters blanked, long ones cut.
fn shown(v: Option<&str>) -> String {
    let Some(v) = v else {
        return "NULL".to_string();
    };
    let flat: String = v
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > MAX_SHOWN {
        let cut: String = flat.chars().take(MAX_SHOWN - 3).collect();
        format!("{cut}...")
    } else {
        flat
    }
}

/// Rows as columns aligned on their widest cell, the last one unpadded.
fn aligned(rows: &[Vec<String>], indent: &str) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    if i + 1 == r.len() {
                        c.clone()
                    } else {
                        format!("{c:<w$}")
                    }
                })
                .collect();
            format!("{indent}{}\n", cells.join("  "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use masking::rules::Coverage;
    use masking::validate::{Check, CoverageGaps, SampledColumn};

    fn cell(
        column: &str,
        original: Option<&str>,
        masked: Option<&str>,
        reveal: bool,
    ) -> SampleCell {
        let opts = masking::ValidateOptions {
            reveal_originals: reveal,
            ..masking::ValidateOptions::default()
        };
        masking::validate::sample::sample_cell(
            column,
            original.map(str::to_string),
            masked.map(str::to_string),
            &opts,
        )
    }

    fn outcome(reveal: bool) -> Outcome {
        Outcome {
            key: KeySource::Random,
            report: ValidationReport {
                engine: "MySQL",
                schema: "shop".into(),
                rules_file: "r.toml".into(),
                coverage_mode: Coverage::Strict,
                tables_in_rules: 2,
                tables_planned: 1,
                columns_masked: 2,
                problems: vec![Issue {
                    check: Check::Plan,
                    message: "r.toml:9 (tables.orders): table shop.orders does not exist".into(),
                }],
                warnings: Vec::new(),
                coverage_gaps: CoverageGaps::default(),
                samples: vec![TableSample {
                    table: "shop.customers".into(),
                    origin: "r.toml:4 (tables.customers)".into(),
                    order_by: vec!["id".into()],
                    filtered_by_delete_where: false,
                    columns: vec![
                        SampledColumn {
                            column: "email".into(),
                            strategy: "email",
                        },
                        SampledColumn {
                            column: "city".into(),
                            strategy: "fixed",
                        },
                    ],
                    rows: vec![vec![
                        cell(
                            "email",
                            Some("ann@corp.example"),
                            Some("c0ffee@example.invalid"),
                            reveal,
                        ),
                        cell("city", Some("Paris"), Some("Paris"), reveal),
                    ]],
                }],
                originals_revealed: reveal,
            },
        }
    }

    #[test]
    fn text_lists_problems_then_samples_without_originals() {
        let o = outcome(false);
        assert_eq!(o.exit_code(), EXIT_FINDINGS);
        let text = o.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "MySQL shop, rules r.toml (coverage strict): 1 of 2 tables pass the schema checks, 2 masked columns."
        );
        assert!(lines[1].starts_with("Key: random"), "{text}");
        assert_eq!(
            lines[3],
            "1 problem (a masking run would stop before writing):"
        );
        assert_eq!(
            lines[4],
            "  plan           r.toml:9 (tables.orders): table shop.orders does not exist"
        );
        assert!(text.contains("shop.customers (ordered by id), r.toml:4 (tables.customers)"));
        assert!(
            text.contains("  ROW  COLUMN  STRATEGY  MASKED                          CHANGED\n"),
            "{text}"
        );
        assert!(
            text.contains("  1    email   email     c0ffee@example.invalid          yes\n"),
            "{text}"
        );
        assert!(
            text.contains("  1    city    fixed     (hidden: same as the original)  no\n"),
            "{text}"
        );
        assert!(
            !text.contains("ann@corp.example") && !text.contains("Paris"),
            "{text}"
        );
    }

    #[test]
    fn text_shows_originals_when_revealed() {
        let text = outcome(true).to_text();
        assert!(text.contains("ORIGINAL"), "{text}");
        assert!(text.contains("ann@corp.example"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.contains(" city ") && l.matches("Paris").count() == 2),
            "{text}"
        );
    }

    #[test]
    fn json_has_the_key_source_and_the_report() {
        let v: serde_json::Value = serde_json::from_str(&outcome(false).to_json()).unwrap();
        assert_eq!(v["key"], serde_json::json!({"source": "random"}));
        assert_eq!(v["engine"], "MySQL");
        assert_eq!(v["coverage_mode"], "strict");
        assert_eq!(v["problems"][0]["check"], "plan");
        let cells = &v["samples"][0]["rows"][0];
        assert_eq!(
            cells[0],
            serde_json::json!({"column": "email", "masked": "c0ffee@example.invalid", "changed": true})
        );
        assert_eq!(
            cells[1],
            serde_json::json!({"column": "city", "masked": null, "changed": false, "withheld": true})
        );
    }

    #[test]
    fn clean_reports_exit_0_and_say_so() {
        let mut o = outcome(false);
        o.report.problems.clear();
        assert_eq!(o.exit_code(), EXIT_CLEAN);
        assert!(o.to_text().contains("No problem: a masking run"));
    }

    #[test]
    fn values_are_flattened_and_cut() {
        assert_eq!(shown(None), "NULL");
        assert_eq!(shown(Some("a\nb\tc")), "a b c");
        let long = "x".repeat(100);
        let s = shown(Some(&long));
        assert_eq!(s.chars().count(), MAX_SHOWN);
        assert!(s.ends_with("..."));
    }
}
