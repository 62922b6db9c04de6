//! The source database's settings, shared by the functions that read it
//! (the task-starter's slot check, the post-processor's cutover): a secret
//! and the TLS to use. The source is only ever read.

use std::path::PathBuf;

use crate::db::TlsMode;

/// Environment variables of the source database (all optional).
pub mod vars {
    pub const SECRET_ARN: &str = "SOURCE_DB_SECRET_ARN";
    pub const TLS_MODE: &str = "SOURCE_DB_TLS_MODE";
    pub const TLS_CA_PATH: &str = "SOURCE_DB_TLS_CA_PATH";
}

/// Where the rules layer puts the RDS CA bundle.
pub const DEFAULT_CA_PATH: &str = "/opt/rds-ca-bundle.pem";

/// The source secret and TLS mode.
#[derive(Debug, Clone)]
pub struct SourceDb {
    pub secret_arn: String,
    pub tls: TlsMode,
}

impl SourceDb {
    /// `Ok(None)` when no source secret is configured; an error names a bad
    /// TLS setting.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(secret_arn) = get(vars::SECRET_ARN) else {
            return Ok(None);
        };
        let setting = get(vars::TLS_MODE);
        let tls = TlsMode::from_setting(setting.as_deref(), || {
            PathBuf::from(get(vars::TLS_CA_PATH).unwrap_or_else(|| DEFAULT_CA_PATH.to_owned()))
        })
        .ok_or_else(|| {
            format!(
                "{} has an invalid value {:?}: expected require, verify-full or disable",
                vars::TLS_MODE,
                setting.as_deref().unwrap_or_default()
            )
        })?;
        Ok(Some(Self { secret_arn, tls }))
    }
}
