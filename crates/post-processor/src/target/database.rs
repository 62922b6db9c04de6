//! Masking and the run ledger on the DMS task's target database, behind the
//! guard that refuses any database but the task's target.

use std::time::SystemTime;

use dms_refresh_core::ports::{
    Begin, Endpoints, HookError, HookReport, LedgerOutcome, PortError, RunContext, RunFigures,
    Secrets, TableRows, VerificationFigures,
};
use masking::{
    DbCredentials, LoadStart, MaskError, Rules, RunOptions, RunOutcome, RunReport, Salt, Target,
    TlsMode,
};

use super::layout::Layout;
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

/// What the database adapter was configured with at init.
#[derive(Debug)]
pub struct Settings {
    pub db_secret_arn: String,
    pub salt_secret_arn: Option<String>,
    pub rules: Box<Rules>,
    pub tls: TlsMode,
    pub layout: Layout,
}

/// Masking and the run ledger on the DMS task's target database.
#[derive(Debug)]
pub struct DatabaseHooks<E, S> {
    pub(super) settings: Settings,
    pub(super) endpoints: E,
    pub(super) secrets: S,
    /// Kept across warm invocations for the same credentials; dropped after
    /// any error.
    connection: Mutex<Option<Connection>>,
}

pub(super) fn hook_error(err: &MaskError) -> HookError {
    HookError {
        permanent: err.is_permanent(),
        verification_failed: matches!(err, MaskError::Verification { .. }),
        message: err.to_string(),
    }
}

pub(super) fn port_error(err: &PortError) -> HookError {
    HookError {
        permanent: !err.is_retryable(),
        verification_failed: false,
        message: err.to_string(),
    }
}

pub(super) fn permanent(message: String) -> HookError {
    HookError {
        permanent: true,
        verification_failed: false,
        message,
    }
}

/// The figures the notification and the metrics show, from the engine's report.
fn figures(report: &RunReport) -> RunFigures {
    RunFigures {
        tables: report
            .tables
            .iter()
            .map(|t| TableRows {
                table: t.table.clone(),
                rows_masked: t.rows_masked,
            })
            .collect(),
        verification: report.verification.as_ref().map(|v| VerificationFigures {
            passed: v.passed,
            checks: v.checks.len(),
        }),
        published: report.published.is_some(),
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
    pub(super) fn new(settings: Settings, endpoints: E, secrets: S) -> Self {
        Self {
            settings,
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
            .secret_string(&self.settings.db_secret_arn)
            .await
            .map_err(|e| port_error(&e))?;
        let creds = DbCredentials::from_secret_json(&secret).map_err(|e| hook_error(&e))?;
        self.guard(run, &creds).await?;

        let id = ledger_id(&creds, &run.run_id);
        // Reused only for identical credentials: a rotated secret reconnects.
        let target = match cached.take() {
            Some(c) if c.creds == creds => c.target,
            _ => {
                let target = Target::connect(&self.connect_as(&creds), self.settings.tls.clone())
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

    /// The credentials to connect with. On MySQL the publish model names
    /// every database it touches, and live does not exist before the first
    /// publish: no default database then. The secret's `dbname` still scopes
    /// the ledger ([`ledger_id`]).
    fn connect_as(&self, creds: &DbCredentials) -> DbCredentials {
        match (&self.settings.layout, creds.engine) {
            (Layout::Rewrite(_), masking::Dialect::MySql) => DbCredentials {
                dbname: None,
                ..creds.clone()
            },
            _ => creds.clone(),
        }
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
        if let Layout::Rewrite(publish) = &self.settings.layout {
            return self.rewrite(run, publish).await;
        }
        let (target, id) = self.target(run).await?;
        let salt = self.salt().await?;
        let opts = RunOptions {
            load_start: if run.target_reloaded() {
                LoadStart::Reloaded
            } else {
                LoadStart::Resumed
            },
            ..RunOptions::default()
        };
        let report = target
            .run_with(&id, &self.settings.rules, &salt, run.deadline, opts)
            .await;
        self.report(report).await
    }

    /// The engine's report as the hooks port's, or its error (after which the
    /// next use reconnects).
    pub(super) async fn report(
        &self,
        report: Result<RunReport, MaskError>,
    ) -> Result<HookReport, HookError> {
        let report = match report {
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
                figures: figures(&report),
                details,
            },
            RunOutcome::Incomplete { .. } => HookReport::Incomplete { details },
        })
    }

    pub(super) async fn salt(&self) -> Result<Salt, HookError> {
        let Some(arn) = self.settings.salt_secret_arn.as_deref() else {
            return Ok(Salt::new(NO_MASKING_SALT));
        };
        let secret = self
            .secrets
            .secret_string(arn)
            .await
            .map_err(|e| port_error(&e))?;
        salt_from_secret(&secret)
    }
}
