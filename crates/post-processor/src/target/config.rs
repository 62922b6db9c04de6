//! The target-database settings, read once at init: the secrets, the rules
//! file (validated here, so a bad file fails the function's init) and TLS.

use std::path::PathBuf;

use dms_refresh_core::config::{Config, RefreshIndicator};
use masking::{Rules, TlsMode};
use tracing::warn;

use super::layout::{self, Layout};

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
        /// Required when the rules mask anything; never in data-migration mode.
        salt_secret_arn: Option<String>,
        rules: Box<Rules>,
        tls: TlsMode,
        layout: Layout,
    },
}

/// A target configuration problem; the message names the variable or file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TargetConfigError(pub(super) String);

/// Masking never runs on a migration target (it may be the new production
/// database): in data-migration mode the rules may hold cutover hooks only.
fn refuse_masking_in_migration(
    rules: &Rules,
    path: &std::path::Path,
) -> Result<(), TargetConfigError> {
    let masked: Vec<&str> = rules.tables.iter().map(|t| t.name.as_str()).collect();
    if masked.is_empty() {
        return Ok(());
    }
    Err(TargetConfigError(format!(
        "{} ({}): REFRESH_INDICATOR=data-migration never masks, but the rules file masks or \
         deletes from table(s) {}; in data-migration mode a rules file may only hold [[hooks]] \
         (sync_sequences, enable_triggers, enable_foreign_keys, sql)",
        vars::RULES_PATH,
        path.display(),
        masked.join(", ")
    )))
}

impl TargetConfig {
    pub fn from_env(config: &Config) -> Result<Self, TargetConfigError> {
        Self::from_lookup(config.indicator, |k| std::env::var(k).ok())
    }

    /// Read through `lookup`; the rules file is loaded and validated here,
    /// so a bad rules file fails the function's init.
    pub fn from_lookup(
        indicator: RefreshIndicator,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, TargetConfigError> {
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
        let rules_path = PathBuf::from(required(vars::RULES_PATH)?);
        let rules = Rules::load(&rules_path).map_err(|e| {
            TargetConfigError(format!(
                "{} ({}): {e}",
                vars::RULES_PATH,
                rules_path.display()
            ))
        })?;
        let masks = rules.tables.iter().any(|t| !t.columns.is_empty());
        let salt_secret_arn = match indicator {
            RefreshIndicator::DataMigration => {
                refuse_masking_in_migration(&rules, &rules_path)?;
                None
            }
            RefreshIndicator::DataRefresh if masks => Some(required(vars::SALT_SECRET_ARN)?),
            RefreshIndicator::DataRefresh => get(vars::SALT_SECRET_ARN),
        };
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
        let layout = layout::from_lookup(indicator, get)?;
        Ok(Self::Database {
            db_secret_arn,
            salt_secret_arn,
            rules: Box::new(rules),
            tls,
            layout,
        })
    }
}
