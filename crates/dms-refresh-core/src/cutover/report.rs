//! The cutover's answer: one entry per step, in order, and how it ended.

use serde::Serialize;
use serde_json::{Value, json};

use super::CutoverError;
use crate::notify::Alert;
use crate::ports::HookError;

/// The steps, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepName {
    ConsistentStop,
    CdcLatency,
    Validation,
    Sequences,
    Triggers,
    ForeignKeys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    /// A check that passed.
    Passed,
    /// A step that changed the target.
    Done,
    /// Dry run: what the step would do.
    WouldRun,
    /// Does not apply (validation off on every task).
    Skipped,
    /// A check that failed: nothing after it ran.
    Refused,
    /// A step that failed on the target: nothing after it ran.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub step: StepName,
    pub state: StepState,
    pub details: Value,
}

/// The answer of a cutover request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CutoverReport {
    /// The post-processor invocation's request id.
    pub request_id: String,
    pub dry_run: bool,
    /// `done`, `dry-run`, `refused` or `failed`.
    pub outcome: &'static str,
    /// The commit time the group stopped at, once checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_time: Option<String>,
    pub steps: Vec<Step>,
    /// How keeping the request in the ledger went (not for a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<String>,
    /// Whether the notification was published.
    pub notified: bool,
}

impl CutoverReport {
    pub(super) fn new(request_id: &str, dry_run: bool) -> Self {
        Self {
            request_id: request_id.to_owned(),
            dry_run,
            outcome: if dry_run { "dry-run" } else { "done" },
            commit_time: None,
            steps: Vec::new(),
            ledger: None,
            notified: false,
        }
    }

    pub(super) fn push(&mut self, step: StepName, state: StepState, details: Value) {
        self.steps.push(Step {
            step,
            state,
            details,
        });
    }

    /// A failed check: the refusal, with every step so far.
    pub(super) fn refuse(&mut self, step: StepName, reason: String) -> CutoverError {
        self.outcome = "refused";
        self.push(step, StepState::Refused, json!({ "reason": reason }));
        CutoverError::Refused {
            reason,
            report: Box::new(self.clone()),
        }
    }

    /// A failed step on the target.
    pub(super) fn fail(&mut self, step: StepName, error: &HookError) {
        self.outcome = "failed";
        let details = json!({ "error": error.message, "permanent": error.permanent });
        self.push(step, StepState::Failed, details);
    }

    pub(crate) fn steps_json(&self) -> String {
        serde_json::to_string(&self.steps).unwrap_or_default()
    }

    pub(super) fn as_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|e| Value::String(e.to_string()))
    }

    /// The notification of a cutover that changed the target.
    pub(super) fn alert(&self) -> Alert {
        let at = self
            .commit_time
            .as_deref()
            .unwrap_or("an unknown commit time");
        let (subject, summary) = match self.steps.iter().find(|s| s.state == StepState::Failed) {
            None => (
                format!("dms-refresh: cutover done at {at}"),
                format!(
                    "The group stopped consistently at {at}, no change was waiting and every \
                     step ran (sequences, triggers, foreign keys: see the details for what each \
                     did, e.g. sequences missing on the target or a no-op on MySQL). Request {}.",
                    self.request_id
                ),
            ),
            Some(failed) => (
                format!("dms-refresh: cutover FAILED at {:?}", failed.step),
                format!(
                    "The cutover stopped at step {:?}: {}. The steps before it are done; fix the \
                     cause and send the cutover again (every step can be repeated). Request {}.",
                    failed.step, failed.details["error"], self.request_id
                ),
            ),
        };
        Alert {
            subject,
            summary,
            details: self.as_json(),
        }
    }
}
