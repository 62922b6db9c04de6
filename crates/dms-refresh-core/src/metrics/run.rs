//! Which figures become which metric: a run that ended, a run that failed,
//! and the schedule rule's lock as a reconciler sweep found it.

use super::{Measure, Metric, MetricEvent, names};
use crate::ports::{HookError, RuleLock, RunContext, RunFigures};

/// The plain properties of the events (members of the log line that are
/// not metrics), for CloudWatch Logs Insights.
pub mod properties {
    pub const RUN_ID: &str = "run_id";
    /// `succeeded`, `load-failed`, `not-finished`, or the kind of failure
    /// (`failed`, `rule`, ...).
    pub const OUTCOME: &str = "outcome";
    pub const LOCK_OWNER: &str = "lock_owner";
}

/// A run the ledger recorded as ended.
#[derive(Debug, Clone, Copy)]
pub struct RunEnd<'a> {
    pub run: &'a RunContext,
    pub outcome: &'a str,
    pub succeeded: bool,
    /// What the hooks reported; `None` when no hooks ran.
    pub figures: Option<&'a RunFigures>,
    pub rows_masked: Option<u64>,
    pub now_epoch: f64,
}

fn count(name: &'static str, n: u64) -> Metric {
    Metric {
        name,
        measure: Measure::Count(n),
    }
}

/// A duration; a clock that went backwards counts as none.
fn seconds(name: &'static str, s: f64) -> Metric {
    Metric {
        name,
        measure: Measure::Seconds(s.max(0.0)),
    }
}

fn outcome(succeeded: bool) -> [Metric; 2] {
    [
        count(names::RUN_SUCCEEDED, u64::from(succeeded)),
        count(names::RUN_FAILED, u64::from(!succeeded)),
    ]
}

fn latest(dates: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    dates.flatten().reduce(f64::max)
}

fn usize_count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn run_properties(run: &RunContext, outcome: &str) -> Vec<(&'static str, String)> {
    vec![
        (properties::RUN_ID, run.run_id.clone()),
        (properties::OUTCOME, outcome.to_owned()),
    ]
}

/// The outcome, the duration from the DMS start, what the hooks did, and,
/// for a good run, the time from the DMS stop to the copy being ready.
pub fn run_ended(end: &RunEnd<'_>) -> MetricEvent {
    let mut metrics = outcome(end.succeeded).to_vec();
    if let Some(start) = latest(end.run.tasks.iter().map(|t| t.start_date_epoch)) {
        metrics.push(seconds(names::RUN_DURATION, end.now_epoch - start));
    }
    if let Some(figures) = end.figures {
        let rows = end
            .rows_masked
            .unwrap_or_else(|| figures.tables.iter().map(|t| t.rows_masked).sum());
        metrics.push(count(names::ROWS_MASKED, rows));
        metrics.push(count(
            names::TABLES_MASKED,
            usize_count(figures.tables.len()),
        ));
        if let Some(verification) = figures.verification {
            metrics.push(count(
                names::VERIFICATION_PASSED,
                u64::from(verification.passed),
            ));
        }
    }
    if end.succeeded
        && let Some(stop) = latest(end.run.tasks.iter().map(|t| t.stop_date_epoch))
    {
        metrics.push(seconds(names::STOP_TO_PUBLISHED, end.now_epoch - stop));
    }
    MetricEvent {
        metrics,
        properties: run_properties(end.run, end.outcome),
    }
}

/// A run that failed (`outcome` names how); a failed verification also
/// reports the verification as not passed.
pub fn run_failed(run: &RunContext, outcome_kind: &str, error: &HookError) -> MetricEvent {
    let mut metrics = outcome(false).to_vec();
    if error.verification_failed {
        metrics.push(count(names::VERIFICATION_PASSED, 0));
    }
    MetricEvent {
        metrics,
        properties: run_properties(run, outcome_kind),
    }
}

/// How long the schedule rule's lock has been held: 0 when it is free, so
/// the graph falls back after every run.
pub fn lock_age(lock: Option<&RuleLock>, now_epoch: f64) -> MetricEvent {
    #[allow(clippy::cast_precision_loss)]
    let age = lock.map_or(0.0, |held| now_epoch - held.since_epoch as f64);
    MetricEvent {
        metrics: vec![seconds(names::LOCK_AGE, age)],
        properties: lock
            .map(|held| vec![(properties::LOCK_OWNER, held.owner.clone())])
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::fakes::task;
    use crate::ports::{TableRows, VerificationFigures};
    use crate::task::TaskStatus;

    /// The fakes' task started at 1_790_000_000 and stopped an hour later.
    fn run() -> RunContext {
        RunContext {
            run_id: "demo@1790000000".into(),
            tasks: vec![task(
                "arn:aws:dms:eu-west-1:1:task:demo",
                TaskStatus::Stopped,
            )],
            load_complete: true,
            deadline: Instant::now(),
            invocation: 1,
        }
    }

    fn figures() -> RunFigures {
        RunFigures {
            tables: vec![
                TableRows {
                    table: "app.customers".into(),
                    rows_masked: 200,
                },
                TableRows {
                    table: "app.orders".into(),
                    rows_masked: 50,
                },
            ],
            verification: Some(VerificationFigures {
                passed: true,
                checks: 5,
            }),
            published: true,
        }
    }

    #[test]
    fn a_good_run_reports_every_run_metric() {
        let run = run();
        let figures = figures();
        let event = run_ended(&RunEnd {
            run: &run,
            outcome: "succeeded",
            succeeded: true,
            figures: Some(&figures),
            rows_masked: None,
            now_epoch: 1_790_003_900.0,
        });
        let expect = [
            (names::RUN_SUCCEEDED, Measure::Count(1)),
            (names::RUN_FAILED, Measure::Count(0)),
            (names::RUN_DURATION, Measure::Seconds(3_900.0)),
            (names::ROWS_MASKED, Measure::Count(250)),
            (names::TABLES_MASKED, Measure::Count(2)),
            (names::VERIFICATION_PASSED, Measure::Count(1)),
            (names::STOP_TO_PUBLISHED, Measure::Seconds(300.0)),
        ];
        for (name, measure) in expect {
            assert_eq!(event.metric(name), Some(measure), "{name}: {event:?}");
        }
        assert_eq!(event.metrics.len(), expect.len());
        assert!(
            event
                .properties
                .contains(&("run_id", "demo@1790000000".into()))
        );
        assert!(event.properties.contains(&("outcome", "succeeded".into())));
    }

    #[test]
    fn a_failed_load_without_hooks_reports_no_masking_and_no_publish_time() {
        let run = run();
        let event = run_ended(&RunEnd {
            run: &run,
            outcome: "load-failed",
            succeeded: false,
            figures: None,
            rows_masked: None,
            now_epoch: 1_790_003_900.0,
        });
        assert_eq!(event.metric(names::RUN_FAILED), Some(Measure::Count(1)));
        assert_eq!(event.metric(names::RUN_SUCCEEDED), Some(Measure::Count(0)));
        assert!(event.metric(names::ROWS_MASKED).is_none());
        assert!(event.metric(names::STOP_TO_PUBLISHED).is_none());
    }

    #[test]
    fn a_failed_verification_reports_the_verification_as_not_passed() {
        let error = |verification_failed| HookError {
            permanent: true,
            message: "x".into(),
            verification_failed,
        };
        let failed = run_failed(&run(), "failed", &error(true));
        assert_eq!(failed.metric(names::RUN_FAILED), Some(Measure::Count(1)));
        assert_eq!(
            failed.metric(names::VERIFICATION_PASSED),
            Some(Measure::Count(0))
        );
        let other = run_failed(&run(), "failed", &error(false));
        assert!(other.metric(names::VERIFICATION_PASSED).is_none());
    }

    #[test]
    fn the_lock_age_is_zero_when_the_rule_is_free() {
        assert_eq!(
            lock_age(None, 1_790_000_000.0).metric(names::LOCK_AGE),
            Some(Measure::Seconds(0.0))
        );
        let held = RuleLock::taken("schedule:e1", 1_790_000_000, true);
        let event = lock_age(Some(&held), 1_790_007_200.0);
        assert_eq!(
            event.metric(names::LOCK_AGE),
            Some(Measure::Seconds(7_200.0))
        );
        assert_eq!(event.properties, vec![("lock_owner", "schedule:e1".into())]);
    }
}
