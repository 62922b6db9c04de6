//! Translates the Lambda invocation into a domain call and the result into the
//! JSON answer or a typed Lambda error.

use std::time::{Duration, Instant};

use dms_refresh_core::config::Config;
use dms_refresh_core::ports::{
    Endpoints, Notifier, ReplicationSlots, ReplicationTasks, ScheduleRule,
};
use dms_refresh_core::starter::{
    StarterError, StarterPorts, Trigger, announce_stop_at, parse_trigger, start_checked, stop_at,
};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use tracing::{error, info};

/// How long a `stop-at` waits for the tasks it stopped to be stopped, so
/// that it can resume them in the same invocation (the function has 60 s).
const STOP_WAIT: Duration = Duration::from_secs(40);
const STOP_POLL: Duration = Duration::from_secs(5);

/// Everything built once at init and shared by every invocation.
#[derive(Debug)]
pub struct Deps<D, R, N, S> {
    pub config: Config,
    pub dms: D,
    pub rules: R,
    pub notifier: N,
    /// The source's replication slots, when a source secret is configured.
    pub slots: Option<S>,
}

pub async fn handle<D, R, N, S>(
    event: LambdaEvent<Value>,
    deps: &Deps<D, R, N, S>,
) -> Result<Value, Diagnostic>
where
    D: ReplicationTasks + Endpoints,
    R: ScheduleRule,
    N: Notifier,
    S: ReplicationSlots,
{
    let request_id = event.context.request_id.clone();
    let result = async {
        let trigger = parse_trigger(&event.payload)?;
        info!(%request_id, trigger = ?trigger, "starter invoked");
        let ports = StarterPorts {
            dms: &deps.dms,
            rules: &deps.rules,
            notifier: &deps.notifier,
        };
        if let Trigger::StopAt { dry_run, position } = &trigger {
            return stop_at_in_rounds(&deps.config, &ports, position, *dry_run, &request_id).await;
        }
        let summary = start_checked(
            &deps.config,
            &ports,
            deps.slots.as_ref(),
            trigger,
            &request_id,
        )
        .await?;
        info!(%request_id, tasks = summary.tasks.len(), "starter finished");
        Ok(serde_json::to_value(&summary).unwrap_or_else(|e| Value::String(e.to_string())))
    }
    .await;
    result.map_err(|err| diagnostic(&request_id, &err))
}

/// Run `stop-at` passes until every task runs with the stop position (the
/// tasks it stopped are resumed once stopped) or [`STOP_WAIT`] is over; the
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
    let began = Instant::now();
    let mut rounds = Vec::new();
    loop {
        let pass = stop_at(config, ports, position, dry_run, request_id).await?;
        let over = dry_run || pass.is_done() || began.elapsed() >= STOP_WAIT;
        rounds.push(pass);
        if over {
            break;
        }
        tokio::time::sleep(STOP_POLL).await;
    }
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

fn diagnostic(request_id: &str, err: &StarterError) -> Diagnostic {
    error!(%request_id, error_type = err.error_type(), error = %err, "starter failed");
    Diagnostic {
        error_type: err.error_type().to_owned(),
        error_message: err.to_string(),
    }
}
