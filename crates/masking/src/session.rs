//! What every run does on its connection before its first step: the key
//! check, the session settings (key blocks, `sql_mode`, foreign-key
//! checks) and the run-state check against the ledger.

use std::collections::HashMap;

use crate::db::{Bind, Conn, Target, Val};
use crate::error::MaskError;
use crate::key_logging;
use crate::keyed::{
    KeyBlocks, MYSQL_INNER, MYSQL_OUTER, PG_INNER_SETTING, PG_OUTER_SETTING, hex, key_fingerprint,
};
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

/// The key blocks in the session, backslash escapes on (MySQL), and
/// optionally foreign-key checks off (MySQL `FOREIGN_KEY_CHECKS = 0`,
/// PostgreSQL `session_replication_role = replica`).
pub(crate) async fn prepare_session(
    conn: &mut Conn,
    salt: &Salt,
    disable_fk: bool,
) -> Result<(), MaskError> {
    bind_key(conn, salt).await?;
    match conn.dialect() {
        Dialect::MySql => {
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

/// Put the HMAC key blocks in the session, once per connection, as bind
/// parameters, after making sure the server will not log them
/// ([`key_logging`]).
pub(crate) async fn bind_key(conn: &mut Conn, salt: &Salt) -> Result<(), MaskError> {
    key_logging::keep_key_out_of_logs(conn).await?;
    let blocks = KeyBlocks::new(salt);
    let (inner, outer) = (hex(&blocks.inner), hex(&blocks.outer));
    let sql = match conn.dialect() {
        Dialect::MySql => format!("SET {MYSQL_INNER} = UNHEX(?), {MYSQL_OUTER} = UNHEX(?)"),
        Dialect::Postgres => format!(
            "SELECT set_config('{PG_INNER_SETTING}', $1, false), set_config('{PG_OUTER_SETTING}', $2, false)"
        ),
    };
    let bound = conn
        .execute(&sql, &[Bind::Str(&inner), Bind::Str(&outer)])
        .await
        .map(|_| ())
        .map_err(MaskError::db("putting the masking key in the session"));
    key_logging::restore_slow_log(conn).await;
    bound
}

/// Clear the key blocks from the session (best effort; pooled connections are
/// closed by the caller's `close()` anyway).
pub(crate) async fn forget_key(conn: &mut Conn) {
    let sql = match conn.dialect() {
        Dialect::MySql => format!("SET {MYSQL_INNER} = NULL, {MYSQL_OUTER} = NULL"),
        Dialect::Postgres => format!(
            "SELECT set_config('{PG_INNER_SETTING}', '', false), set_config('{PG_OUTER_SETTING}', '', false)"
        ),
    };
    let _ = conn.raw(&sql).await;
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

/// The run must be claimed (`in_progress`) and keep the rules and the key it
/// started with; the first invocation records both fingerprints (the key's
/// is [`key_fingerprint`], never the key).
pub(crate) async fn check_run_state(
    target: &Target,
    conn: &mut Conn,
    run_id: &str,
    rules_fp: &str,
    salt: &Salt,
) -> Result<(), MaskError> {
    let d = target.dialect();
    let runs = target.ctl("runs");
    let key_fp = key_fingerprint(salt);
    let rows = conn
        .rows(
            &numbered(
                d,
                &format!(
                    "SELECT status, rules_fingerprint, key_fingerprint FROM {runs} WHERE run_id = ?"
                ),
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
    let recorded = |i: usize| r.get(i).and_then(Val::text);
    if let Some(f) = recorded(1).filter(|f| f != rules_fp) {
        return Err(MaskError::Ledger(format!(
            "run `{run_id}` was started with different rules (fingerprint {f}, now {rules_fp}); start a new run"
        )));
    }
    if let Some(f) = recorded(2).filter(|f| *f != key_fp) {
        return Err(MaskError::Ledger(format!(
            "run `{run_id}` was started with a different masking key (fingerprint {f}, now {key_fp}): values masked with both keys would not join; start a new run"
        )));
    }
    if recorded(1).is_some() && recorded(2).is_some() {
        return Ok(());
    }
    conn.execute(
        &numbered(
            d,
            &format!(
                "UPDATE {runs} SET rules_fingerprint = COALESCE(rules_fingerprint, ?), \
                 key_fingerprint = COALESCE(key_fingerprint, ?) WHERE run_id = ?"
            ),
        ),
        &[Bind::Str(rules_fp), Bind::Str(&key_fp), Bind::Str(run_id)],
    )
    .await
    .map(|_| ())
    .map_err(MaskError::db("recording the rules and key fingerprints"))
}

/// Step ids only an in-place run has.
pub(crate) const IN_PLACE_STEPS: [&str; 3] = ["actions:", "sample:", "mask:"];
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
