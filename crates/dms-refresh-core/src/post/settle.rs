//! Carrying a settled group's run through, one decision per step: how did
//! it end, which run is it, is it ours to handle, do the hooks run, what
//! happens to the rule, and what is recorded and announced.

use std::time::Instant;

use serde_json::{Value, json};
use tracing::{error, info, warn};

use super::{InvocationInfo, PostError, PostPorts, RecordAction, intended_stop, judge};
use crate::config::{Config, RefreshIndicator};
use crate::events::Continuation;
use crate::metrics::run::{self as run_metrics, RunEnd};
use crate::notify::Alert;
use crate::ports::{
    Begin, Continuer, HookError, HookReport, LedgerOutcome, LockUpdate, Notifier, PortError,
    PostRefreshHooks, ReplicationTasks, RuleLock, RuleState, RunContext, RunFigures, RunLedger,
    ScheduleRule,
};
use crate::runs::{GROUP_START_WINDOW_SECS, GroupRun, group_run, group_states, run_id};
use crate::starter::started_under_lock;
use crate::task::TaskInfo;

/// How the group's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Every task finished its load (or CDC reached its stop position).
    Finished,
    /// A task failed, was interrupted or was left out of the run.
    LoadFailed(Vec<(String, String)>),
    /// CDC stopped short of its stop position, or inconsistently.
    NotFinished(Vec<(String, String)>),
}

impl Ending {
    /// In data-refresh mode a task that stopped short (one whose own
    /// migration type replicates changes) loaded part of production: that is
    /// a failed load, masked or published like one, never only reported.
    fn from_group(group: GroupRun, indicator: RefreshIndicator) -> Result<Self, Vec<String>> {
        match group {
            GroupRun::Waiting(tasks) => Err(tasks),
            GroupRun::Finished => Ok(Self::Finished),
            GroupRun::Failed(f) => Ok(Self::LoadFailed(f)),
            GroupRun::NotFinished(n) if indicator == RefreshIndicator::DataRefresh => {
                Ok(Self::LoadFailed(n))
            }
            GroupRun::NotFinished(n) => Ok(Self::NotFinished(n)),
        }
    }

    fn tasks_text(list: &[(String, String)]) -> String {
        list.iter()
            .map(|(task, reason)| format!("{task}: {reason}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The run context the hooks and the ledger see.
pub(crate) fn context_for(
    tasks: Vec<TaskInfo>,
    load_complete: bool,
    info: &InvocationInfo,
    continuation: Option<&Continuation>,
) -> RunContext {
    RunContext {
        run_id: run_id(&tasks),
        tasks,
        load_complete: continuation
            .and_then(|c| c.load_complete)
            .unwrap_or(load_complete),
        deadline: info.hooks_deadline,
        invocation: continuation.map_or(1, |c| c.invocation),
    }
}

/// The task of the run that stopped after the run with its identity was
/// recorded done: DMS restarted it without moving any start date, so this
/// stop cannot be told from the run already handled. Tasks left out of the
/// run (started apart from the group) do not count.
fn stopped_after(run: &RunContext, finished_at_ms: Option<u64>) -> Option<&TaskInfo> {
    #[allow(clippy::cast_precision_loss)]
    let finished = finished_at_ms? as f64 / 1000.0;
    let latest = run
        .tasks
        .iter()
        .filter_map(|t| t.start_date_epoch)
        .fold(f64::NEG_INFINITY, f64::max);
    run.tasks
        .iter()
        .filter(|t| {
            t.start_date_epoch
                .is_some_and(|s| s >= latest - GROUP_START_WINDOW_SECS)
        })
        .find(|t| t.stop_date_epoch.is_some_and(|stop| stop > finished + 1.0))
}

/// The latest start of the run's tasks, epoch seconds.
fn run_start(run: &RunContext) -> Option<f64> {
    run.tasks
        .iter()
        .filter_map(|t| t.start_date_epoch)
        .reduce(f64::max)
}

/// What the hooks step left to do.
enum Hooks {
    Ran {
        rows_affected: Option<u64>,
        details: Value,
        /// `None` when no hooks ran.
        figures: Option<RunFigures>,
    },
    HandedOver(RecordAction),
}

/// What a settled run leaves for the ledger and the announcement.
struct Settled {
    /// What happened to the schedule rule.
    rule: String,
    rows_affected: Option<u64>,
    figures: Option<RunFigures>,
    /// The JSON details of the announcement.
    body: Value,
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
    /// Evaluate the group and, when its run is over, carry it through.
    pub(super) async fn settle_group<'h>(
        &self,
        config: &Config,
        tasks: Vec<TaskInfo>,
        hint: impl Fn(&TaskInfo) -> Option<&'h str>,
        continuation: Option<&Continuation>,
        info: &InvocationInfo,
    ) -> Result<RecordAction, PostError> {
        let stop_at = intended_stop(config, self.rules).await?;
        let states = group_states(&judge(config, stop_at.as_deref()), &tasks, hint);
        let ending = match Ending::from_group(group_run(&states), config.indicator) {
            Ok(ending) => ending,
            Err(waiting) => {
                info!(waiting = ?waiting, "tasks of the group are still running; waiting for their events");
                return Ok(RecordAction::Waiting { tasks: waiting });
            }
        };
        if tasks.iter().all(|t| t.start_date_epoch.is_none()) {
            return Err(self.unidentifiable(config, &tasks).await);
        }
        let run = context_for(tasks, ending == Ending::Finished, info, continuation);
        if let Some(action) = self.claim(config, &run, info).await? {
            return Ok(action);
        }
        let started = Instant::now();
        let (rows_affected, details, figures) =
            match self.hooks_step(config, &run, &ending, info).await? {
                Hooks::HandedOver(action) => return Ok(action),
                Hooks::Ran {
                    rows_affected,
                    details,
                    figures,
                } => (rows_affected, details, figures),
            };
        let rule = self.give_back_rule(config, &run, &ending, info).await?;
        let body = json!({
            "run_id": run.run_id,
            "tasks": run.tasks.iter().map(|t| json!({
                "task": t.arn, "status": t.status.as_str(), "stop_reason": t.stop_reason,
            })).collect::<Vec<_>>(),
            "hooks_seconds": started.elapsed().as_secs_f64(),
            "invocations": run.invocation,
            "rows_affected": rows_affected,
            "hooks": details,
            "rule": rule,
        });
        let settled = Settled {
            rule,
            rows_affected,
            figures,
            body,
        };
        self.record_and_announce(config, &run, &ending, settled, info)
            .await
    }

    /// No task of the group has a start date: the run has no identity, and
    /// the ledger could not tell it from the next one. Nothing is masked.
    async fn unidentifiable(&self, config: &Config, tasks: &[TaskInfo]) -> PostError {
        let alert = Alert {
            subject: "dms-refresh: cannot identify the run of the refresh group".into(),
            summary: "DMS reports no start date for any task of the group; nothing was masked. \
                      The schedule rule stays disabled."
                .into(),
            details: json!({ "tasks": tasks.iter().map(|t| (&t.arn, t.status.as_str())).collect::<Vec<_>>() }),
        };
        self.alert_outside_ledger(config, "unidentifiable", &alert)
            .await;
        PostError::Hooks {
            run_id: "unknown".into(),
            error: HookError {
                permanent: true,
                verification_failed: false,
                message: "DMS reports no start date for any task of the group".into(),
            },
        }
    }

    /// Claim the run in the ledger. `Some(action)` when it is not ours to
    /// handle (a duplicate, or another invocation holds it).
    async fn claim(
        &self,
        config: &Config,
        run: &RunContext,
        info: &InvocationInfo,
    ) -> Result<Option<RecordAction>, PostError> {
        match self.ledger.begin(run, &info.owner, info.lease_until).await {
            Ok(Begin::AlreadyDone { finished_at_ms }) => {
                if let Some(task) = stopped_after(run, finished_at_ms) {
                    return Err(self.same_identity(config, run, info, task).await);
                }
                info!(run_id = %run.run_id, "run already handled; duplicate delivery ignored");
                // What an earlier delivery could not send goes out now.
                self.deliver(config, run, info).await?;
                Ok(Some(RecordAction::Duplicate {
                    run_id: run.run_id.clone(),
                }))
            }
            Ok(Begin::HeldByOther { owner }) => {
                info!(run_id = %run.run_id, %owner, "another invocation is handling this run");
                Ok(Some(RecordAction::InProgressElsewhere {
                    run_id: run.run_id.clone(),
                    owner,
                }))
            }
            Ok(begin) => {
                info!(run_id = %run.run_id, ?begin, load_complete = run.load_complete, "run claimed");
                Ok(None)
            }
            Err(error) => {
                // The ledger is out of reach or refused (the guard, the
                // secret, the connection): no outbox to keep the alert in.
                let alert = failure_alert(
                    run,
                    &error,
                    "checking and reaching the target database",
                    self.hooks.failure_keeps_live(),
                );
                let key = super::outcome_key("unreachable", &error.message);
                self.alert_outside_ledger(config, &key, &alert).await;
                Err(PostError::Ledger {
                    run_id: run.run_id.clone(),
                    error,
                })
            }
        }
    }

    /// DMS restarted a task without moving any start date (the run identity
    /// is the latest of `StartDate`, `FreshStartDate` and
    /// `ReplicationTaskStartDate`), and it stopped after the run with that
    /// identity was recorded done. Fail closed: alert, mask nothing.
    async fn same_identity(
        &self,
        config: &Config,
        run: &RunContext,
        info: &InvocationInfo,
        task: &TaskInfo,
    ) -> PostError {
        let error = HookError {
            permanent: true,
            verification_failed: false,
            message: format!(
                "task {} stopped again after run {} was handled, but DMS reports the same start \
                 dates: this stop cannot be told from the handled run; nothing was masked. Start \
                 the refresh again (an operator request) to get a run with a new identity",
                task.identifier, run.run_id
            ),
        };
        let stop_ms = task.stop_date_epoch.map_or(0, |s| (s * 1000.0) as u64);
        let key = format!("same-identity:{stop_ms}");
        let alert = failure_alert(
            run,
            &error,
            "identifying the run",
            self.hooks.failure_keeps_live(),
        );
        if let Err(e) = self.announce(config, run, info, &key, &alert).await {
            warn!(run_id = %run.run_id, error = %e, "the alert stays in the outbox");
        }
        PostError::Hooks {
            run_id: run.run_id.clone(),
            error,
        }
    }

    /// Masking and the other hooks. A failed load of production data is
    /// masked too in data-refresh mode (the adapter decides what that means
    /// for its publish model); data-migration mode runs cutover hooks only
    /// after a finished load; a CDC run that did not finish runs nothing.
    async fn hooks_step(
        &self,
        config: &Config,
        run: &RunContext,
        ending: &Ending,
        info: &InvocationInfo,
    ) -> Result<Hooks, PostError> {
        let runs_hooks = match ending {
            Ending::Finished => true,
            Ending::LoadFailed(_) => config.indicator == RefreshIndicator::DataRefresh,
            Ending::NotFinished(_) => false,
        };
        if !runs_hooks || !self.hooks.is_configured() {
            return Ok(Hooks::Ran {
                rows_affected: None,
                details: Value::Null,
                figures: None,
            });
        }
        match self.hooks.run(run).await {
            Ok(HookReport::Complete {
                rows_affected,
                details,
                figures,
            }) => Ok(Hooks::Ran {
                rows_affected,
                details,
                figures: Some(figures),
            }),
            Ok(HookReport::Incomplete { details }) => self
                .hand_over(config, run, info, &details)
                .await
                .map(Hooks::HandedOver),
            Err(error) => {
                error!(run_id = %run.run_id, permanent = error.permanent, error = %error, "post-refresh hooks failed; the rule stays disabled");
                self.fail_run(config, run, info, &error, "running the hooks")
                    .await;
                Err(PostError::Hooks {
                    run_id: run.run_id.clone(),
                    error,
                })
            }
        }
    }

    /// Record a failed run and announce it once per distinct error; the
    /// schedule rule is left disabled. A permanent failure also marks the
    /// rule's lock as handled, so the reconciler does not retry it.
    pub(super) async fn fail_run(
        &self,
        config: &Config,
        run: &RunContext,
        info: &InvocationInfo,
        error: &HookError,
        doing: &str,
    ) {
        let key = super::outcome_key("failed", &error.message);
        let alert = failure_alert(run, error, doing, self.hooks.failure_keeps_live());
        self.record_failure(config, run, info, error, &key, &alert)
            .await;
    }

    /// Keep the alert first (nothing after it can lose it), then record the
    /// failure, mark a permanent one handled on the lock, and deliver.
    async fn record_failure(
        &self,
        config: &Config,
        run: &RunContext,
        info: &InvocationInfo,
        error: &HookError,
        key: &str,
        alert: &Alert,
    ) {
        let message = super::announce::outgoing(run, key, alert);
        let fresh = self.ledger.enqueue(run, &message).await.unwrap_or_else(|e| {
            warn!(run_id = %run.run_id, error = %e, "could not keep the failure alert in the outbox");
            true
        });
        if fresh {
            // Once per distinct failure of the run, like its alert.
            let kind = key.split(':').next().unwrap_or(key);
            self.metrics
                .emit(&run_metrics::run_failed(run, kind, error));
        }
        let outcome = LedgerOutcome::Failed {
            error: error.message.clone(),
            permanent: error.permanent,
        };
        if let Err(e) = self.ledger.finish(run, &info.owner, &outcome).await {
            warn!(run_id = %run.run_id, error = %e, "could not record the failure in the ledger");
        }
        if error.permanent
            && let Err(e) = self.mark_handled(config, run).await
        {
            warn!(run_id = %run.run_id, error = %e, "could not mark the rule's lock as handled");
        }
        if let Err(e) = self.deliver(config, run, info).await {
            warn!(run_id = %run.run_id, error = %e, "the failure alert stays in the outbox until a retry or the reconciler sends it");
        }
    }

    async fn hand_over(
        &self,
        config: &Config,
        run: &RunContext,
        info: &InvocationInfo,
        details: &Value,
    ) -> Result<RecordAction, PostError> {
        let next = Continuation {
            run_id: run.run_id.clone(),
            invocation: run.invocation + 1,
            load_complete: Some(run.load_complete),
        };
        info!(run_id = %run.run_id, next = next.invocation, progress = %details, "deadline reached; handing over to a new invocation");
        if let Err(error) = self
            .ledger
            .finish(run, &info.owner, &LedgerOutcome::Paused)
            .await
        {
            return Err(PostError::Ledger {
                run_id: run.run_id.clone(),
                error,
            });
        }
        if let Err(e) = self.continuer.continue_run(&next).await {
            // The run stays paused: the reconciler resumes it if no retry does.
            let error = HookError {
                permanent: false,
                verification_failed: false,
                message: e.to_string(),
            };
            let key = super::outcome_key("continuation-failed", &error.message);
            let alert = failure_alert(
                run,
                &error,
                "handing the run to a new invocation",
                self.hooks.failure_keeps_live(),
            );
            if let Err(e) = self.announce(config, run, info, &key, &alert).await {
                warn!(run_id = %run.run_id, error = %e, "the alert stays in the outbox");
            }
            return Err(PostError::Continuation {
                run_id: run.run_id.clone(),
                message: e.to_string(),
            });
        }
        Ok(RecordAction::Continued {
            run_id: run.run_id.clone(),
            invocation: next.invocation,
        })
    }

    /// The schedule: back on after a good run (or a failed one when so
    /// configured), but only when this project disabled it (its lock record
    /// is on the rule); otherwise it stays as it is. A failure here is
    /// recorded and alerted, and leaves the run resumable.
    async fn give_back_rule(
        &self,
        config: &Config,
        run: &RunContext,
        ending: &Ending,
        info: &InvocationInfo,
    ) -> Result<String, PostError> {
        let Some(rule) = config.rule_name.as_deref() else {
            return Ok("not managed (one-time mode)".into());
        };
        let reenable = match ending {
            Ending::Finished | Ending::NotFinished(_) => true,
            Ending::LoadFailed(_) => config.reenable_rule_on_failure,
        };
        match self.rule_step(config, rule, run, reenable).await {
            Ok(note) => Ok(note),
            Err(err) => {
                // The run's work is done; only the rule is left. The run stays
                // retryable (its steps are no-ops now) until the rule is
                // handed back, by the retry or the reconciler.
                let error = HookError {
                    permanent: false,
                    verification_failed: false,
                    message: format!("handing the schedule rule {rule} back failed: {err}"),
                };
                let key = super::outcome_key("rule", &error.message);
                let alert = rule_alert(run, &error, self.hooks.failure_keeps_live());
                self.record_failure(config, run, info, &error, &key, &alert)
                    .await;
                Err(PostError::Port(err))
            }
        }
    }

    async fn rule_step(
        &self,
        config: &Config,
        rule: &str,
        run: &RunContext,
        reenable: bool,
    ) -> Result<String, PortError> {
        // A lock taken after this run's tasks started belongs to a later
        // start: this run leaves it to that run.
        let lock =
            self.rules.lock(rule).await?.filter(|l| {
                run_start(run).is_none_or(|s| started_under_lock(Some(s), l.since_epoch))
            });
        let managed = config.manages_rule().is_some();
        let note = match (managed, reenable, lock) {
            (true, true, Some(_)) => {
                self.rules.set_rule_state(rule, RuleState::Enabled).await?;
                self.rules.clear_lock(rule).await?;
                info!(rule, run_id = %run.run_id, "schedule rule re-enabled");
                "re-enabled"
            }
            (true, true, None) => "left as it was: dms-refresh did not disable it",
            (true, false, Some(held)) => {
                self.record_handled(rule, held, run).await?;
                "left disabled"
            }
            (true, false, None) => "left as it was",
            (false, true, Some(_)) => {
                self.rules.clear_lock(rule).await?;
                "not managed (one-time mode)"
            }
            (false, false, Some(held)) => {
                self.record_handled(rule, held, run).await?;
                "not managed (one-time mode)"
            }
            (false, _, None) => "not managed (one-time mode)",
        };
        Ok(note.to_owned())
    }

    /// Mark the rule's lock as handled by `run`: the reconciler leaves it be.
    pub(super) async fn mark_handled(
        &self,
        config: &Config,
        run: &RunContext,
    ) -> Result<(), PortError> {
        let Some(rule) = config.rule_name.as_deref() else {
            return Ok(());
        };
        match self.rules.lock(rule).await? {
            Some(held) => self.record_handled(rule, held, run).await,
            None => Ok(()),
        }
    }

    /// Only the one field is written: a concurrent starter or post-processor
    /// rewriting the record is never overwritten from this read.
    async fn record_handled(
        &self,
        rule: &str,
        held: RuleLock,
        run: &RunContext,
    ) -> Result<(), PortError> {
        if held.handled_run.as_deref() == Some(run.run_id.as_str()) {
            return Ok(());
        }
        self.rules
            .update_lock(rule, &LockUpdate::Handled(run.run_id.clone()))
            .await
    }

    /// An alert for a failure outside the ledger (it is out of reach, or the
    /// run has no identity): sent once per key while a run holds the rule's
    /// lock (the key is kept on it); without a lock record, on every attempt.
    pub(crate) async fn alert_outside_ledger(&self, config: &Config, key: &str, alert: &Alert) {
        let rule = config.rule_name.as_deref();
        let held = match rule {
            Some(rule) => self.rules.lock(rule).await.ok().flatten(),
            None => None,
        };
        if held.as_ref().and_then(|l| l.last_alert.as_deref()) == Some(key) {
            info!(key, "this failure was alerted before; not again");
            return;
        }
        let sent = crate::notify::publish_if_configured(self.notifier, config, alert).await;
        if let (true, Some(rule), Some(_)) = (sent, rule, held)
            && let Err(e) = self
                .rules
                .update_lock(rule, &LockUpdate::LastAlert(key.to_owned()))
                .await
        {
            warn!(rule, error = %e, "could not record the alert on the rule's lock");
        }
    }

    /// Keep the run's announcement in the outbox, record the run done, then
    /// deliver: a crash or a refused publish after this leaves the message
    /// in the outbox for the retry, a duplicate delivery or the reconciler.
    async fn record_and_announce(
        &self,
        config: &Config,
        run: &RunContext,
        ending: &Ending,
        settled: Settled,
        info: &InvocationInfo,
    ) -> Result<RecordAction, PostError> {
        let Settled {
            rule,
            rows_affected,
            figures,
            mut body,
        } = settled;
        let masked = if self.hooks.is_configured() {
            "The hooks ran on what was loaded."
        } else {
            "No hooks are configured."
        };
        let next_run = match ending {
            Ending::Finished => self.next_run_line(config, &rule).await,
            _ => String::new(),
        };
        let (key, outcome, alert_subject, summary, action) = match ending {
            Ending::Finished => (
                "succeeded".to_owned(),
                "succeeded",
                format!("dms-refresh: run {} succeeded", run.run_id),
                super::success_message::text(&super::success_message::Success {
                    run,
                    hooks_configured: self.hooks.is_configured(),
                    figures: figures.as_ref(),
                    rule: &rule,
                    next_run: &next_run,
                    now_epoch: super::now_epoch(),
                }),
                RecordAction::Completed {
                    run_id: run.run_id.clone(),
                    rows_affected,
                },
            ),
            Ending::LoadFailed(failures) => (
                "load-failed".to_owned(),
                "load-failed",
                format!("dms-refresh: load FAILED for run {}", run.run_id),
                format!(
                    "The DMS load did not finish: {}. {} Rule {rule}.",
                    Ending::tasks_text(failures),
                    match (config.indicator, body["hooks"]["summary"].as_str()) {
                        (RefreshIndicator::DataMigration, _) =>
                            "No cutover hooks ran (data-migration mode).",
                        (_, Some(summary)) => summary,
                        (_, None) => masked,
                    }
                ),
                RecordAction::LoadFailureHandled {
                    run_id: run.run_id.clone(),
                    rule: rule.clone(),
                },
            ),
            Ending::NotFinished(tasks) => (
                "not-finished".to_owned(),
                "not-finished",
                format!(
                    "dms-refresh: replication NOT finished for run {}",
                    run.run_id
                ),
                format!(
                    "Replication stopped before its stop position, or the group is not \
                     consistent: {}. No hooks ran; the target is not ready for cutover.",
                    Ending::tasks_text(tasks)
                ),
                RecordAction::NotFinished {
                    run_id: run.run_id.clone(),
                },
            ),
        };
        body["outcome"] = json!(outcome);
        if *ending == Ending::Finished {
            body["next_scheduled_run"] = json!(next_run);
        }
        let alert = Alert {
            subject: alert_subject,
            summary,
            details: body,
        };
        let message = super::announce::outgoing(run, &key, &alert);
        let kept = self.ledger.enqueue(run, &message).await;
        let done = LedgerOutcome::Done { rows_affected };
        let recorded = match kept {
            Ok(_) => self.ledger.finish(run, &info.owner, &done).await,
            Err(e) => Err(e),
        };
        if let Err(error) = recorded {
            return Err(PostError::Ledger {
                run_id: run.run_id.clone(),
                error,
            });
        }
        self.metrics.emit(&run_metrics::run_ended(&RunEnd {
            run,
            outcome,
            succeeded: *ending == Ending::Finished,
            figures: figures.as_ref(),
            rows_masked: rows_affected,
            now_epoch: super::now_epoch(),
        }));
        self.deliver(config, run, info).await?;
        Ok(action)
    }
}

/// An alert that a run failed while `doing` something. `keeps_live`: the
/// publish model, where a failure leaves what developers read untouched.
pub(crate) fn failure_alert(
    run: &RunContext,
    error: &HookError,
    doing: &str,
    keeps_live: bool,
) -> Alert {
    let kind = if error.permanent {
        "permanent: fix the cause, then re-run by hand"
    } else {
        "retryable: the invocation is retried, and the reconciler resumes it"
    };
    let target = if keeps_live {
        "Nothing was published: developers keep reading the last masked copy, and the \
         quarantine keeps this load for diagnosis."
    } else {
        "The target must not be used until a run succeeds: it may be partly masked."
    };
    Alert {
        subject: format!("dms-refresh: post-refresh FAILED for run {}", run.run_id),
        summary: format!(
            "Failed while {doing} ({kind}): {}. The schedule rule stays disabled. {target}",
            error.message
        ),
        details: json!({
            "run_id": run.run_id,
            "tasks": run.tasks.iter().map(|t| &t.arn).collect::<Vec<_>>(),
            "load_complete": run.load_complete,
            "error": error.message,
            "permanent": error.permanent,
        }),
    }
}

/// The run's work is done, but the schedule rule could not be handed back.
pub(crate) fn rule_alert(run: &RunContext, error: &HookError, keeps_live: bool) -> Alert {
    let work = if keeps_live {
        "The masked copy is published and developers read it."
    } else {
        "The target is masked."
    };
    Alert {
        subject: format!(
            "dms-refresh: run {} done, schedule rule NOT handed back",
            run.run_id
        ),
        summary: format!(
            "{work} Handing the schedule rule back failed: {}. The retry and the reconciler \
             try again (fix a missing permission, e.g. events:EnableRule or \
             events:UntagResource); the success message follows once the rule is handed back.",
            error.message
        ),
        details: json!({
            "run_id": run.run_id,
            "tasks": run.tasks.iter().map(|t| &t.arn).collect::<Vec<_>>(),
            "error": error.message,
        }),
    }
}
