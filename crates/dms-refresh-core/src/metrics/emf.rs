//! CloudWatch embedded metric format: one JSON object per line whose `_aws`
//! member tells CloudWatch Logs which of the object's members are metrics
//! (`Metrics`, each with a `Unit`), which are dimensions (`Dimensions`, sets
//! of member names whose values are strings), under which `Namespace`, at
//! which `Timestamp` (epoch milliseconds). Every other member is a plain
//! property of the log event.

use std::io::Write;
use std::sync::Mutex;

use serde_json::{Map, Value, json};
use tracing::warn;

use super::{Measure, MetricEvent, MetricsSink};
use crate::config::ConfigError;

/// The environment variable that names the CloudWatch namespace.
pub const NAMESPACE_VAR: &str = "METRICS_NAMESPACE";
/// The namespace when the variable is unset (local runs); the template sets
/// the same value.
pub const DEFAULT_NAMESPACE: &str = "dms-refresh";
/// The one dimension: the function that emitted the metric. Its name
/// includes the stack's, so two stacks in one account keep apart.
pub const FUNCTION_DIMENSION: &str = "FunctionName";
/// Set by Lambda (and by cargo-lambda's emulator) for every function.
const FUNCTION_NAME_VAR: &str = "AWS_LAMBDA_FUNCTION_NAME";
/// The dimension value outside Lambda.
const LOCAL_FUNCTION: &str = "local";

/// Where the metrics go in CloudWatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmfSettings {
    pub namespace: String,
    pub function_name: String,
}

impl EmfSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
        let namespace = get(NAMESPACE_VAR).unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        if !valid_namespace(&namespace) {
            return Err(ConfigError::Invalid {
                var: NAMESPACE_VAR,
                value: namespace,
                expected: "a CloudWatch namespace: 1 to 255 printable ASCII characters, not \
                           starting with AWS/"
                    .into(),
            });
        }
        Ok(Self {
            namespace,
            function_name: get(FUNCTION_NAME_VAR).unwrap_or_else(|| LOCAL_FUNCTION.to_owned()),
        })
    }
}

/// CloudWatch reserves `AWS/` for its own namespaces.
fn valid_namespace(namespace: &str) -> bool {
    (1..=255).contains(&namespace.len())
        && namespace.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && !namespace.starts_with("AWS/")
}

/// The EMF document for `event`. A duration that is not a finite number
/// (JSON has none) is left out rather than sent as something else.
pub fn document(settings: &EmfSettings, event: &MetricEvent, timestamp_ms: u64) -> Value {
    let mut root = Map::new();
    for (key, value) in &event.properties {
        root.insert((*key).to_owned(), Value::String(value.clone()));
    }
    let mut definitions = Vec::with_capacity(event.metrics.len());
    for metric in &event.metrics {
        let (unit, value) = match metric.measure {
            Measure::Count(n) => ("Count", json!(n)),
            Measure::Seconds(s) if s.is_finite() => ("Seconds", json!(s)),
            Measure::Seconds(_) => continue,
        };
        definitions.push(json!({ "Name": metric.name, "Unit": unit }));
        root.insert(metric.name.to_owned(), value);
    }
    root.insert(
        FUNCTION_DIMENSION.to_owned(),
        Value::String(settings.function_name.clone()),
    );
    root.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": settings.namespace,
                "Dimensions": [[FUNCTION_DIMENSION]],
                "Metrics": definitions,
            }],
        }),
    );
    Value::Object(root)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// Writes each event as one EMF line to `out` (stdout in Lambda).
#[derive(Debug)]
pub struct EmfWriter<W> {
    settings: EmfSettings,
    out: Mutex<W>,
}

impl<W: Write> EmfWriter<W> {
    pub fn new(settings: EmfSettings, out: W) -> Self {
        Self {
            settings,
            out: Mutex::new(out),
        }
    }
}

impl EmfWriter<std::io::Stdout> {
    pub fn stdout(settings: EmfSettings) -> Self {
        Self::new(settings, std::io::stdout())
    }
}

impl<W: Write + Send + std::fmt::Debug> MetricsSink for EmfWriter<W> {
    fn emit(&self, event: &MetricEvent) {
        if event.metrics.is_empty() {
            return;
        }
        let line = document(&self.settings, event, now_ms()).to_string();
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(error) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            warn!(%error, "metrics could not be written; they are lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metric;

    fn settings() -> EmfSettings {
        EmfSettings {
            namespace: "dms-refresh".into(),
            function_name: "stack-post-processor".into(),
        }
    }

    #[test]
    fn a_document_declares_each_metric_its_unit_and_the_dimension() {
        let event = MetricEvent {
            metrics: vec![
                Metric {
                    name: "RunSucceeded",
                    measure: Measure::Count(1),
                },
                Metric {
                    name: "RunDuration",
                    measure: Measure::Seconds(12.5),
                },
            ],
            properties: vec![("run_id", "task@1".into())],
        };
        assert_eq!(
            document(&settings(), &event, 1_790_000_000_000),
            json!({
                "_aws": {
                    "Timestamp": 1_790_000_000_000_u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "dms-refresh",
                        "Dimensions": [["FunctionName"]],
                        "Metrics": [
                            {"Name": "RunSucceeded", "Unit": "Count"},
                            {"Name": "RunDuration", "Unit": "Seconds"},
                        ],
                    }],
                },
                "FunctionName": "stack-post-processor",
                "RunSucceeded": 1,
                "RunDuration": 12.5,
                "run_id": "task@1",
            })
        );
    }

    #[test]
    fn a_duration_that_is_not_a_number_is_left_out() {
        let event = MetricEvent {
            metrics: vec![Metric {
                name: "RunDuration",
                measure: Measure::Seconds(f64::NAN),
            }],
            properties: vec![],
        };
        let doc = document(&settings(), &event, 0);
        assert!(doc.get("RunDuration").is_none(), "{doc}");
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Metrics"], json!([]));
    }

    #[test]
    fn the_writer_writes_one_parsable_line_per_event() {
        let writer = EmfWriter::new(settings(), Vec::new());
        let event = MetricEvent {
            metrics: vec![Metric {
                name: "LockAge",
                measure: Measure::Count(0),
            }],
            properties: vec![],
        };
        writer.emit(&event);
        writer.emit(&event);
        writer.emit(&MetricEvent::default());
        let out = writer.out.into_inner().unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        for line in lines {
            let doc: Value = serde_json::from_str(line).unwrap();
            assert_eq!(doc["LockAge"], 0);
            assert!(doc["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        }
    }

    #[test]
    fn settings_default_outside_lambda_and_refuse_a_reserved_namespace() {
        let none = EmfSettings::from_lookup(|_| None).unwrap();
        assert_eq!(none.namespace, DEFAULT_NAMESPACE);
        assert_eq!(none.function_name, "local");
        let set = EmfSettings::from_lookup(|k| match k {
            NAMESPACE_VAR => Some("Team/Refresh".into()),
            FUNCTION_NAME_VAR => Some("s-post-processor".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(set.namespace, "Team/Refresh");
        assert_eq!(set.function_name, "s-post-processor");
        for bad in ["AWS/Lambda", "tab\there", &"x".repeat(256)] {
            let err = EmfSettings::from_lookup(|k| (k == NAMESPACE_VAR).then(|| bad.to_owned()))
                .unwrap_err();
            assert!(err.to_string().contains(NAMESPACE_VAR), "{err}");
        }
    }
}
