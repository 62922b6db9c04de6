//! The checks a cutover makes before it touches the target: the group
//! stopped consistently at one commit time (seed 001), no change was
//! waiting to be applied (`CDCLatencySource` and `CDCLatencyTarget` at zero,
//! seed 003), and DMS data validation found nothing wrong.

use serde_json::{Value, json};

use super::ports::{DataValidation, LatencyMetric, TaskMetrics, TaskValidation};
use crate::moves::resource_id;
use crate::ports::PortError;
use crate::runs::{has_word, same_position};
use crate::task::{TaskInfo, TaskStatus};

/// How far before a task's stop the latency datapoints are read.
pub const LATENCY_WINDOW_SECS: f64 = 15.0 * 60.0;

/// Validation states that are no finding: the table was validated, or
/// validation does not apply to it.
const QUIET_VALIDATION_STATES: &[&str] = &["Validated", "Not enabled", "No primary key"];

/// A check's answer: passed with details, or refused with the reason.
pub type Check = Result<Value, String>;

/// The commit time every task of the group stopped at, or why the group
/// did not stop consistently. `intended` is the stop-at the rule records.
pub fn consistent_stop(tasks: &[TaskInfo], intended: Option<&str>) -> Check {
    let mut problems = Vec::new();
    let mut position: Option<&str> = intended;
    for t in tasks {
        match stop_of(t) {
            Ok(p) => match position {
                Some(seen) if !same_position(seen, p) => problems.push(format!(
                    "{} stopped at {p}, the group at {seen}",
                    t.identifier
                )),
                Some(_) => {}
                None => position = Some(p),
            },
            Err(why) => problems.push(format!("{}: {why}", t.identifier)),
        }
    }
    match (problems.is_empty(), position) {
        (true, Some(p)) => Ok(json!({ "commit_time": p.trim(), "tasks": tasks.len() })),
        (true, None) => Err("no task of the group is configured".into()),
        (false, _) => Err(format!(
            "the group did not stop consistently at one commit time (send a stop-at first): {}",
            problems.join("; ")
        )),
    }
}

/// The task's commit-time stop position, when it stopped there.
fn stop_of(t: &TaskInfo) -> Result<&str, String> {
    let reason = t.stop_reason.as_deref().unwrap_or("no stop reason");
    if t.status != TaskStatus::Stopped {
        return Err(format!("it is {}, not stopped", t.status.as_str()));
    }
    if !has_word(reason, "STOPPED_AT_COMMIT_TIME") {
        return Err(format!("it stopped with {reason}, not at a commit time"));
    }
    match t.cdc_stop_position.as_deref() {
        Some(p) if p.trim_start().starts_with("commit_time") => Ok(p),
        Some(p) => Err(format!("its stop position {p} is not a commit time")),
        None => Err("DMS reports no CdcStopPosition for it".into()),
    }
}

/// Both CDC latencies of every task were zero at their last datapoint
/// before the task stopped (or before `now_epoch`, for a task without a stop
/// date). No datapoint is a refusal: nothing shows the changes were applied.
pub async fn latency_zero<M: TaskMetrics>(
    metrics: &M,
    tasks: &[TaskInfo],
    now_epoch: f64,
) -> Result<Check, PortError> {
    let mut seen = Vec::new();
    for t in tasks {
        let to = t.stop_date_epoch.unwrap_or(now_epoch) + 60.0;
        let from = to - LATENCY_WINDOW_SECS - 60.0;
        for metric in LatencyMetric::ALL {
            let latest = metrics
                .latest(resource_id(&t.arn), metric, from, to)
                .await?;
            let Some(point) = latest else {
                return Ok(Err(format!(
                    "CloudWatch has no {} datapoint for {} in the {} minutes before it stopped \
                     (one-minute datapoints are kept 15 days): nothing shows that every change \
                     was applied",
                    metric.name(),
                    t.identifier,
                    LATENCY_WINDOW_SECS / 60.0
                )));
            };
            if point.value > 0.0 {
                return Ok(Err(format!(
                    "{} of {} was {} s at its last datapoint before the stop (epoch {}): changes \
                     were still waiting to be applied",
                    metric.name(),
                    t.identifier,
                    point.value,
                    point.epoch
                )));
            }
            seen.push(json!({ "task": t.identifier, "metric": metric, "value": point.value, "at_epoch": point.epoch }));
        }
    }
    Ok(Ok(json!({ "datapoints": seen })))
}

/// DMS data validation found no mismatched, failed, suspended or pending
/// records on any task that validates. `None` when no task validates.
pub async fn validation_clean<V: DataValidation>(
    dms: &V,
    tasks: &[TaskInfo],
) -> Result<Option<Check>, PortError> {
    let mut validated = Vec::new();
    for t in tasks {
        let v = dms.validation(&t.arn).await?;
        if !v.enabled {
            continue;
        }
        let findings = findings(&v);
        if !findings.is_empty() {
            return Ok(Some(Err(format!(
                "data validation of {} is not clean (see awsdms_validation_failures_v1 in the \
                 target's control schema): {}",
                t.identifier,
                findings.join("; ")
            ))));
        }
        validated.push(json!({ "task": t.identifier, "tables": v.tables.len() }));
    }
    if validated.is_empty() {
        return Ok(None);
    }
    Ok(Some(Ok(json!({ "validated": validated }))))
}

/// The tables whose validation is not clean, at most ten named.
fn findings(v: &TaskValidation) -> Vec<String> {
    let mut out: Vec<String> = v
        .tables
        .iter()
        .filter(|t| {
            !QUIET_VALIDATION_STATES.contains(&t.state.as_str())
                || t.failed_records > 0
                || t.suspended_records > 0
                || t.pending_records > 0
        })
        .map(|t| {
            format!(
                "{} {} ({} failed, {} suspended, {} pending)",
                t.table, t.state, t.failed_records, t.suspended_records, t.pending_records
            )
        })
        .collect();
    if out.len() > 10 {
        let more = out.len() - 10;
        out.truncate(10);
        out.push(format!("and {more} more table(s)"));
    }
    out
}
