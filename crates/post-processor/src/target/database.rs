//! Masking and the run ledger on the DMS task's target database, behind the
//! guard that refuses any database but the task's target.

use std::time::SystemTime;

use dms_refresh_core::guard::{DbLocation, check_target};
use dms_refresh_core::ports::{
    Begin, Endpoints, HookError, HookReport, LedgerOutcome, PortError, RunContext, Secrets,
};
use masking::{DbCredentials, Dialect, MaskError, Rules, RunOutcome, Salt, Target, TlsMode};
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::info;

/// The cached connection and the run (and invocation) it was last checked for.
#[derive(Debug)]
struct Connection {
    creds: DbCredentials,
    target: Target,
    /// The run id and hooks deadline of the invocation whose guard passed:
    /// `begin`, `run` and `finish` of that invocation reuse the check.
    checked_for: (String, std::time::Instant),
}

/// Masking and the run ledger on the DMS task's target database.
#[derive(Debug)]
pub struct DatabaseHooks<E, S> {
    db_secret_arn: String,
    salt_secret_arn: Option<String>,
    rules: Box<Rules>,
    tls: TlsMode,
    endpoints: E,
    secrets: S,
    /// Kept across warm invocations for the same credentials; dropped after
    /// any error.
    connection: Mutex<Option<Connection>>,
}

pub(super) fn hook_error(err: &MaskError) -> HookError {
    HookError {
        permanent: err.is_permanent(),
        message: err.to_string(),
    }
}

fn port_error(err: &PortError) -> HookError {
    HookError {
        permanent: !err.is_retryable(),
        message: err.to_string(),
    }
}

fn permanent(message: String) -> HookError {
    HookError {
        permanent: true,
        message,
    }
}

/// The run's key in the target's ledger and progress tables: the database
/// name, then the run id. On MySQL the control database is shared by every
/// database on the server, so two refreshes of different databases (with
/// tasks of the same name started in the same second) never share a run.
pub fn ledger_id(creds: &DbCredentials, run_id: &str) -> String {
    format!("{}/{run_id}", creds.dbname.as_deref().unwrap_or_default())
}

/// The salt secret holds the salt as its string, or a JSON object with a
/// `salt` key.
pub fn salt_from_secret(secret: &str) -> Result<Salt, HookError> {
    let value = match serde_json::from_str::<Value>(secret) {
        Ok(Value::Object(map)) => match map.get("salt").and_then(Value::as_str) {
            Some(salt) => salt.to_owned(),
            None => {
                return Err(permanent(
                    "the masking salt secret is a JSON object without a string `salt` key".into(),
                ));
            }
        },
        _ => secret.to_owned(),
    };
    Ok(Salt::new(value))
}

/// The salt of a run whose rules mask nothing (cutover hooks only, in
/// data-migration mode): the engine requires one, and no masking expression
/// ever uses it. Not a secret.
const NO_MASKING_SALT: &str = "hooks-only run: nothing is masked";

impl<E: Endpoints, S: Secrets> DatabaseHooks<E, S> {
    pub(super) fn new(
        db_secret_arn: String,
        salt_secret_arn: Option<String>,
        rules: Box<Rules>,
        tls: TlsMode,
        endpoints: E,
        secrets: S,
    ) -> Self {
        Self {
            db_secret_arn,
            salt_secret_arn,
            rules,
            tls,
            endpoints,
            secrets,
            connection: Mutex::new(None),
        }
    }

    /// Check the guard for this run, then hand out the (cached) connection
    /// and the run's id in the target's ledger.
    pub(super) async fn target(&self, run: &RunContext) -> Result<(Target, String), HookError> {
        let mut cached = self.connection.lock().await;
        let this_invocation = (run.run_id.clone(), run.deadline);
        if let Some(c) = cached.as_ref()
            && c.checked_for == this_invocation
        {
            return Ok((c.target.clone(), ledger_id(&c.creds, &run.run_id)));
        }
        let secret = self
            .secrets
            .secret_string(&self.db_secret_arn)
            .await
            .map_err(|e| port_error(&e))?;
        let creds = DbCredentials::from_secret_json(&secret).map_err(|e| hook_error(&e))?;
        self.guard(run, &creds).await?;

        let id = ledger_id(&creds, &run.run_id);
        // Reused only for identical credentials: a rotated secret reconnects.
        let target = match cached.take() {
            Some(c) if c.creds == creds => c.target,
            _ => {
                let target = Target::connect(&creds, self.tls.clone())
                    .await
                    .map_err(|e| hook_error(&e))?;
                info!(host = %creds.host, port = creds.port, dbname = ?creds.dbname, "connected to the target database");
                target
            }
        };
        *cached = Some(Connection {
            creds,
            target: target.clone(),
            checked_for: this_invocation,
        });
        Ok((target, id))
    }

    /// Every task of the run must have the secret's database as its target.
    async fn guard(&self, run: &RunContext, creds: &DbCredentials) -> Result<(), HookError> {
        let location = DbLocation {
            engine: match creds.engine {
                Dialect::MySql => "mysql".into(),
                Dialect::Postgres => "postgres".into(),
            },
            host: creds.host.clone(),
            port: creds.port,
            dbname: creds.dbname.clone(),
        };
        for task in &run.tasks {
            let Some(arn) = task.target_endpoint_arn.as_deref() else {
                return Err(permanent(format!(
                    "refusing to write: DMS reports no target endpoint for task {}",
                    task.identifier
                )));
            };
            let endpoint = self
                .endpoints
                .describe_endpoint(arn)
                .await
                .map_err(|e| port_error(&e))?
                .ok_or_else(|| {
                    permanent(format!(
                        "refusing to write: target endpoint {arn} does not exist"
                    ))
                })?;
            check_target(&endpoint, &location).map_err(permanent)?;
        }
        Ok(())
    }

    /// After a failure, reconnect on the next use.
    pub(super) async fn forget_connection(&self) {
        *self.connection.lock().await = None;
    }

    pub(super) async fn begin(
        &self,
        run: &RunContext,
        owner: &str,
        lease_until: SystemTime,
    ) -> Result<Begin, HookError> {
        let (target, id) = self.target(run).await?;
        let begin = target
            .begin(&id, owner, lease_until)
            .await
            .map_err(|e| hook_error(&e));
        if begin.is_err() {
            self.forget_connection().await;
        }
        Ok(match begin? {
            masking::Begin::New => Begin::New,
            masking::Begin::Resumed => Begin::Resumed,
            masking::Begin::HeldByOther { owner, .. } => Begin::HeldByOther { owner },
            masking::Begin::AlreadyDone => Begin::AlreadyDone {
                finished_at_ms: self.finished_at_ms(&target, &id).await?,
            },
        })
    }

    /// When a done run was recorded done, epoch milliseconds.
    async fn finished_at_ms(&self, target: &Target, id: &str) -> Result<Option<u64>, HookError> {
        let status = target.status(id).await.map_err(|e| hook_error(&e))?;
        Ok(status
            .and_then(|s| s.finished_at)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_millis()).ok()))
    }

    pub(super) async fn finish(
        &self,
        run: &RunContext,
        owner: &str,
        outcome: &LedgerOutcome,
    ) -> Result<(), HookError> {
        let (target, id) = self.target(run).await?;
        let outcome = match outcome {
            LedgerOutcome::Done { rows_affected } => masking::LedgerOutcome::Done {
                rows: rows_affected.unwrap_or(0),
            },
            LedgerOutcome::Failed {
                error,
                permanent: false,
            } => masking::LedgerOutcome::Failed {
                error: error.clone(),
            },
            LedgerOutcome::Failed {
                error,
                permanent: true,
            } => masking::LedgerOutcome::FailedPermanently {
                error: error.clone(),
            },
            LedgerOutcome::Paused => masking::LedgerOutcome::Paused,
        };
        let result = target
            .finish(&id, owner, outcome)
            .await
            .map_err(|e| hook_error(&e));
        if result.is_err() {
            self.forget_connection().await;
        }
        result
    }

    pub(super) async fn run(&self, run: &RunContext) -> Result<HookReport, HookError> {
        let (target, id) = self.target(run).await?;
        let salt = self.salt().await?;
        let report = match target.run(&id, &self.rules, &salt, run.deadline).await {
            Ok(report) => report,
            Err(e) => {
                let err = hook_error(&e);
                self.forget_connection().await;
                return Err(err);
            }
        };
        let details = serde_json::to_value(&report).unwrap_or(Value::Null);
        Ok(match report.outcome {
            RunOutcome::Complete => HookReport::Complete {
                rows_affected: Some(report.rows_masked()),
                details,
            },
            RunOutcome::Incomplete { .. } => HookReport::Incomplete { details },
        })
    }

    async fn salt(&self) -> Result<Salt, HookError> {
        let Some(arn) = self.salt_secret_arn.as_deref() else {
            return Ok(Salt::new(NO_MASKING_SALT));
        };
        let secret = self
            .secrets
            .secret_string(arn)
            .await
            .map_err(|e| port_error(&e))?;
        salt_from_secret(&secret)
    }

    pub(super) async fn rollback(
        &self,
        _run: &RunContext,
        _request_id: &str,
        _dry_run: bool,
    ) -> Result<Value, HookError> {
        Err(permanent(
            "rollback needs the publish model (LIVE_SCHEMA and a quarantine); the in-place \
             mode keeps no previous copy"
                .into(),
        ))
    }
}
