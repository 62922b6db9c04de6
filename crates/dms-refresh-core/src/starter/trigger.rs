//! What invoked the starter: the schedule, the Lambda console, or an
//! operator request; and the name the invocation holds the rule's lock by.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cdc_start::CdcStart;
use crate::task::StartType;

/// Why the starter was invoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Trigger {
    /// An EventBridge scheduled event.
    Schedule {
        /// The event's `id`: EventBridge redelivers the same event with it.
        event_id: Option<String>,
        rule_arns: Vec<String>,
        time: Option<String>,
    },
    /// Any other JSON object, such as the Lambda console's test event.
    Manual,
    /// An explicit operator request (see [`OperatorRequest`]).
    Operator {
        dry_run: bool,
        start_type: Option<StartType>,
        /// Start the tasks that can start even when others of the group
        /// cannot (the group is otherwise started all-or-nothing).
        allow_partial: bool,
        /// Take the rule's lock over even while its run is not handled.
        force: bool,
        /// Start CDC from this point of the source (CDC-only tasks).
        #[serde(skip_serializing_if = "Option::is_none")]
        cdc_start: Option<CdcStart>,
    },
    /// Stop every task of the group at one source commit time (seed 001).
    StopAt {
        dry_run: bool,
        /// `commit_time:YYYY-MM-DDThh:mm:ss`, as DMS takes `CdcStopPosition`.
        position: String,
    },
    /// Move every task of the group to another replication instance (seed 000).
    Move {
        dry_run: bool,
        target_instance_arn: String,
        /// Resume the CDC tasks once they have moved.
        resume: bool,
    },
}

impl Trigger {
    /// The lock holder's name. A retry of the same invocation has the same
    /// name: Lambda retries an asynchronous invocation with the same request
    /// id, and EventBridge redelivers a scheduled event with the same id.
    pub fn owner(&self, request_id: &str) -> String {
        match self {
            Self::Schedule {
                event_id: Some(id), ..
            } => format!("schedule:{id}"),
            Self::Schedule { event_id: None, .. } => format!("schedule:{request_id}"),
            Self::Manual => format!("console:{request_id}"),
            Self::Operator { .. } | Self::StopAt { .. } | Self::Move { .. } => {
                format!("operator:{request_id}")
            }
        }
    }

    /// The CDC start point an operator asked for.
    pub fn cdc_start(&self) -> Option<&CdcStart> {
        match self {
            Self::Operator { cdc_start, .. } => cdc_start.as_ref(),
            _ => None,
        }
    }

    /// Who asks, for the rule's lock.
    pub fn requester(&self) -> super::lock::Requester {
        match self {
            Self::Operator { force, .. } => super::lock::Requester::Operator { force: *force },
            // The tasks are stopped and resumed at once: the run under way
            // continues with a stop position, so its lock is taken over.
            Self::StopAt { .. } => super::lock::Requester::Operator { force: true },
            _ => super::lock::Requester::Scheduled,
        }
    }
}

/// An explicit request: `{"operation": "start", "dry_run": true,
/// "start_type": "reload-target", "allow_partial": false, "force": false}`,
/// with `cdc_start_position` or `cdc_start_time` to start CDC from a point
/// of the source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorRequest {
    operation: String,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    start_type: Option<String>,
    #[serde(default)]
    allow_partial: bool,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    cdc_start_position: Option<String>,
    #[serde(default)]
    cdc_start_time: Option<String>,
}

/// `{"operation": "stop-at", "commit_time": "YYYY-MM-DDThh:mm:ss", "dry_run": false}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopAtRequest {
    #[serde(rename = "operation")]
    _operation: String,
    commit_time: String,
    #[serde(default)]
    dry_run: bool,
}

/// `{"operation": "move", "target_instance_arn": "arn:...:rep:...", "resume": true, "dry_run": false}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveRequest {
    #[serde(rename = "operation")]
    _operation: String,
    target_instance_arn: String,
    #[serde(default)]
    resume: bool,
    #[serde(default)]
    dry_run: bool,
}

fn move_request(event: &Value) -> Result<Trigger, EventError> {
    let request: MoveRequest = serde_json::from_value(event.clone())
        .map_err(|e| EventError(format!("move request: {e}")))?;
    let target = request.target_instance_arn.trim();
    if !crate::moves::is_instance_arn(target) {
        return Err(EventError(format!(
            "move request: target_instance_arn {:?} is not a replication instance ARN \
             (arn:<partition>:dms:<region>:<account>:rep:<id>)",
            request.target_instance_arn
        )));
    }
    Ok(Trigger::Move {
        dry_run: request.dry_run,
        target_instance_arn: target.to_owned(),
        resume: request.resume,
    })
}

fn stop_at_request(event: &Value) -> Result<Trigger, EventError> {
    let request: StopAtRequest = serde_json::from_value(event.clone())
        .map_err(|e| EventError(format!("stop-at request: {e}")))?;
    let time = request.commit_time.trim();
    let time = time.strip_prefix("commit_time:").unwrap_or(time);
    if crate::cdc_start::parse_utc(time).is_none() {
        return Err(EventError(format!(
            "stop-at request: commit_time {:?} is not YYYY-MM-DDThh:mm:ss (the source's \
             commit time, UTC)",
            request.commit_time
        )));
    }
    Ok(Trigger::StopAt {
        dry_run: request.dry_run,
        position: format!("commit_time:{time}"),
    })
}

/// The invocation payload is not something the starter accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid starter event: {0}")]
pub struct EventError(pub String);

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn text(object: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

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
        return Ok(Trigger::Schedule {
            event_id: text(object, "id"),
            rule_arns: strings(object.get("resources")),
            time: text(object, "time"),
        });
    }
    match object.get("operation").and_then(Value::as_str) {
        Some("stop-at") => return stop_at_request(event),
        Some("move") => return move_request(event),
        _ => {}
    }
    if object.contains_key("operation") {
        return operator_request(event);
    }
    Ok(Trigger::Manual)
}

fn operator_request(event: &Value) -> Result<Trigger, EventError> {
    let request: OperatorRequest = serde_json::from_value(event.clone())
        .map_err(|e| EventError(format!("operator request: {e}")))?;
    if request.operation != "start" {
        return Err(EventError(format!(
            "operator request: unknown operation {:?}; the starter supports \"start\", \"stop-at\" and \"move\" \
             (rollback and reconcile are post-processor requests)",
            request.operation
        )));
    }
    let mut start_type = request
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
    let cdc_start = CdcStart::from_request(
        request.cdc_start_position.as_deref(),
        request.cdc_start_time.as_deref(),
    )
    .map_err(|e| EventError(format!("operator request: {e}")))?;
    // StartReplicationTaskType (API reference): "For a cdc only task, to
    // start from a specific position, you must use start-replication and
    // also specify the start position", whether or not the task ran before.
    if cdc_start.is_some() {
        match start_type {
            None | Some(StartType::StartReplication) => {
                start_type = Some(StartType::StartReplication);
            }
            Some(other) => {
                return Err(EventError(format!(
                    "operator request: a CDC start point is sent with start_type \
                     start-replication (DMS requires it for a CDC-only task starting from a \
                     position), not {}",
                    other.as_str()
                )));
            }
        }
    }
    Ok(Trigger::Operator {
        dry_run: request.dry_run,
        start_type,
        allow_partial: request.allow_partial,
        force: request.force,
        cdc_start,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn triggers() {
        let scheduled = json!({
            "version": "0", "id": "9a1b", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-21T00:00:00Z", "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/nightly"], "detail": {}
        });
        let trigger = parse_trigger(&scheduled).unwrap();
        assert_eq!(
            trigger,
            Trigger::Schedule {
                event_id: Some("9a1b".into()),
                rule_arns: vec!["arn:aws:events:eu-west-1:123456789012:rule/nightly".into()],
                time: Some("2026-11-21T00:00:00Z".into())
            }
        );
        assert_eq!(trigger.owner("req-1"), "schedule:9a1b");
        let console = json!({"key1": "value1", "key2": "value2", "key3": "value3"});
        assert_eq!(parse_trigger(&console).unwrap(), Trigger::Manual);
        assert_eq!(Trigger::Manual.owner("req-1"), "console:req-1");
        assert_eq!(parse_trigger(&json!({})).unwrap(), Trigger::Manual);
        let operator = parse_trigger(&json!({
            "operation": "start", "dry_run": true, "start_type": "reload-target", "allow_partial": true
        }))
        .unwrap();
        assert_eq!(
            operator,
            Trigger::Operator {
                dry_run: true,
                start_type: Some(StartType::ReloadTarget),
                allow_partial: true,
                force: false,
                cdc_start: None,
            }
        );
        let from_lsn = parse_trigger(&json!({
            "operation": "start", "cdc_start_position": "1/87F75B28"
        }))
        .unwrap();
        assert_eq!(
            from_lsn.cdc_start(),
            Some(&CdcStart::Position("1/87F75B28".into()))
        );
        assert!(matches!(
            from_lsn,
            Trigger::Operator {
                start_type: Some(StartType::StartReplication),
                ..
            }
        ));
        assert_eq!(operator.owner("req-2"), "operator:req-2");
        assert_eq!(
            parse_trigger(&json!({"operation": "stop-at", "commit_time": "2026-11-21T15:30:00"}))
                .unwrap(),
            Trigger::StopAt {
                dry_run: false,
                position: "commit_time:2026-11-21T15:30:00".into()
            }
        );
        let target = "arn:aws:dms:eu-west-1:123456789012:rep:NEW-INSTANCE";
        let moving = parse_trigger(
            &json!({"operation": "move", "target_instance_arn": target, "resume": true}),
        )
        .unwrap();
        assert_eq!(
            moving,
            Trigger::Move {
                dry_run: false,
                target_instance_arn: target.into(),
                resume: true
            }
        );
        assert_eq!(moving.owner("req-3"), "operator:req-3");
        for bad in [
            json!({"operation": "move"}),
            json!({"operation": "move", "target_instance_arn": "NEW-INSTANCE"}),
            json!({"operation": "move", "target_instance_arn":
                   "arn:aws:dms:eu-west-1:123456789012:task:T"}),
            json!({"operation": "move", "target_instance_arn": target, "resume": "yes"}),
            json!({"operation": "move", "target_instance_arn": target, "force": true}),
            json!({"operation": "stop-at"}),
            json!({"operation": "stop-at", "commit_time": "15:30"}),
            json!({"operation": "stop-at", "commit_time": "2026-11-21T15:30:00", "force": true}),
            json!([1, 2]),
            json!(null),
            json!(42),
            json!({"operation": "stop"}),
            json!({"operation": "rollback"}),
            json!({"operation": "start", "start_type": "full"}),
            json!({"operation": "start", "dryrun": true}),
            json!({"operation": "start", "allow_partial": "yes"}),
            json!({"operation": "start", "start_type": "reload-target", "cdc_start_position": "1/0"}),
            json!({"operation": "start", "start_type": "resume-processing", "cdc_start_position": "1/0"}),
            json!({"operation": "start", "cdc_start_position": "1/0",
                   "cdc_start_time": "2026-11-21T00:00:00"}),
            json!({"operation": "start", "cdc_start_time": 5}),
        ] {
            let err = parse_trigger(&bad).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid starter event"),
                "{bad}: {err}"
            );
        }
    }
}
