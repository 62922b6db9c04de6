//! The task-starter's work: understand the invocation, decide for the whole
//! group before touching anything, take the schedule rule's lock, start the
//! tasks, and report.

mod cdc_point;
mod group;
mod lock;
mod move_group;
mod stop_at;
mod trigger;

pub use cdc_point::{CdcStartCheck, SlotCheck, SourceCheck, check_source};
pub use group::{PlannedTask, all_or_nothing, plan_every};
pub use lock::{
    OWN_START_SKEW_SECS, Requester, RuleAccess, decide_rule_access, started_under_lock,
};
pub use move_group::{MoveSummary, announce as announce_move, move_group};
pub use stop_at::{StopAtSummary, StopStep, TaskStop, announce as announce_stop_at, stop_at};
pub use trigger::{EventError, Trigger, parse_trigger};

use serde::Serialize;
use tracing::{info, warn};

use crate::cdc_start::CdcStart;
use crate::config::{Config, RefreshType};
use crate::notify::{Alert, publish_if_configured};
use crate::ports::{
    Endpoints, FailureKind, Notifier, PortError, ReplicationSlots, ReplicationTasks, RuleLock,
    RuleState, ScheduleRule, StartRequest,
};
use crate::task::{StartDecision, StartType, TaskInfo};

/// What happened to one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskAction {
    Started,
    /// Already set going: by another starter that won the race, or by an
    /// earlier attempt of this same invocation.
    AlreadyStarted,
    Skipped,
    /// Dry run: what would have been done.
    WouldStart,
    Failed,
    /// DMS refused the start and the task could not be described afterwards.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskOutcome {
    pub task_arn: String,
    pub task_id: String,
    pub previous_status: String,
    pub action: TaskAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_type: Option<StartType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleOutcome {
    pub name: String,
    pub before: RuleState,
    pub after: RuleState,
    /// What the starter did with the rule's lock.
    pub lock: RuleAccess,
}

/// The starter's JSON answer, shown in the Lambda console.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartSummary {
    pub trigger: Trigger,
    /// The name this invocation holds the rule's lock by.
    pub owner: String,
    pub mode: &'static str,
    pub refresh_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleOutcome>,
    pub tasks: Vec<TaskOutcome>,
    /// The source-side checks of a CDC start point, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdc_start_check: Option<CdcStartCheck>,
    /// What was done before the load (the target's triggers recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_load: Option<serde_json::Value>,
}

/// Why a starter invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum StarterError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("DMS task {0} does not exist (check DMS_TASK_ARNS and the region)")]
    TaskNotFound(String),
    #[error("EventBridge rule {0} does not exist (check SCHEDULE_RULE_NAME)")]
    RuleNotFound(String),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("stop-at refused: {0}")]
    StopAtRefused(String),
    #[error("move refused: {0}")]
    MoveRefused(String),
    #[error("CDC start refused: {reason}")]
    CdcStartRefused {
        reason: String,
        check: Box<CdcStartCheck>,
    },
    #[error("{failed} task start(s) failed; rule {rule_note}: {detail}")]
    StartFailed {
        failed: usize,
        rule_note: String,
        detail: String,
        summary: Box<StartSummary>,
    },
}

impl StarterError {
    /// A short, stable name for Lambda's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Event(_) => "InvalidEvent",
            Self::TaskNotFound(_) => "TaskNotFound",
            Self::RuleNotFound(_) => "RuleNotFound",
            Self::Port(e) if e.is_retryable() => "AwsTransientError",
            Self::Port(_) => "AwsError",
            Self::StartFailed { .. } => "StartFailed",
            Self::CdcStartRefused { .. } => "CdcStartRefused",
            Self::StopAtRefused(_) => "StopAtRefused",
            Self::MoveRefused(_) => "MoveRefused",
        }
    }
}

/// Work done once a start is decided and before the lock is taken and any
/// task starts; its answer goes into [`StartSummary::before_load`], and its
/// failure starts nothing. (The target's trigger record, see
/// [`crate::cutover`].)
pub type BeforeLoad<'a> = &'a (
        dyn Fn() -> std::pin::Pin<
    Box<dyn Future<Output = Result<serde_json::Value, PortError>> + Send + 'a>,
> + Sync
    );

/// The dependencies the starter uses, borrowed for one invocation.
pub struct StarterPorts<'a, D, R, N> {
    pub dms: &'a D,
    pub rules: &'a R,
    pub notifier: &'a N,
    pub before_load: Option<BeforeLoad<'a>>,
}

impl<D: std::fmt::Debug, R: std::fmt::Debug, N: std::fmt::Debug> std::fmt::Debug
    for StarterPorts<'_, D, R, N>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StarterPorts")
            .field("dms", self.dms)
            .field("rules", self.rules)
            .field("notifier", self.notifier)
            .field("before_load", &self.before_load.is_some())
            .finish()
    }
}

/// The schedule rule as the starter found it.
#[derive(Debug, Clone)]
struct RuleView {
    name: String,
    state: RuleState,
    access: RuleAccess,
    lock: Option<RuleLock>,
}

/// Run one starter invocation. `request_id` is the Lambda request id.
pub async fn start_refresh<D, R, N>(
    config: &Config,
    ports: &StarterPorts<'_, D, R, N>,
    trigger: Trigger,
    request_id: &str,
) -> Result<StartSummary, StarterError>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
{
    start_group(config, ports, trigger, request_id, None).await
}

/// Start the group; `stop_at` is the CDC stop position of an operator's
/// `stop-at` (instead of `CDC_STOP_POSITION`), recorded on the rule for the
/// post-processor. Any other start forgets an earlier `stop-at`.
async fn start_group<D, R, N>(
    config: &Config,
    ports: &StarterPorts<'_, D, R, N>,
    trigger: Trigger,
    request_id: &str,
    stop_at: Option<&str>,
) -> Result<StartSummary, StarterError>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
{
    let owner = trigger.owner(request_id);
    let (dry_run, requested, allow_partial) = match &trigger {
        Trigger::Operator {
            dry_run,
            start_type,
            allow_partial,
            ..
        } => (*dry_run, *start_type, *allow_partial),
        // The stop-at's resume of the tasks it stopped (the group it passes
        // holds only those).
        Trigger::StopAt { dry_run, .. } => (*dry_run, Some(StartType::ResumeProcessing), false),
        Trigger::Schedule { .. } | Trigger::Manual => (false, None, false),
        // A move starts nothing through here (see `move_group`).
        Trigger::Move { dry_run, .. } => (*dry_run, None, false),
    };

    // 1. Read everything before touching anything: the group, the rule, its lock.
    let tasks = describe_group(config, ports.dms).await?;
    let rule = read_rule(config, ports.rules, &owner, trigger.requester()).await?;
    let own_since = match rule.as_ref().map(|r| &r.access) {
        Some(RuleAccess::Resume { since_epoch }) => Some(*since_epoch),
        _ => None,
    };
    let mut plan = group::plan(config, tasks, requested, own_since);
    let cdc_start = trigger.cdc_start().cloned();
    if cdc_start.is_some() {
        group::plan_cdc_start(config, &mut plan);
    }

    // 2. All or nothing: a task that cannot start means none is started. A
    //    rule that refuses every start blocks nothing worth an alert; a
    //    move under way is alerted on its own (`alert_held`).
    let move_held = held_by_move(ports.rules, rule.as_ref(), &trigger).await?;
    let blockers = match (rule.as_ref().map(|r| &r.access), &move_held) {
        (Some(RuleAccess::Refuse { reason }), _) | (_, Some(reason)) => {
            warn!(%reason, "not starting");
            group::refuse_all(&mut plan, reason);
            Vec::new()
        }
        _ => all_or_nothing(&mut plan, allow_partial),
    };

    let mut summary = StartSummary {
        trigger,
        owner: owner.clone(),
        mode: config.mode.as_str(),
        refresh_type: config.refresh_type.as_str(),
        rule: None,
        tasks: Vec::new(),
        cdc_start_check: None,
        before_load: None,
    };

    // 3. What must precede the load; its failure starts nothing. Then take
    //    the lock before starting, so that no second invocation starts a
    //    second run.
    let to_start = plan
        .iter()
        .any(|p| matches!(p.decision, StartDecision::Start(_)));
    if let (Some(before), true) = (ports.before_load, to_start) {
        summary.before_load = Some(if dry_run {
            "would run before the load".into()
        } else {
            before().await?
        });
    }
    if let (Some(rule), true, false) = (&rule, to_start, dry_run) {
        let managed = config.manages_rule().is_some();
        summary.rule = Some(acquire(ports.rules, rule, &owner, managed).await?);
        ports.rules.set_intended_stop(&rule.name, stop_at).await?;
    }

    // 4. Start (or report) each task.
    let mut failures: Vec<String> = Vec::new();
    for planned in plan {
        let outcome = start_one(
            config,
            ports.dms,
            planned,
            (dry_run, cdc_start.as_ref(), stop_at),
            &mut failures,
        )
        .await;
        summary.tasks.push(outcome);
    }

    if !blockers.is_empty() {
        alert_blocked(config, ports.notifier, &summary, &blockers).await;
    }
    if let Some(reason) = &move_held {
        alert_held(config, ports.notifier, &summary, reason).await;
    }
    // A forced start goes past a recorded move: forgotten once the tasks
    // started, so that its checkpoints stay on record if the start fails.
    let started = summary
        .tasks
        .iter()
        .any(|t| t.action == TaskAction::Started);
    if let (Some(rule), true, true) = (
        &rule,
        started && failures.is_empty(),
        forced_past_move(&summary.trigger),
    ) {
        ports.rules.set_move_record(&rule.name, None).await?;
    }
    if failures.is_empty() {
        return Ok(summary);
    }
    Err(give_back(config, ports, rule.as_ref(), summary, failures).await)
}

/// Why a move under way holds this start, if it does. An operator's start
/// with `force` goes past it (and forgets the move); a failed move names
/// that way forward.
async fn held_by_move<R: ScheduleRule>(
    rules: &R,
    rule: Option<&RuleView>,
    trigger: &Trigger,
) -> Result<Option<String>, PortError> {
    let Some(rule) = rule else {
        return Ok(None);
    };
    if forced_past_move(trigger) {
        return Ok(None);
    }
    Ok(rules.move_record(&rule.name).await?.map(|m| {
        format!(
            "a move to {} is under way (recorded on the rule); the group starts again when it \
             has ended, or with an operator start with \"force\": true",
            m.target_instance_arn
        )
    }))
}

/// A start the schedule (or the console) asked for was held by a move: said
/// each time, so that the nightly refresh is not skipped silently.
async fn alert_held<N: Notifier>(
    config: &Config,
    notifier: &N,
    summary: &StartSummary,
    reason: &str,
) {
    if matches!(
        summary.trigger,
        Trigger::Operator { .. } | Trigger::StopAt { .. }
    ) {
        return;
    }
    let alert = Alert {
        subject: "dms-refresh: refresh held by a move".into(),
        summary: format!("The refresh did not start: {reason}."),
        details: serde_json::json!({ "run": summary }),
    };
    publish_if_configured(notifier, config, &alert).await;
}

fn forced_past_move(trigger: &Trigger) -> bool {
    matches!(trigger, Trigger::Operator { force: true, .. })
}

/// Run one starter invocation, with the source checks a CDC start point
/// needs first (see [`check_source`]); `slots` reads the source's
/// replication slots when a source secret is configured.
pub async fn start_checked<D, R, N, S>(
    config: &Config,
    ports: &StarterPorts<'_, D, R, N>,
    slots: Option<&S>,
    trigger: Trigger,
    request_id: &str,
) -> Result<StartSummary, StarterError>
where
    D: ReplicationTasks + Endpoints,
    R: ScheduleRule,
    N: Notifier,
    S: ReplicationSlots,
{
    let check = match trigger.cdc_start() {
        Some(start) => Some(check_source(config, ports.dms, slots, start).await?),
        None => None,
    };
    let mut summary = start_refresh(config, ports, trigger, request_id).await?;
    if let Some(check) = &check {
        announce_cdc_start(config, ports.notifier, &summary, check).await;
    }
    summary.cdc_start_check = check;
    Ok(summary)
}

/// A CDC start from a point of the source is on record in the notifications.
async fn announce_cdc_start<N: Notifier>(
    config: &Config,
    notifier: &N,
    summary: &StartSummary,
    check: &CdcStartCheck,
) {
    let started: Vec<&str> = summary
        .tasks
        .iter()
        .filter(|t| t.action == TaskAction::Started)
        .map(|t| t.task_id.as_str())
        .collect();
    if started.is_empty() {
        return;
    }
    let from = match &check.start {
        CdcStart::Position(p) => p.clone(),
        CdcStart::Time(secs) => format!("the time {secs} (epoch seconds)"),
    };
    let alert = Alert {
        subject: "dms-refresh: CDC started from a point of the source".into(),
        summary: format!("CDC of {} starts from {from}.", started.join(", ")),
        details: serde_json::json!({ "check": check, "run": summary }),
    };
    publish_if_configured(notifier, config, &alert).await;
}

async fn describe_group<D: ReplicationTasks>(
    config: &Config,
    dms: &D,
) -> Result<Vec<TaskInfo>, StarterError> {
    let mut tasks = Vec::with_capacity(config.task_arns.len());
    for arn in &config.task_arns {
        let task = dms
            .describe_task(arn)
            .await?
            .ok_or_else(|| StarterError::TaskNotFound(arn.clone()))?;
        tasks.push(task);
    }
    Ok(tasks)
}

/// The rule, its state and lock, and what this invocation may do with it.
/// `None` when no rule is configured (one-time mode without a rule).
async fn read_rule<R: ScheduleRule>(
    config: &Config,
    rules: &R,
    owner: &str,
    requester: Requester,
) -> Result<Option<RuleView>, StarterError> {
    let Some(name) = config.rule_name.as_deref() else {
        return Ok(None);
    };
    let managed = config.manages_rule().is_some();
    let Some(state) = rules.rule_state(name).await? else {
        if managed {
            return Err(StarterError::RuleNotFound(name.to_owned()));
        }
        warn!(
            rule = name,
            "the rule does not exist; the run is not recorded on it"
        );
        return Ok(None);
    };
    let lock = rules.lock(name).await?;
    let access = decide_rule_access(name, managed, state, lock.as_ref(), owner, requester);
    Ok(Some(RuleView {
        name: name.to_owned(),
        state,
        access,
        lock,
    }))
}

/// Record the lock (tags first: a crash after this leaves an enabled rule
/// whose record the retry of the same invocation resumes, and the next
/// invocation replaces), then disable the rule.
async fn acquire<R: ScheduleRule>(
    rules: &R,
    rule: &RuleView,
    owner: &str,
    managed: bool,
) -> Result<RuleOutcome, StarterError> {
    let disable = || async {
        rules
            .set_rule_state(&rule.name, RuleState::Disabled)
            .await?;
        info!(rule = %rule.name, owner, "schedule rule disabled for the run");
        Ok::<(), PortError>(())
    };
    match &rule.access {
        RuleAccess::Take { disable: off } => {
            let lock = RuleLock::taken(owner, now_epoch(), *off);
            rules.set_lock(&rule.name, &lock).await?;
            if *off {
                disable().await?;
            }
        }
        RuleAccess::TakeOver { previous_owner } => {
            info!(rule = %rule.name, %previous_owner, owner, "operator takes over the rule's lock");
            let lock = RuleLock::taken(owner, now_epoch(), false);
            rules.set_lock(&rule.name, &lock).await?;
        }
        // The killed attempt may have recorded its lock and died before it
        // disabled the rule.
        RuleAccess::Resume { .. } if managed && rule.state == RuleState::Enabled => {
            disable().await?;
        }
        RuleAccess::Resume { .. } | RuleAccess::Bypass | RuleAccess::Refuse { .. } => {}
    }
    let after = match &rule.access {
        RuleAccess::Take { disable: true } => RuleState::Disabled,
        RuleAccess::Resume { .. } if managed => RuleState::Disabled,
        _ => rule.state,
    };
    Ok(RuleOutcome {
        name: rule.name.clone(),
        before: rule.state,
        after,
        lock: rule.access.clone(),
    })
}

fn now_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn start_one<D: ReplicationTasks>(
    config: &Config,
    dms: &D,
    planned: PlannedTask,
    (dry_run, cdc_start, stop_at): (bool, Option<&CdcStart>, Option<&str>),
    failures: &mut Vec<String>,
) -> TaskOutcome {
    let task = planned.task;
    let mut outcome = TaskOutcome {
        task_arn: task.arn.clone(),
        task_id: task.identifier.clone(),
        previous_status: task.status.as_str().to_owned(),
        action: TaskAction::Skipped,
        start_type: None,
        reason: None,
    };
    let start_type = match planned.decision {
        StartDecision::Busy(reason) | StartDecision::Skip(reason) => {
            info!(task = %task.arn, status = %task.status.as_str(), %reason, "task not started");
            outcome.reason = Some(reason);
            return outcome;
        }
        StartDecision::Start(_) if planned.started_under_lock => {
            outcome.action = TaskAction::AlreadyStarted;
            outcome.reason = Some("started by an earlier attempt of this invocation".into());
            return outcome;
        }
        StartDecision::Start(start_type) => start_type,
    };
    outcome.start_type = Some(start_type);
    if dry_run {
        outcome.action = TaskAction::WouldStart;
        return outcome;
    }
    let request = StartRequest {
        task_arn: task.arn.clone(),
        start_type,
        cdc_stop_position: stop_at
            .map(str::to_owned)
            .or_else(|| cdc_stop_position(config, &task)),
        cdc_start: cdc_start.cloned(),
    };
    match dms.start_task(&request).await {
        Ok(()) => {
            info!(task = %task.arn, start_type = start_type.as_str(), "task started");
            outcome.action = TaskAction::Started;
        }
        Err(err) if err.kind == FailureKind::InvalidState => {
            refused(dms, &task, &err, &mut outcome, failures).await;
        }
        Err(err) => {
            warn!(task = %task.arn, error = %err, "task start failed");
            failures.push(format!("{}: {err}", task.identifier));
            outcome.action = TaskAction::Failed;
            outcome.reason = Some(err.to_string());
        }
    }
    outcome
}

/// DMS refused with `InvalidResourceStateFault`: look again. If the task is
/// now starting or running, another invocation or an operator won the race.
async fn refused<D: ReplicationTasks>(
    dms: &D,
    task: &TaskInfo,
    err: &PortError,
    outcome: &mut TaskOutcome,
    failures: &mut Vec<String>,
) {
    match dms.describe_task(&task.arn).await {
        Ok(Some(now)) if now.status.is_starting_or_running() => {
            info!(task = %task.arn, status = now.status.as_str(), "task already started by another invocation");
            outcome.action = TaskAction::AlreadyStarted;
            outcome.reason = Some(format!(
                "DMS refused the start because the task is already {}",
                now.status.as_str()
            ));
        }
        Ok(_) => {
            warn!(task = %task.arn, error = %err, "task start refused");
            failures.push(format!("{}: {err}", task.identifier));
            outcome.action = TaskAction::Failed;
            outcome.reason = Some(err.to_string());
        }
        Err(describe_err) => {
            // It may be running: fail closed, keep the rule disabled.
            warn!(task = %task.arn, error = %err, %describe_err, "task start refused; state unknown");
            failures.push(format!(
                "{}: {err}; its state could not be read ({describe_err})",
                task.identifier
            ));
            outcome.action = TaskAction::Unknown;
            outcome.reason = Some(format!(
                "DMS refused the start and the task's state could not be read: {describe_err}"
            ));
        }
    }
}

/// The group was not started because some task cannot start.
async fn alert_blocked<N: Notifier>(
    config: &Config,
    notifier: &N,
    summary: &StartSummary,
    blockers: &[(String, String)],
) {
    let names = blockers
        .iter()
        .map(|(task, why)| format!("{task} ({why})"))
        .collect::<Vec<_>>()
        .join("; ");
    let started = summary
        .tasks
        .iter()
        .any(|t| t.action == TaskAction::Started);
    let alert = Alert {
        subject: "dms-refresh: refresh group not started".into(),
        summary: if started {
            format!("Started only part of the group (allow_partial): not started: {names}.")
        } else {
            format!(
                "The refresh group starts all-or-nothing, and these tasks cannot start: {names}. \
                 Nothing was started. Fix them, or send {{\"operation\": \"start\", \
                 \"allow_partial\": true}} to start the others."
            )
        },
        details: serde_json::json!({ "blocked": blockers, "run": summary }),
    };
    publish_if_configured(notifier, config, &alert).await;
}

/// A start failed: give the schedule back when nothing of the group runs,
/// and alert.
async fn give_back<D, R, N>(
    config: &Config,
    ports: &StarterPorts<'_, D, R, N>,
    rule: Option<&RuleView>,
    mut summary: StartSummary,
    failures: Vec<String>,
) -> StarterError
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
{
    let running: Vec<&str> = summary
        .tasks
        .iter()
        .filter(|t| {
            matches!(
                t.action,
                TaskAction::Started | TaskAction::AlreadyStarted | TaskAction::Unknown
            )
        })
        .map(|t| t.task_id.as_str())
        .collect();
    // The rule was disabled by this invocation (now, or by the attempt a
    // retry resumes): giving it back is right when nothing of the group runs.
    let disabled_by_us = rule.filter(|r| match &r.access {
        RuleAccess::Take { disable } => *disable,
        RuleAccess::Resume { .. } => r.lock.as_ref().is_some_and(|l| l.disabled_rule),
        _ => false,
    });
    // While some task of the group may be running, the rule stays disabled:
    // that run's own post-processing must find it so.
    let rule_note = match (disabled_by_us, rule) {
        (Some(r), _) if !running.is_empty() => format!(
            "{} kept disabled because task(s) {} may be running (partial start)",
            r.name,
            running.join(", ")
        ),
        (Some(r), _) => release(ports.rules, &r.name, &mut summary).await,
        (None, Some(r)) if config.manages_rule().is_some() => format!("{} left as it was", r.name),
        (None, Some(r))
            if running.is_empty() && r.access == (RuleAccess::Take { disable: false }) =>
        {
            // One-time mode: nothing runs, so no run is left to record.
            if let Err(err) = ports.rules.clear_lock(&r.name).await {
                warn!(rule = %r.name, error = %err, "the run's lock record could not be removed");
            }
            "not managed (one-time mode)".to_owned()
        }
        (None, _) => "not managed (one-time mode)".to_owned(),
    };
    let detail = failures.join("; ");
    let alert = Alert {
        subject: "dms-refresh: task start failed".into(),
        summary: format!("Starting the refresh failed. Rule {rule_note}."),
        details: serde_json::json!({ "failures": failures, "run": &summary }),
    };
    publish_if_configured(ports.notifier, config, &alert).await;
    StarterError::StartFailed {
        failed: failures.len(),
        rule_note,
        detail,
        summary: Box::new(summary),
    }
}

/// Nothing started: re-enable the rule this invocation disabled, then drop
/// the lock record.
async fn release<R: ScheduleRule>(rules: &R, rule: &str, summary: &mut StartSummary) -> String {
    match rules.set_rule_state(rule, RuleState::Enabled).await {
        Ok(()) => {
            if let Some(r) = summary.rule.as_mut() {
                r.after = RuleState::Enabled;
            }
            if let Err(err) = rules.clear_lock(rule).await {
                warn!(rule, error = %err, "the rule is enabled again but its lock record could not be removed");
            }
            format!("{rule} re-enabled")
        }
        Err(err) => format!("{rule} could NOT be re-enabled ({err}); enable it by hand"),
    }
}

pub(crate) fn cdc_stop_position(config: &Config, task: &TaskInfo) -> Option<String> {
    let kind = task.migration_type.unwrap_or(config.refresh_type);
    match kind {
        RefreshType::FullLoad => None,
        RefreshType::Cdc | RefreshType::FullLoadAndCdc => config.cdc_stop_position.clone(),
    }
}

#[cfg(test)]
mod tests;
