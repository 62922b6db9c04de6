//! The target database behind the run-ledger and hook ports: the masking
//! engine, its ledger tables, and the guard that refuses any database but the
//! DMS task's target.

use std::path::PathBuf;
use std::time::SystemTime;

use dms_refresh_core::guard::{DbLocation, check_target};
use dms_refresh_core::ports::{
    Begin, Endpoints, HookError, HookReport, LedgerOutcome, PortError, PostRefreshHooks,
    RunContext, RunLedger, Secrets,
};
use dms_refresh_core::post::{MemoryLedger, NoHooks};
use masking::{DbCredentials, Dialect, MaskError, Rules, RunOutcome, Salt, Target, TlsMode};
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::{info, warn};

/// Environment variables of the target database and masking.
pub mod vars {
    pub const DB_SECRET_ARN: &str = "TARGET_DB_SECRET_ARN";
    pub const SALT_SECRET_ARN: &str = "MASKING_SALT_SECRET_ARN";
    pub const RULES_PATH: &str = "MASKING_RULES_PATH";
    pub const TLS_MODE: &str = "DB_TLS_MODE";
    pub const TLS_CA_PATH: &str = "DB_TLS_CA_PATH";
}

/// Where the CA bundle for `verify-full` is looked for by default: a file
/// shipped in the rules layer.
pub const DEFAULT_CA_PATH: &str = "/opt/rds-ca-bundle.pem";

/// The target-database settings, read once at init.
#[derive(Debug)]
pub enum TargetConfig {
    /// No target database configured: no hooks, an in-memory ledger.
    None,
    Database {
        db_secret_arn: String,
        salt_secret_arn: String,
        rules: Box<Rules>,
        tls: TlsMode,
    },
}

/// A target configuration problem; the message names the variable or file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TargetConfigError(String);

impl TargetConfig {
    pub fn from_env() -> Result<Self, TargetConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read through `lookup`; the rules file is loaded and validated here,
    /// so a bad rules file fails the function's init.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, TargetConfigError> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(db_secret_arn) = get(vars::DB_SECRET_ARN) else {
            warn!(
                "{} is not set: no post-refresh hooks will run (nothing is masked)",
                vars::DB_SECRET_ARN
            );
            return Ok(Self::None);
        };
        let required = |k: &'static str| {
            get(k).ok_or_else(|| {
                TargetConfigError(format!(
                    "environment variable {k} is required when {} is set",
                    vars::DB_SECRET_ARN
                ))
            })
        };
        let salt_secret_arn = required(vars::SALT_SECRET_ARN)?;
        let rules_path = PathBuf::from(required(vars::RULES_PATH)?);
        let rules = Rules::load(&rules_path).map_err(|e| {
            TargetConfigError(format!(
                "{} ({}): {e}",
                vars::RULES_PATH,
                rules_path.display()
            ))
        })?;
        let tls = match get(vars::TLS_MODE).as_deref() {
            None | Some("require") => TlsMode::Require,
            Some("disable") => TlsMode::Disable,
            Some("verify-full") => TlsMode::VerifyFull {
                ca_pem_path: PathBuf::from(
                    get(vars::TLS_CA_PATH).unwrap_or_else(|| DEFAULT_CA_PATH.to_owned()),
                ),
            },
            Some(other) => {
                return Err(TargetConfigError(format!(
                    "environment variable {} has an invalid value {other:?}: expected require, \
                     verify-full or disable",
                    vars::TLS_MODE
                )));
            }
        };
        Ok(Self::Database {
            db_secret_arn,
            salt_secret_arn,
            rules: Box::new(rules),
            tls,
        })
    }
}

/// The ledger and hooks the post-processor uses: in memory without a target
/// database, on the target database with one.
#[derive(Debug)]
pub enum TargetHooks<E, S> {
    None(MemoryLedger),
    Database(Box<DatabaseHooks<E, S>>),
}

impl<E: Endpoints, S: Secrets> TargetHooks<E, S> {
    pub fn new(config: TargetConfig, endpoints: E, secrets: S) -> Self {
        match config {
            TargetConfig::None => Self::None(MemoryLedger::default()),
            TargetConfig::Database {
                db_secret_arn,
                salt_secret_arn,
                rules,
                tls,
            } => Self::Database(Box::new(DatabaseHooks {
                db_secret_arn,
                salt_secret_arn,
                rules,
                tls,
                endpoints,
                secrets,
                connection: Mutex::new(None),
            })),
        }
    }
}

impl<E: Endpoints, S: Secrets> RunLedger for TargetHooks<E, S> {
    async fn begin(
        &self,
        run: &RunContext,
        owner: &str,
        lease_until: SystemTime,
    ) -> Result<Begin, HookError> {
        match self {
            Self::None(ledger) => ledger.begin(run, owner, lease_until).await,
            Self::Database(db) => db.begin(run, owner, lease_until).await,
        }
    }

    async fn finish(
        &self,
        run: &RunContext,
        owner: &str,
        outcome: &LedgerOutcome,
    ) -> Result<(), HookError> {
        match self {
            Self::None(ledger) => ledger.finish(run, owner, outcome).await,
            Self::Database(db) => db.finish(run, owner, outcome).await,
        }
    }
}

impl<E: Endpoints, S: Secrets> PostRefreshHooks for TargetHooks<E, S> {
    fn is_configured(&self) -> bool {
        matches!(self, Self::Database(_))
    }

    async fn run(&self, run: &RunContext) -> Result<HookReport, HookError> {
        match self {
            Self::None(_) => NoHooks.run(run).await,
            Self::Database(db) => db.run(run).await,
        }
    }
}

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
    salt_secret_arn: String,
    rules: Box<Rules>,
    tls: TlsMode,
    endpoints: E,
    secrets: S,
    /// Kept across warm invocations for the same credentials; dropped after
    /// any error.
    connection: Mutex<Option<Connection>>,
}

fn hook_error(err: &MaskError) -> HookError {
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

impl<E: Endpoints, S: Secrets> DatabaseHooks<E, S> {
    /// Check the guard for this run, then hand out the (cached) connection
    /// and the run's id in the target's ledger.
    async fn target(&self, run: &RunContext) -> Result<(Target, String), HookError> {
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
    async fn forget_connection(&self) {
        *self.connection.lock().await = None;
    }

    async fn begin(
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
            masking::Begin::AlreadyDone => Begin::AlreadyDone,
        })
    }

    async fn finish(
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
            LedgerOutcome::Failed { error } => masking::LedgerOutcome::Failed {
                error: error.clone(),
            },
            // The engine's ledger resumes failed runs: a paused run is
            // recorded as one so that the continuation can claim it.
            LedgerOutcome::Paused => masking::LedgerOutcome::Failed {
                error: "paused at the invocation deadline; a continuation resumes it".into(),
            },
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

    async fn run(&self, run: &RunContext) -> Result<HookReport, HookError> {
        let (target, id) = self.target(run).await?;
        let secret = self
            .secrets
            .secret_string(&self.salt_secret_arn)
            .await
            .map_err(|e| port_error(&e))?;
        let salt = salt_from_secret(&secret)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_salt_is_the_secret_string_or_its_salt_key() {
        assert_eq!(
            salt_from_secret("plain-salt-value-1234").unwrap().expose(),
            "plain-salt-value-1234"
        );
        assert_eq!(
            salt_from_secret(r#"{"salt": "json-salt-value-12345"}"#)
                .unwrap()
                .expose(),
            "json-salt-value-12345"
        );
        let err = salt_from_secret(r#"{"pepper": "x"}"#).unwrap_err();
        assert!(err.permanent && !err.message.contains('x'));
    }

    #[test]
    fn ledger_ids_are_scoped_by_database() {
        let secret = |db: &str| {
            DbCredentials::from_secret_json(&format!(
                r#"{{"engine":"mysql","host":"h","port":3306,"username":"u","password":"p","dbname":"{db}"}}"#
            ))
            .unwrap()
        };
        assert_eq!(ledger_id(&secret("dev"), "task@1"), "dev/task@1");
        assert_ne!(
            ledger_id(&secret("dev"), "task@1"),
            ledger_id(&secret("test"), "task@1")
        );
    }

    #[test]
    fn configuration_names_what_is_wrong() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(matches!(
            TargetConfig::from_lookup(env(&[])),
            Ok(TargetConfig::None)
        ));
        let err = TargetConfig::from_lookup(env(&[(vars::DB_SECRET_ARN, "arn:db")])).unwrap_err();
        assert!(err.to_string().contains(vars::SALT_SECRET_ARN), "{err}");
        let err = TargetConfig::from_lookup(env(&[
            (vars::DB_SECRET_ARN, "arn:db"),
            (vars::SALT_SECRET_ARN, "arn:salt"),
            (vars::RULES_PATH, "/nonexistent/rules.toml"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/rules.toml"), "{err}");
    }

    #[test]
    fn the_example_and_deployed_rules_files_are_valid() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for file in ["examples/masking-rules.toml", "rules/masking-rules.toml"] {
            let path = root.join(file);
            Rules::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }
}
