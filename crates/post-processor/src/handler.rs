//! Translates the Lambda invocation into a domain call and the result into the
//! JSON answer or a typed Lambda error.

use std::time::Duration;

use dms_refresh_core::config::Config;
use dms_refresh_core::cutover::{
    CutoverPorts, CutoverTarget, DataValidation, SourceSequences, TaskMetrics, request_from,
};
use dms_refresh_core::events::parse_invocation;
use dms_refresh_core::metrics::MetricsSink;
use dms_refresh_core::ports::{
    Notifier, PostRefreshHooks, ReplicationTasks, RunLedger, ScheduleRule,
};
use dms_refresh_core::post::{InvocationInfo, PostError, PostPorts, handle_invocation};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tracing::{error, info};

use crate::continuation::SelfInvoke;

/// How long before the Lambda deadline the hooks stop and hand over: one
/// masking chunk must fit in it. A quarter of the time left when that is less
/// (short timeouts, local runs).
pub const HOOKS_MARGIN: Duration = Duration::from_secs(60);

pub fn hooks_margin(deadline_ms: u64) -> Duration {
    let remaining = dms_refresh_core::post::deadline_time(deadline_ms)
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    HOOKS_MARGIN.min(remaining / 4)
}

/// Everything built once at init and shared by every invocation.
#[derive(Debug)]
pub struct Deps<D, R, N, T, M, S> {
    pub config: Config,
    pub dms: D,
    pub rules: R,
    pub notifier: N,
    /// The run ledger and the post-refresh hooks (both on the target database).
    pub target: T,
    pub lambda: aws_sdk_lambda::Client,
    pub metrics: Box<dyn MetricsSink>,
    /// DMS task metrics in CloudWatch, for a cutover's latency check.
    pub task_metrics: M,
    /// The source's sequences, when a source secret is configured.
    pub source: Option<S>,
}

pub async fn handle<D, R, N, T, M, S>(
    event: LambdaEvent<Value>,
    deps: &Deps<D, R, N, T, M, S>,
) -> Result<Value, Diagnostic>
where
    D: ReplicationTasks + DataValidation,
    R: ScheduleRule,
    N: Notifier,
    T: RunLedger + PostRefreshHooks + CutoverTarget,
    M: TaskMetrics,
    S: SourceSequences,
{
    let context = &event.context;
    let margin = hooks_margin(context.deadline);
    info!(request_id = %context.request_id, deadline_ms = context.deadline,
          hooks_margin_s = margin.as_secs_f64(), "post-processor invoked");
    let info = InvocationInfo::from_deadline_ms(&context.request_id, context.deadline, margin);
    if let Some(request) = request_from(&event.payload) {
        return cutover(deps, request, &info).await;
    }
    let continuer = SelfInvoke {
        client: &deps.lambda,
        function_arn: &context.invoked_function_arn,
    };
    let ports = PostPorts {
        dms: &deps.dms,
        rules: &deps.rules,
        notifier: &deps.notifier,
        ledger: &deps.target,
        hooks: &deps.target,
        continuer: &continuer,
        metrics: deps.metrics.as_ref(),
    };
    let result = match parse_invocation(&event.payload) {
        Ok(invocation) => handle_invocation(&deps.config, &ports, invocation, &info).await,
        Err(e) => Err(PostError::from(e)),
    };
    match result {
        Ok(summary) => {
            info!(request_id = %context.request_id, records = summary.records.len(), "post-processor finished");
            Ok(serde_json::to_value(&summary).unwrap_or_else(|e| Value::String(e.to_string())))
        }
        Err(err) => {
            error!(request_id = %context.request_id, error_type = err.error_type(), error = %err, "post-processor failed");
            Err(Diagnostic {
                error_type: err.error_type().to_owned(),
                error_message: err.to_string(),
            })
        }
    }
}

/// A cutover or a trigger record: the answer, or a typed error whose
/// message carries the steps so far.
async fn cutover<D, R, N, T, M, S>(
    deps: &Deps<D, R, N, T, M, S>,
    request: Result<
        dms_refresh_core::cutover::CutoverRequest,
        dms_refresh_core::events::PayloadError,
    >,
    info: &InvocationInfo,
) -> Result<Value, Diagnostic>
where
    D: ReplicationTasks + DataValidation,
    R: ScheduleRule,
    N: Notifier,
    T: RunLedger + CutoverTarget,
    M: TaskMetrics,
    S: SourceSequences,
{
    let ports = CutoverPorts {
        dms: &deps.dms,
        rules: &deps.rules,
        notifier: &deps.notifier,
        ledger: &deps.target,
        target: &deps.target,
        metrics: &deps.task_metrics,
        source: deps.source.as_ref(),
    };
    let result = match request {
        Ok(request) => ports.handle(&deps.config, &request, info).await,
        Err(e) => Err(e.into()),
    };
    result.map_err(|err| {
        error!(request_id = %info.owner, error_type = err.error_type(), error = %err, "cutover request failed");
        Diagnostic {
            error_type: err.error_type().to_owned(),
            error_message: err.to_string(),
        }
    })
}
