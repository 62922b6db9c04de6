//! The run ledger's state and the outbox, on the target database: the
//! messages a run owes to operators are kept beside its ledger row, under
//! this database's ledger prefix, and the operator requests beside them.

use dms_refresh_core::ports::{
    Endpoints, HookError, LedgerState, Outgoing, RequestRecord, RunContext, Secrets,
};
use masking::{OutboxMessage, RunState};

use super::database::{DatabaseHooks, hook_error};

impl<E: Endpoints, S: Secrets> DatabaseHooks<E, S> {
    /// Keep an operator request beside the runs of the group's target.
    pub(super) async fn record_request(
        &self,
        run: &RunContext,
        request: &RequestRecord,
    ) -> Result<bool, HookError> {
        let (target, _) = self.target(run).await?;
        let kept = masking::RequestRecord {
            request_id: request.request_id.clone(),
            operation: request.kind.clone(),
            outcome: request.outcome.to_string(),
        };
        target
            .record_request(&kept)
            .await
            .map_err(|e| hook_error(&e))
    }

    pub(super) async fn state(&self, run: &RunContext) -> Result<Option<LedgerState>, HookError> {
        let (target, id) = self.target(run).await?;
        let status = target.status(&id).await.map_err(|e| hook_error(&e))?;
        let now = std::time::SystemTime::now();
        Ok(status.map(|s| {
            let lease_expired = s.lease_until.is_none_or(|l| l <= now);
            match s.state {
                RunState::InProgress => LedgerState::InProgress { lease_expired },
                RunState::Paused => LedgerState::Paused { lease_expired },
                RunState::Failed => LedgerState::Failed { permanent: false },
                RunState::FailedPermanently => LedgerState::Failed { permanent: true },
                RunState::Done => LedgerState::Done,
            }
        }))
    }

    pub(super) async fn enqueue(
        &self,
        run: &RunContext,
        message: &Outgoing,
    ) -> Result<bool, HookError> {
        let (target, id) = self.target(run).await?;
        let prefix = id.strip_suffix(run.run_id.as_str()).unwrap_or_default();
        let kept = OutboxMessage {
            run_id: format!("{prefix}{}", message.run_id),
            key: message.key.clone(),
            subject: message.subject.clone(),
            body: message.body.clone(),
        };
        target.enqueue(&kept).await.map_err(|e| hook_error(&e))
    }

    /// Claim every unsent message of this database's runs, with the run ids
    /// as the core knows them (without the database prefix).
    pub(super) async fn claim_unsent(
        &self,
        run: &RunContext,
        owner: &str,
        claim_until: std::time::SystemTime,
    ) -> Result<Vec<Outgoing>, HookError> {
        let (target, id) = self.target(run).await?;
        let prefix = id
            .strip_suffix(run.run_id.as_str())
            .unwrap_or_default()
            .to_owned();
        let kept = target
            .claim_unsent(&prefix, owner, claim_until)
            .await
            .map_err(|e| hook_error(&e))?;
        Ok(kept
            .into_iter()
            .map(|m| Outgoing {
                run_id: m
                    .run_id
                    .strip_prefix(&prefix)
                    .unwrap_or(&m.run_id)
                    .to_owned(),
                key: m.key,
                subject: m.subject,
                body: m.body,
            })
            .collect())
    }

    pub(super) async fn mark_sent(
        &self,
        run: &RunContext,
        message: &Outgoing,
    ) -> Result<(), HookError> {
        let (target, id) = self.target(run).await?;
        let prefix = id.strip_suffix(run.run_id.as_str()).unwrap_or_default();
        target
            .mark_sent(&format!("{prefix}{}", message.run_id), &message.key)
            .await
            .map_err(|e| hook_error(&e))
    }
}
