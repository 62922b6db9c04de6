//! The reconciler: a scheduled sweep (every 15 minutes in the template) that
//! compares the group's tasks, the run ledger and the schedule rule's lock,
//! and heals what nothing else would notice:
//!
//! - a run whose stop event was lost (the lock says a run was started, the
//!   tasks have settled, the ledger has not finished it) is settled, through
//!   the same path and ledger as the event, so the two never double up;
//! - a run paused at a deadline whose continuation never came, or that
//!   failed with a retryable error, is resumed;
//! - messages left in the outbox are delivered;
//! - a lock held longer than `LOCK_ALERT_AFTER_MINUTES` is alerted once;
//! - a DMS event subscription that is not `active` (`no-permission`, ...)
//!   is alerted once a day.

use serde::Serialize;
use serde_json::json;
use tracing::{info, warn};

use crate::config::Config;
use crate::metrics::run::lock_age;
use crate::notify::{Alert, publish_if_configured};
use crate::ports::{
    Continuer, LedgerState, LockUpdate, Notifier, PostRefreshHooks, ReplicationTasks, RuleLock,
    RunContext, RunLedger, ScheduleRule,
};
use crate::post::{
    InvocationInfo, PostError, PostPorts, RecordAction, describe_group, judge, now_epoch,
    settle_context,
};
use crate::runs::{GroupRun, group_run, group_states};
use crate::starter::started_under_lock;

/// What one sweep found and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconcileReport {
    /// The group's state: `waiting`, `finished`, `failed`, `not-finished`,
    /// `never-run`, or `moving` while an operator's move is recorded.
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Why the run was (or was not) settled by this sweep.
    pub decision: String,
    /// What settling the run did, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<RecordAction>,
    /// Outbox messages delivered by this sweep.
    pub delivered: usize,
    /// The rule's lock, if held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<RuleLock>,
    /// Alerts this sweep sent (lock age, event subscription).
    pub alerts: Vec<String>,
}

/// Whether the ledger's record of the run lets the reconciler take it up.
fn resumable(state: Option<&LedgerState>) -> bool {
    matches!(
        state,
        Some(
            LedgerState::Paused {
                lease_expired: true
            } | LedgerState::InProgress {
                lease_expired: true
            } | LedgerState::Failed { permanent: false }
        )
    )
}

/// Whether the lock records a run of this group that the post-processor
/// has not handled: taken before the run's tasks started, not marked handled.
fn lock_pending(lock: Option<&RuleLock>, run: &RunContext) -> bool {
    lock.is_some_and(|l| {
        l.handled_run.as_deref() != Some(run.run_id.as_str())
            && run
                .tasks
                .iter()
                .any(|t| started_under_lock(t.start_date_epoch, l.since_epoch))
    })
}

fn group_label(group: &GroupRun) -> &'static str {
    match group {
        GroupRun::Waiting(_) => "waiting",
        GroupRun::Finished => "finished",
        GroupRun::Failed(_) => "failed",
        GroupRun::NotFinished(_) => "not-finished",
    }
}

/// One sweep. Settling errors are reported after the other checks ran.
pub async fn reconcile<D, R, N, L, H, C>(
    config: &Config,
    ports: &PostPorts<'_, D, R, N, L, H, C>,
    info: &InvocationInfo,
) -> Result<ReconcileReport, PostError>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
    L: RunLedger,
    H: PostRefreshHooks,
    C: Continuer,
{
    ports.sweep(config, info).await
}

/// The steps of a sweep, on the post-processor's self.
impl<D, R, N, L, H, C> PostPorts<'_, D, R, N, L, H, C>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
    L: RunLedger,
    H: PostRefreshHooks,
    C: Continuer,
{
    async fn sweep(
        &self,
        config: &Config,
        info: &InvocationInfo,
    ) -> Result<ReconcileReport, PostError> {
        let tasks = describe_group(config, self.dms).await?;
        let lock = match config.rule_name.as_deref() {
            Some(rule) => self.rules.lock(rule).await?,
            None => None,
        };
        let stop_at = crate::post::intended_stop(config, self.rules).await?;
        let group = group_run(&group_states(
            &judge(config, stop_at.as_deref()),
            &tasks,
            |_| None,
        ));
        let mut report = ReconcileReport {
            group: group_label(&group).into(),
            run_id: None,
            decision: String::new(),
            action: None,
            delivered: 0,
            lock: lock.clone(),
            alerts: Vec::new(),
        };
        let mut failure = None;
        if let Some(record) = self.recorded_move(config).await? {
            // The stops of a move are not a run's end; a lost end-of-move
            // event is made up for here (also for a group that never ran).
            "moving".clone_into(&mut report.group);
            report.decision = format!(
                "a move to {} is recorded; followed, not settled",
                record.target_instance_arn
            );
            report.action = Some(self.follow_move(config, &tasks, &record).await?);
        } else if tasks.iter().all(|t| t.start_date_epoch.is_none()) {
            "never-run".clone_into(&mut report.group);
            "the group has never run; nothing to reconcile".clone_into(&mut report.decision);
        } else {
            let run = settle_context(tasks.clone(), info);
            report.run_id = Some(run.run_id.clone());
            if let Err(e) = self
                .settle_if_pending(config, info, &group, &run, lock.as_ref(), &mut report)
                .await
            {
                failure = Some(e);
            }
            if report.action.is_some() {
                // Settling may have released or marked the lock.
                report.lock = match config.rule_name.as_deref() {
                    Some(rule) => self.rules.lock(rule).await?,
                    None => None,
                };
            }
            if let Some(alert) = self.stuck_lock(config, report.lock.as_ref(), &group).await {
                report.alerts.push(alert);
            }
            if let Some(alert) = self.subscription_check(config, &run, info).await {
                report.alerts.push(alert);
            }
        }
        if config.rule_name.is_some() {
            self.metrics
                .emit(&lock_age(report.lock.as_ref(), now_epoch()));
        }
        info!(report = ?report, "reconciler sweep");
        match failure {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    async fn settle_if_pending(
        &self,
        config: &Config,
        info: &InvocationInfo,
        group: &GroupRun,
        run: &RunContext,
        lock: Option<&RuleLock>,
        report: &mut ReconcileReport,
    ) -> Result<(), PostError> {
        if let GroupRun::Waiting(tasks) = group {
            report.decision = format!("waiting for {}", tasks.join(", "));
            return Ok(());
        }
        let state = self
            .ledger
            .state(run)
            .await
            .map_err(|error| PostError::Ledger {
                run_id: run.run_id.clone(),
                error,
            })?;
        let pending = match (&state, lock_pending(lock, run), resumable(state.as_ref())) {
            (Some(LedgerState::Done), _, _) => None,
            (_, _, true) => {
                Some("the ledger holds the run unfinished (paused, failed retryably or abandoned)")
            }
            (None, true, _) => Some(
                "the lock records a start, the tasks settled, and no event reached the post-processor",
            ),
            _ => None,
        };
        let Some(why) = pending else {
            report.decision = format!("nothing to do (ledger: {state:?})");
            report.delivered = self.deliver(config, run, info).await?;
            return Ok(());
        };
        warn!(run_id = %run.run_id, why, "the reconciler settles the run");
        why.clone_into(&mut report.decision);
        let action = self.settle_now(config, run.tasks.clone(), info).await?;
        report.action = Some(action);
        Ok(())
    }

    /// A lock held longer than the configured bound: alert once per lock.
    async fn stuck_lock(
        &self,
        config: &Config,
        lock: Option<&RuleLock>,
        group: &GroupRun,
    ) -> Option<String> {
        let rule = config.rule_name.as_deref()?;
        let held = lock.filter(|l| !l.alerted)?;
        #[allow(clippy::cast_precision_loss)]
        let age = now_epoch() - held.since_epoch as f64;
        #[allow(clippy::cast_precision_loss)]
        if age <= config.lock_alert_after_secs as f64 {
            return None;
        }
        let hours = age / 3600.0;
        let alert = Alert {
            subject: format!("dms-refresh: schedule rule {rule} locked for {hours:.1} hours"),
            summary: format!(
                "The schedule rule has been locked by dms-refresh since {} (holder {}): the group \
             is {}. A task may hang, a run may have failed closed, or a start never happened. \
             Look at the tasks and the post-processor's logs; the next refresh does not start \
             until the lock is released.",
                held.since_epoch,
                held.owner,
                group_label(group)
            ),
            details: json!({ "rule": rule, "lock": held, "group": group }),
        };
        if !publish_if_configured(self.notifier, config, &alert).await
            && config.notification_topic_arn.is_some()
        {
            return None;
        }
        if let Err(e) = self.rules.update_lock(rule, &LockUpdate::Alerted).await {
            warn!(rule, error = %e, "could not record that the lock age was alerted");
        }
        Some(alert.subject)
    }

    /// The DMS event subscription must be `active`, or events never arrive.
    async fn subscription_check(
        &self,
        config: &Config,
        run: &RunContext,
        info: &InvocationInfo,
    ) -> Option<String> {
        let name = config.event_subscription_name.as_deref()?;
        let status = match self.dms.event_subscription_status(name).await {
            Ok(Some(status)) if status == "active" => return None,
            Ok(Some(status)) => status,
            Ok(None) => "missing".to_owned(),
            Err(e) => {
                warn!(subscription = name, error = %e, "could not read the event subscription");
                return None;
            }
        };
        let day = (now_epoch() / 86_400.0).floor();
        let alert = Alert {
            subject: format!("dms-refresh: DMS event subscription {name} is {status}"),
            summary: format!(
                "The DMS event subscription {name} is {status}, so DMS task events do not reach the \
             post-processor. The reconciler finishes runs meanwhile; fix the subscription (for \
             no-permission: the SNS topic policy must allow dms.amazonaws.com to publish)."
            ),
            details: json!({ "subscription": name, "status": status }),
        };
        let key = format!("subscription:{status}:{day}");
        let sweep = RunContext {
            run_id: "reconciler".into(),
            ..run.clone()
        };
        match self.announce(config, &sweep, info, &key, &alert).await {
            Ok(true) => Some(alert.subject),
            Ok(false) => None,
            Err(e) => {
                warn!(subscription = name, error = %e, "the subscription alert could not be delivered");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fakes::FakeRules;
    use crate::ports::{HookError, HookReport, RuleState};
    use crate::post::tests::{A, LOCK_SINCE, RULE, World};
    use crate::task::TaskStatus;

    const SWEEP: &str = r#"{"operation": "reconcile"}"#;

    async fn sweep(w: &World) -> ReconcileReport {
        let summary = w.deliver_as(SWEEP, "sweep").await.unwrap();
        summary.reconcile.expect("a reconcile report")
    }

    /// Issue 9 item 8: the stop event is lost; the reconciler completes the
    /// run within one sweep, once, through the same ledger as the event.
    #[tokio::test]
    async fn a_lost_stop_event_is_settled_by_one_sweep_once() {
        let w = World::new(&[A]);
        let report = sweep(&w).await;
        assert!(
            matches!(report.action, Some(RecordAction::Completed { .. })),
            "{report:?}"
        );
        assert!(report.decision.contains("no event"), "{report:?}");
        assert_eq!(w.hooks.run_count(), 1);
        assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
        assert_eq!(w.notifier.messages().len(), 1);

        let again = sweep(&w).await;
        assert_eq!(again.action, None, "{again:?}");
        // The event arriving late is a duplicate.
        let late = w.deliver(crate::post::tests::FINISHED).await.unwrap();
        assert!(matches!(
            late.records[0].action,
            RecordAction::Duplicate { .. }
        ));
        assert_eq!(w.hooks.run_count(), 1);
        assert_eq!(w.notifier.messages().len(), 1);
    }

    #[tokio::test]
    async fn a_paused_run_whose_continuation_never_came_is_resumed() {
        let w = World::new(&[A]);
        w.hooks.then(Ok(HookReport::Incomplete {
            details: json!({"table": "customers"}),
        }));
        let first = w.deliver(crate::post::tests::FINISHED).await.unwrap();
        assert!(matches!(
            first.records[0].action,
            RecordAction::Continued { .. }
        ));
        // The continuation is lost; the sweep resumes the run.
        let report = sweep(&w).await;
        assert!(report.decision.contains("unfinished"), "{report:?}");
        assert!(
            matches!(report.action, Some(RecordAction::Completed { .. })),
            "{report:?}"
        );
        assert_eq!(w.hooks.run_count(), 2);
    }

    #[tokio::test]
    async fn a_retryable_failure_is_retried_and_a_permanent_one_is_left_alone() {
        let w = World::new(&[A]);
        w.hooks.then(Err(HookError {
            permanent: false,
            verification_failed: false,
            message: "connection reset".into(),
        }));
        w.deliver(crate::post::tests::FINISHED).await.unwrap_err();
        let report = sweep(&w).await;
        assert!(
            matches!(report.action, Some(RecordAction::Completed { .. })),
            "{report:?}"
        );

        let w = World::new(&[A]);
        w.hooks.then(Err(HookError {
            permanent: true,
            verification_failed: false,
            message: "column customers.emial does not exist".into(),
        }));
        w.deliver(crate::post::tests::FINISHED).await.unwrap_err();
        let report = sweep(&w).await;
        assert_eq!(report.action, None, "{report:?}");
        assert_eq!(w.hooks.run_count(), 1);
        assert_eq!(w.notifier.messages().len(), 1);
    }

    #[tokio::test]
    async fn old_runs_without_a_lock_or_a_ledger_record_are_left_alone() {
        let mut w = World::new(&[A]);
        w.rules = FakeRules::with_rule(RULE, RuleState::Enabled);
        let report = sweep(&w).await;
        assert_eq!(report.action, None, "{report:?}");
        assert_eq!(w.hooks.run_count(), 0);
        // A lock taken after the tasks last started: the start never happened.
        w.rules = FakeRules::locked(RULE, "schedule:e2", LOCK_SINCE + 86_400);
        assert_eq!(sweep(&w).await.action, None);
        assert_eq!(w.hooks.run_count(), 0);
    }

    #[tokio::test]
    async fn a_running_group_is_waited_for() {
        let w = World::new(&[A]);
        w.dms.set_status(A, TaskStatus::Running);
        let report = sweep(&w).await;
        assert_eq!(report.group, "waiting");
        assert_eq!(w.hooks.run_count(), 0);
    }

    /// Every sweep reports the lock's age: how long the held lock is old,
    /// and 0 once the run that held it gave it back.
    #[tokio::test]
    async fn every_sweep_reports_the_age_of_the_lock() {
        use crate::metrics::{Measure, names};
        let w = World::new(&[A]);
        w.dms.set_status(A, TaskStatus::Running);
        sweep(&w).await;
        w.dms.set_status(A, TaskStatus::Stopped);
        sweep(&w).await;
        let ages: Vec<_> = w
            .metrics
            .events()
            .iter()
            .filter_map(|e| e.metric(names::LOCK_AGE))
            .collect();
        assert_eq!(ages.len(), 2, "{:?}", w.metrics.events());
        #[allow(clippy::cast_precision_loss)]
        let held_at_least = crate::post::now_epoch() - LOCK_SINCE as f64 - 60.0;
        assert!(
            matches!(ages[0], Measure::Seconds(s) if s > held_at_least),
            "{ages:?}"
        );
        assert_eq!(ages[1], Measure::Seconds(0.0), "the run gave the lock back");
    }

    /// Issue 9 item 8: a lock older than the bound (a task hung in running,
    /// a start that never happened) is alerted, once.
    #[tokio::test]
    async fn a_lock_held_too_long_is_alerted_once() {
        let mut w = World::new(&[A]);
        w.config.lock_alert_after_secs = 3600;
        w.dms.set_status(A, TaskStatus::Running);
        let report = sweep(&w).await;
        assert_eq!(report.alerts.len(), 1, "{report:?}");
        assert!(w.subjects()[0].contains("locked for"), "{:?}", w.subjects());
        assert!(w.rules.lock_of(RULE).unwrap().alerted);
        assert!(sweep(&w).await.alerts.is_empty());
        assert_eq!(w.notifier.messages().len(), 1);
    }

    #[tokio::test]
    async fn an_event_subscription_without_permission_is_alerted_once_a_day() {
        let mut w = World::new(&[A]);
        w.config.event_subscription_name = Some("stack-dms-events".into());
        w.dms
            .subscriptions
            .lock()
            .unwrap()
            .insert("stack-dms-events".into(), "no-permission".into());
        w.rules = FakeRules::with_rule(RULE, RuleState::Enabled);
        let report = sweep(&w).await;
        assert_eq!(report.alerts.len(), 1, "{report:?}");
        assert!(w.subjects()[0].contains("no-permission"));
        assert!(sweep(&w).await.alerts.is_empty());
        w.dms
            .subscriptions
            .lock()
            .unwrap()
            .insert("stack-dms-events".into(), "active".into());
        assert!(sweep(&w).await.alerts.is_empty());
        assert_eq!(w.notifier.messages().len(), 1);
    }
}
