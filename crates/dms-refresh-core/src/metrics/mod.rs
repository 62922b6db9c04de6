//! What the functions tell CloudWatch about each run, as metrics.
//!
//! The metrics travel as CloudWatch embedded metric format (EMF) lines on
//! stdout: Lambda ships stdout to CloudWatch Logs, which extracts the
//! metrics, so no CloudWatch API call (and no IAM permission) is needed.
//! [`emf`] writes the lines; [`run`] decides which figures of a run, a
//! failure or a reconciler sweep become which metric.

pub mod emf;
pub mod run;

use std::fmt;

/// The metric names, in one place: the dashboard in `template.yaml` graphs
/// them (an integration test checks that every metric it graphs is emitted).
pub mod names {
    /// 1 when a run ended with its copy masked and verified, else 0.
    pub const RUN_SUCCEEDED: &str = "RunSucceeded";
    /// 1 when a run ended otherwise (a failed load, hooks that failed, ...).
    pub const RUN_FAILED: &str = "RunFailed";
    /// Seconds from the DMS start of the run to its end.
    pub const RUN_DURATION: &str = "RunDuration";
    /// Rows the masking updated or wrote masked, over all tables.
    pub const ROWS_MASKED: &str = "RowsMasked";
    /// Tables the masking step handled.
    pub const TABLES_MASKED: &str = "TablesMasked";
    /// 1 when verification passed, 0 when it failed the run.
    pub const VERIFICATION_PASSED: &str = "VerificationPassed";
    /// Seconds from the DMS stop to the masked copy being ready for developers.
    pub const STOP_TO_PUBLISHED: &str = "StopToPublished";
    /// Seconds the schedule rule's lock has been held (0 when free).
    pub const LOCK_AGE: &str = "LockAge";

    /// Every metric the functions emit.
    pub const ALL: [&str; 8] = [
        RUN_SUCCEEDED,
        RUN_FAILED,
        RUN_DURATION,
        ROWS_MASKED,
        TABLES_MASKED,
        VERIFICATION_PASSED,
        STOP_TO_PUBLISHED,
        LOCK_AGE,
    ];
}

/// A metric's value, with its CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    Count(u64),
    Seconds(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub measure: Measure,
}

/// One moment worth recording: its metrics, and plain properties that go
/// into the same log line (searchable in CloudWatch Logs Insights) without
/// becoming metrics. Neither ever carries a secret or row data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricEvent {
    pub metrics: Vec<Metric>,
    pub properties: Vec<(&'static str, String)>,
}

impl MetricEvent {
    pub fn metric(&self, name: &str) -> Option<Measure> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.measure)
    }
}

/// Where metric events go. Emitting never fails the caller: a metric that
/// could not be written is logged and dropped.
pub trait MetricsSink: Sync + fmt::Debug {
    fn emit(&self, event: &MetricEvent);
}

/// A sink that drops every event, for callers that record no metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl MetricsSink for Discard {
    fn emit(&self, _event: &MetricEvent) {}
}
