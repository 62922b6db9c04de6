//! The run ledger: one row per run in `<control>.runs`, claimed with a lease.
//! Gives the caller an exactly-once *effect*: a duplicate event for a
//! finished run is `AlreadyDone`, one for a run in progress resumes it.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::db::{Bind, Conn, Target};
use crate::error::{MaskError, is_transient};
use crate::sql::{Dialect, control_ddl, numbered, quote_ident};

/// Result of [`Target::begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// No such run: created, in progress, leased to the caller.
    New,
    /// The run was `in_progress` with an expired lease (or the caller's own
    /// lease) or `failed`; it is now in progress and leased to the caller.
    Resumed,
    /// Another owner holds an unexpired lease.
    HeldByOther {
        /// Current lease owner.
        owner: String,
        /// When the lease expires.
        lease_until: SystemTime,
    },
    /// The run finished successfully before: do nothing.
    AlreadyDone,
}

/// Final outcome recorded by [`Target::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerOutcome {
    /// Masking and verification succeeded.
    Done {
        /// Rows masked (or any summary count the caller wants to record).
        rows: u64,
    },
    /// The run failed and a retry may succeed; it can be resumed by a later
    /// `begin`.
    Failed {
        /// Error text (must not contain secrets).
        error: String,
    },
    /// The run failed and retrying will not help (bad rules, wrong database,
    /// verification); an explicit `begin` still resumes it once the cause is
    /// fixed, but nothing resumes it on its own.
    FailedPermanently {
        /// Error text (must not contain secrets).
        error: String,
    },
    /// The run stopped at an invocation deadline; a continuation resumes it.
    Paused,
}

/// Status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Claimed and not finished.
    InProgress,
    /// Finished successfully.
    Done,
    /// Finished with an error a retry may get past.
    Failed,
    /// Finished with an error a retry will not get past.
    FailedPermanently,
    /// Stopped at a deadline, to be continued.
    Paused,
}

impl RunState {
    fn parse(s: &str) -> Option<RunState> {
        match s {
            "in_progress" => Some(RunState::InProgress),
            "done" => Some(RunState::Done),
            "failed" => Some(RunState::Failed),
            "failed_permanent" => Some(RunState::FailedPermanently),
            "paused" => Some(RunState::Paused),
            _ => None,
        }
    }

    /// Stored text (at most 16 characters, the column's width).
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::InProgress => "in_progress",
            RunState::Done => "done",
            RunState::Failed => "failed",
            RunState::FailedPermanently => "failed_permanent",
            RunState::Paused => "paused",
        }
    }
}

/// A row of the `runs` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStatus {
    /// Run id.
    pub run_id: String,
    /// State.
    pub state: RunState,
    /// Lease owner (last claimer).
    pub lease_owner: Option<String>,
    /// Lease expiry (None once finished).
    pub lease_until: Option<SystemTime>,
    /// First `begin`.
    pub started_at: SystemTime,
    /// Last `finish`.
    pub finished_at: Option<SystemTime>,
    /// Error text of a failed run, `done` for a successful one.
    pub outcome: Option<String>,
    /// Rows recorded by `finish`.
    pub rows_affected: Option<i64>,
}

pub(crate) fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

pub(crate) fn now_ms() -> i64 {
    to_ms(SystemTime::now())
}

fn check_id(what: &str, v: &str) -> Result<(), MaskError> {
    if v.is_empty() || v.chars().count() > 255 || v.chars().any(|c| c.is_control()) {
        return Err(MaskError::Config(format!(
            "{what} must be 1..=255 printable characters"
        )));
    }
    Ok(())
}

impl Target {
    pub(crate) fn ctl(&self, table: &str) -> String {
        format!(
            "{}.{}",
            quote_ident(self.dialect, &self.control_schema),
            quote_ident(self.dialect, table)
        )
    }

    /// Create the control schema/database and its tables if absent.
    /// Safe under concurrent callers.
    pub async fn ensure_control_tables(&self) -> Result<(), MaskError> {
        if self.control_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut conn = self.acquire().await?;
        let mut ddl = control_ddl(self.dialect, &self.control_schema);
        ddl.extend(crate::outbox::outbox_ddl(
            self.dialect,
            &self.control_schema,
        ));
        ddl.extend(crate::requests::requests_ddl(
            self.dialect,
            &self.control_schema,
        ));
        let res: Result<(), sqlx::Error> = async {
            match self.dialect {
                Dialect::Postgres => {
                    // Concurrent CREATE ... IF NOT EXISTS can collide in the
                    // catalog on PostgreSQL; serialise with an advisory lock.
                    conn.begin().await?;
                    conn.raw("SELECT pg_advisory_xact_lock(7271993)").await?;
                    for s in &ddl {
                        conn.raw(s).await?;
                    }
                    conn.commit().await
                }
                Dialect::MySql => {
                    for s in &ddl {
                        conn.raw(s).await?;
                    }
                    for (table, column, ddl) in MYSQL_ADDED_COLUMNS {
                        add_column_mysql(&mut conn, &self.control_schema, table, column, ddl)
                            .await?;
                    }
                    Ok(())
                }
            }
        }
        .await;
        if let Err(e) = res {
            conn.rollback().await;
            return Err(MaskError::Database {
                context: "creating the control tables".into(),
                source: e,
            });
        }
        self.control_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Claim a run. Race-safe: the row is created with `INSERT IGNORE` /
    /// `ON CONFLICT DO NOTHING`, then examined and claimed under
    /// `SELECT ... FOR UPDATE` in one transaction.
    pub async fn begin(
        &self,
        run_id: &str,
        owner: &str,
        lease_until: SystemTime,
    ) -> Result<Begin, MaskError> {
        check_id("run id", run_id)?;
        check_id("lease owner", owner)?;
        self.ensure_control_tables().await?;
        let mut conn = self.acquire().await?;
        let now = now_ms();
        let lease = to_ms(lease_until);
        let runs = self.ctl("runs");
        let insert = match self.dialect {
            Dialect::MySql => format!(
                "INSERT IGNORE INTO {runs} (run_id, status, lease_owner, lease_until_ms, started_at_ms, updated_at_ms) VALUES (?, 'in_progress', ?, ?, ?, ?)"
            ),
            Dialect::Postgres => format!(
                "INSERT INTO {runs} (run_id, status, lease_owner, lease_until_ms, started_at_ms, updated_at_ms) VALUES ($1, 'in_progress', $2, $3, $4, $5) ON CONFLICT (run_id) DO NOTHING"
            ),
        };
        let inserted = conn
            .execute(
                &insert,
                &[
                    Bind::Str(run_id),
                    Bind::Str(owner),
                    Bind::I64(lease),
                    Bind::I64(now),
                    Bind::I64(now),
                ],
            )
            .await
            .map_err(MaskError::db("inserting the run row"))?;
        if inserted == 1 {
            return Ok(Begin::New);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.claim(&mut conn, run_id, owner, lease, now).await {
                Ok(b) => return Ok(b),
                Err(e) if attempt < 5 && is_transient(&e) => {
                    conn.rollback().await;
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    conn.rollback().await;
                    return Err(MaskError::Database {
                        context: "claiming the run".into(),
                        source: e,
                    });
                }
            }
        }
    }

    async fn claim(
        &self,
        conn: &mut Conn,
        run_id: &str,
        owner: &str,
        lease: i64,
        now: i64,
    ) -> Result<Begin, sqlx::Error> {
        let d = self.dialect;
        let runs = self.ctl("runs");
        conn.begin().await?;
        let rows = conn
            .rows(
                &numbered(d, &format!("SELECT status, lease_owner, lease_until_ms FROM {runs} WHERE run_id = ? FOR UPDATE")),
                &[Bind::Str(run_id)],
            )
            .await?;
        let Some(row) = rows.first() else {
            // Deleted between insert and select: treat as a transient race.
            conn.rollback().await;
            return Err(sqlx::Error::Protocol(
                "run row vanished during begin".into(),
            ));
        };
        let status = row.first().and_then(|v| v.text()).unwrap_or_default();
        let cur_owner = row.get(1).and_then(|v| v.text());
        let cur_lease = row.get(2).and_then(|v| v.int());
        let result = match RunState::parse(&status) {
            Some(RunState::Done) => Begin::AlreadyDone,
            Some(RunState::InProgress)
                if cur_owner.as_deref() != Some(owner) && cur_lease.is_some_and(|l| l > now) =>
            {
                Begin::HeldByOther {
                    owner: cur_owner.unwrap_or_default(),
                    lease_until: from_ms(cur_lease.unwrap_or(0)),
                }
            }
            _ => {
                conn.execute(
                    &numbered(
                        d,
                        &format!(
                            "UPDATE {runs} SET status = 'in_progress', lease_owner = ?, lease_until_ms = ?, updated_at_ms = ?, finished_at_ms = NULL WHERE run_id = ?"
                        ),
                    ),
                    &[Bind::Str(owner), Bind::I64(lease), Bind::I64(now), Bind::Str(run_id)],
                )
                .await?;
                Begin::Resumed
            }
        };
        conn.commit().await?;
        Ok(result)
    }

    /// Extend the caller's lease. Fails with [`MaskError::Ledger`] when the
    /// caller no longer holds the run.
    pub async fn renew_lease(
        &self,
        run_id: &str,
        owner: &str,
        lease_until: SystemTime,
    ) -> Result<(), MaskError> {
        let mut conn = self.acquire().await?;
        let runs = self.ctl("runs");
        let n = conn
            .execute(
                &numbered(
                    self.dialect,
                    &format!("UPDATE {runs} SET lease_until_ms = ?, updated_at_ms = ? WHERE run_id = ? AND lease_owner = ? AND status = 'in_progress'"),
                ),
                &[Bind::I64(to_ms(lease_until)), Bind::I64(now_ms()), Bind::Str(run_id), Bind::Str(owner)],
            )
            .await
            .map_err(MaskError::db("renewing the lease"))?;
        if n == 0 {
            return Err(MaskError::Ledger(format!(
                "run `{run_id}` is not in progress under owner `{owner}`"
            )));
        }
        Ok(())
    }

    /// Record the outcome of a run held by `owner`. Recording the same
    /// outcome twice is a no-op; finishing a run held by someone else fails.
    pub async fn finish(
        &self,
        run_id: &str,
        owner: &str,
        outcome: LedgerOutcome,
    ) -> Result<(), MaskError> {
        let mut conn = self.acquire().await?;
        let runs = self.ctl("runs");
        let (status, text, rows) = match &outcome {
            LedgerOutcome::Done { rows } => (
                RunState::Done,
                "done".to_string(),
                Some(i64::try_from(*rows).unwrap_or(i64::MAX)),
            ),
            LedgerOutcome::Failed { error } => {
                (RunState::Failed, error.chars().take(8000).collect(), None)
            }
            LedgerOutcome::FailedPermanently { error } => (
                RunState::FailedPermanently,
                error.chars().take(8000).collect(),
                None,
            ),
            LedgerOutcome::Paused => (
                RunState::Paused,
                "paused at an invocation deadline".to_string(),
                None,
            ),
        };
        let now = now_ms();
        let n = conn
            .execute(
                &numbered(
                    self.dialect,
                    &format!(
                        "UPDATE {runs} SET status = ?, outcome = ?, rows_affected = ?, finished_at_ms = ?, updated_at_ms = ?, lease_until_ms = NULL \
                         WHERE run_id = ? AND lease_owner = ? AND status = 'in_progress'"
                    ),
                ),
                &[
                    Bind::Str(status.as_str()),
                    Bind::Str(&text),
                    Bind::OptI64(rows),
                    Bind::I64(now),
                    Bind::I64(now),
                    Bind::Str(run_id),
                    Bind::Str(owner),
                ],
            )
            .await
            .map_err(MaskError::db("recording the run outcome"))?;
        if n == 1 {
            return Ok(());
        }
        match self.status(run_id).await? {
            Some(s) if s.state == status && s.lease_owner.as_deref() == Some(owner) => Ok(()),
            Some(s) => Err(MaskError::Ledger(format!(
                "cannot finish run `{run_id}` as `{owner}`: it is {} (owner {})",
                s.state.as_str(),
                s.lease_owner.unwrap_or_default()
            ))),
            None => Err(MaskError::Ledger(format!(
                "cannot finish unknown run `{run_id}`"
            ))),
        }
    }

    /// The ledger row of a run, if any.
    pub async fn status(&self, run_id: &str) -> Result<Option<RunStatus>, MaskError> {
        self.ensure_control_tables().await?;
        let mut conn = self.acquire().await?;
        let runs = self.ctl("runs");
        let rows = conn
            .rows(
                &numbered(
                    self.dialect,
                    &format!("SELECT status, lease_owner, lease_until_ms, started_at_ms, finished_at_ms, outcome, rows_affected FROM {runs} WHERE run_id = ?"),
                ),
                &[Bind::Str(run_id)],
            )
            .await
            .map_err(MaskError::db("reading the run status"))?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let cell = |i: usize| r.get(i).cloned().unwrap_or(crate::db::Val::Null);
        let state_text = cell(0).text().unwrap_or_default();
        let state = RunState::parse(&state_text).ok_or_else(|| {
            MaskError::Ledger(format!("run `{run_id}` has unknown status `{state_text}`"))
        })?;
        Ok(Some(RunStatus {
            run_id: run_id.to_string(),
            state,
            lease_owner: cell(1).text(),
            lease_until: cell(2).int().map(from_ms),
            started_at: from_ms(cell(3).int().unwrap_or(0)),
            finished_at: cell(4).int().map(from_ms),
            outcome: cell(5).text(),
            rows_affected: cell(6).int(),
        }))
    }
}
/// MySQL: columns added to the control tables after their first version,
/// as `(table, column, definition)`.
const MYSQL_ADDED_COLUMNS: [(&str, &str, &str); 3] = [
    ("runs", "key_fingerprint", "VARCHAR(64) NULL"),
    ("table_progress", "last_key_text", "TEXT NULL"),
    ("table_progress", "violations", "TEXT NULL"),
];

/// MySQL: add `column` to a control table created before it existed
/// (MySQL has no `ADD COLUMN IF NOT EXISTS`; a concurrent adder's
/// "duplicate column" is success).
async fn add_column_mysql(
    conn: &mut Conn,
    schema: &str,
    table: &str,
    column: &str,
    definition: &str,
) -> Result<(), sqlx::Error> {
    let present = conn
        .scalar_i64(
            "SELECT COUNT(*) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?",
            &[Bind::Str(schema), Bind::Str(table), Bind::Str(column)],
        )
        .await?
        .unwrap_or(0);
    if present > 0 {
        return Ok(());
    }
    let d = Dialect::MySql;
    let sql = format!(
        "ALTER TABLE {}.{} ADD COLUMN {} {definition}",
        quote_ident(d, schema),
        quote_ident(d, table),
        quote_ident(d, column)
    );
    match conn.raw(&sql).await {
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42S21") => Ok(()),
        other => other.map(|_| ()),
    }
}
