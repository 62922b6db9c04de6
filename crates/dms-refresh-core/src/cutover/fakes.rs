//! In-memory doubles of the cutover's ports.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use serde_json::{Value, json};

use super::ports::{
    CutoverTarget, DataValidation, Datapoint, LatencyMetric, SequenceValue, SourceSequences,
    TaskMetrics, TaskValidation,
};
use crate::fakes::FakeDms;
use crate::ports::{FailureKind, HookError, PortError, RunContext};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl DataValidation for FakeDms {
    async fn validation(&self, task_arn: &str) -> Result<TaskValidation, PortError> {
        Ok(lock(&self.validations)
            .get(task_arn)
            .cloned()
            .unwrap_or(TaskValidation {
                enabled: false,
                tables: Vec::new(),
            }))
    }
}

/// CloudWatch: the latest datapoint per task resource id and metric.
#[derive(Debug, Default)]
pub struct FakeTaskMetrics {
    pub latest: Mutex<HashMap<(String, &'static str), Datapoint>>,
    /// Every read: (task resource id, metric, from, to).
    pub reads: Mutex<Vec<(String, &'static str, f64, f64)>>,
    pub error: Mutex<Option<PortError>>,
}

impl FakeTaskMetrics {
    /// Both latencies of every task in `resource_ids` at `value`.
    pub fn at(resource_ids: &[&str], value: f64) -> Self {
        let fake = Self::default();
        for id in resource_ids {
            for m in LatencyMetric::ALL {
                fake.set(id, m, value);
            }
        }
        fake
    }

    pub fn set(&self, resource_id: &str, metric: LatencyMetric, value: f64) {
        let point = Datapoint {
            epoch: 1_790_000_000.0,
            value,
        };
        lock(&self.latest).insert((resource_id.to_owned(), metric.name()), point);
    }

    pub fn forget(&self, resource_id: &str, metric: LatencyMetric) {
        lock(&self.latest).remove(&(resource_id.to_owned(), metric.name()));
    }
}

impl TaskMetrics for FakeTaskMetrics {
    async fn latest(
        &self,
        task_resource_id: &str,
        metric: LatencyMetric,
        from_epoch: f64,
        to_epoch: f64,
    ) -> Result<Option<Datapoint>, PortError> {
        if let Some(e) = lock(&self.error).clone() {
            return Err(e);
        }
        let read = (
            task_resource_id.to_owned(),
            metric.name(),
            from_epoch,
            to_epoch,
        );
        lock(&self.reads).push(read);
        let key = (task_resource_id.to_owned(), metric.name());
        Ok(lock(&self.latest).get(&key).copied())
    }
}

/// The source database's sequences.
#[derive(Debug, Default)]
pub struct FakeSource {
    pub values: Mutex<Vec<SequenceValue>>,
    pub unreachable: Mutex<bool>,
}

impl SourceSequences for FakeSource {
    async fn sequences(
        &self,
        _tasks: &[crate::task::TaskInfo],
    ) -> Result<Vec<SequenceValue>, PortError> {
        if *lock(&self.unreachable) {
            return Err(PortError::new(
                "ReadSourceSequences",
                FailureKind::Transient,
                "source database: connection refused",
            ));
        }
        Ok(lock(&self.values).clone())
    }
}

/// The target database: kept triggers, the steps called, scripted failures.
#[derive(Debug, Default)]
pub struct FakeCutoverTarget {
    /// Triggers kept by `record_triggers` and not yet re-enabled.
    pub recorded: Mutex<Vec<String>>,
    /// Triggers enabled on the target.
    pub enabled: Mutex<Vec<String>>,
    /// Every step called, in order, with what it was given.
    pub calls: Mutex<Vec<String>>,
    /// The step (`sequences`, `triggers`, `foreign-keys`) that fails, and how.
    pub fail: Mutex<Option<(&'static str, HookError)>>,
}

impl FakeCutoverTarget {
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }

    fn step(&self, name: &'static str, call: String) -> Result<(), HookError> {
        lock(&self.calls).push(call);
        match lock(&self.fail).as_ref() {
            Some((step, error)) if *step == name => Err(error.clone()),
            _ => Ok(()),
        }
    }
}

impl CutoverTarget for FakeCutoverTarget {
    async fn record_triggers(&self, _group: &RunContext) -> Result<Value, HookError> {
        self.step("record", "record-triggers".into())?;
        let now: Vec<String> = std::mem::take(&mut *lock(&self.enabled));
        let mut recorded = lock(&self.recorded);
        recorded.extend(now.iter().cloned());
        Ok(json!({ "disabled": now, "recorded": recorded.clone() }))
    }

    async fn recorded_triggers(&self, _group: &RunContext) -> Result<Value, HookError> {
        Ok(json!({ "would_enable": lock(&self.recorded).clone() }))
    }

    async fn set_sequences(
        &self,
        _group: &RunContext,
        from_source: Option<&[SequenceValue]>,
    ) -> Result<Value, HookError> {
        let call = match from_source {
            Some(values) => format!("sequences from the source ({})", values.len()),
            None => "sequences max+1".to_owned(),
        };
        self.step("sequences", call)?;
        Ok(json!({ "set": from_source.map_or(0, <[SequenceValue]>::len) }))
    }

    async fn enable_recorded_triggers(&self, _group: &RunContext) -> Result<Value, HookError> {
        self.step("triggers", "triggers".into())?;
        let kept: Vec<String> = std::mem::take(&mut *lock(&self.recorded));
        lock(&self.enabled).extend(kept.iter().cloned());
        Ok(json!({ "enabled": kept }))
    }

    async fn validate_foreign_keys(&self, _group: &RunContext) -> Result<Value, HookError> {
        self.step("foreign-keys", "foreign-keys".into())?;
        Ok(json!({ "foreign_keys": "valid" }))
    }
}
