//! The cutover's checks and steps in order, each recorded in the report.

use serde_json::{Value, json};
use tracing::info;

use super::checks::{consistent_stop, latency_zero, validation_clean};
use super::ports::{CutoverTarget, DataValidation, SourceSequences, TaskMetrics};
use super::report::{CutoverReport, StepName, StepState};
use super::{CutoverError, CutoverPorts};
use crate::ports::{HookError, Notifier, ReplicationTasks, RunContext, RunLedger, ScheduleRule};
use crate::post::now_epoch;
use crate::task::TaskInfo;

/// A failed step on the target: which, and why.
pub(super) type StepFailure = (StepName, HookError);

impl<D, R, N, L, T, M, S> CutoverPorts<'_, D, R, N, L, T, M, S>
where
    D: ReplicationTasks + DataValidation,
    R: ScheduleRule,
    N: Notifier,
    L: RunLedger,
    T: CutoverTarget,
    M: TaskMetrics,
    S: SourceSequences,
{
    /// The checks, in order; the first that fails refuses the request.
    pub(super) async fn check(
        &self,
        report: &mut CutoverReport,
        tasks: &[TaskInfo],
        intended: Option<&str>,
    ) -> Result<(), CutoverError> {
        let stop = consistent_stop(tasks, intended)
            .map_err(|why| report.refuse(StepName::ConsistentStop, why))?;
        report.commit_time = stop["commit_time"].as_str().map(str::to_owned);
        report.push(StepName::ConsistentStop, StepState::Passed, stop);

        let latency = latency_zero(self.metrics, tasks, now_epoch())
            .await?
            .map_err(|why| report.refuse(StepName::CdcLatency, why))?;
        report.push(StepName::CdcLatency, StepState::Passed, latency);

        match validation_clean(self.dms, tasks).await? {
            None => report.push(
                StepName::Validation,
                StepState::Skipped,
                json!({ "reason": "data validation is off on every task of the group" }),
            ),
            Some(Err(why)) => return Err(report.refuse(StepName::Validation, why)),
            Some(Ok(details)) => report.push(StepName::Validation, StepState::Passed, details),
        }
        Ok(())
    }

    /// The steps on the target; a dry run reads and says what they would do.
    pub(super) async fn steps(
        &self,
        report: &mut CutoverReport,
        group: &RunContext,
        dry_run: bool,
    ) -> Result<Option<StepFailure>, CutoverError> {
        let from_source = match self.source {
            Some(source) => Some(source.sequences(&group.tasks).await?),
            None => None,
        };
        if dry_run {
            self.plan(report, group, from_source.as_deref()).await;
            return Ok(None);
        }
        let outcomes = [
            StepName::Sequences,
            StepName::Triggers,
            StepName::ForeignKeys,
        ];
        for step in outcomes {
            let done = match step {
                StepName::Sequences => {
                    self.target
                        .set_sequences(group, from_source.as_deref())
                        .await
                }
                StepName::Triggers => self.target.enable_recorded_triggers(group).await,
                _ => self.target.validate_foreign_keys(group).await,
            };
            match done {
                Ok(details) => {
                    info!(step = ?step, "cutover step done");
                    report.push(step, StepState::Done, details);
                }
                Err(error) => {
                    report.fail(step, &error);
                    return Ok(Some((step, error)));
                }
            }
        }
        Ok(None)
    }

    /// A dry run's view of the steps: nothing on the target changes.
    async fn plan(
        &self,
        report: &mut CutoverReport,
        group: &RunContext,
        from_source: Option<&[super::SequenceValue]>,
    ) {
        let sequences = match from_source {
            Some(values) => json!({ "from": "the source", "values": values }),
            None => json!({
                "from": "max+1 of each table",
                "reason": "no source secret is configured (SOURCE_DB_SECRET_ARN)",
            }),
        };
        report.push(StepName::Sequences, StepState::WouldRun, sequences);
        let triggers = self
            .target
            .recorded_triggers(group)
            .await
            .unwrap_or_else(|e| Value::String(format!("could not read the record: {e}")));
        report.push(StepName::Triggers, StepState::WouldRun, triggers);
        report.push(
            StepName::ForeignKeys,
            StepState::WouldRun,
            json!({ "validate": "every foreign key of the target" }),
        );
    }
}
