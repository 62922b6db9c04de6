//! What every run does on its connection before its first step: the salt
//! check, the session settings (salt variable, `sql_mode`, foreign-key
//! checks) and the run-state check against the ledger.

use std::collections::HashMap;

use crate::db::{Bind, Conn, Target, Val};
use crate::error::MaskError;
use crate::progress::StepState;
use crate::secret::Salt;
use crate::sql::{Dialect, numbered};

/// Minimum salt length accepted by [`Target::run`] and
/// [`Target::run_rewrite`].
pub const MIN_SALT_LEN: usize = 16;

pub(crate) fn check_salt(salt: &Salt) -> Result<(), MaskError> {
    if salt.expose().chars().count() < MIN_SALT_LEN {
        return Err(MaskError::Config(format!(
            "the masking salt must have at least {MIN_SALT_LEN} characters"
        )));
    }
    Ok(())
}

/// Salt in the session (MySQL), backslash escapes on (MySQL), and optionally
/// foreign-key checks off (MySQL `FOREIGN_KEY_CHECKS = 0`, PostgreSQL
/// `session_replication_role = replica`).
pub(crate) async fn prepare_session(
    conn: &mut Conn,
    salt: &Salt,
    disable_fk: bool,
) -> Result<(), MaskError> {
    match conn.dialect() {
        Dialect::MySql => {
            conn.execute(
                "SET @dmsr_salt = CAST(? AS BINARY)",
                &[Bind::Str(salt.expose())],
            )
            .await
            .map_err(MaskError::db("setting the session salt"))?;
            // Literal escaping relies on backslash escapes being on.
            conn.raw(
                "SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))",
            )
            .await
            .map_err(MaskError::db("setting sql_mode"))?;
            if disable_fk {
                conn.raw("SET FOREIGN_KEY_CHECKS = 0")
                    .await
                    .map_err(MaskError::db("disabling foreign key checks"))?;
            }
        }
        Dialect::Postgres => {
            if disable_fk {
                conn.raw("SET session_replication_role = replica").await.map_err(MaskError::db(
                    "setting session_replication_role = replica (needs superuser or rds_superuser; or set settings.disable_fk_checks = false)",
                ))?;
            }
        }
    }
    Ok(())
}

/// Clear the salt from a MySQL session (best effort; the connection is
/// closed right after anyway).
pub(crate) async fn forget_salt(conn: &mut Conn) {
    if conn.dialect() == Dialect::MySql {
        let _ = conn.raw("SET @dmsr_salt = NULL").await;
    }
}

/// The connection's default database (MySQL) or `None` (PostgreSQL).
pub(crate) async fn default_database(conn: &mut Conn) -> Result<Option<String>, MaskError> {
    match conn.dialect() {
        Dialect::MySql => Ok(conn
            .rows("SELECT DATABASE()", &[])
            .await
            .map_err(MaskError::db("reading the current database"))?
            .first()
            .and_then(|r| r.first())
            .and_then(Val::text)),
        Dialect::Postgres => Ok(None),
    }
}

/// The run must be claimed (`in_progress`) and keep the rules it started
/// with; the first invocation records the rules fingerprint.
pub(crate) async fn check_run_state(
    target: &Target,
    conn: &mut Conn,
    run_id: &str,
    fingerprint: &str,
) -> Result<(), MaskError> {
    let d = target.dialect();
    let runs = target.ctl("runs");
    let rows = conn
        .rows(
            &numbered(
                d,
                &format!("SELECT status, rules_fingerprint FROM {runs} WHERE run_id = ?"),
            ),
            &[Bind::Str(run_id)],
        )
        .await
        .map_err(MaskError::db("reading the run"))?;
    let Some(r) = rows.first() else {
        return Err(MaskError::Ledger(format!(
            "run `{run_id}` does not exist: call begin() first"
        )));
    };
    let status = r.first().and_then(Val::text).unwrap_or_default();
    if status != "in_progress" {
        return Err(MaskError::Ledger(format!(
            "run `{run_id}` is {status}, not in progress: nothing to do"
        )));
    }
    match r.get(1).and_then(Val::text) {
        Some(f) if f != fingerprint => Err(MaskError::Ledger(format!(
            "run `{run_id}` was started with different rules (fingerprint {f}, now {fingerprint}); start a new run"
        ))),
        Some(_) => Ok(()),
        None => conn
            .execute(
                &numbered(
                    d,
                    &format!(
                        "UPDATE {runs} SET rules_fingerprint = ? WHERE run_id = ? AND rules_fingerprint IS NULL"
                    ),
                ),
                &[Bind::Str(fingerprint), Bind::Str(run_id)],
            )
            .await
            .map(|_| ())
            .map_err(MaskError::db("recording the rules fingerprint")),
    }
}

/// Step ids only an in-place run has.
pub(crate) const IN_PLACE_STEPS: [&str; 2] = ["actions:", "mask:"];
/// Step ids only a rewrite has.
pub(crate) const REWRITE_STEPS: [&str; 6] = [
    "prepare",
    "copy:",
    "index:",
    "constraints",
    "publish",
    "purge",
];

/// A run id belongs to one kind of run: refuse to continue a run whose
/// progress has steps of the other kind (`other` prefixes).
pub(crate) fn check_run_kind(
    run_id: &str,
    progress: &HashMap<String, StepState>,
    other: &[&str],
    kind: &str,
) -> Result<(), MaskError> {
    match progress
        .keys()
        .find(|step| other.iter().any(|o| step.starts_with(o)))
    {
        Some(step) => Err(MaskError::Ledger(format!(
            "run `{run_id}` has step `{step}` of another kind of run; a {kind} needs its own run id"
        ))),
        None => Ok(()),
    }
}
