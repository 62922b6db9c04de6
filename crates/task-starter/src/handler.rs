//! Translates the Lambda invocation into a domain call and the result into the
//! JSON answer or a typed Lambda error.

use dms_refresh_core::config::Config;
use dms_refresh_core::ports::{
    Endpoints, Notifier, ReplicationSlots, ReplicationTasks, ScheduleRule,
};
use dms_refresh_core::starter::{StarterError, StarterPorts, parse_trigger, start_checked};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tracing::{error, info};

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
        start_checked(
            &deps.config,
            &ports,
            deps.slots.as_ref(),
            trigger,
            &request_id,
        )
        .await
    }
    .await;
    match result {
        Ok(summary) => {
            info!(%request_id, tasks = summary.tasks.len(), "starter finished");
            Ok(serde_json::to_value(&summary).unwrap_or_else(|e| Value::String(e.to_string())))
        }
        Err(err) => Err(diagnostic(&request_id, &err)),
    }
}

fn diagnostic(request_id: &str, err: &StarterError) -> Diagnostic {
    error!(%request_id, error_type = err.error_type(), error = %err, "starter failed");
    Diagnostic {
        error_type: err.error_type().to_owned(),
        error_message: err.to_string(),
    }
}
