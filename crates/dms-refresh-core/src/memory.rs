//! The in-memory ledger and the absent hooks, for deployments without a
//! target database (and for tests). Nothing here outlives one warm Lambda
//! execution environment: the production ledger lives in the target database.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use serde_json::Value;

use crate::ports::{
    Begin, HookError, HookReport, LedgerOutcome, LedgerState, Outgoing, PostRefreshHooks,
    RequestRecord, RunContext, RunLedger,
};

/// No hooks: the post-processor only finishes the cycle (rule, notification).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

impl PostRefreshHooks for NoHooks {
    fn is_configured(&self) -> bool {
        false
    }

    async fn run(&self, _run: &RunContext) -> Result<HookReport, HookError> {
        Ok(HookReport::Complete {
            rows_affected: None,
            details: Value::Null,
            figures: crate::ports::RunFigures::default(),
        })
    }

    async fn rollback(
        &self,
        _run: &RunContext,
        _request_id: &str,
        _dry_run: bool,
    ) -> Result<Value, HookError> {
        Err(HookError {
            permanent: true,
            verification_failed: false,
            message:
                "rollback needs a target database (TARGET_DB_SECRET_ARN) and the publish model"
                    .into(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InProgress,
    Paused,
    Failed { permanent: bool },
    Done,
}

#[derive(Debug, Clone)]
struct Entry {
    state: State,
    owner: String,
    lease_until: SystemTime,
    finished_at: Option<SystemTime>,
}

/// A ledger (and outbox) in the function's memory.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    runs: Mutex<HashMap<String, Entry>>,
    outbox: Mutex<Vec<Kept>>,
    requests: Mutex<Vec<RequestRecord>>,
}

#[derive(Debug, Clone)]
struct Kept {
    message: Outgoing,
    claim: Option<(String, SystemTime)>,
    sent: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn epoch_ms(t: SystemTime) -> Option<u64> {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_millis()).ok())
}

impl MemoryLedger {
    /// The operator requests kept, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.requests).clone()
    }

    /// How many runs are recorded as done.
    pub fn done_count(&self) -> usize {
        lock(&self.runs)
            .values()
            .filter(|e| e.state == State::Done)
            .count()
    }
}

impl RunLedger for MemoryLedger {
    fn is_durable(&self) -> bool {
        false
    }

    async fn begin(
        &self,
        run: &RunContext,
        owner: &str,
        lease_until: SystemTime,
    ) -> Result<Begin, HookError> {
        let mut runs = lock(&self.runs);
        let now = SystemTime::now();
        let begin = match runs.get(&run.run_id) {
            None => Begin::New,
            Some(e) if e.state == State::Done => {
                return Ok(Begin::AlreadyDone {
                    finished_at_ms: e.finished_at.and_then(epoch_ms),
                });
            }
            Some(e) if e.state == State::InProgress && e.owner != owner && e.lease_until > now => {
                return Ok(Begin::HeldByOther {
                    owner: e.owner.clone(),
                });
            }
            Some(_) => Begin::Resumed,
        };
        runs.insert(
            run.run_id.clone(),
            Entry {
                state: State::InProgress,
                owner: owner.to_owned(),
                lease_until,
                finished_at: None,
            },
        );
        Ok(begin)
    }

    async fn finish(
        &self,
        run: &RunContext,
        owner: &str,
        outcome: &LedgerOutcome,
    ) -> Result<(), HookError> {
        let state = match outcome {
            LedgerOutcome::Done { .. } => State::Done,
            LedgerOutcome::Failed { permanent, .. } => State::Failed {
                permanent: *permanent,
            },
            LedgerOutcome::Paused => State::Paused,
        };
        lock(&self.runs).insert(
            run.run_id.clone(),
            Entry {
                state,
                owner: owner.to_owned(),
                lease_until: SystemTime::UNIX_EPOCH,
                finished_at: Some(SystemTime::now()),
            },
        );
        Ok(())
    }

    async fn state(&self, run: &RunContext) -> Result<Option<LedgerState>, HookError> {
        let now = SystemTime::now();
        Ok(lock(&self.runs).get(&run.run_id).map(|e| match e.state {
            State::InProgress => LedgerState::InProgress {
                lease_expired: e.lease_until <= now,
            },
            State::Paused => LedgerState::Paused {
                lease_expired: e.lease_until <= now,
            },
            State::Failed { permanent } => LedgerState::Failed { permanent },
            State::Done => LedgerState::Done,
        }))
    }

    async fn enqueue(&self, _run: &RunContext, message: &Outgoing) -> Result<bool, HookError> {
        let mut outbox = lock(&self.outbox);
        if outbox
            .iter()
            .any(|k| k.message.run_id == message.run_id && k.message.key == message.key)
        {
            return Ok(false);
        }
        outbox.push(Kept {
            message: message.clone(),
            claim: None,
            sent: false,
        });
        Ok(true)
    }

    async fn claim_unsent(
        &self,
        _run: &RunContext,
        owner: &str,
        claim_until: SystemTime,
    ) -> Result<Vec<Outgoing>, HookError> {
        let now = SystemTime::now();
        let mut claimed = Vec::new();
        for kept in lock(&self.outbox).iter_mut().filter(|k| !k.sent) {
            let free = match &kept.claim {
                None => true,
                Some((holder, until)) => holder == owner || *until < now,
            };
            if free {
                kept.claim = Some((owner.to_owned(), claim_until));
                claimed.push(kept.message.clone());
            }
        }
        Ok(claimed)
    }

    async fn mark_sent(&self, _run: &RunContext, message: &Outgoing) -> Result<(), HookError> {
        for kept in lock(&self.outbox).iter_mut() {
            if kept.message.run_id == message.run_id && kept.message.key == message.key {
                kept.sent = true;
            }
        }
        Ok(())
    }

    async fn record_request(
        &self,
        _run: &RunContext,
        request: &RequestRecord,
    ) -> Result<bool, HookError> {
        let mut requests = lock(&self.requests);
        if requests.iter().any(|r| r.request_id == request.request_id) {
            return Ok(false);
        }
        requests.push(request.clone());
        Ok(true)
    }
}
