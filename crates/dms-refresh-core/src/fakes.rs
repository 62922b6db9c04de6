//! In-memory test doubles of the ports, for unit tests here and in the
//! function crates (enable the `fakes` feature in dev-dependencies).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::config::RefreshType;
use crate::guard::{EndpointInfo, MappedTask};
use crate::ports::{
    Endpoints, FailureKind, LockUpdate, Notifier, PortError, ReplicationTasks, RuleLock, RuleState,
    ScheduleRule, StartRequest,
};
use crate::task::{TaskInfo, TaskStatus};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A configuration from `(variable, value)` pairs; panics when invalid.
pub fn config(pairs: &[(&str, &str)]) -> crate::config::Config {
    crate::config::Config::from_lookup(|k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap_or_else(|e| panic!("test configuration: {e}"))
}

/// The replication instance the fakes' tasks run on.
pub const OLD_INSTANCE: &str = "arn:aws:dms:eu-west-1:123456789012:rep:OLDINSTANCE";
/// The instance a move takes them to.
pub const NEW_INSTANCE: &str = "arn:aws:dms:eu-west-1:123456789012:rep:NEWINSTANCE";

/// A task as the fakes create it: stopped after a finished full load.
pub fn task(arn: &str, status: TaskStatus) -> TaskInfo {
    TaskInfo {
        arn: arn.to_owned(),
        identifier: arn.rsplit(':').next().unwrap_or(arn).to_owned(),
        status,
        migration_type: Some(RefreshType::FullLoad),
        stop_reason: None,
        last_failure_message: None,
        start_date_epoch: Some(1_790_000_000.0),
        resumed_without_reload: false,
        stop_date_epoch: Some(1_790_003_600.0),
        cdc_stop_position: None,
        target_endpoint_arn: Some("arn:aws:dms:eu-west-1:123456789012:endpoint:TARGET".into()),
        source_endpoint_arn: Some("arn:aws:dms:eu-west-1:123456789012:endpoint:SOURCE".into()),
        full_load_progress_percent: Some(100),
        replication_instance_arn: Some(OLD_INSTANCE.into()),
        recovery_checkpoint: None,
    }
}

/// DMS: tasks by ARN; a start moves a task to `running` unless a scripted
/// error is queued for it.
#[derive(Debug, Default)]
pub struct FakeDms {
    pub tasks: Mutex<HashMap<String, TaskInfo>>,
    pub start_errors: Mutex<HashMap<String, VecDeque<PortError>>>,
    /// Status a task shows after a scripted start error (another starter won).
    pub status_after_error: Mutex<HashMap<String, TaskStatus>>,
    pub starts: Mutex<Vec<StartRequest>>,
    pub describe_calls: Mutex<usize>,
    pub describe_error: Mutex<Option<PortError>>,
    /// Describe fails (throttled) once this many calls have been made.
    pub fail_describe_after: Mutex<Option<usize>>,
    /// Refuse a start of a starting or running task as DMS does
    /// (`InvalidResourceStateFault`).
    pub refuse_start_when_running: Mutex<bool>,
    /// Event subscriptions by name, with their status.
    pub subscriptions: Mutex<HashMap<String, String>>,
    /// Endpoints by ARN.
    pub endpoints: Mutex<HashMap<String, EndpointInfo>>,
    /// Tasks asked to stop, in order.
    pub stops: Mutex<Vec<String>>,
    /// A stopped task shows `stopping` first, until the test moves it on.
    pub stop_slowly: Mutex<bool>,
    /// MoveReplicationTask calls (task, target instance), in order.
    pub moves: Mutex<Vec<(String, String)>>,
    /// MoveReplicationTask refuses these tasks with this error.
    pub move_errors: Mutex<HashMap<String, PortError>>,
    /// Data validation by task ARN; a task not here does not validate.
    pub validations: Mutex<HashMap<String, crate::cutover::TaskValidation>>,
}

impl FakeDms {
    pub fn with_tasks(tasks: impl IntoIterator<Item = TaskInfo>) -> Self {
        let fake = Self::default();
        lock(&fake.tasks).extend(tasks.into_iter().map(|t| (t.arn.clone(), t)));
        fake
    }

    pub fn fail_next_start(&self, arn: &str, kind: FailureKind, message: &str) {
        lock(&self.start_errors)
            .entry(arn.to_owned())
            .or_default()
            .push_back(PortError::new("StartReplicationTask", kind, message));
    }

    pub fn set_status(&self, arn: &str, status: TaskStatus) {
        if let Some(t) = lock(&self.tasks).get_mut(arn) {
            t.status = status;
        }
    }

    pub fn update(&self, arn: &str, f: impl FnOnce(&mut TaskInfo)) {
        if let Some(t) = lock(&self.tasks).get_mut(arn) {
            f(t);
        }
    }

    pub fn starts(&self) -> Vec<StartRequest> {
        lock(&self.starts).clone()
    }

    pub fn status(&self, arn: &str) -> Option<TaskStatus> {
        lock(&self.tasks).get(arn).map(|t| t.status.clone())
    }
}

impl Endpoints for FakeDms {
    async fn describe_endpoint(&self, arn: &str) -> Result<Option<EndpointInfo>, PortError> {
        Ok(lock(&self.endpoints).get(arn).cloned())
    }

    async fn tasks_writing_to(&self, arn: &str) -> Result<Vec<MappedTask>, PortError> {
        Ok(lock(&self.tasks)
            .values()
            .filter(|t| t.target_endpoint_arn.as_deref() == Some(arn))
            .map(|t| MappedTask {
                arn: t.arn.clone(),
                identifier: t.identifier.clone(),
                table_mappings: None,
            })
            .collect())
    }
}

/// Replication slots by name; every read is counted.
#[derive(Debug, Default)]
pub struct FakeSlots {
    pub slots: Mutex<HashMap<String, crate::cdc_start::SlotView>>,
    pub reads: Mutex<usize>,
}

impl FakeSlots {
    /// The source holds this one slot.
    pub fn with_slot(view: crate::cdc_start::SlotView) -> Self {
        let fake = Self::default();
        lock(&fake.slots).insert(view.slot_name.clone(), view);
        fake
    }

    /// One idle logical `test_decoding` slot of the database `app` that has
    /// confirmed up to `confirmed` and holds a change at `first_change` (the
    /// first at or after any LSN asked about).
    pub fn holding(slot_name: &str, confirmed: &str, first_change: &str) -> Self {
        use crate::cdc_start::{Lsn, SlotView};
        Self::with_slot(SlotView {
            slot_name: slot_name.to_owned(),
            slot_type: "logical".into(),
            plugin: Some("test_decoding".into()),
            database: Some("app".into()),
            active: false,
            confirmed_flush: Lsn::parse(confirmed),
            first_change_at_or_after: Lsn::parse(first_change),
        })
    }
}

impl crate::ports::ReplicationSlots for FakeSlots {
    async fn slot(
        &self,
        slot_name: &str,
        _from: crate::cdc_start::Lsn,
    ) -> Result<Option<crate::cdc_start::SlotView>, PortError> {
        *lock(&self.reads) += 1;
        Ok(lock(&self.slots).get(slot_name).cloned())
    }
}

impl FakeDms {
    pub fn stops(&self) -> Vec<String> {
        lock(&self.stops).clone()
    }

    pub fn moves(&self) -> Vec<(String, String)> {
        lock(&self.moves).clone()
    }

    /// DMS ends the move of a `moving` task: `stopped` on the target
    /// instance, or `failed-move` where it was.
    pub fn end_move(&self, arn: &str, moved: bool) {
        let target = lock(&self.moves)
            .iter()
            .rev()
            .find(|(t, _)| t == arn)
            .map(|(_, i)| i.clone());
        self.update(arn, |t| {
            if moved {
                t.status = TaskStatus::Stopped;
                t.replication_instance_arn = target;
            } else {
                t.status = TaskStatus::FailedMove;
                t.last_failure_message = Some("not enough storage on the instance".into());
            }
        });
    }
}

impl ReplicationTasks for FakeDms {
    async fn stop_task(&self, task_arn: &str) -> Result<(), PortError> {
        lock(&self.stops).push(task_arn.to_owned());
        let mut tasks = lock(&self.tasks);
        match tasks.get_mut(task_arn) {
            Some(task) if task.status == TaskStatus::Running => {
                task.status = if *lock(&self.stop_slowly) {
                    TaskStatus::Stopping
                } else {
                    TaskStatus::Stopped
                };
                task.stop_reason = Some("Stop Reason NORMAL".into());
                Ok(())
            }
            Some(_) => Err(PortError::new(
                "StopReplicationTask",
                FailureKind::InvalidState,
                "InvalidResourceStateFault: the task is not running",
            )),
            None => Err(PortError::new(
                "StopReplicationTask",
                FailureKind::NotFound,
                "no such task",
            )),
        }
    }

    async fn move_task(&self, task_arn: &str, target_instance_arn: &str) -> Result<(), PortError> {
        if let Some(err) = lock(&self.move_errors).get(task_arn) {
            return Err(err.clone());
        }
        let mut tasks = lock(&self.tasks);
        let Some(task) = tasks.get_mut(task_arn) else {
            return Err(PortError::new(
                "MoveReplicationTask",
                FailureKind::NotFound,
                "no such task",
            ));
        };
        if !matches!(
            task.status,
            TaskStatus::Stopped | TaskStatus::Failed | TaskStatus::Ready | TaskStatus::FailedMove
        ) {
            return Err(PortError::new(
                "MoveReplicationTask",
                FailureKind::InvalidState,
                format!(
                    "InvalidResourceStateFault: the task is {}",
                    task.status.as_str()
                ),
            ));
        }
        task.status = TaskStatus::Moving;
        lock(&self.moves).push((task_arn.to_owned(), target_instance_arn.to_owned()));
        Ok(())
    }

    async fn describe_task(&self, task_arn: &str) -> Result<Option<TaskInfo>, PortError> {
        let calls = {
            let mut calls = lock(&self.describe_calls);
            *calls += 1;
            *calls
        };
        if let Some(err) = lock(&self.describe_error).clone() {
            return Err(err);
        }
        if lock(&self.fail_describe_after).is_some_and(|n| calls > n) {
            return Err(PortError::new(
                "DescribeReplicationTasks",
                FailureKind::Transient,
                "Throttling: Rate exceeded",
            ));
        }
        Ok(lock(&self.tasks).get(task_arn).cloned())
    }

    async fn start_task(&self, request: &StartRequest) -> Result<(), PortError> {
        let scripted = lock(&self.start_errors)
            .get_mut(&request.task_arn)
            .and_then(VecDeque::pop_front);
        if let Some(err) = scripted {
            if let Some(status) = lock(&self.status_after_error)
                .get(&request.task_arn)
                .cloned()
            {
                self.set_status(&request.task_arn, status);
            }
            return Err(err);
        }
        let mut tasks = lock(&self.tasks);
        if *lock(&self.refuse_start_when_running)
            && tasks
                .get(&request.task_arn)
                .is_some_and(|t| t.status.is_starting_or_running())
        {
            return Err(PortError::new(
                "StartReplicationTask",
                FailureKind::InvalidState,
                "InvalidResourceStateFault: Replication task is currently running",
            ));
        }
        lock(&self.starts).push(request.clone());
        match tasks.get_mut(&request.task_arn) {
            Some(task) => {
                task.status = TaskStatus::Running;
                task.start_date_epoch = Some(task.start_date_epoch.unwrap_or(0.0) + 86_400.0);
                task.stop_date_epoch = None;
                task.stop_reason = None;
                if request.cdc_stop_position.is_some() {
                    task.cdc_stop_position
                        .clone_from(&request.cdc_stop_position);
                }
                Ok(())
            }
            None => Err(PortError::new(
                "StartReplicationTask",
                FailureKind::NotFound,
                "no such task",
            )),
        }
    }

    async fn event_subscription_status(&self, name: &str) -> Result<Option<String>, PortError> {
        Ok(lock(&self.subscriptions).get(name).cloned())
    }
}

/// EventBridge: rule states by name, and a log of every change.
#[derive(Debug, Default)]
pub struct FakeRules {
    pub rules: Mutex<HashMap<String, RuleState>>,
    pub changes: Mutex<Vec<(String, RuleState)>>,
    pub fail_changes: Mutex<bool>,
    pub locks: Mutex<HashMap<String, RuleLock>>,
    /// Lock writes fail (throttled) while set.
    pub fail_lock_writes: Mutex<bool>,
    pub schedules: Mutex<HashMap<String, String>>,
    /// `stop-at` records by rule.
    pub stops: Mutex<HashMap<String, String>>,
    /// `move` records by rule.
    pub moves: Mutex<HashMap<String, crate::moves::MoveRecord>>,
}

impl FakeRules {
    /// A rule on the template's default schedule, midnight UTC every day.
    pub fn with_rule(name: &str, state: RuleState) -> Self {
        let fake = Self::default();
        lock(&fake.rules).insert(name.to_owned(), state);
        lock(&fake.schedules).insert(name.to_owned(), "cron(0 0 * * ? *)".to_owned());
        fake
    }

    pub fn state(&self, name: &str) -> Option<RuleState> {
        lock(&self.rules).get(name).copied()
    }

    pub fn changes(&self) -> Vec<(String, RuleState)> {
        lock(&self.changes).clone()
    }

    /// A `stop-at` recorded `position` on the rule.
    pub fn record_stop_at(&self, name: &str, position: &str) {
        lock(&self.stops).insert(name.to_owned(), position.to_owned());
    }

    pub fn move_of(&self, name: &str) -> Option<crate::moves::MoveRecord> {
        lock(&self.moves).get(name).cloned()
    }

    pub fn lock_of(&self, name: &str) -> Option<RuleLock> {
        lock(&self.locks).get(name).cloned()
    }

    /// A rule the project disabled for a run: disabled, with the lock record.
    pub fn locked(name: &str, owner: &str, since_epoch: u64) -> Self {
        let fake = Self::with_rule(name, RuleState::Disabled);
        lock(&fake.locks).insert(name.to_owned(), RuleLock::taken(owner, since_epoch, true));
        fake
    }
}

impl ScheduleRule for FakeRules {
    async fn rule_state(&self, rule_name: &str) -> Result<Option<RuleState>, PortError> {
        Ok(self.state(rule_name))
    }

    async fn schedule_expression(&self, rule_name: &str) -> Result<Option<String>, PortError> {
        Ok(lock(&self.schedules).get(rule_name).cloned())
    }

    async fn set_rule_state(&self, rule_name: &str, state: RuleState) -> Result<(), PortError> {
        if *lock(&self.fail_changes) {
            return Err(PortError::new(
                "EnableRule",
                FailureKind::Transient,
                "throttled",
            ));
        }
        let mut rules = lock(&self.rules);
        let Some(current) = rules.get_mut(rule_name) else {
            return Err(PortError::new(
                "EnableRule",
                FailureKind::NotFound,
                "no such rule",
            ));
        };
        *current = state;
        lock(&self.changes).push((rule_name.to_owned(), state));
        Ok(())
    }

    async fn lock(&self, rule_name: &str) -> Result<Option<RuleLock>, PortError> {
        Ok(self.lock_of(rule_name))
    }

    async fn set_lock(&self, rule_name: &str, rule_lock: &RuleLock) -> Result<(), PortError> {
        if *lock(&self.fail_lock_writes) {
            return Err(PortError::new(
                "TagResource",
                FailureKind::Transient,
                "throttled",
            ));
        }
        lock(&self.locks).insert(rule_name.to_owned(), rule_lock.clone());
        Ok(())
    }

    async fn update_lock(&self, rule_name: &str, update: &LockUpdate) -> Result<(), PortError> {
        if *lock(&self.fail_lock_writes) {
            return Err(PortError::new(
                "TagResource",
                FailureKind::Transient,
                "throttled",
            ));
        }
        // Like a lone tag on AWS: without an owner there is no lock to update.
        if let Some(held) = lock(&self.locks).get_mut(rule_name) {
            match update {
                LockUpdate::Handled(run) => held.handled_run = Some(run.clone()),
                LockUpdate::Alerted => held.alerted = true,
                LockUpdate::LastAlert(key) => held.last_alert = Some(key.clone()),
            }
        }
        Ok(())
    }

    async fn clear_lock(&self, rule_name: &str) -> Result<(), PortError> {
        lock(&self.locks).remove(rule_name);
        Ok(())
    }

    async fn intended_stop(&self, rule_name: &str) -> Result<Option<String>, PortError> {
        if self.state(rule_name).is_none() {
            return Err(PortError::new(
                "DescribeRule",
                FailureKind::NotFound,
                "no such rule",
            ));
        }
        Ok(lock(&self.stops).get(rule_name).cloned())
    }

    async fn set_intended_stop(
        &self,
        rule_name: &str,
        position: Option<&str>,
    ) -> Result<(), PortError> {
        match position {
            Some(p) => lock(&self.stops).insert(rule_name.to_owned(), p.to_owned()),
            None => lock(&self.stops).remove(rule_name),
        };
        Ok(())
    }

    async fn move_record(
        &self,
        rule_name: &str,
    ) -> Result<Option<crate::moves::MoveRecord>, PortError> {
        Ok(self.move_of(rule_name))
    }

    async fn set_move_record(
        &self,
        rule_name: &str,
        record: Option<&crate::moves::MoveRecord>,
    ) -> Result<(), PortError> {
        match record {
            Some(r) => lock(&self.moves).insert(rule_name.to_owned(), r.clone()),
            None => lock(&self.moves).remove(rule_name),
        };
        Ok(())
    }
}

/// SNS: every published message.
#[derive(Debug, Default)]
pub struct FakeNotifier {
    pub published: Mutex<Vec<(String, String, String)>>,
    /// Publishes fail (SNS refuses) while set.
    pub fail: Mutex<bool>,
}

impl FakeNotifier {
    pub fn messages(&self) -> Vec<(String, String, String)> {
        lock(&self.published).clone()
    }
}

impl Notifier for FakeNotifier {
    async fn publish(&self, topic_arn: &str, subject: &str, body: &str) -> Result<(), PortError> {
        if *lock(&self.fail) {
            return Err(PortError::new(
                "Publish",
                FailureKind::Transient,
                "SNS throttled",
            ));
        }
        lock(&self.published).push((topic_arn.to_owned(), subject.to_owned(), body.to_owned()));
        Ok(())
    }
}

/// Hooks that record every run and answer from a script (default: complete).
#[derive(Debug)]
pub struct FakeHooks {
    pub configured: bool,
    pub script: Mutex<VecDeque<Result<crate::ports::HookReport, crate::ports::HookError>>>,
    pub runs: Mutex<Vec<crate::ports::RunContext>>,
    pub rollbacks: Mutex<Vec<String>>,
}

impl Default for FakeHooks {
    fn default() -> Self {
        Self {
            configured: true,
            script: Mutex::default(),
            runs: Mutex::default(),
            rollbacks: Mutex::default(),
        }
    }
}

/// Metrics: every event emitted, in order.
#[derive(Debug, Default)]
pub struct FakeMetrics {
    pub events: Mutex<Vec<crate::metrics::MetricEvent>>,
}

impl FakeMetrics {
    pub fn events(&self) -> Vec<crate::metrics::MetricEvent> {
        lock(&self.events).clone()
    }
}

impl crate::metrics::MetricsSink for FakeMetrics {
    fn emit(&self, event: &crate::metrics::MetricEvent) {
        lock(&self.events).push(event.clone());
    }
}

/// What [`FakeHooks`] reports when nothing else is scripted: 3 rows masked
/// in two tables, verification passed.
pub fn complete_report() -> crate::ports::HookReport {
    use crate::ports::{RunFigures, TableRows, VerificationFigures};
    let table = |name: &str, rows_masked| TableRows {
        table: name.to_owned(),
        rows_masked,
    };
    crate::ports::HookReport::Complete {
        rows_affected: Some(3),
        details: serde_json::Value::Null,
        figures: RunFigures {
            tables: vec![table("app.customers", 2), table("app.orders", 1)],
            verification: Some(VerificationFigures {
                passed: true,
                checks: 4,
            }),
            published: false,
        },
    }
}

impl FakeHooks {
    pub fn then(&self, result: Result<crate::ports::HookReport, crate::ports::HookError>) {
        lock(&self.script).push_back(result);
    }

    pub fn run_count(&self) -> usize {
        lock(&self.runs).len()
    }

    pub fn runs(&self) -> Vec<crate::ports::RunContext> {
        lock(&self.runs).clone()
    }
}

impl crate::ports::PostRefreshHooks for FakeHooks {
    fn is_configured(&self) -> bool {
        self.configured
    }

    async fn run(
        &self,
        run: &crate::ports::RunContext,
    ) -> Result<crate::ports::HookReport, crate::ports::HookError> {
        lock(&self.runs).push(run.clone());
        // Yield once so concurrent deliveries really interleave in tests.
        tokio_yield().await;
        lock(&self.script)
            .pop_front()
            .unwrap_or_else(|| Ok(complete_report()))
    }

    async fn rollback(
        &self,
        _run: &crate::ports::RunContext,
        request_id: &str,
        dry_run: bool,
    ) -> Result<serde_json::Value, crate::ports::HookError> {
        lock(&self.rollbacks).push(request_id.to_owned());
        Ok(serde_json::json!({ "rolled_back": !dry_run, "request_id": request_id }))
    }
}

async fn tokio_yield() {
    struct YieldOnce(bool);
    impl std::future::Future for YieldOnce {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.0 {
                std::task::Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        }
    }
    YieldOnce(false).await;
}

/// Records continuations instead of invoking anything.
#[derive(Debug, Default)]
pub struct FakeContinuer {
    pub sent: Mutex<Vec<crate::events::Continuation>>,
}

impl FakeContinuer {
    pub fn sent(&self) -> Vec<crate::events::Continuation> {
        lock(&self.sent).clone()
    }
}

impl crate::ports::Continuer for FakeContinuer {
    async fn continue_run(
        &self,
        continuation: &crate::events::Continuation,
    ) -> Result<(), PortError> {
        lock(&self.sent).push(continuation.clone());
        Ok(())
    }
}

/// The in-memory ledger, with a scripted refusal of `begin` (the guard or
/// the database failing before the ledger can be reached).
#[derive(Debug, Default)]
pub struct FakeLedger {
    pub inner: crate::memory::MemoryLedger,
    pub begin_error: Mutex<Option<String>>,
    /// Stands for a ledger on the target database (durable) while set.
    pub durable: Mutex<bool>,
}

impl FakeLedger {
    /// `begin` fails permanently with `message` while it is set.
    pub fn fail_begin(&self, message: Option<&str>) {
        *lock(&self.begin_error) = message.map(str::to_owned);
    }

    pub fn done_count(&self) -> usize {
        self.inner.done_count()
    }
}

impl crate::ports::RunLedger for FakeLedger {
    fn is_durable(&self) -> bool {
        *lock(&self.durable)
    }

    async fn begin(
        &self,
        run: &crate::ports::RunContext,
        owner: &str,
        lease_until: std::time::SystemTime,
    ) -> Result<crate::ports::Begin, crate::ports::HookError> {
        if let Some(message) = lock(&self.begin_error).clone() {
            return Err(crate::ports::HookError {
                permanent: true,
                verification_failed: false,
                message,
            });
        }
        self.inner.begin(run, owner, lease_until).await
    }

    async fn finish(
        &self,
        run: &crate::ports::RunContext,
        owner: &str,
        outcome: &crate::ports::LedgerOutcome,
    ) -> Result<(), crate::ports::HookError> {
        self.inner.finish(run, owner, outcome).await
    }

    async fn state(
        &self,
        run: &crate::ports::RunContext,
    ) -> Result<Option<crate::ports::LedgerState>, crate::ports::HookError> {
        self.inner.state(run).await
    }

    async fn enqueue(
        &self,
        run: &crate::ports::RunContext,
        message: &crate::ports::Outgoing,
    ) -> Result<bool, crate::ports::HookError> {
        self.inner.enqueue(run, message).await
    }

    async fn claim_unsent(
        &self,
        run: &crate::ports::RunContext,
        owner: &str,
        claim_until: std::time::SystemTime,
    ) -> Result<Vec<crate::ports::Outgoing>, crate::ports::HookError> {
        self.inner.claim_unsent(run, owner, claim_until).await
    }

    async fn mark_sent(
        &self,
        run: &crate::ports::RunContext,
        message: &crate::ports::Outgoing,
    ) -> Result<(), crate::ports::HookError> {
        self.inner.mark_sent(run, message).await
    }

    async fn record_request(
        &self,
        run: &crate::ports::RunContext,
        request: &crate::ports::RequestRecord,
    ) -> Result<bool, crate::ports::HookError> {
        self.inner.record_request(run, request).await
    }
}

/// The starter's recorder: every request handed to the post-processor.
#[derive(Debug, Default)]
pub struct FakeRecorder {
    pub records: Mutex<Vec<crate::ports::RequestRecord>>,
    /// Hand-overs fail (Lambda refuses) while set.
    pub fail: Mutex<bool>,
    /// How many trigger records were asked for.
    pub trigger_records: Mutex<usize>,
}

impl crate::ports::RequestRecorder for FakeRecorder {
    async fn record(&self, request: &crate::ports::RequestRecord) -> Result<(), PortError> {
        if *lock(&self.fail) {
            return Err(PortError::new(
                "Invoke",
                FailureKind::Transient,
                "TooManyRequestsException: rate exceeded",
            ));
        }
        lock(&self.records).push(request.clone());
        Ok(())
    }

    async fn record_triggers(&self) -> Result<serde_json::Value, PortError> {
        *lock(&self.trigger_records) += 1;
        if *lock(&self.fail) {
            return Err(PortError::new(
                "Invoke",
                FailureKind::Permanent,
                "RecordTriggersFailed: the target database is not reachable",
            ));
        }
        Ok(serde_json::json!({ "triggers": ["public.orders.audit"] }))
    }
}
