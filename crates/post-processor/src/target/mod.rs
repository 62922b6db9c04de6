//! The target database behind the run-ledger and hook ports: the masking
//! engine, its ledger tables and outbox, and the guard that refuses any
//! database but the DMS task's target.

mod config;
mod cutover;
mod database;
mod guard;
mod layout;
mod outbox;
mod publish;

pub use config::{DEFAULT_CA_PATH, TargetConfig, TargetConfigError, vars};
pub use database::{DatabaseHooks, ledger_id, salt_from_secret};
pub(crate) use guard::location;
pub use layout::{Layout, vars as layout_vars};

use std::time::SystemTime;

use dms_refresh_core::memory::{MemoryLedger, NoHooks};
use dms_refresh_core::ports::{
    Begin, Endpoints, HookError, HookReport, LedgerOutcome, LedgerState, Outgoing,
    PostRefreshHooks, RequestRecord, RunContext, RunLedger, Secrets,
};
use serde_json::Value;

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
                layout,
            } => Self::Database(Box::new(DatabaseHooks::new(
                database::Settings {
                    db_secret_arn,
                    salt_secret_arn,
                    rules,
                    tls,
                    layout,
                },
                endpoints,
                secrets,
            ))),
        }
    }
}

impl<E: Endpoints, S: Secrets> RunLedger for TargetHooks<E, S> {
    fn is_durable(&self) -> bool {
        matches!(self, Self::Database(_))
    }

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

    async fn state(&self, run: &RunContext) -> Result<Option<LedgerState>, HookError> {
        match self {
            Self::None(ledger) => ledger.state(run).await,
            Self::Database(db) => db.state(run).await,
        }
    }

    async fn enqueue(&self, run: &RunContext, message: &Outgoing) -> Result<bool, HookError> {
        match self {
            Self::None(ledger) => ledger.enqueue(run, message).await,
            Self::Database(db) => db.enqueue(run, message).await,
        }
    }

    async fn claim_unsent(
        &self,
        run: &RunContext,
        owner: &str,
        claim_until: SystemTime,
    ) -> Result<Vec<Outgoing>, HookError> {
        match self {
            Self::None(ledger) => ledger.claim_unsent(run, owner, claim_until).await,
            Self::Database(db) => db.claim_unsent(run, owner, claim_until).await,
        }
    }

    async fn mark_sent(&self, run: &RunContext, message: &Outgoing) -> Result<(), HookError> {
        match self {
            Self::None(ledger) => ledger.mark_sent(run, message).await,
            Self::Database(db) => db.mark_sent(run, message).await,
        }
    }

    async fn record_request(
        &self,
        run: &RunContext,
        request: &RequestRecord,
    ) -> Result<bool, HookError> {
        match self {
            Self::None(ledger) => ledger.record_request(run, request).await,
            Self::Database(db) => db.record_request(run, request).await,
        }
    }
}

impl<E: Endpoints, S: Secrets> PostRefreshHooks for TargetHooks<E, S> {
    fn is_configured(&self) -> bool {
        matches!(self, Self::Database(_))
    }

    fn failure_keeps_live(&self) -> bool {
        match self {
            Self::None(_) => false,
            Self::Database(db) => db.settings.layout.publish().is_some(),
        }
    }

    async fn run(&self, run: &RunContext) -> Result<HookReport, HookError> {
        match self {
            Self::None(_) => NoHooks.run(run).await,
            Self::Database(db) => db.run(run).await,
        }
    }

    async fn rollback(
        &self,
        run: &RunContext,
        request_id: &str,
        dry_run: bool,
    ) -> Result<Value, HookError> {
        match self {
            Self::None(_) => NoHooks.rollback(run, request_id, dry_run).await,
            Self::Database(db) => db.rollback(run, request_id, dry_run).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dms_refresh_core::config::RefreshIndicator;
    use masking::{DbCredentials, Rules};

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
    fn a_failed_verification_is_told_apart_from_other_failures() {
        let failed = database::hook_error(&masking::MaskError::Verification {
            failures: vec!["customers email:email: 3 offending row(s)".into()],
        });
        assert!(failed.permanent && failed.verification_failed);
        let other = database::hook_error(&masking::MaskError::Ledger("lease lost".into()));
        assert!(!other.verification_failed);
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
        let refresh = RefreshIndicator::DataRefresh;
        assert!(matches!(
            TargetConfig::from_lookup(refresh, env(&[])),
            Ok(TargetConfig::None)
        ));
        let err = TargetConfig::from_lookup(refresh, env(&[(vars::DB_SECRET_ARN, "arn:db")]))
            .unwrap_err();
        assert!(err.to_string().contains(vars::RULES_PATH), "{err}");
        const EXAMPLE: &str = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/masking-rules.toml"
        );
        let err = TargetConfig::from_lookup(
            refresh,
            env(&[(vars::DB_SECRET_ARN, "arn:db"), (vars::RULES_PATH, EXAMPLE)]),
        )
        .unwrap_err();
        assert!(err.to_string().contains(vars::SALT_SECRET_ARN), "{err}");
        let err = TargetConfig::from_lookup(
            refresh,
            env(&[
                (vars::DB_SECRET_ARN, "arn:db"),
                (vars::SALT_SECRET_ARN, "arn:salt"),
                (vars::RULES_PATH, "/nonexistent/rules.toml"),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/rules.toml"), "{err}");
    }

    /// Issue 9 item 2: masking never runs in data-migration mode; init
    /// refuses a rules file that masks, and accepts one with cutover hooks.
    #[test]
    fn data_migration_mode_refuses_masking_rules_and_accepts_cutover_hooks() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let masking = root.join("examples/masking-rules.toml");
        let hooks = root.join("rules/cutover-hooks.toml");
        let lookup = |rules: &std::path::Path| {
            let rules = rules.display().to_string();
            move |k: &str| match k {
                vars::DB_SECRET_ARN => Some("arn:db".to_owned()),
                vars::SALT_SECRET_ARN => Some("arn:salt".to_owned()),
                vars::RULES_PATH => Some(rules.clone()),
                _ => None,
            }
        };
        let err = TargetConfig::from_lookup(RefreshIndicator::DataMigration, lookup(&masking))
            .unwrap_err();
        assert!(
            err.to_string().contains("never masks") && err.to_string().contains("customers"),
            "{err}"
        );
        let ok =
            TargetConfig::from_lookup(RefreshIndicator::DataMigration, lookup(&hooks)).unwrap();
        assert!(
            matches!(ok, TargetConfig::Database { salt_secret_arn: None, ref rules, .. } if rules.tables.is_empty() && !rules.hooks.is_empty())
        );
    }

    #[test]
    fn the_example_and_deployed_rules_files_are_valid() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for file in [
            "examples/masking-rules.toml",
            "rules/masking-rules.toml",
            "rules/cutover-hooks.toml",
        ] {
            let path = root.join(file);
            Rules::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }
}
