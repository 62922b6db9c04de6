//! The task-starter's work: understand the invocation, decide per task, guard
//! the schedule rule, start the tasks, and report.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use crate::config::{Config, RefreshType};
use crate::notify::{Alert, publish_if_configured};
use crate::ports::{
    FailureKind, Notifier, PortError, ReplicationTasks, RuleState, ScheduleRule, StartRequest,
};
use crate::task::{StartDecision, StartType, TaskInfo, decide_start};

/// Why the starter was invoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Trigger {
    /// An EventBridge scheduled event.
    Schedule {
        rule_arns: Vec<String>,
        time: Option<String>,
    },
    /// Any other JSON object, such as the Lambda console's test event.
    Manual,
    /// An explicit operator request (see [`OperatorRequest`]).
    Operator {
        dry_run: bool,
        start_type: Option<StartType>,
    },
}

/// An explicit request: `{"operation": "start", "dry_run": true, "start_type": "reload-target"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorRequest {
    operation: String,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    start_type: Option<String>,
}

/// The invocation payload is not something the starter accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid starter event: {0}")]
pub struct EventError(pub String);

/// Classify the payload. Scheduled events and any JSON object start a refresh;
/// an object with an `operation` key must be a well-formed operator request.
pub fn parse_trigger(event: &Value) -> Result<Trigger, EventError> {
    let Some(object) = event.as_object() else {
        return Err(EventError(format!(
            "expected a JSON object (a scheduled event, a console test event or an operator \
             request), got {}",
            json_kind(event)
        )));
    };
    if object.get("source").and_then(Value::as_str) == Some("aws.events")
        && object.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
    {
        let rule_arns = object
            .get("resources")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let time = object
            .get("time")
            .and_then(Value::as_str)
            .map(str::to_owned);
        return Ok(Trigger::Schedule { rule_arns, time });
    }
    if object.contains_key("operation") {
        let request: OperatorRequest = serde_json::from_value(event.clone())
            .map_err(|e| EventError(format!("operator request: {e}")))?;
        if request.operation != "start" {
            return Err(EventError(format!(
                "operator request: unknown operation {:?}; the starter supports \"start\"",
                request.operation
            )));
        }
        let start_type = request
            .start_type
            .map(|s| {
                StartType::parse(&s).ok_or_else(|| {
                    EventError(format!(
                        "operator request: start_type {s:?} is not one of {}",
                        StartType::VALUES.join(", ")
                    ))
                })
            })
            .transpose()?;
        return Ok(Trigger::Operator {
            dry_run: request.dry_run,
            start_type,
        });
    }
    Ok(Trigger::Manual)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What happened to one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskAction {
    Started,
    /// DMS refused because another start won the race; nothing to do.
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
}

/// The starter's JSON answer, shown in the Lambda console.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartSummary {
    pub trigger: Trigger,
    pub mode: &'static str,
    pub refresh_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleOutcome>,
    pub tasks: Vec<TaskOutcome>,
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
        }
    }
}

/// The dependencies the starter uses, borrowed for one invocation.
#[derive(Debug)]
pub struct StarterPorts<'a, D, R, N> {
    pub dms: &'a D,
    pub rules: &'a R,
    pub notifier: &'a N,
}

/// Run one starter invocation.
pub async fn start_refresh<D, R, N>(
    config: &Config,
    ports: &StarterPorts<'_, D, R, N>,
    trigger: Trigger,
) -> Result<StartSummary, StarterError>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
{
    let operator = matches!(trigger, Trigger::Operator { .. });
    let (dry_run, requested) = match &trigger {
        Trigger::Operator {
            dry_run,
            start_type,
        } => (*dry_run, *start_type),
        _ => (false, None),
    };

    // 1. Describe the whole group before touching anything.
    let mut plan: Vec<(TaskInfo, StartDecision)> = Vec::with_capacity(config.task_arns.len());
    for arn in &config.task_arns {
        let task = ports
            .dms
            .describe_task(arn)
            .await?
            .ok_or_else(|| StarterError::TaskNotFound(arn.clone()))?;
        let migration_type = task.migration_type.unwrap_or(config.refresh_type);
        if task
            .migration_type
            .is_some_and(|t| t != config.refresh_type)
        {
            warn!(task = %arn, configured = %config.refresh_type, actual = ?task.migration_type,
                  "the task's migration type differs from REFRESH_TYPE; deciding by the task's own");
        }
        let decision = decide_start(&task.status, migration_type, requested);
        plan.push((task, decision));
    }

    let mut summary = StartSummary {
        trigger,
        mode: config.mode.as_str(),
        refresh_type: config.refresh_type.as_str(),
        rule: None,
        tasks: Vec::new(),
    };
    let any_to_start = plan
        .iter()
        .any(|(_, d)| matches!(d, StartDecision::Start(_)));

    // 2. Schedule mode: disable the rule before starting, so that no second
    //    scheduled or manual invocation can start a second run.
    let mut disabled_by_us: Option<&str> = None;
    if let (Some(rule), true, false) = (config.manages_rule(), any_to_start, dry_run) {
        let before = ports
            .rules
            .rule_state(rule)
            .await?
            .ok_or_else(|| StarterError::RuleNotFound(rule.to_owned()))?;
        if before == RuleState::Disabled && !operator {
            // A disabled rule means a refresh is in progress (masking may be
            // running on the target) or the last one failed closed.
            let reason = format!(
                "the schedule rule {rule} is disabled: a refresh is in progress or the last one \
                 failed; send {{\"operation\": \"start\"}} to start anyway"
            );
            warn!(rule, "schedule rule disabled; not starting");
            for (_, decision) in &mut plan {
                if matches!(decision, StartDecision::Start(_)) {
                    *decision = StartDecision::Skip(reason.clone());
                }
            }
        } else if before == RuleState::Enabled {
            ports
                .rules
                .set_rule_state(rule, RuleState::Disabled)
                .await?;
            disabled_by_us = Some(rule);
            info!(rule, "schedule rule disabled for the run");
        }
        if before == RuleState::Enabled || operator {
            summary.rule = Some(RuleOutcome {
                name: rule.to_owned(),
                before,
                after: RuleState::Disabled,
            });
        }
    }

    // 3. Start (or report) each task.
    let mut failures: Vec<String> = Vec::new();
    for (task, decision) in plan {
        let mut outcome = TaskOutcome {
            task_arn: task.arn.clone(),
            task_id: task.identifier.clone(),
            previous_status: task.status.as_str().to_owned(),
            action: TaskAction::Skipped,
            start_type: None,
            reason: None,
        };
        match decision {
            StartDecision::Skip(reason) => {
                info!(task = %task.arn, status = %task.status.as_str(), %reason, "task not started");
                outcome.reason = Some(reason);
            }
            StartDecision::Start(start_type) if dry_run => {
                outcome.action = TaskAction::WouldStart;
                outcome.start_type = Some(start_type);
            }
            StartDecision::Start(start_type) => {
                outcome.start_type = Some(start_type);
                let request = StartRequest {
                    task_arn: task.arn.clone(),
                    start_type,
                    cdc_stop_position: cdc_stop_position(config, &task),
                };
                match ports.dms.start_task(&request).await {
                    Ok(()) => {
                        info!(task = %task.arn, start_type = start_type.as_str(), "task started");
                        outcome.action = TaskAction::Started;
                    }
                    Err(err) if err.kind == FailureKind::InvalidState => {
                        match lost_the_race(ports.dms, &task.arn).await {
                            Race::Lost(status) => {
                                info!(task = %task.arn, %status, "task already started by another invocation");
                                outcome.action = TaskAction::AlreadyStarted;
                                outcome.reason = Some(format!(
                                    "DMS refused the start because the task is already {status}"
                                ));
                            }
                            Race::Refused => {
                                warn!(task = %task.arn, error = %err, "task start refused");
                                failures.push(format!("{}: {err}", task.identifier));
                                outcome.action = TaskAction::Failed;
                                outcome.reason = Some(err.to_string());
                            }
                            Race::Unknown(describe_err) => {
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
                    Err(err) => {
                        warn!(task = %task.arn, error = %err, "task start failed");
                        failures.push(format!("{}: {err}", task.identifier));
                        outcome.action = TaskAction::Failed;
                        outcome.reason = Some(err.to_string());
                    }
                }
            }
        }
        summary.tasks.push(outcome);
    }

    if failures.is_empty() {
        return Ok(summary);
    }

    // 4. A start failed: give the schedule back and alert.
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
    // While some task of the group may be running, the rule stays disabled:
    // that run's own post-processing must find it so.
    let rule_note = match disabled_by_us {
        Some(rule) if !running.is_empty() => format!(
            "{rule} kept disabled because task(s) {} may be running (partial start)",
            running.join(", ")
        ),
        Some(rule) => match ports.rules.set_rule_state(rule, RuleState::Enabled).await {
            Ok(()) => {
                if let Some(r) = summary.rule.as_mut() {
                    r.after = RuleState::Enabled;
                }
                format!("{rule} re-enabled")
            }
            Err(err) => format!("{rule} could NOT be re-enabled ({err}); enable it by hand"),
        },
        None => match config.manages_rule() {
            Some(rule) => format!("{rule} left as it was"),
            None => "not managed (one-time mode)".to_owned(),
        },
    };
    let detail = failures.join("; ");
    let alert = Alert {
        subject: "dms-refresh: task start failed".into(),
        summary: format!("Starting the refresh failed. Rule {rule_note}."),
        details: serde_json::json!({ "failures": failures, "run": &summary }),
    };
    publish_if_configured(ports.notifier, config, &alert).await;
    Err(StarterError::StartFailed {
        failed: failures.len(),
        rule_note,
        detail,
        summary: Box::new(summary),
    })
}

/// After `InvalidResourceStateFault`, look again: if the task is now starting
/// or running, another invocation or an operator won the race.
async fn lost_the_race<D: ReplicationTasks>(dms: &D, task_arn: &str) -> Race {
    match dms.describe_task(task_arn).await {
        Ok(Some(task)) if task.status.is_starting_or_running() => {
            Race::Lost(task.status.as_str().to_owned())
        }
        Ok(_) => Race::Refused,
        Err(err) => Race::Unknown(err.to_string()),
    }
}

/// What a second look after `InvalidResourceStateFault` found.
enum Race {
    /// Another start won: the task is starting or running.
    Lost(String),
    /// The task is not running: the refusal was about something else.
    Refused,
    /// The task could not be described.
    Unknown(String),
}

fn cdc_stop_position(config: &Config, task: &TaskInfo) -> Option<String> {
    let kind = task.migration_type.unwrap_or(config.refresh_type);
    match kind {
        RefreshType::FullLoad => None,
        RefreshType::Cdc | RefreshType::FullLoadAndCdc => config.cdc_stop_position.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars;
    use crate::fakes::{FakeDms, FakeNotifier, FakeRules, task};
    use crate::task::TaskStatus;

    const A: &str = "arn:aws:dms:eu-west-1:123456789012:task:A";
    const B: &str = "arn:aws:dms:eu-west-1:123456789012:task:B";
    const RULE: &str = "nightly";
    const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:alerts";

    fn config(arns: &str, mode: &str) -> Config {
        let pairs = [
            (vars::TASK_ARNS, arns),
            (vars::RULE_NAME, RULE),
            (vars::INDICATOR, "data-refresh"),
            (vars::REFRESH_TYPE, "full-load"),
            (vars::MODE, mode),
            (vars::TOPIC_ARN, TOPIC),
        ];
        crate::fakes::config(&pairs)
    }

    struct World {
        dms: FakeDms,
        rules: FakeRules,
        notifier: FakeNotifier,
    }

    impl World {
        fn new(tasks: Vec<crate::task::TaskInfo>, rule: RuleState) -> Self {
            Self {
                dms: FakeDms::with_tasks(tasks),
                rules: FakeRules::with_rule(RULE, rule),
                notifier: FakeNotifier::default(),
            }
        }

        async fn run(
            &self,
            config: &Config,
            trigger: Trigger,
        ) -> Result<StartSummary, StarterError> {
            let ports = StarterPorts {
                dms: &self.dms,
                rules: &self.rules,
                notifier: &self.notifier,
            };
            start_refresh(config, &ports, trigger).await
        }
    }

    #[tokio::test]
    async fn schedule_mode_disables_the_rule_then_reloads_a_stopped_task() {
        let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
        let summary = w
            .run(&config(A, "schedule"), Trigger::Manual)
            .await
            .unwrap();
        assert_eq!(
            w.rules.changes(),
            vec![(RULE.to_owned(), RuleState::Disabled)]
        );
        let starts = w.dms.starts();
        assert_eq!(starts.len(), 1);
        assert_eq!(starts[0].start_type, StartType::ReloadTarget);
        assert_eq!(summary.tasks[0].action, TaskAction::Started);
        assert_eq!(summary.tasks[0].previous_status, "stopped");
        assert!(w.notifier.messages().is_empty());

        // A second invocation while the task runs starts nothing and leaves the rule alone.
        let again = w
            .run(&config(A, "schedule"), Trigger::Manual)
            .await
            .unwrap();
        assert_eq!(again.tasks[0].action, TaskAction::Skipped);
        assert_eq!(w.dms.starts().len(), 1);
        assert_eq!(w.rules.changes().len(), 1);
    }

    #[tokio::test]
    async fn a_lost_race_is_already_started_with_the_rule_kept_disabled_and_no_alert() {
        let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
        w.dms
            .fail_next_start(A, FailureKind::InvalidState, "Task is being started");
        w.dms
            .status_after_error
            .lock()
            .unwrap()
            .insert(A.into(), TaskStatus::Starting);
        let summary = w
            .run(&config(A, "schedule"), Trigger::Manual)
            .await
            .unwrap();
        assert_eq!(summary.tasks[0].action, TaskAction::AlreadyStarted);
        assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
        assert!(w.notifier.messages().is_empty());
    }

    #[tokio::test]
    async fn an_invalid_state_that_is_not_a_race_is_a_failure() {
        let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
        w.dms
            .fail_next_start(A, FailureKind::InvalidState, "endpoint test failed");
        let err = w
            .run(&config(A, "schedule"), Trigger::Manual)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "StartFailed");
        assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
    }

    #[tokio::test]
    async fn a_failed_start_re_enables_the_rule_it_disabled_and_alerts() {
        let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
        w.dms.fail_next_start(
            A,
            FailureKind::Permanent,
            "AccessDeniedFault: no dms-vpc-role",
        );
        let err = w
            .run(&config(A, "schedule"), Trigger::Manual)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("re-enabled"), "{err}");
        assert_eq!(
            w.rules.changes(),
            vec![
                (RULE.to_owned(), RuleState::Disabled),
                (RULE.to_owned(), RuleState::Enabled)
            ]
        );
        let messages = w.notifier.messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].0, TOPIC);
        assert!(
            messages[0].2.contains("AccessDeniedFault"),
            "{}",
            messages[0].2
        );
    }

    #[tokio::test]
    async fn a_rule_that_was_already_disabled_stays_disabled_after_a_failure() {
        let w = World::new(vec![task(A, TaskStatus::Failed)], RuleState::Disabled);
        w.dms
            .fail_next_start(A, FailureKind::Transient, "throttled");
        let operator = Trigger::Operator {
            dry_run: false,
            start_type: None,
        };
        let err = w.run(&config(A, "schedule"), operator).await.unwrap_err();
        assert!(err.to_string().contains("left as it was"), "{err}");
        assert!(w.rules.changes().is_empty());
        assert_eq!(w.notifier.messages().len(), 1);
    }

    #[tokio::test]
    async fn a_disabled_rule_stops_scheduled_and_console_runs_but_not_an_operator() {
        let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Disabled);
        for trigger in [
            Trigger::Manual,
            Trigger::Schedule {
                rule_arns: vec![],
                time: None,
            },
        ] {
            let summary = w.run(&config(A, "schedule"), trigger).await.unwrap();
            assert_eq!(summary.tasks[0].action, TaskAction::Skipped);
            assert!(
                summary.tasks[0]
                    .reason
                    .as_deref()
                    .unwrap_or_default()
                    .contains("disabled")
            );
        }
        assert!(w.dms.starts().is_empty());
        let operator = Trigger::Operator {
            dry_run: false,
            start_type: None,
        };
        let summary = w.run(&config(A, "schedule"), operator).await.unwrap();
        assert_eq!(summary.tasks[0].action, TaskAction::Started);
        assert!(w.rules.changes().is_empty(), "the rule stays disabled");
    }

    #[tokio::test]
    async fn a_partial_group_start_keeps_the_rule_disabled() {
        let w = World::new(
            vec![task(A, TaskStatus::Stopped), task(B, TaskStatus::Stopped)],
            RuleState::Enabled,
        );
        w.dms
            .fail_next_start(B, FailureKind::Permanent, "AccessDeniedFault");
        let err = w
            .run(&config(&format!("{A},{B}"), "schedule"), Trigger::Manual)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("kept disabled"), "{err}");
        assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
        assert_eq!(w.notifier.messages().len(), 1);
    }

    #[tokio::test]
    async fn a_refused_start_whose_state_cannot_be_read_fails_closed() {
        let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
        w.dms
            .fail_next_start(A, FailureKind::InvalidState, "Task is being started");
        *w.dms.fail_describe_after.lock().unwrap() = Some(1);
        let err = w
            .run(&config(A, "schedule"), Trigger::Manual)
            .await
            .unwrap_err();
        let StarterError::StartFailed { summary, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(summary.tasks[0].action, TaskAction::Unknown);
        assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
        assert_eq!(w.notifier.messages().len(), 1);
    }

    #[tokio::test]
    async fn one_time_mode_never_touches_the_rule() {
        let w = World::new(vec![task(A, TaskStatus::Ready)], RuleState::Enabled);
        let summary = w
            .run(&config(A, "one-time"), Trigger::Manual)
            .await
            .unwrap();
        assert!(w.rules.changes().is_empty());
        assert!(summary.rule.is_none());
        assert_eq!(w.dms.starts()[0].start_type, StartType::StartReplication);
    }

    #[tokio::test]
    async fn an_unknown_task_is_an_error_before_anything_changes() {
        let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
        let err = w
            .run(&config(&format!("{A},{B}"), "schedule"), Trigger::Manual)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StarterError::TaskNotFound(ref arn) if arn == B),
            "{err}"
        );
        assert!(w.rules.changes().is_empty());
        assert!(w.dms.starts().is_empty());
    }

    #[tokio::test]
    async fn a_missing_rule_is_an_error_before_any_start() {
        let w = World {
            dms: FakeDms::with_tasks([task(A, TaskStatus::Stopped)]),
            rules: FakeRules::default(),
            notifier: FakeNotifier::default(),
        };
        let err = w
            .run(&config(A, "schedule"), Trigger::Manual)
            .await
            .unwrap_err();
        assert!(matches!(err, StarterError::RuleNotFound(_)), "{err}");
        assert!(w.dms.starts().is_empty());
    }

    #[tokio::test]
    async fn a_group_starts_every_startable_task_and_reports_the_rest() {
        let w = World::new(
            vec![task(A, TaskStatus::Stopped), task(B, TaskStatus::Running)],
            RuleState::Enabled,
        );
        let summary = w
            .run(&config(&format!("{A},{B}"), "schedule"), Trigger::Manual)
            .await
            .unwrap();
        let actions: Vec<_> = summary.tasks.iter().map(|t| t.action).collect();
        assert_eq!(actions, vec![TaskAction::Started, TaskAction::Skipped]);
        assert!(
            summary.tasks[1]
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains("running")
        );
    }

    #[tokio::test]
    async fn nothing_to_start_leaves_the_rule_alone() {
        let w = World::new(vec![task(A, TaskStatus::Running)], RuleState::Enabled);
        let summary = w
            .run(&config(A, "schedule"), Trigger::Manual)
            .await
            .unwrap();
        assert!(summary.rule.is_none());
        assert!(w.rules.changes().is_empty());
    }

    #[tokio::test]
    async fn a_dry_run_changes_nothing() {
        let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
        let trigger = Trigger::Operator {
            dry_run: true,
            start_type: None,
        };
        let summary = w.run(&config(A, "schedule"), trigger).await.unwrap();
        assert_eq!(summary.tasks[0].action, TaskAction::WouldStart);
        assert_eq!(summary.tasks[0].start_type, Some(StartType::ReloadTarget));
        assert!(w.rules.changes().is_empty() && w.dms.starts().is_empty());
    }

    #[test]
    fn triggers() {
        use serde_json::json;
        let scheduled = json!({
            "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-21T00:00:00Z", "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/nightly"], "detail": {}
        });
        assert_eq!(
            parse_trigger(&scheduled).unwrap(),
            Trigger::Schedule {
                rule_arns: vec!["arn:aws:events:eu-west-1:123456789012:rule/nightly".into()],
                time: Some("2026-11-21T00:00:00Z".into())
            }
        );
        let console = json!({"key1": "value1", "key2": "value2", "key3": "value3"});
        assert_eq!(parse_trigger(&console).unwrap(), Trigger::Manual);
        assert_eq!(parse_trigger(&json!({})).unwrap(), Trigger::Manual);
        assert_eq!(
            parse_trigger(
                &json!({"operation": "start", "dry_run": true, "start_type": "reload-target"})
            )
            .unwrap(),
            Trigger::Operator {
                dry_run: true,
                start_type: Some(StartType::ReloadTarget)
            }
        );
        for bad in [
            json!("start"),
            json!([1, 2]),
            json!(null),
            json!(42),
            json!({"operation": "stop"}),
            json!({"operation": "start", "start_type": "full"}),
            json!({"operation": "start", "dryrun": true}),
        ] {
            let err = parse_trigger(&bad).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid starter event"),
                "{bad}: {err}"
            );
        }
    }
}
