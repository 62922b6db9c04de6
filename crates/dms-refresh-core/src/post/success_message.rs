//! The success notification for people: the tasks, how long the run took,
//! the rows masked per table, the verification, and the next scheduled run.
//! The JSON details follow it in the message (see [`crate::notify`]).

use tracing::warn;

use super::PostPorts;
use crate::config::Config;
use crate::ports::{
    Continuer, Notifier, PostRefreshHooks, ReplicationTasks, RunContext, RunFigures, RunLedger,
    ScheduleRule,
};

/// The tables listed by name; more are counted, and are in the JSON.
const TABLES_LISTED: usize = 20;

/// What the success message tells.
#[derive(Debug)]
pub(super) struct Success<'a> {
    pub run: &'a RunContext,
    pub hooks_configured: bool,
    /// What the hooks reported; `None` when none ran.
    pub figures: Option<&'a RunFigures>,
    /// What happened to the schedule rule.
    pub rule: &'a str,
    pub next_run: &'a str,
    pub now_epoch: f64,
}

/// The text: a headline, then one line per fact.
pub(super) fn text(s: &Success<'_>) -> String {
    let hooks = if s.hooks_configured {
        " and the post-refresh hooks ran"
    } else {
        "; no post-refresh hooks are configured"
    };
    let mut lines = vec![
        format!("The refresh finished{hooks}. Rule {}.", s.rule),
        String::new(),
        tasks_line(s.run),
        duration_line(s.run, s.now_epoch),
    ];
    if let Some(figures) = s.figures {
        lines.extend(masking_lines(figures));
    }
    lines.push(format!("Next scheduled run: {}", s.next_run));
    lines.join("\n")
}

fn tasks_line(run: &RunContext) -> String {
    let tasks: Vec<String> = run
        .tasks
        .iter()
        .map(|t| match t.stop_reason.as_deref() {
            Some(reason) => format!(
                "{} ({})",
                t.identifier,
                reason.trim_start_matches("Stop Reason ")
            ),
            None => t.identifier.clone(),
        })
        .collect();
    format!("Tasks: {}", tasks.join(", "))
}

fn duration_line(run: &RunContext, now_epoch: f64) -> String {
    let latest = |dates: Vec<Option<f64>>| dates.into_iter().flatten().reduce(f64::max);
    let start = latest(run.tasks.iter().map(|t| t.start_date_epoch).collect());
    let stop = latest(run.tasks.iter().map(|t| t.stop_date_epoch).collect());
    match (start, stop) {
        (Some(start), Some(stop)) => format!(
            "Duration: {} from the DMS start; ready {} after DMS stopped",
            duration(now_epoch - start),
            duration(now_epoch - stop)
        ),
        (Some(start), None) => format!(
            "Duration: {} from the DMS start",
            duration(now_epoch - start)
        ),
        _ => "Duration: unknown (DMS reports no start date)".to_owned(),
    }
}

fn masking_lines(figures: &RunFigures) -> Vec<String> {
    let rows: u64 = figures.tables.iter().map(|t| t.rows_masked).sum();
    let mut lines = vec![format!(
        "Rows masked: {} in {} table(s)",
        grouped(rows),
        figures.tables.len()
    )];
    let width = figures
        .tables
        .iter()
        .take(TABLES_LISTED)
        .map(|t| t.table.len())
        .max()
        .unwrap_or(0);
    for t in figures.tables.iter().take(TABLES_LISTED) {
        lines.push(format!("  {:<width$}  {}", t.table, grouped(t.rows_masked)));
    }
    if figures.tables.len() > TABLES_LISTED {
        lines.push(format!(
            "  and {} more (see the JSON)",
            figures.tables.len() - TABLES_LISTED
        ));
    }
    lines.push(match figures.verification {
        Some(v) if v.passed => format!("Verification: passed ({} checks)", v.checks),
        Some(v) => format!("Verification: FAILED ({} checks)", v.checks),
        // The run completes only after its verification passed.
        None => "Verification: passed in an earlier invocation of the run".to_owned(),
    });
    if figures.published {
        lines.push("Published: the masked copy is live".to_owned());
    }
    lines
}

/// `3725.4` seconds as `1 h 02 min`, `250` as `4 min 10 s`.
fn duration(seconds: f64) -> String {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec} s"),
        (0, min, sec) => format!("{min} min {sec:02} s"),
        (h, min, _) => format!("{h} h {min:02} min"),
    }
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl<D, R, N, L, H, C> PostPorts<'_, D, R, N, L, H, C>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
    L: RunLedger,
    H: PostRefreshHooks,
    C: Continuer,
{
    /// When the schedule rule fires next, as far as it can be told: from its
    /// expression when the run gave the rule back, otherwise why not.
    pub(super) async fn next_run_line(&self, config: &Config, rule_note: &str) -> String {
        let Some(rule) = config.manages_rule() else {
            return "none (one-time mode: start the next refresh by hand)".to_owned();
        };
        if rule_note != "re-enabled" {
            return format!("as the schedule rule {rule} says (it was {rule_note})");
        }
        match self.rules.schedule_expression(rule).await {
            #[allow(clippy::cast_possible_truncation)]
            Ok(Some(expression)) => {
                crate::schedule::describe(&expression, super::now_epoch() as i64)
            }
            Ok(None) => format!("unknown (the rule {rule} has no schedule expression)"),
            Err(error) => {
                warn!(rule, %error, "the schedule rule could not be read for the next run");
                format!("unknown (the schedule rule {rule} could not be read)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::fakes::task;
    use crate::ports::{TableRows, VerificationFigures};
    use crate::task::TaskStatus;

    fn run() -> RunContext {
        let mut t = task("arn:aws:dms:eu-west-1:1:task:nightly", TaskStatus::Stopped);
        t.stop_reason = Some("Stop Reason FULL_LOAD_ONLY_FINISHED".into());
        RunContext {
            run_id: "nightly@1790000000".into(),
            tasks: vec![t],
            load_complete: true,
            deadline: Instant::now(),
            invocation: 1,
        }
    }

    #[test]
    fn the_success_text_tells_tasks_duration_rows_per_table_verification_and_next_run() {
        let run = run();
        let figures = RunFigures {
            tables: vec![
                TableRows {
                    table: "app.customers".into(),
                    rows_masked: 1_234_567,
                },
                TableRows {
                    table: "app.orders".into(),
                    rows_masked: 50,
                },
            ],
            verification: Some(VerificationFigures {
                passed: true,
                checks: 7,
            }),
            published: true,
        };
        // The fakes' task started at 1_790_000_000 and stopped an hour later.
        let text = text(&Success {
            run: &run,
            hooks_configured: true,
            figures: Some(&figures),
            rule: "re-enabled",
            next_run: "2026-11-22 00:00 UTC (cron(0 0 * * ? *))",
            now_epoch: 1_790_003_850.0,
        });
        assert_eq!(
            text,
            "The refresh finished and the post-refresh hooks ran. Rule re-enabled.\n\
             \n\
             Tasks: nightly (FULL_LOAD_ONLY_FINISHED)\n\
             Duration: 1 h 04 min from the DMS start; ready 4 min 10 s after DMS stopped\n\
             Rows masked: 1,234,617 in 2 table(s)\n  \
             app.customers  1,234,567\n  \
             app.orders     50\n\
             Verification: passed (7 checks)\n\
             Published: the masked copy is live\n\
             Next scheduled run: 2026-11-22 00:00 UTC (cron(0 0 * * ? *))"
        );
    }

    #[test]
    fn without_hooks_the_text_has_no_masking_lines() {
        let run = run();
        let text = text(&Success {
            run: &run,
            hooks_configured: false,
            figures: None,
            rule: "re-enabled",
            next_run: "x",
            now_epoch: 1_790_003_600.0,
        });
        assert!(
            text.contains("no post-refresh hooks are configured"),
            "{text}"
        );
        assert!(!text.contains("Rows masked"), "{text}");
        assert!(text.contains("ready 0 s after DMS stopped"), "{text}");
    }

    #[test]
    fn long_table_lists_are_cut_short() {
        let figures = RunFigures {
            tables: (0..25)
                .map(|i| TableRows {
                    table: format!("app.t{i}"),
                    rows_masked: 1,
                })
                .collect(),
            verification: None,
            published: false,
        };
        let lines = masking_lines(&figures);
        assert_eq!(lines.len(), 1 + TABLES_LISTED + 1 + 1, "{lines:#?}");
        assert!(lines.iter().any(|l| l.contains("and 5 more")), "{lines:#?}");
    }

    #[test]
    fn durations_and_numbers_read_easily() {
        assert_eq!(duration(12.4), "12 s");
        assert_eq!(duration(250.0), "4 min 10 s");
        assert_eq!(duration(3725.4), "1 h 02 min");
        assert_eq!(duration(-5.0), "0 s");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
