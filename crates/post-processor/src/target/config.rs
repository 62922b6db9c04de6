//! The target-database settings, read once at init: the secrets, the rules
//! file (validated here, so a bad file fails the function's init) and TLS.

use std::path::{Path, PathBuf};

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

/// How an operator puts the RDS CA bundle into the rules layer.
pub const FETCH_CA_COMMAND: &str = "bash scripts/fetch-rds-ca-bundle.sh";

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

/// `DB_TLS_MODE` (unset means `require`); `verify-full` also needs its CA
/// bundle to be there now, so a missing file fails the init rather than the
/// first connection hours later.
fn tls_mode(get: &impl Fn(&str) -> Option<String>) -> Result<TlsMode, TargetConfigError> {
    let setting = get(vars::TLS_MODE);
    let mode = TlsMode::from_setting(setting.as_deref(), || {
        PathBuf::from(get(vars::TLS_CA_PATH).unwrap_or_else(|| DEFAULT_CA_PATH.to_owned()))
    })
    .ok_or_else(|| {
        TargetConfigError(format!(
            "environment variable {} has an invalid value {:?}: expected require, \
             verify-full or disable",
            vars::TLS_MODE,
            setting.as_deref().unwrap_or_default()
        ))
    })?;
    if let TlsMode::VerifyFull { ca_pem_path } = &mode {
        require_ca_bundle(ca_pem_path)?;
    }
    Ok(mode)
}

/// The CA bundle exists and holds at least one PEM certificate. The message
/// names the file and the command that puts the RDS bundle there.
fn require_ca_bundle(path: &Path) -> Result<(), TargetConfigError> {
    let fix = format!(
        "for RDS and Aurora run `{FETCH_CA_COMMAND}` once (it writes rules/rds-ca-bundle.pem, \
         which the rules layer deploys as {DEFAULT_CA_PATH}), then `sam build && sam deploy`; \
         or set DbTlsMode=require to encrypt without verifying the server"
    );
    let problem = match std::fs::read(path) {
        Ok(pem) if contains(&pem, b"-----BEGIN CERTIFICATE-----") => return Ok(()),
        Ok(_) => "holds no PEM certificate".to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "is missing".to_owned(),
        Err(e) => format!("cannot be read ({e})"),
    };
    Err(TargetConfigError(format!(
        "{}=verify-full verifies the database server against the CA bundle {} ({}), which \
         {problem}: {fix}",
        vars::TLS_MODE,
        path.display(),
        vars::TLS_CA_PATH,
    )))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
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
        let tls = tls_mode(&get)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Cutover hooks in data-migration mode: a valid target configuration
    /// that needs no salt and no schema layout, so only TLS can fail.
    fn config_with(tls: &[(&'static str, String)]) -> Result<TargetConfig, TargetConfigError> {
        let rules = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../rules/cutover-hooks.toml"
        );
        let mut env = vec![
            (vars::DB_SECRET_ARN, "arn:db".to_owned()),
            (vars::RULES_PATH, rules.to_owned()),
        ];
        env.extend_from_slice(tls);
        TargetConfig::from_lookup(RefreshIndicator::DataMigration, move |k| {
            env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        })
    }

    fn tls_of(config: TargetConfig) -> TlsMode {
        match config {
            TargetConfig::Database { tls, .. } => tls,
            TargetConfig::None => panic!("expected a target database configuration"),
        }
    }

    /// A file under the system temp directory, removed when dropped.
    struct TempFile(PathBuf);
    impl TempFile {
        fn new(name: &str, content: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("dms-refresh-{}-{name}", std::process::id()));
            std::fs::write(&path, content).unwrap();
            Self(path)
        }
        fn path(&self) -> String {
            self.0.display().to_string()
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn verify_full_with_a_missing_ca_bundle_fails_at_init_naming_file_and_fix() {
        let err = config_with(&[
            (vars::TLS_MODE, "verify-full".to_owned()),
            (
                vars::TLS_CA_PATH,
                "/nonexistent/dir/rds-ca-bundle.pem".to_owned(),
            ),
        ])
        .unwrap_err()
        .to_string();
        for expected in [
            "/nonexistent/dir/rds-ca-bundle.pem",
            "is missing",
            vars::TLS_CA_PATH,
            FETCH_CA_COMMAND,
            "DbTlsMode=require",
        ] {
            assert!(err.contains(expected), "{expected:?} not in: {err}");
        }
    }

    #[test]
    fn verify_full_looks_in_the_rules_layer_by_default() {
        if Path::new(DEFAULT_CA_PATH).exists() {
            return; // this machine has a real bundle there: nothing to fail on
        }
        let err = config_with(&[(vars::TLS_MODE, "verify-full".to_owned())])
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("{DEFAULT_CA_PATH} (")), "{err}");
    }

    #[test]
    fn verify_full_refuses_a_file_without_certificates() {
        let file = TempFile::new("not-a-bundle.pem", "<html>503 Service Unavailable</html>\n");
        let err = config_with(&[
            (vars::TLS_MODE, "verify-full".to_owned()),
            (vars::TLS_CA_PATH, file.path()),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&file.path()) && err.contains("holds no PEM certificate"),
            "{err}"
        );
    }

    #[test]
    fn verify_full_with_a_bundle_is_accepted() {
        let file = TempFile::new(
            "bundle.pem",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        );
        let tls = tls_of(
            config_with(&[
                (vars::TLS_MODE, "verify-full".to_owned()),
                (vars::TLS_CA_PATH, file.path()),
            ])
            .unwrap(),
        );
        assert_eq!(
            tls,
            TlsMode::VerifyFull {
                ca_pem_path: file.0.clone()
            }
        );
    }

    #[test]
    fn the_other_modes_need_no_ca_bundle() {
        let mode = |m: &str| config_with(&[(vars::TLS_MODE, m.to_owned())]);
        assert_eq!(tls_of(config_with(&[]).unwrap()), TlsMode::Require);
        assert_eq!(tls_of(mode("require").unwrap()), TlsMode::Require);
        assert_eq!(tls_of(mode("disable").unwrap()), TlsMode::Disable);
        let err = mode("verify-ca").unwrap_err();
        assert!(err.to_string().contains("verify-ca"), "{err}");
    }
}
