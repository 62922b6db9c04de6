//! Translates the Lambda invocation into a domain call and the result into the
//! JSON answer or a typed Lambda error.

use std::pin::Pin;
use std::time::{Duration, Instant};

use dms_refresh_core::config::Config;
use dms_refresh_core::ports::{
    Endpoints, FailureKind, Notifier, PortError, ReplicationSlots, ReplicationTasks, RequestRecord,
    RequestRecorder, ScheduleRule,
};
use dms_refresh_core::starter::{
    BeforeLoad, MoveSummary, StarterError, StarterPorts, Trigger, announce_move, announce_stop_at,
    move_group, parse_trigger, start_checked, stop_at,
};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use tracing::{error, info, warn};

/// How long a `stop-at` waits for the tasks it stopped to be stopped, so
/// that it can resume them in the same invocation (the function has 60 s).
const STOP_WAIT: Duration = Duration::from_secs(40);
const STOP_POLL: Duration = Duration::from_secs(5);
/// How long the hand-over of a request to the post-processor may take.
const RECORD_WAIT: Duration = Duration::from_secs(5);
/// How long the post-processor may take to record the target's triggers.
const TRIGGERS_WAIT: Duration = Duration::from_secs(20);

/// Everything built once at init and shared by every invocation.
#[derive(Debug)]
pub struct Deps<D, R, N, S, Rec> {
    pub config: Config,
    pub dms: D,
    pub rules: R,
    pub notifier: N,
    /// The source's replication slots, when a source secret is configured.
    pub slots: Option<S>,
    /// The way to the ledger, when the post-processor is named.
    pub recorder: Option<Rec>,
}

pub async fn handle<D, R, N, S, Rec>(
    event: LambdaEvent<Value>,
    deps: &Deps<D, R, N, S, Rec>,
) -> Result<Value, Diagnostic>
where
    D: ReplicationTasks + Endpoints,
    R: ScheduleRule,
    N: Notifier,
    S: ReplicationSlots,
    Rec: RequestRecorder,
{
    let request_id = event.context.request_id.clone();
    let result = async {
        let trigger = parse_trigger(&event.payload)?;
        info!(%request_id, trigger = ?trigger, "starter invoked");
        let record = || -> Pin<Box<dyn Future<Output = Result<Value, PortError>> + Send + '_>> {
            Box::pin(record_triggers(deps.recorder.as_ref()))
        };
        let ports = StarterPorts {
            dms: &deps.dms,
            rules: &deps.rules,
            notifier: &deps.notifier,
            before_load: deps
                .config
                .record_triggers_at_start
                .then_some(&record as BeforeLoad<'_>),
        };
        let (kind, dry_run, mut answer) = match &trigger {
            Trigger::StopAt { dry_run, position } => {
                // Its resume continues the load whose start kept the triggers.
                let ports = StarterPorts {
                    before_load: None,
                    ..ports
                };
                let answer =
                    stop_at_in_rounds(&deps.config, &ports, position, *dry_run, &request_id)
                        .await?;
                (Some("stop-at"), *dry_run, answer)
            }
            Trigger::Move {
                dry_run,
                target_instance_arn,
                resume,
            } => {
                let asked = (target_instance_arn.as_str(), *resume, *dry_run);
                let answer = move_in_rounds(&deps.config, &ports, asked, &request_id).await?;
                (Some("move"), *dry_run, answer)
            }
            _ => {
                let dry_run = matches!(trigger, Trigger::Operator { dry_run: true, .. });
                let summary = start_checked(
                    &deps.config,
                    &ports,
                    deps.slots.as_ref(),
                    trigger,
                    &request_id,
                )
                .await?;
                info!(%request_id, tasks = summary.tasks.len(), "starter finished");
                let kind = summary.cdc_start_check.is_some().then_some("cdc-start");
                let answer =
                    serde_json::to_value(&summary).unwrap_or_else(|e| Value::String(e.to_string()));
                (kind, dry_run, answer)
            }
        };
        if let (Some(kind), false) = (kind, dry_run) {
            keep_on_record(deps.recorder.as_ref(), &request_id, kind, &mut answer).await;
        }
        Ok(answer)
    }
    .await;
    result.map_err(|err| diagnostic(&request_id, &err))
}

/// With `RECORD_TARGET_TRIGGERS`, before a load: the post-processor
/// disables the target's enabled triggers and keeps their names for the
/// cutover. Nothing starts when that fails: the load would fire them, and
/// the cutover could not tell which to re-enable.
async fn record_triggers<Rec: RequestRecorder>(recorder: Option<&Rec>) -> Result<Value, PortError> {
    let failed = |kind, message: String| {
        PortError::new(
            "Invoke",
            kind,
            format!(
                "the target's triggers could not be recorded before the load, so nothing was \
                 started: {message}"
            ),
        )
    };
    let Some(recorder) = recorder else {
        return Err(failed(
            FailureKind::Permanent,
            "RECORD_TARGET_TRIGGERS is set but no post-processor is named \
             (POST_PROCESSOR_FUNCTION_NAME)"
                .into(),
        ));
    };
    within(TRIGGERS_WAIT, recorder.record_triggers())
        .await
        .map_err(|e| failed(e.kind, e.message))
}

/// A hand-over to the post-processor, given at most `wait`.
async fn within<T>(
    wait: Duration,
    hand_over: impl Future<Output = Result<T, PortError>>,
) -> Result<T, PortError> {
    tokio::time::timeout(wait, hand_over)
        .await
        .unwrap_or_else(|_| {
            Err(PortError::new(
                "Invoke",
                FailureKind::Transient,
                format!("no answer within {} s", wait.as_secs()),
            ))
        })
}

/// Hand an operator request that changed something, with its answer, to
/// the post-processor for the ledger; the answer's `ledger` says how that
/// went. A failed hand-over is logged, not returned: the request is done,
/// and the notification has it on record.
async fn keep_on_record<Rec: RequestRecorder>(
    recorder: Option<&Rec>,
    request_id: &str,
    kind: &str,
    answer: &mut Value,
) {
    let Some(recorder) = recorder else {
        set_ledger(
            answer,
            "no post-processor named: on record in the notifications only",
        );
        return;
    };
    let record = RequestRecord {
        request_id: request_id.to_owned(),
        kind: kind.to_owned(),
        outcome: answer.clone(),
    };
    // An asynchronous invocation is accepted at once; a hand-over that hangs
    // must not use up the request's own time.
    let handed = within(RECORD_WAIT, recorder.record(&record)).await;
    match handed {
        Ok(()) => set_ledger(answer, "sent to the post-processor for the ledger"),
        Err(e) => {
            warn!(%request_id, error = %e, "the request could not be handed over for the ledger");
            set_ledger(answer, &format!("not recorded in the ledger: {e}"));
        }
    }
}

fn set_ledger(answer: &mut Value, note: &str) {
    if let Some(object) = answer.as_object_mut() {
        object.insert("ledger".into(), note.into());
    }
}

/// One pass of a request that runs in rounds (boxed: the pass futures are
/// deep, and the runtime's future would otherwise outgrow the compiler's
/// query depth).
type Pass<'a, T> = std::pin::Pin<Box<dyn Future<Output = Result<T, StarterError>> + Send + 'a>>;

/// Run `pass` until `settled` says so or [`STOP_WAIT`] is over, every
/// [`STOP_POLL`]; every pass is kept for the answer.
async fn in_rounds<'a, T>(
    mut pass: impl FnMut() -> Pass<'a, T>,
    settled: impl Fn(&T) -> bool,
) -> Result<Vec<T>, StarterError> {
    let began = Instant::now();
    let mut rounds = Vec::new();
    loop {
        let this = pass().await?;
        let over = settled(&this) || began.elapsed() >= STOP_WAIT;
        rounds.push(this);
        if over {
            return Ok(rounds);
        }
        tokio::time::sleep(STOP_POLL).await;
    }
}

/// Run `stop-at` passes until every task runs with the stop position (the
/// tasks it stopped are resumed once stopped) or the wait is over; the
/// answer lists each pass and says whether the request is done.
async fn stop_at_in_rounds<D, R, N>(
    config: &Config,
    ports: &StarterPorts<'_, D, R, N>,
    position: &str,
    dry_run: bool,
    request_id: &str,
) -> Result<Value, StarterError>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
{
    let rounds = in_rounds(
        || Box::pin(stop_at(config, ports, position, dry_run, request_id)),
        |r| dry_run || r.is_done(),
    )
    .await?;
    let done = rounds.last().is_some_and(|r| r.is_done());
    if let Some(last) = rounds.last() {
        announce_stop_at(config, ports.notifier, last).await;
    }
    info!(%request_id, position, done, rounds = rounds.len(), "stop-at finished");
    Ok(json!({
        "operation": "stop-at",
        "position": position,
        "done": done,
        "next": if done || dry_run { Value::Null } else {
            "tasks are still stopping: send the same request again to resume them with the stop position".into()
        },
        "rounds": rounds,
    }))
}

/// Run `move` passes until every task is moving or moved, or the wait is
/// over. DMS takes minutes to move a task: the post-processor follows the
/// rest, and reports the end.
async fn move_in_rounds<D, R, N>(
    config: &Config,
    ports: &StarterPorts<'_, D, R, N>,
    (target, resume, dry_run): (&str, bool, bool),
    request_id: &str,
) -> Result<Value, StarterError>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
{
    let rounds = in_rounds(
        || Box::pin(move_group(config, ports, target, resume, dry_run)),
        MoveSummary::is_settled,
    )
    .await?;
    let settled = rounds.last().is_some_and(MoveSummary::is_settled);
    if let Some(last) = rounds.last() {
        // The message names every task this request moved, in any pass.
        let mut all = last.clone();
        all.moved = rounds.iter().flat_map(|r| r.moved.clone()).collect();
        announce_move(config, ports.notifier, &all).await;
    }
    info!(%request_id, target, settled, rounds = rounds.len(), "move request finished");
    let next = match rounds.last() {
        _ if dry_run => Value::Null,
        Some(last) if last.end.is_some() => Value::Null,
        Some(_) if settled => "DMS is moving the tasks; the post-processor reports the end (the same request with \"dry_run\": true shows where it stands)".into(),
        _ => "some tasks are still stopping, or DMS refused a move: send the same request again".into(),
    };
    Ok(json!({
        "operation": "move",
        "target_instance_arn": target,
        "settled": settled,
        "next": next,
        "rounds": rounds,
    }))
}

fn diagnostic(request_id: &str, err: &StarterError) -> Diagnostic {
    error!(%request_id, error_type = err.error_type(), error = %err, "starter failed");
    Diagnostic {
        error_type: err.error_type().to_owned(),
        error_message: err.to_string(),
    }
}
