//! The cutover's steps on the target database, behind the same guard as a
//! run: only the DMS tasks' own target is ever touched.

use dms_refresh_core::cutover::{CutoverTarget, SequenceValue};
use dms_refresh_core::ports::{Endpoints, HookError, RunContext, Secrets};
use masking::{MaskError, Target};
use serde::Serialize;
use serde_json::Value;

use super::TargetHooks;
use super::database::{DatabaseHooks, hook_error, permanent};

impl<E: Endpoints, S: Secrets> TargetHooks<E, S> {
    /// The database, or why a cutover cannot act without one.
    fn database(&self) -> Result<&DatabaseHooks<E, S>, HookError> {
        match self {
            Self::Database(db) => Ok(db),
            Self::None(_) => Err(permanent(
                "no target database is configured (TARGET_DB_SECRET_ARN): the cutover's steps \
                 act on the target"
                    .into(),
            )),
        }
    }

    /// Run `step` on the guarded target; its report as JSON. After an
    /// error the next use reconnects.
    async fn on_target<T, F>(&self, group: &RunContext, step: F) -> Result<Value, HookError>
    where
        T: Serialize,
        F: AsyncFnOnce(&Target) -> Result<T, MaskError>,
    {
        let db = self.database()?;
        let (target, _) = db.target(group).await?;
        match step(&target).await {
            Ok(report) => Ok(serde_json::to_value(report).unwrap_or(Value::Null)),
            Err(e) => {
                db.forget_connection().await;
                Err(hook_error(&e))
            }
        }
    }
}

impl<E: Endpoints, S: Secrets> CutoverTarget for TargetHooks<E, S> {
    async fn record_triggers(&self, group: &RunContext) -> Result<Value, HookError> {
        self.on_target(group, async |t: &Target| {
            t.record_and_disable_triggers().await
        })
        .await
    }

    async fn recorded_triggers(&self, group: &RunContext) -> Result<Value, HookError> {
        self.on_target(group, async |t: &Target| t.recorded_triggers().await)
            .await
    }

    async fn set_sequences(
        &self,
        group: &RunContext,
        from_source: Option<&[SequenceValue]>,
    ) -> Result<Value, HookError> {
        let values: Option<Vec<masking::cutover::SequenceValue>> = from_source.map(|list| {
            list.iter()
                .map(|v| masking::cutover::SequenceValue {
                    schema: v.schema.clone(),
                    name: v.name.clone(),
                    next_value: v.next_value,
                })
                .collect()
        });
        self.on_target(group, async |t: &Target| match &values {
            Some(values) => t.set_sequences_from(values).await,
            None => t.set_sequences_to_max_plus_one().await,
        })
        .await
    }

    async fn enable_recorded_triggers(&self, group: &RunContext) -> Result<Value, HookError> {
        self.on_target(group, async |t: &Target| t.enable_recorded_triggers().await)
            .await
    }

    async fn validate_foreign_keys(&self, group: &RunContext) -> Result<Value, HookError> {
        self.on_target(group, async |t: &Target| {
            let checked = t.validate_foreign_keys().await?;
            checked.map_err(|failures| MaskError::Verification { failures })
        })
        .await
    }
}
