//! Understanding DMS task events, as SNS delivers them (a DMS event
//! subscription) or as EventBridge delivers them ("DMS Replication Task State
//! Change"). Pure functions, no I/O.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sns::SnsRecord;
use serde::Serialize;
use serde_json::{Map, Value};

/// What an event says happened to a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// DMS-EVENT-0069: the task started.
    Started,
    /// DMS-EVENT-0079: the task stopped (finished or stopped by someone).
    Stopped,
    /// DMS-EVENT-0078: the task failed.
    Failed,
    /// The task was deleted.
    Deleted,
    /// Anything else (table reloads, pauses, ...): logged only.
    Other,
}

/// How the event names the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "by", content = "value")]
pub enum TaskRef {
    /// The task identifier (`SourceId` in SNS messages).
    Identifier(String),
    /// The task ARN (EventBridge `resources`).
    Arn(String),
}

/// One DMS event, with the raw text kept for logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DmsEvent {
    /// SNS `MessageId` or EventBridge `id`: names the record in logs.
    pub message_id: String,
    pub task: TaskRef,
    pub kind: EventKind,
    /// `DMS-EVENT-0079` and the like, when the event carries one.
    pub event_code: Option<String>,
    pub event_time: Option<String>,
    /// The human text of the event (`Event Message` / `detailMessage`).
    pub message: String,
    /// `Stop Reason X` from the text, for when the API reports none.
    pub stop_reason_hint: Option<String>,
    /// `Last Error ...` from a failure text.
    pub last_error_hint: Option<String>,
}

/// A record that could not be understood; it is reported, never dropped silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidRecord {
    pub message_id: String,
    pub error: String,
}

/// A request from the post-processor to itself to carry on a run that
/// reached the invocation's deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Continuation {
    pub run_id: String,
    /// How many invocations this run has used so far.
    pub invocation: u32,
    /// Whether the load finished, as the first invocation judged it (the event
    /// text it had may have carried the stop reason).
    #[serde(default)]
    pub load_complete: Option<bool>,
}

/// The key under which a continuation travels in the invocation payload.
pub const CONTINUATION_KEY: &str = "dms_refresh_continuation";

/// Everything one post-processor invocation carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// SNS or EventBridge delivery: each record parsed on its own.
    Events(Vec<Result<DmsEvent, InvalidRecord>>),
    Continuation(Continuation),
    /// An operator's (or a schedule's) request: `{"operation": "..."}`.
    Operation(Operation),
}

/// The requests the post-processor accepts besides DMS events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "operation", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Operation {
    /// Compare tasks, ledger and rule; finish what a lost event or a lost
    /// continuation left undone; alert on a lock held too long.
    Reconcile,
    /// Swap the retired copy back into live.
    Rollback {
        #[serde(default)]
        dry_run: bool,
    },
    /// Keep an operator request the task-starter answered in the ledger
    /// (the starter sends it; it cannot reach the target database itself).
    RecordRequest(crate::ports::RequestRecord),
}

/// The payload is not a shape the post-processor accepts at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid post-processor event: {0}")]
pub struct PayloadError(pub String);

/// Parse an invocation payload: an SNS event (every record), an EventBridge
/// event, or a continuation.
pub fn parse_invocation(payload: &Value) -> Result<Invocation, PayloadError> {
    let Some(object) = payload.as_object() else {
        return Err(PayloadError("expected a JSON object".into()));
    };
    if let Some(records) = object.get("Records").or_else(|| object.get("records")) {
        let Some(records) = records.as_array() else {
            return Err(PayloadError("`Records` is not an array".into()));
        };
        if records.is_empty() {
            return Err(PayloadError(
                "the SNS event has an empty `Records` array".into(),
            ));
        }
        return Ok(Invocation::Events(
            records
                .iter()
                .enumerate()
                .map(|(i, r)| parse_sns_record(i, r))
                .collect(),
        ));
    }
    if object.get("source").and_then(Value::as_str) == Some("aws.dms") {
        return Ok(Invocation::Events(vec![parse_eventbridge(payload)]));
    }
    if object.contains_key("operation") {
        return serde_json::from_value(payload.clone())
            .map(Invocation::Operation)
            .map_err(|e| {
                PayloadError(format!(
                    "operator request: {e}; the post-processor accepts {{\"operation\": \"reconcile\"}}, \
                     {{\"operation\": \"rollback\"}}, {{\"operation\": \"cutover\"}} and the starter's \
                     {{\"operation\": \"record-request\"}} and {{\"operation\": \"record-triggers\"}}"
                ))
            });
    }
    if let Some(continuation) = object.get(CONTINUATION_KEY) {
        return serde_json::from_value(continuation.clone())
            .map(Invocation::Continuation)
            .map_err(|e| PayloadError(format!("continuation: {e}")));
    }
    Err(PayloadError(
        "neither an SNS event (`Records`), an EventBridge DMS event (`source` aws.dms), an \
         operator request (`operation`) nor a continuation"
            .into(),
    ))
}

fn str_field<'a>(object: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| object.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn parse_sns_record(index: usize, record: &Value) -> Result<DmsEvent, InvalidRecord> {
    // The message id, read leniently, names the record even when it is malformed.
    let message_id = record
        .get("Sns")
        .and_then(|s| s.get("MessageId"))
        .and_then(Value::as_str)
        .map_or_else(|| format!("record #{index}"), str::to_owned);
    let invalid = |error: String| InvalidRecord {
        message_id: message_id.clone(),
        error,
    };
    let record: SnsRecord = serde_json::from_value(record.clone())
        .map_err(|e| invalid(format!("not an SNS notification record ({e})")))?;
    let message: Value = serde_json::from_str(&record.sns.message)
        .map_err(|e| invalid(format!("`Message` is not JSON ({e})")))?;
    let message = message
        .as_object()
        .ok_or_else(|| invalid("`Message` is JSON but not an object".into()))?;
    parse_dms_message(&message_id, message).map_err(invalid)
}

/// The JSON document DMS publishes to SNS.
fn parse_dms_message(message_id: &str, m: &Map<String, Value>) -> Result<DmsEvent, String> {
    let link = str_field(m, &["Identifier Link"]);
    let identifier = str_field(m, &["SourceId", "Source ID", "Source Id"])
        .map(str::to_owned)
        .or_else(|| link.and_then(identifier_from_link))
        .ok_or("the message names no task: no `SourceId`, and `Identifier Link` holds none")?;
    let event_code = str_field(m, &["Event ID", "EventID", "Event Id"]).and_then(event_code);
    let text = str_field(m, &["Event Message"])
        .unwrap_or_default()
        .to_owned();
    if event_code.is_none() && text.is_empty() {
        return Err("the message has neither an `Event ID` nor an `Event Message`".into());
    }
    Ok(event_from(
        message_id,
        TaskRef::Identifier(identifier),
        event_code,
        str_field(m, &["Event Time"]).map(str::to_owned),
        text,
    ))
}

fn parse_eventbridge(payload: &Value) -> Result<DmsEvent, InvalidRecord> {
    let lenient_id = payload
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("eventbridge event");
    let invalid = |error: String| InvalidRecord {
        message_id: lenient_id.to_owned(),
        error,
    };
    let event: EventBridgeEvent<Value> = serde_json::from_value(payload.clone())
        .map_err(|e| invalid(format!("not an EventBridge event ({e})")))?;
    let arn = event
        .resources
        .iter()
        .flatten()
        .find(|a| a.contains(":task:"))
        .ok_or_else(|| invalid("the event's `resources` hold no DMS task ARN".into()))?;
    let detail = event
        .detail
        .as_object()
        .ok_or_else(|| invalid("the event has no `detail` object".into()))?;
    let code = str_field(
        detail,
        &["eventId", "eventID", "eventName", "EventID", "event-id"],
    )
    .and_then(event_code)
    .or_else(|| code_from_event_type(str_field(detail, &["eventType", "type"])?));
    let text = str_field(
        detail,
        &["detailMessage", "message", "eventMessage", "Event Message"],
    )
    .unwrap_or_default()
    .to_owned();
    if code.is_none() && text.is_empty() {
        return Err(invalid(
            "the event's `detail` has neither an event id nor a message".into(),
        ));
    }
    Ok(event_from(
        lenient_id,
        TaskRef::Arn(arn.clone()),
        code,
        event.time.map(|t| t.to_rfc3339()),
        text,
    ))
}

fn event_from(
    message_id: &str,
    task: TaskRef,
    event_code: Option<String>,
    event_time: Option<String>,
    message: String,
) -> DmsEvent {
    DmsEvent {
        message_id: message_id.to_owned(),
        task,
        kind: classify(event_code.as_deref(), &message),
        stop_reason_hint: stop_reason(&message),
        last_error_hint: last_error(&message),
        event_code,
        event_time,
        message,
    }
}

/// `...#tasks:ids=NAME\nSourceId: NAME ` -> `NAME`.
fn identifier_from_link(link: &str) -> Option<String> {
    if let Some((_, rest)) = link.split_once("SourceId:") {
        let id = rest.split_whitespace().next()?;
        return Some(id.to_owned());
    }
    let (_, rest) = link.split_once("ids=")?;
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!id.is_empty()).then_some(id)
}

/// The `DMS-EVENT-NNNN` code in an id or documentation URL.
fn event_code(text: &str) -> Option<String> {
    let start = text.find("DMS-EVENT-")?;
    let digits: String = text[start + "DMS-EVENT-".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("DMS-EVENT-{digits}"))
}

fn code_from_event_type(event_type: &str) -> Option<String> {
    let code = match event_type {
        "REPLICATION_TASK_STARTED" => "DMS-EVENT-0069",
        "REPLICATION_TASK_STOPPED" => "DMS-EVENT-0079",
        "REPLICATION_TASK_FAILED" => "DMS-EVENT-0078",
        "REPLICATION_TASK_DELETED" => "DMS-EVENT-0073",
        _ => return None,
    };
    Some(code.to_owned())
}

fn classify(code: Option<&str>, message: &str) -> EventKind {
    match code {
        Some("DMS-EVENT-0069") => EventKind::Started,
        Some("DMS-EVENT-0079") => EventKind::Stopped,
        Some("DMS-EVENT-0078") => EventKind::Failed,
        Some("DMS-EVENT-0073") => EventKind::Deleted,
        Some(_) => EventKind::Other,
        None => {
            let lower = message.to_ascii_lowercase();
            if lower.contains("has failed") {
                EventKind::Failed
            } else if lower.contains("has stopped") {
                EventKind::Stopped
            } else if lower.contains("has started") {
                EventKind::Started
            } else if lower.contains("deleted") {
                EventKind::Deleted
            } else {
                EventKind::Other
            }
        }
    }
}

/// `... Stop Reason FULL_LOAD_ONLY_FINISHED ...` -> `FULL_LOAD_ONLY_FINISHED`.
pub fn stop_reason(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("Stop Reason")?;
    let reason: String = rest
        .trim_start_matches([' ', ':'])
        .chars()
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
        .collect();
    (!reason.is_empty()).then_some(reason)
}

/// `Reason: Last Error <text> Stop Reason ...` -> `<text>`.
fn last_error(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("Last Error")?;
    let text = rest.split("Stop Reason").next().unwrap_or(rest).trim();
    (!text.is_empty()).then(|| text.trim_end_matches('.').trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(payload: &str) -> DmsEvent {
        let value: Value = serde_json::from_str(payload).unwrap();
        match parse_invocation(&value).unwrap() {
            Invocation::Events(mut records) => {
                assert_eq!(records.len(), 1);
                records.remove(0).unwrap()
            }
            other => panic!("expected events, got {other:?}"),
        }
    }

    fn fixture(name: &str) -> &'static str {
        match name {
            "finished" => include_str!("../../../events/post-processor/sns-finished.json"),
            "finished-legacy" => {
                include_str!("../../../events/post-processor/sns-finished-legacy.json")
            }
            "stopped-no-reason" => {
                include_str!("../../../events/post-processor/sns-stopped-no-reason.json")
            }
            "failed" => include_str!("../../../events/post-processor/sns-failed.json"),
            "started" => include_str!("../../../events/post-processor/sns-started.json"),
            "other-task" => include_str!("../../../events/post-processor/sns-other-task.json"),
            "eventbridge" => {
                include_str!("../../../events/post-processor/eventbridge-finished.json")
            }
            "eventbridge-failed" => {
                include_str!("../../../events/post-processor/eventbridge-failed.json")
            }
            "batch" => include_str!("../../../events/post-processor/sns-batch.json"),
            "bad" => include_str!("../../../events/post-processor/sns-malformed.json"),
            "empty" => include_str!("../../../events/post-processor/sns-empty-records.json"),
            _ => panic!("no fixture {name}"),
        }
    }

    #[test]
    fn finished_event_with_source_id() {
        let e = parse_one(fixture("finished"));
        assert_eq!(e.kind, EventKind::Stopped);
        assert_eq!(e.task, TaskRef::Identifier("dms-refresh-demo".into()));
        assert_eq!(e.event_code.as_deref(), Some("DMS-EVENT-0079"));
        assert_eq!(
            e.stop_reason_hint.as_deref(),
            Some("FULL_LOAD_ONLY_FINISHED")
        );
        assert!(e.message.contains("Replication task has stopped"));
        assert_eq!(e.message_id, "5f0a2b64-4a0e-5cb8-9e7a-2f1d33a1c001");
    }

    #[test]
    fn legacy_shape_keeps_the_task_in_the_identifier_link() {
        let e = parse_one(fixture("finished-legacy"));
        assert_eq!(e.kind, EventKind::Stopped);
        assert_eq!(e.task, TaskRef::Identifier("dms-refresh-demo".into()));
        assert_eq!(
            e.stop_reason_hint.as_deref(),
            Some("FULL_LOAD_ONLY_FINISHED")
        );
    }

    #[test]
    fn a_stop_without_a_reason_in_the_text() {
        let e = parse_one(fixture("stopped-no-reason"));
        assert_eq!(e.kind, EventKind::Stopped);
        assert_eq!(e.stop_reason_hint, None);
    }

    #[test]
    fn failure_carries_the_last_error_and_stop_reason() {
        let e = parse_one(fixture("failed"));
        assert_eq!(e.kind, EventKind::Failed);
        assert_eq!(e.event_code.as_deref(), Some("DMS-EVENT-0078"));
        assert_eq!(e.stop_reason_hint.as_deref(), Some("FATAL_ERROR"));
        let last = e.last_error_hint.unwrap();
        assert!(last.contains("Error executing source loop"), "{last}");
        assert!(!last.contains("Stop Reason"), "{last}");
    }

    #[test]
    fn started_and_other_tasks() {
        assert_eq!(parse_one(fixture("started")).kind, EventKind::Started);
        let other = parse_one(fixture("other-task"));
        assert_eq!(other.task, TaskRef::Identifier("someone-elses-task".into()));
    }

    #[test]
    fn eventbridge_forms() {
        let e = parse_one(fixture("eventbridge"));
        assert_eq!(e.kind, EventKind::Stopped);
        assert_eq!(
            e.task,
            TaskRef::Arn("arn:aws:dms:us-east-1:123456789012:task:dms-refresh-demo".into())
        );
        assert_eq!(
            e.stop_reason_hint.as_deref(),
            Some("FULL_LOAD_ONLY_FINISHED")
        );
        let f = parse_one(fixture("eventbridge-failed"));
        assert_eq!(f.kind, EventKind::Failed);
        assert_eq!(f.event_code.as_deref(), Some("DMS-EVENT-0078"));
    }

    #[test]
    fn every_record_of_a_batch_is_parsed_and_bad_ones_are_named() {
        let value: Value = serde_json::from_str(fixture("batch")).unwrap();
        let Invocation::Events(records) = parse_invocation(&value).unwrap() else {
            panic!("expected events");
        };
        assert_eq!(records.len(), 3);
        assert!(records.iter().all(Result::is_ok));

        let value: Value = serde_json::from_str(fixture("bad")).unwrap();
        let Invocation::Events(records) = parse_invocation(&value).unwrap() else {
            panic!("expected events");
        };
        let errors: Vec<_> = records.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(records.len(), 4);
        assert_eq!(errors.len(), 3, "{records:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.error.contains("not JSON") && e.message_id == "bad-0001")
        );
        assert!(errors.iter().any(|e| e.error.contains("names no task")));
        assert!(
            errors
                .iter()
                .any(|e| e.error.contains("missing field `Message`")),
            "{errors:?}"
        );
    }

    #[test]
    fn whole_payload_errors() {
        let empty: Value = serde_json::from_str(fixture("empty")).unwrap();
        assert!(parse_invocation(&empty).unwrap_err().0.contains("empty"));
        for bad in [
            serde_json::json!([]),
            serde_json::json!("x"),
            serde_json::json!({"a": 1}),
        ] {
            assert!(parse_invocation(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn continuation_round_trip() {
        let payload = serde_json::json!({CONTINUATION_KEY: {"run_id": "r1", "invocation": 2}});
        assert_eq!(
            parse_invocation(&payload).unwrap(),
            Invocation::Continuation(Continuation {
                run_id: "r1".into(),
                invocation: 2,
                load_complete: None,
            })
        );
    }

    #[test]
    fn text_helpers() {
        assert_eq!(
            event_code(
                "http://docs.aws.amazon.com/dms/latest/userguide/CHAP_Events.html#DMS-EVENT-0079 "
            ),
            Some("DMS-EVENT-0079".into())
        );
        assert_eq!(event_code("no code"), None);
        assert_eq!(
            identifier_from_link(
                "https://console.aws.amazon.com/dms/home?region=us-east-1#tasks:ids=abc-1\nSourceId: abc-1 "
            ),
            Some("abc-1".into())
        );
        assert_eq!(
            identifier_from_link("https://x/#tasks:ids=abc_2"),
            Some("abc_2".into())
        );
        assert_eq!(identifier_from_link("https://x/"), None);
        assert_eq!(
            stop_reason("Stop Reason STOPPED_AT_COMMIT_TIME."),
            Some("STOPPED_AT_COMMIT_TIME".into())
        );
        assert_eq!(stop_reason("Replication task has stopped."), None);
        assert_eq!(
            classify(None, "Replication task has failed."),
            EventKind::Failed
        );
        assert_eq!(classify(Some("DMS-EVENT-0081"), "reload"), EventKind::Other);
    }
}
