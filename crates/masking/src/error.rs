//! Error type of the masking engine.

use thiserror::Error;

/// Everything that can go wrong while loading rules, connecting, masking or
/// using the run ledger. Use [`MaskError::is_permanent`] to decide whether a
/// retry can help.
#[derive(Debug, Error)]
pub enum MaskError {
    /// The rules file is malformed or invalid. `file:line` and the dotted key
    /// path locate the problem.
    #[error("{file}{}: {key}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Rules {
        /// File name (as given to the loader).
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// Dotted key path, e.g. `tables.customers.columns.email.strategy`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The rules do not match the live schema (missing table or column,
    /// strategy incompatible with the column type, `null` on a NOT NULL
    /// column...). Detected before any write.
    #[error("rules do not match the live schema: {}", problems.join("; "))]
    Schema {
        /// One message per problem.
        problems: Vec<String>,
    },
    /// Invalid configuration (credentials secret, TLS, salt, run id...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Could not connect to the target database. Never contains the password.
    #[error("cannot connect to {engine} database {dbname} at {host}:{port}: {source}")]
    Connect {
        /// Engine family name.
        engine: &'static str,
        /// Host as configured.
        host: String,
        /// Port as configured.
        port: u16,
        /// Database name, or `(default)`.
        dbname: String,
        /// Driver error.
        #[source]
        source: sqlx::Error,
    },
    /// A statement failed.
    #[error("database error while {context}: {source}")]
    Database {
        /// What the engine was doing.
        context: String,
        /// Driver error.
        #[source]
        source: sqlx::Error,
    },
    /// Post-masking verification found problems (fail closed).
    #[error("verification failed: {}", failures.join("; "))]
    Verification {
        /// One message per failed check.
        failures: Vec<String>,
    },
    /// The run ledger refused the operation (run not begun, lease held by
    /// someone else, rules changed during a run...).
    #[error("run ledger: {0}")]
    Ledger(String),
    /// The publish places are not in a state that allows the operation (a
    /// developer can read quarantine, no retired copy to roll back to, an
    /// inconsistent state left by hand...). Nothing was changed.
    #[error("publish places: {0}")]
    Places(String),
    /// The connected database is not the one the caller expected (guard).
    #[error("wrong database: expected {expected}, connected to {actual}")]
    WrongDatabase {
        /// What the caller expected.
        expected: String,
        /// What the connection points at.
        actual: String,
    },
}

impl MaskError {
    /// `true` when retrying the same operation cannot succeed without a change
    /// of rules, schema or configuration; `false` for connection problems,
    /// timeouts, deadlocks and other transient database conditions.
    pub fn is_permanent(&self) -> bool {
        match self {
            MaskError::Rules { .. }
            | MaskError::Schema { .. }
            | MaskError::Config(_)
            | MaskError::Verification { .. }
            | MaskError::Ledger(_)
            | MaskError::Places(_)
            | MaskError::WrongDatabase { .. } => true,
            MaskError::Connect { source, .. } => !is_transient(source) && is_auth_failure(source),
            MaskError::Database { source, .. } => !is_transient(source),
        }
    }

    pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> MaskError {
        let context = context.into();
        move |source| MaskError::Database { context, source }
    }
}

/// Access denied on connect is permanent (wrong credentials); everything else
/// on connect (refused, DNS, TLS handshake timeouts) is treated as retryable.
fn is_auth_failure(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            // MySQL 1045 access denied / 1044 db access denied / 1049 unknown db;
            // PostgreSQL 28P01 bad password, 28000 invalid authorization, 3D000 unknown db.
            matches!(
                code.as_str(),
                "1045" | "1044" | "1049" | "28000" | "28P01" | "3D000"
            )
        }
        sqlx::Error::Configuration(_) | sqlx::Error::Tls(_) => true,
        _ => false,
    }
}

/// Whether a driver error is worth retrying.
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            is_transient_code(&code)
        }
        _ => false,
    }
}

/// SQLSTATE (PostgreSQL) or error number (MySQL/MariaDB) of a transient error.
pub(crate) fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        // MySQL: deadlock, lock wait timeout, too many connections, server gone,
        // lost connection, query interrupted, read-only (failover)
        "1213" | "1205" | "1040" | "2006" | "2013" | "1317" | "1290" | "1836"
        // PostgreSQL: serialization failure, deadlock, lock not available,
        // query canceled, admin shutdown, crash shutdown, cannot connect now
        | "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03"
    ) || code.starts_with("08")
        || code.starts_with("53")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_error_names_file_line_and_key() {
        let e = MaskError::Rules {
            file: "rules.toml".into(),
            line: Some(7),
            key: "tables.t.columns.c.strategy".into(),
            message: "unknown strategy `hsah`".into(),
        };
        assert_eq!(
            e.to_string(),
            "rules.toml:7: tables.t.columns.c.strategy: unknown strategy `hsah`"
        );
        assert!(e.is_permanent());
    }

    #[test]
    fn transient_codes() {
        assert!(is_transient_code("1213"));
        assert!(is_transient_code("40P01"));
        assert!(is_transient_code("08006"));
        assert!(!is_transient_code("42703"));
        assert!(!is_transient_code("1054"));
        let e = MaskError::Database {
            context: "x".into(),
            source: sqlx::Error::PoolTimedOut,
        };
        assert!(!e.is_permanent());
        assert!(MaskError::Verification { failures: vec![] }.is_permanent());
    }
}
