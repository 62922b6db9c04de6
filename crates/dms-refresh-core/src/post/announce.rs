//! Delivering what runs owe to operators: every message goes through the
//! ledger's outbox, is published, then marked sent. A message is keyed by
//! its run and outcome, so a retried failure is announced once, and one that
//! could not be published is found again by the next delivery, retry or
//! reconciler sweep (at least once).

use tracing::{info, warn};

use super::{InvocationInfo, PostError, PostPorts};

/// How long a claimed message is left to its claimer before another
/// delivery may send it (the claimer died between claim and send).
const CLAIM: std::time::Duration = std::time::Duration::from_secs(120);
use crate::config::Config;
use crate::notify::{Alert, sns_subject};
use crate::ports::{
    Continuer, Notifier, Outgoing, PostRefreshHooks, ReplicationTasks, RunContext, RunLedger,
    ScheduleRule,
};

/// A stable key for an outcome with a variable text: `kind:<16 hex>`.
pub fn outcome_key(kind: &str, text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{kind}:{hash:016x}")
}

/// The outbox message for `alert`.
pub(super) fn outgoing(run: &RunContext, key: &str, alert: &Alert) -> Outgoing {
    Outgoing {
        run_id: run.run_id.clone(),
        key: key.to_owned(),
        subject: sns_subject(&alert.subject),
        body: alert.body(),
    }
}

impl<D, R, N, L, H, C> PostPorts<'_, D, R, N, L, H, C>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
    L: RunLedger,
    H: PostRefreshHooks,
    C: Continuer,
{
    /// Keep `alert` under `key` and deliver everything unsent. A message
    /// kept before under the same key is not kept (nor sent) again: the
    /// answer is whether this one was new.
    pub(crate) async fn announce(
        &self,
        config: &Config,
        run: &RunContext,
        info: &InvocationInfo,
        key: &str,
        alert: &Alert,
    ) -> Result<bool, PostError> {
        let message = outgoing(run, key, alert);
        let fresh =
            self.ledger
                .enqueue(run, &message)
                .await
                .map_err(|error| PostError::Ledger {
                    run_id: run.run_id.clone(),
                    error,
                })?;
        if !fresh {
            info!(run_id = %run.run_id, key, "this outcome was announced before; not again");
        }
        self.deliver(config, run, info).await?;
        Ok(fresh)
    }

    /// Publish every unsent message of the outbox, oldest first, marking
    /// each sent once SNS accepted it. Messages are claimed first, so that
    /// concurrent deliveries (duplicate events racing) send each once.
    /// Without a topic the messages are only logged, and marked sent.
    pub(crate) async fn deliver(
        &self,
        config: &Config,
        run: &RunContext,
        info: &InvocationInfo,
    ) -> Result<usize, PostError> {
        let ledger_error = |error| PostError::Ledger {
            run_id: run.run_id.clone(),
            error,
        };
        let claim_until = std::time::SystemTime::now() + CLAIM;
        let unsent = self
            .ledger
            .claim_unsent(run, &info.owner, claim_until)
            .await
            .map_err(ledger_error)?;
        let mut sent = 0;
        for message in unsent {
            match config.notification_topic_arn.as_deref() {
                Some(topic) => {
                    if let Err(error) = self
                        .notifier
                        .publish(topic, &message.subject, &message.body)
                        .await
                    {
                        warn!(run_id = %message.run_id, key = %message.key, %error, "notification not published; it stays in the outbox");
                        return Err(PostError::Announce {
                            run_id: message.run_id,
                            error,
                        });
                    }
                    info!(topic, run_id = %message.run_id, subject = %message.subject, "notification published");
                }
                None => {
                    info!(run_id = %message.run_id, subject = %message.subject, "no notification topic configured; not publishing");
                }
            }
            self.ledger
                .mark_sent(run, &message)
                .await
                .map_err(ledger_error)?;
            sent += 1;
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_keys_are_stable_and_tell_texts_apart() {
        assert_eq!(outcome_key("failed", "boom"), outcome_key("failed", "boom"));
        assert_ne!(outcome_key("failed", "boom"), outcome_key("failed", "bang"));
        assert!(outcome_key("failed", "boom").starts_with("failed:"));
        assert_eq!(outcome_key("failed", "x").len(), "failed:".len() + 16);
    }
}
