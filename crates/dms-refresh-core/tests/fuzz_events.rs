//! Property-based fuzzing of the invocation parsers: the post-processor's
//! event parser (`events::parse_invocation`, `events::stop_reason`), the
//! starter's trigger parser (`starter::parse_trigger`) and the configuration
//! reader (`Config::from_lookup`).
//!
//! Every property must hold on every input, and none of these functions may
//! panic. A panic in the product code is caught by proptest, shrunk, and
//! reported as the property's failure with the minimal input.
//!
//! Bounded for CI: 2000 cases per property unless `PROPTEST_CASES` is set.
//! Longer, by hand:
//!
//! ```text
//! PROPTEST_CASES=200000 cargo test --release -p dms-refresh-core --test fuzz_events -- --nocapture
//! ```
//!
//! Each property prints (straight to stderr, so even without `--nocapture`)
//! how many inputs it tried and the RNG seed; `PROPTEST_RNG_SEED=<seed>`
//! replays the same inputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;

use dms_refresh_core::config::VALID_COMBINATIONS;
use dms_refresh_core::config::{Config, RefreshIndicator, RefreshType, ScheduleMode, vars};
use dms_refresh_core::events::{
    CONTINUATION_KEY, DmsEvent, EventKind, InvalidRecord, Invocation, TaskRef, parse_invocation,
    stop_reason,
};
use dms_refresh_core::starter::{Trigger, parse_trigger};
use dms_refresh_core::task::StartType;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

/// Cases per property when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 2000;

// ---------------------------------------------------------------------------
// runner

/// Run one property with the shared bounded, reporting runner.
fn check<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    fuzz_support::check("fuzz_events", DEFAULT_CASES, name, strategy, test);
}

// ---------------------------------------------------------------------------
// strategies: arbitrary JSON

/// Keys the parsers look at, plus neighbours, so random objects hit them.
const KEYS: &[&str] = &[
    "Records",
    "records",
    "Sns",
    "Message",
    "MessageId",
    "Type",
    "TopicArn",
    "Timestamp",
    "EventSource",
    "EventVersion",
    "EventSubscriptionArn",
    "source",
    "detail",
    "resources",
    "detail-type",
    "id",
    "time",
    CONTINUATION_KEY,
    "run_id",
    "invocation",
    "load_complete",
    "Event ID",
    "EventID",
    "SourceId",
    "Source ID",
    "Identifier Link",
    "Event Message",
    "Event Time",
    "eventId",
    "eventType",
    "detailMessage",
    "message",
    "operation",
    "dry_run",
    "start_type",
];

/// String values the parsers compare against, plus random text.
fn json_string() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "(?s).{0,24}",
        2 => prop::sample::select(vec![
            "aws.dms",
            "aws.events",
            "Scheduled Event",
            "DMS Replication Task State Change",
            "Notification",
            "start",
            "stop",
            "reconcile",
            "rollback",
            "reload-target",
            "DMS-EVENT-0079",
            "DMS-EVENT-0069",
            "DMS-EVENT-0078",
            "DMS-EVENT-",
            "REPLICATION_TASK_STOPPED",
            "REPLICATION_TASK_FAILED",
            "arn:aws:dms:us-east-1:123456789012:task:demo",
            "arn:aws:events:us-east-1:123456789012:rule/r",
            "2026-11-21T00:42:17Z",
            "Replication task has stopped. Stop Reason FULL_LOAD_ONLY_FINISHED.",
            "Stop Reason",
            "Last Error",
            "#tasks:ids=",
            "SourceId:",
            "{}",
            "[]",
            "{\"SourceId\": \"t\", \"Event ID\": \"DMS-EVENT-0079\"}",
            "",
            " ",
        ])
        .prop_map(str::to_owned),
    ]
    .boxed()
}

fn json_key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "(?s).{0,12}",
    ]
    .boxed()
}

fn json_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        3 => json_string().prop_map(Value::String),
    ]
    .boxed()
}

/// Any JSON value: nested arrays and objects, keys mostly the real ones.
fn json_value() -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((json_key(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// strategies: DMS messages and envelopes

/// A task identifier as DMS writes it (no blanks: the parser trims).
fn task_id() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,39}"
}

fn stop_reason_word() -> impl Strategy<Value = String> {
    "[A-Z_][A-Z0-9_]{0,29}"
}

/// Realistic and random values for the keys of a DMS SNS message.
fn dms_field(key: &'static str) -> BoxedStrategy<Value> {
    let realistic: BoxedStrategy<String> = match key {
        "Event ID" => prop_oneof![
            "DMS-EVENT-00[0-9][0-9]",
            "http://docs.aws.amazon.com/dms/latest/userguide/CHAP_Events.html#DMS-EVENT-00[0-9][0-9] ",
            "DMS-EVENT-[0-9]{0,6}",
        ]
        .boxed(),
        "Event Message" => prop_oneof![
            stop_reason_word()
                .prop_map(|r| format!("Replication task has stopped. Stop Reason {r}.")),
            "Replication task has (started|stopped|failed)\\.",
            "Reason: Last Error .{0,30} Stop Reason [A-Z_]{0,12}",
            "Stop Reason[ :]{0,3}.{0,10}",
        ]
        .boxed(),
        "SourceId" | "Source ID" => task_id().boxed(),
        "Identifier Link" => prop_oneof![
            task_id().prop_map(|s| format!(
                "https://console.aws.amazon.com/dms/home?region=us-east-1#tasks:ids={s}\nSourceId: {s} "
            )),
            task_id().prop_map(|s| format!("https://x/#tasks:ids={s}")),
            "(?s).{0,30}(ids=|SourceId:).{0,10}",
        ]
        .boxed(),
        "Event Time" => Just("2026-11-21 00:42:16.906".to_owned()).boxed(),
        _ => "[a-z-]{0,16}".boxed(),
    };
    prop_oneof![
        6 => realistic.prop_map(Value::String),
        1 => json_value(),
    ]
    .boxed()
}

const DMS_KEYS: &[&str] = &[
    "Event Source",
    "Event Time",
    "Identifier Link",
    "SourceId",
    "Source ID",
    "Event ID",
    "Event Message",
];

/// A DMS message object built from a random subset of the DMS keys.
fn dms_message_object() -> BoxedStrategy<Map<String, Value>> {
    prop::sample::subsequence(DMS_KEYS, 0..=DMS_KEYS.len())
        .prop_flat_map(|keys| {
            keys.into_iter()
                .map(|k| dms_field(k).prop_map(move |v| (k.to_owned(), v)))
                .collect::<Vec<_>>()
        })
        .prop_map(|pairs| pairs.into_iter().collect())
        .boxed()
}

/// The `Message` text of an SNS record.
fn sns_message_text() -> BoxedStrategy<String> {
    prop_oneof![
        2 => "(?s).{0,40}",
        1 => json_value().prop_map(|v| v.to_string()),
        4 => dms_message_object().prop_map(|m| Value::Object(m).to_string()),
    ]
    .boxed()
}

/// The SNS envelope of the committed fixture, with a given id and message.
fn sns_record(message_id: Value, message: &str) -> Value {
    json!({
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:dms-refresh-dms-events:0f8e4c4e",
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:dms-refresh-dms-events",
            "Subject": "DMS Notification Message",
            "Message": message,
            "Timestamp": "2026-11-21T00:42:17.512Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/x.pem",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {}
        }
    })
}

const ENVELOPE_FIELDS: &[&str] = &[
    "EventSource",
    "EventVersion",
    "EventSubscriptionArn",
    "Sns",
    "Sns.Type",
    "Sns.MessageId",
    "Sns.TopicArn",
    "Sns.Timestamp",
    "Sns.Message",
    "Sns.Signature",
    "Sns.MessageAttributes",
];

/// How a record names itself.
fn message_id_value() -> BoxedStrategy<Value> {
    prop_oneof![
        8 => "[0-9a-f-]{1,36}".prop_map(Value::String),
        1 => "(?s).{0,12}".prop_map(Value::String),
        1 => json_leaf(),
    ]
    .boxed()
}

/// A well-formed "task stopped" notification and what it must parse to.
#[derive(Debug, Clone)]
struct Finished {
    message_id: String,
    task: String,
    reason: Option<String>,
    record: Value,
}

fn finished_record() -> BoxedStrategy<Finished> {
    let event_id = prop_oneof![
        Just(String::new()),
        Just("http://docs.aws.amazon.com/dms/latest/userguide/CHAP_Events.html#".to_owned()),
        // Anything without the code's own prefix in front of it.
        "[a-z:/._# ]{0,30}",
    ]
    .prop_flat_map(|prefix| {
        prop_oneof![Just(""), Just(" "), Just("."), Just(" \n")]
            .prop_map(move |suffix| format!("{prefix}DMS-EVENT-0079{suffix}"))
    });
    (
        "[0-9a-f-]{1,36}",
        task_id(),
        prop::option::of(stop_reason_word()),
        event_id,
        0..3u8,
        prop::option::of("[a-z-]{0,20}"),
    )
        .prop_map(|(message_id, task, reason, event_id, naming, source)| {
            let mut m = Map::new();
            match naming {
                // SourceId, which wins over the link.
                0 => {
                    m.insert("SourceId".into(), json!(task));
                    m.insert("Identifier Link".into(), json!("https://x/#tasks:ids=other"));
                }
                // Legacy shape: only the link, with `SourceId: <id>`.
                1 => {
                    m.insert(
                        "Identifier Link".into(),
                        json!(format!(
                            "https://console.aws.amazon.com/dms/home?region=us-east-1#tasks:ids={task}\nSourceId: {task} "
                        )),
                    );
                }
                _ => {
                    m.insert("SourceId".into(), json!(format!("  {task}\t")));
                }
            }
            m.insert("Event ID".into(), json!(event_id));
            let text = match &reason {
                Some(r) => format!("Replication task has stopped. Stop Reason {r}."),
                None => "Replication task has stopped.".to_owned(),
            };
            m.insert("Event Message".into(), json!(text));
            m.insert("Event Time".into(), json!("2026-11-21 00:42:16.906"));
            if let Some(s) = source {
                m.insert("Event Source".into(), json!(s));
            }
            let record = sns_record(json!(message_id), &Value::Object(m).to_string());
            Finished {
                message_id,
                task,
                reason,
                record,
            }
        })
        .boxed()
}

/// One entry of a random SNS batch, and the finished event it holds, if any.
fn batch_record() -> BoxedStrategy<(Value, Option<Finished>)> {
    prop_oneof![
        // The real envelope, a random id, any message.
        5 => (message_id_value(), sns_message_text())
            .prop_map(|(id, text)| (sns_record(id, &text), None)),
        // The real envelope with one field removed or replaced.
        2 => (
            message_id_value(),
            sns_message_text(),
            prop::sample::select(ENVELOPE_FIELDS),
            prop::option::of(json_leaf()),
        )
            .prop_map(|(id, text, field, replacement)| {
                let mut record = sns_record(id, &text);
                let (parent, key) = match field.split_once('.') {
                    Some((_, k)) => (record.get_mut("Sns").unwrap(), k),
                    None => (&mut record, field),
                };
                let object = parent.as_object_mut().unwrap();
                match replacement {
                    Some(v) => object.insert(key.to_owned(), v),
                    None => object.remove(key),
                };
                (record, None)
            }),
        // A well-formed finished event.
        2 => finished_record().prop_map(|f| (f.record.clone(), Some(f))),
        // Anything at all.
        1 => json_value().prop_map(|v| (v, None)),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// expectations shared by several properties

fn is_reason(r: &str) -> bool {
    !r.is_empty()
        && r.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// What holds for every event the parser accepts.
fn check_event(e: &DmsEvent) -> Result<(), TestCaseError> {
    if let Some(r) = &e.stop_reason_hint {
        prop_assert!(is_reason(r), "stop reason {r:?}");
        prop_assert!(e.message.contains("Stop Reason"));
    }
    if let Some(code) = &e.event_code {
        let digits = code.strip_prefix("DMS-EVENT-");
        prop_assert!(
            digits.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())),
            "event code {code:?}"
        );
    }
    let expected = match e.event_code.as_deref() {
        Some("DMS-EVENT-0069") => Some(EventKind::Started),
        Some("DMS-EVENT-0079") => Some(EventKind::Stopped),
        Some("DMS-EVENT-0078") => Some(EventKind::Failed),
        Some("DMS-EVENT-0073") => Some(EventKind::Deleted),
        Some(_) => Some(EventKind::Other),
        None => None,
    };
    if let Some(kind) = expected {
        prop_assert_eq!(&e.kind, &kind);
    }
    prop_assert!(
        e.event_code.is_some() || !e.message.is_empty(),
        "an event with neither a code nor a text was accepted: {e:?}"
    );
    match &e.task {
        TaskRef::Identifier(id) => {
            prop_assert!(!id.is_empty() && id.trim() == id, "task {id:?}");
        }
        TaskRef::Arn(arn) => prop_assert!(arn.contains(":task:"), "task {arn:?}"),
    }
    Ok(())
}

/// The id a record must be reported under.
fn expected_sns_id(index: usize, record: &Value) -> String {
    record
        .get("Sns")
        .and_then(|s| s.get("MessageId"))
        .and_then(Value::as_str)
        .map_or_else(|| format!("record #{index}"), str::to_owned)
}

fn record_id(r: &Result<DmsEvent, InvalidRecord>) -> &str {
    match r {
        Ok(e) => &e.message_id,
        Err(e) => &e.message_id,
    }
}

fn check_finished(
    f: &Finished,
    parsed: &Result<DmsEvent, InvalidRecord>,
) -> Result<(), TestCaseError> {
    let e = match parsed {
        Ok(e) => e,
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "finished event rejected: {e:?}"
            )));
        }
    };
    prop_assert_eq!(&e.kind, &EventKind::Stopped);
    prop_assert_eq!(&e.task, &TaskRef::Identifier(f.task.clone()));
    prop_assert_eq!(e.event_code.as_deref(), Some("DMS-EVENT-0079"));
    prop_assert_eq!(&e.message_id, &f.message_id);
    prop_assert_eq!(&e.stop_reason_hint, &f.reason);
    Ok(())
}

/// Model of `parse_invocation` for a whole payload.
fn check_invocation(payload: &Value) -> Result<(), TestCaseError> {
    let parsed = parse_invocation(payload);
    let Some(object) = payload.as_object() else {
        prop_assert!(parsed.is_err(), "non-object accepted: {parsed:?}");
        return Ok(());
    };
    if let Some(records) = object.get("Records").or_else(|| object.get("records")) {
        match records.as_array() {
            Some(records) if !records.is_empty() => {
                let Ok(Invocation::Events(events)) = &parsed else {
                    return Err(TestCaseError::fail(format!(
                        "SNS event not read as events: {parsed:?}"
                    )));
                };
                prop_assert_eq!(events.len(), records.len());
                for (i, (record, event)) in records.iter().zip(events).enumerate() {
                    prop_assert_eq!(record_id(event), expected_sns_id(i, record));
                    if let Ok(e) = event {
                        check_event(e)?;
                        prop_assert!(matches!(e.task, TaskRef::Identifier(_)));
                    }
                }
            }
            _ => prop_assert!(parsed.is_err(), "bad `Records` accepted: {parsed:?}"),
        }
    } else if object.get("source").and_then(Value::as_str) == Some("aws.dms") {
        let Ok(Invocation::Events(events)) = &parsed else {
            return Err(TestCaseError::fail(format!(
                "EventBridge event not read as events: {parsed:?}"
            )));
        };
        prop_assert_eq!(events.len(), 1);
        let id = object
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("eventbridge event");
        prop_assert_eq!(record_id(&events[0]), id);
        if let Ok(e) = &events[0] {
            check_event(e)?;
            let TaskRef::Arn(arn) = &e.task else {
                return Err(TestCaseError::fail(format!("not an ARN: {e:?}")));
            };
            let first_task_arn = object
                .get("resources")
                .and_then(Value::as_array)
                .and_then(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .find(|a| a.contains(":task:"))
                });
            prop_assert_eq!(Some(arn.as_str()), first_task_arn);
        }
    } else if object.contains_key("operation") {
        let known = matches!(
            object.get("operation").and_then(Value::as_str),
            Some("reconcile" | "rollback")
        );
        match &parsed {
            Ok(Invocation::Operation(_)) => prop_assert!(known, "{parsed:?}"),
            Err(_) => {}
            other => return Err(TestCaseError::fail(format!("operation read as {other:?}"))),
        }
    } else if object.contains_key(CONTINUATION_KEY) {
        prop_assert!(
            matches!(parsed, Ok(Invocation::Continuation(_)) | Err(_)),
            "{parsed:?}"
        );
    } else {
        prop_assert!(parsed.is_err(), "unknown payload accepted: {parsed:?}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// properties: parse_invocation

#[test]
fn any_json_payload() {
    check("any_json_payload", json_value(), |v| check_invocation(&v));
}

#[test]
fn any_json_object_with_real_keys() {
    let object = prop::collection::vec((json_key(), json_value()), 0..8)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()));
    check("any_json_object_with_real_keys", object, |v| {
        check_invocation(&v)
    });
}

#[test]
fn sns_batches() {
    let batch = (
        prop::collection::vec(batch_record(), 1..6),
        prop::sample::select(vec!["Records", "records"]),
    );
    check("sns_batches", batch, |(records, key)| {
        let payload = json!({ key: records.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>() });
        check_invocation(&payload)?;
        let Ok(Invocation::Events(events)) = parse_invocation(&payload) else {
            return Err(TestCaseError::fail("batch not read as events"));
        };
        prop_assert_eq!(events.len(), records.len());
        for ((_, finished), event) in records.iter().zip(&events) {
            if let Some(f) = finished {
                check_finished(f, event)?;
            }
        }
        Ok(())
    });
}

#[test]
fn well_formed_finished_event() {
    check("well_formed_finished_event", finished_record(), |f| {
        let payload = json!({ "Records": [f.record.clone()] });
        let Ok(Invocation::Events(events)) = parse_invocation(&payload) else {
            return Err(TestCaseError::fail("not read as events"));
        };
        prop_assert_eq!(events.len(), 1);
        check_finished(&f, &events[0])
    });
}

/// A DMS task-state event as EventBridge delivers it, and whether it is a
/// well-formed stop of the task with that ARN.
fn eventbridge_event() -> BoxedStrategy<(Value, Option<String>)> {
    let task_arn = "arn:aws:dms:(us-east-1|eu-west-1):[0-9]{12}:task:[A-Za-z0-9-]{1,20}";
    let resource = prop_oneof![
        3 => task_arn.boxed(),
        1 => Just("arn:aws:dms:us-east-1:123456789012:rep:abc".to_owned()).boxed(),
        1 => "(?s).{0,20}".boxed(),
    ];
    let detail = prop_oneof![
        // Random keys, realistic values.
        3 => prop::collection::vec(
            (
                prop::sample::select(vec![
                    "eventId", "eventID", "eventName", "EventID", "event-id", "eventType",
                    "type", "detailMessage", "message", "eventMessage", "Event Message",
                    "category", "resourceLink",
                ]),
                prop_oneof![
                    "DMS-EVENT-00[0-9]{2}".prop_map(Value::String),
                    prop::sample::select(vec![
                        "REPLICATION_TASK_STARTED", "REPLICATION_TASK_STOPPED",
                        "REPLICATION_TASK_FAILED", "REPLICATION_TASK_DELETED",
                        "REPLICATION_TASK", "StateChange",
                    ])
                    .prop_map(|s| json!(s)),
                    stop_reason_word().prop_map(|r| json!(format!(
                        "Replication task has stopped. Stop Reason {r}."
                    ))),
                    json_leaf(),
                ],
            ),
            0..6,
        )
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        1 => json_value(),
    ];
    (
        prop::option::of("[0-9a-f-]{1,36}"),
        prop_oneof![
            4 => prop::collection::vec(resource, 0..4).prop_map(|r| Some(json!(r))),
            1 => Just(None),
            1 => json_leaf().prop_map(Some),
        ],
        prop_oneof![
            4 => Just(Some(json!("2026-11-21T00:42:17Z"))),
            1 => Just(None),
            1 => json_leaf().prop_map(Some),
        ],
        detail,
        any::<bool>(),
        task_arn,
    )
        .prop_map(|(id, resources, time, detail, well_formed, arn)| {
            let mut event = json!({
                "version": "0",
                "detail-type": "DMS Replication Task State Change",
                "source": "aws.dms",
                "account": "123456789012",
                "region": "us-east-1",
            });
            let object = event.as_object_mut().unwrap();
            if let Some(id) = id {
                object.insert("id".into(), json!(id));
            }
            if well_formed {
                // Only keys that cannot hide the event id, so the code wins.
                let mut d = detail.as_object().cloned().unwrap_or_default();
                for k in ["eventID", "eventName", "EventID", "event-id"] {
                    d.remove(k);
                }
                d.insert("eventId".into(), json!("DMS-EVENT-0079"));
                object.insert("detail".into(), Value::Object(d));
                object.insert("resources".into(), json!([arn]));
                object.insert("time".into(), json!("2026-11-21T00:42:17Z"));
                (event, Some(arn))
            } else {
                object.insert("detail".into(), detail);
                if let Some(r) = resources {
                    object.insert("resources".into(), r);
                }
                if let Some(t) = time {
                    object.insert("time".into(), t);
                }
                (event, None)
            }
        })
        .boxed()
}

#[test]
fn eventbridge_events() {
    check(
        "eventbridge_events",
        eventbridge_event(),
        |(event, stop_of)| {
            check_invocation(&event)?;
            if let Some(arn) = stop_of {
                let Ok(Invocation::Events(events)) = parse_invocation(&event) else {
                    return Err(TestCaseError::fail("not read as events"));
                };
                let e = events[0].as_ref().map_err(|e| {
                    TestCaseError::fail(format!("well-formed event rejected: {e:?}"))
                })?;
                prop_assert_eq!(&e.kind, &EventKind::Stopped);
                prop_assert_eq!(&e.task, &TaskRef::Arn(arn));
            }
            Ok(())
        },
    );
}

/// What a continuation must deserialize to, by serde's rules: an object
/// with the named fields, or (serde's sequence form of a struct) an array of
/// 2 or 3 elements in field order.
fn continuation_fields(c: &Value) -> Option<(&str, u32, Option<bool>)> {
    let (run_id, invocation, load_complete) = match c {
        Value::Object(m) => (
            m.get("run_id")?,
            m.get("invocation")?,
            m.get("load_complete"),
        ),
        Value::Array(a) if (2..=3).contains(&a.len()) => (&a[0], &a[1], a.get(2)),
        _ => return None,
    };
    let invocation = u32::try_from(invocation.as_u64()?).ok()?;
    let load_complete = match load_complete {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return None,
    };
    Some((run_id.as_str()?, invocation, load_complete))
}

#[test]
fn continuations() {
    let continuation = prop_oneof![
        2 => ("(?s).{0,20}", any::<u32>(), prop::option::of(prop::option::of(any::<bool>())))
            .prop_map(|(run_id, invocation, load_complete)| {
                let mut c = json!({"run_id": run_id, "invocation": invocation});
                if let Some(l) = load_complete {
                    c["load_complete"] = json!(l);
                }
                c
            }),
        1 => json_value(),
    ];
    check("continuations", continuation, |c| {
        let payload = json!({ CONTINUATION_KEY: c.clone() });
        check_invocation(&payload)?;
        let parsed = parse_invocation(&payload);
        let fields = continuation_fields(&c);
        let well_formed = fields.is_some();
        match parsed {
            Ok(Invocation::Continuation(got)) => {
                prop_assert!(well_formed, "accepted {c}");
                prop_assert_eq!(
                    Some((got.run_id.as_str(), got.invocation, got.load_complete)),
                    fields
                );
            }
            Ok(other) => return Err(TestCaseError::fail(format!("{other:?}"))),
            Err(e) => prop_assert!(!well_formed, "rejected {c}: {e}"),
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// properties: stop_reason

#[test]
fn stop_reason_on_any_text() {
    let text = prop_oneof![
        "(?s).{0,64}",
        ("(?s).{0,20}", "[ :]{0,3}", "(?s).{0,20}")
            .prop_map(|(a, sep, b)| format!("{a}Stop Reason{sep}{b}")),
    ];
    check("stop_reason_on_any_text", text, |t| {
        if let Some(r) = stop_reason(&t) {
            prop_assert!(is_reason(&r), "{t:?} -> {r:?}");
            prop_assert!(t.contains("Stop Reason"));
            prop_assert!(t.contains(r.as_str()));
        } else {
            prop_assert!(
                !t.contains("Stop Reason") || {
                    let rest = t.split_once("Stop Reason").map_or("", |(_, r)| r);
                    !rest.trim_start_matches([' ', ':']).starts_with(|c: char| {
                        c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
                    })
                },
                "{t:?} has a reason but none was read"
            );
        }
        Ok(())
    });
}

#[test]
fn stop_reason_is_read_back() {
    let parts = (
        // No `Stop Reason` before the one we plant.
        "[a-z .,]{0,30}",
        "[ :]{0,3}",
        stop_reason_word(),
        prop_oneof![Just(String::new()), "[.,;)\\n ][^\\n]{0,20}"],
    );
    check(
        "stop_reason_is_read_back",
        parts,
        |(before, sep, reason, after)| {
            let text = format!("{before}Stop Reason{sep}{reason}{after}");
            prop_assert_eq!(stop_reason(&text), Some(reason));
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------
// properties: the starter's trigger

fn trigger_payload() -> BoxedStrategy<Value> {
    let operator = (
        prop_oneof![
            3 => Just(json!("start")),
            1 => json_leaf(),
        ],
        prop::option::of(prop_oneof![
            Just(json!(true)),
            Just(json!(false)),
            json_leaf()
        ]),
        prop::option::of(prop_oneof![
            prop::sample::select(StartType::VALUES).prop_map(|s| json!(s)),
            json_leaf(),
        ]),
        prop::option::of((json_key(), json_leaf())),
    )
        .prop_map(|(op, dry, st, extra)| {
            let mut m = Map::new();
            m.insert("operation".into(), op);
            if let Some(d) = dry {
                m.insert("dry_run".into(), d);
            }
            if let Some(s) = st {
                m.insert("start_type".into(), s);
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        });
    let schedule = (
        prop::option::of(json_value()),
        prop::option::of(json_leaf()),
        prop::option::of((json_key(), json_value())),
    )
        .prop_map(|(resources, time, extra)| {
            let mut m = Map::new();
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            m.insert("source".into(), json!("aws.events"));
            m.insert("detail-type".into(), json!("Scheduled Event"));
            if let Some(r) = resources {
                m.insert("resources".into(), r);
            }
            if let Some(t) = time {
                m.insert("time".into(), t);
            }
            Value::Object(m)
        });
    // A move request: a valid or mangled instance ARN, and sometimes more.
    let moving = (
        prop_oneof![
            Just(json!("arn:aws:dms:eu-west-1:123456789012:rep:UPGRADED-1")),
            "[a-z:0-9-]{0,40}".prop_map(|s| json!(s)),
            json_leaf(),
        ],
        prop::option::of(prop_oneof![Just(json!(true)), json_leaf()]),
        prop::option::of((json_key(), json_leaf())),
    )
        .prop_map(|(target, resume, extra)| {
            let mut m = Map::new();
            m.insert("operation".into(), json!("move"));
            m.insert("target_instance_arn".into(), target);
            if let Some(r) = resume {
                m.insert("resume".into(), r);
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        });
    prop_oneof![json_value(), operator, schedule, moving].boxed()
}

#[test]
fn starter_triggers() {
    check("starter_triggers", trigger_payload(), |v| {
        let parsed = parse_trigger(&v);
        let Some(object) = v.as_object() else {
            prop_assert!(parsed.is_err(), "non-object accepted: {parsed:?}");
            return Ok(());
        };
        let scheduled = object.get("source").and_then(Value::as_str) == Some("aws.events")
            && object.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
        match parsed {
            Ok(Trigger::Schedule {
                event_id,
                rule_arns,
                time,
            }) => {
                prop_assert!(scheduled);
                prop_assert_eq!(
                    event_id.as_deref(),
                    object.get("id").and_then(Value::as_str)
                );
                let expected: Vec<&str> = object
                    .get("resources")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                prop_assert_eq!(rule_arns, expected);
                prop_assert_eq!(time.as_deref(), object.get("time").and_then(Value::as_str));
            }
            Ok(Trigger::Operator { start_type, .. }) => {
                prop_assert!(!scheduled);
                prop_assert_eq!(object.get("operation"), Some(&json!("start")));
                prop_assert_eq!(
                    start_type.map(|s| s.as_str()),
                    object.get("start_type").and_then(Value::as_str)
                );
            }
            Ok(Trigger::Manual) => {
                prop_assert!(!scheduled && !object.contains_key("operation"));
            }
            Ok(Trigger::StopAt { position, .. }) => {
                prop_assert!(!scheduled);
                prop_assert_eq!(object.get("operation"), Some(&json!("stop-at")));
                prop_assert!(position.starts_with("commit_time:"), "{position}");
            }
            Ok(Trigger::Move {
                target_instance_arn,
                ..
            }) => {
                prop_assert!(!scheduled);
                prop_assert_eq!(object.get("operation"), Some(&json!("move")));
                prop_assert!(
                    dms_refresh_core::moves::is_instance_arn(&target_instance_arn),
                    "{target_instance_arn}"
                );
            }
            Err(e) => {
                prop_assert!(!scheduled, "scheduled event rejected: {e}");
                prop_assert!(
                    object.contains_key("operation"),
                    "plain object rejected: {e}"
                );
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// properties: configuration

const ALL_VARS: [&str; 8] = [
    vars::TASK_ARNS,
    vars::RULE_NAME,
    vars::INDICATOR,
    vars::REFRESH_TYPE,
    vars::MODE,
    vars::TOPIC_ARN,
    vars::CDC_STOP_POSITION,
    vars::REENABLE_ON_FAILURE,
];

/// A valid value for one variable (alone; combinations may still be invalid).
fn config_valid(var: &'static str) -> BoxedStrategy<String> {
    match var {
        vars::TASK_ARNS => (
            prop::collection::vec("arn:aws:dms:us-east-1:[0-9]{12}:task:[A-Z0-9]{4,8}", 1..4),
            prop::sample::select(vec![",", ", ", " ,", ",,"]),
        )
            .prop_map(|(arns, sep)| arns.join(sep))
            .boxed(),
        vars::RULE_NAME => "[A-Za-z0-9._-]{1,64}".boxed(),
        vars::INDICATOR => prop::sample::select(RefreshIndicator::VALUES)
            .prop_map(str::to_owned)
            .boxed(),
        vars::REFRESH_TYPE => prop::sample::select(RefreshType::VALUES)
            .prop_map(str::to_owned)
            .boxed(),
        vars::MODE => prop::sample::select(ScheduleMode::VALUES)
            .prop_map(str::to_owned)
            .boxed(),
        vars::TOPIC_ARN => "arn:aws:sns:(us-east-1|eu-west-3):[0-9]{12}:[a-z-]{1,20}".boxed(),
        vars::CDC_STOP_POSITION => {
            "(commit|server)_time:20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]"
                .boxed()
        }
        _ => prop::sample::select(vec!["true", "false"])
            .prop_map(str::to_owned)
            .boxed(),
    }
}

/// A value close to a valid one, often just wrong.
fn config_near(var: &'static str) -> BoxedStrategy<String> {
    match var {
        vars::TASK_ARNS => prop::collection::vec(
            prop_oneof![
                "arn:aws:dms:us-east-1:[0-9]{12}:task:[A-Z0-9]{0,3}",
                "arn:aws:dms:[a-z0-9-]{0,12}:[0-9]{10,13}:(task:|rep:)?[A-Z0-9]{0,4}",
                Just("arn:aws:dms:us-east-1:123456789012:task:DUP".to_owned()),
            ],
            0..4,
        )
        .prop_map(|arns| arns.join(","))
        .boxed(),
        vars::RULE_NAME => "[A-Za-z0-9._ /-]{0,70}".boxed(),
        vars::INDICATOR | vars::REFRESH_TYPE | vars::MODE => prop::sample::select(vec![
            "data-refresh",
            "Data-Refresh",
            "full-load ",
            "full_load",
            "full-load-and-cdc",
            "one-time",
            "onetime",
            "schedule",
            "cdc",
        ])
        .prop_map(str::to_owned)
        .boxed(),
        vars::TOPIC_ARN => "arn:aws:(sns|sqs):[a-z0-9-]{0,12}:[0-9]{11,13}:.{0,8}".boxed(),
        vars::CDC_STOP_POSITION => {
            "(commit_time|server_time|other)?:?[0-9]{4}-[0-9]{2}-[0-9]{2}(T| )[0-9:]{0,8}".boxed()
        }
        _ => prop::sample::select(vec!["TRUE", "1", "yes", "false "])
            .prop_map(str::to_owned)
            .boxed(),
    }
}

/// Unset, valid, valid padded with blanks, nearly valid, or random text.
fn config_value(var: &'static str) -> BoxedStrategy<Option<String>> {
    // Optional variables are usually unset.
    let unset = match var {
        vars::TOPIC_ARN | vars::CDC_STOP_POSITION | vars::REENABLE_ON_FAILURE => 12,
        _ => 1,
    };
    prop_oneof![
        unset => Just(None),
        20 => config_valid(var).prop_map(Some),
        2 => ("[ \t\n]{0,2}", config_valid(var), "[ \t\n]{0,2}")
            .prop_map(|(a, v, b)| Some(format!("{a}{v}{b}"))),
        2 => config_near(var).prop_map(Some),
        1 => "(?s).{0,30}".prop_map(Some),
    ]
    .boxed()
}

fn config_env() -> BoxedStrategy<Vec<(&'static str, Option<String>)>> {
    ALL_VARS
        .iter()
        .map(|&v| config_value(v).prop_map(move |value| (v, value)))
        .collect::<Vec<_>>()
        .boxed()
}

#[test]
fn config_from_any_environment() {
    check("config_from_any_environment", config_env(), |env| {
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.clone())
        };
        match Config::from_lookup(lookup) {
            Ok(c) => {
                prop_assert!(
                    VALID_COMBINATIONS.contains(&(c.indicator, c.refresh_type, c.mode)),
                    "{c:?}"
                );
                prop_assert!(!c.task_arns.is_empty());
                for (i, arn) in c.task_arns.iter().enumerate() {
                    prop_assert!(arn.starts_with("arn:") && arn.contains(":dms:"), "{arn}");
                    prop_assert!(!c.task_arns[..i].contains(arn), "duplicate {arn}");
                }
                if c.mode == ScheduleMode::Schedule {
                    prop_assert!(c.rule_name.is_some());
                    prop_assert_eq!(c.manages_rule(), c.rule_name.as_deref());
                } else {
                    prop_assert_eq!(c.manages_rule(), None);
                }
                if c.cdc_stop_position.is_some() {
                    prop_assert!(c.refresh_type.has_cdc());
                }
                // What was read is what was set, trimmed.
                prop_assert_eq!(
                    lookup(vars::INDICATOR).map(|s| s.trim().to_owned()),
                    Some(c.indicator.as_str().to_owned())
                );
                prop_assert_eq!(
                    lookup(vars::MODE).map(|s| s.trim().to_owned()),
                    Some(c.mode.as_str().to_owned())
                );
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(
                    ALL_VARS.iter().any(|v| text.contains(v)),
                    "error names no variable: {text}"
                );
            }
        }
        Ok(())
    });
}
