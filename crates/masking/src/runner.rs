//! The run executor: a thin async loop over pure SQL generators.
//!
//! A run is the ordered list of steps
//! `hook:<i>:<kind>` (phase before) → `actions:<schema.table>` →
//! `mask:<schema.table>` → `hook:<i>:<kind>` (phase after) → `verify`.
//! Every step has a row in `<control>.table_progress`; a finished step is
//! skipped by a resumed run, and a chunked `mask` step resumes after the last
//! committed key. Each chunk's UPDATE and its progress row update commit in
//! the same transaction, with the progress row locked `FOR UPDATE`, so a
//! chunk is applied exactly once even across crashes and concurrent runners.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::db::{Bind, Conn, Target, Val};
use crate::error::MaskError;
use crate::ledger::now_ms;
use crate::plan::{TablePlan, build_plan};
use crate::rules::{HookKind, HookRule, Phase, Rules};
use crate::secret::Salt;
use crate::sql::{self, Dialect, ForeignKey, TableRef, numbered, quote_ident, quote_literal};

/// Minimum salt length accepted by [`Target::run`].
pub const MIN_SALT_LEN: usize = 16;

/// Whether the run finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every step is done and verification passed.
    Complete,
    /// Stopped before the deadline; call `run` again (same run id, same
    /// rules) to continue.
    Incomplete {
        /// The step that will run next.
        next_step: String,
        /// Chunks committed by this invocation.
        chunks_this_invocation: u64,
    },
}

/// Per-table figures (cumulative over all invocations of the run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableReport {
    /// `schema.table`.
    pub table: String,
    /// Rows updated by masking.
    pub rows_masked: u64,
    /// Chunks (1 for an unchunked table).
    pub chunks: u64,
    /// Row count recorded before the first chunk.
    pub rows_before: Option<u64>,
    /// Row count at verification (None until verified).
    pub rows_after: Option<u64>,
    /// Rows removed by `delete_where` / `truncate` (None without action).
    pub rows_deleted: Option<u64>,
}

/// One verification check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerificationCheck {
    /// `schema.table`.
    pub table: String,
    /// What was checked, e.g. `email:email` or `row_count` or `fk:orders_customer_fk`.
    pub check: String,
    /// Offending rows (0 = passed).
    pub violations: u64,
}

/// Verification result (no row data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct VerificationReport {
    /// All checks run.
    pub checks: Vec<VerificationCheck>,
    /// Masked columns whose strategy output cannot be recognised
    /// (`date_shift`, `noise`, `sql` without `check`).
    pub unverifiable: Vec<String>,
    /// `true` when every check has 0 violations.
    pub passed: bool,
}

/// Wall-clock seconds spent by this invocation, per kind of step.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Timings {
    /// Schema validation and pre-flight.
    pub validation_seconds: f64,
    /// Table actions (`truncate`, `delete_where`).
    pub action_seconds: f64,
    /// Masking updates (all chunks).
    pub mask_seconds: f64,
    /// Hooks.
    pub hook_seconds: f64,
    /// Verification.
    pub verify_seconds: f64,
}

/// The report of one `run` invocation. Serialisable; holds no row data and
/// no salt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Run id.
    pub run_id: String,
    /// Complete or Incomplete.
    pub outcome: RunOutcome,
    /// Tables with a mask or action step.
    pub tables: Vec<TableReport>,
    /// Hooks executed by this invocation (with a note for no-ops).
    pub hooks_run: Vec<String>,
    /// Verification, when it ran in this invocation.
    pub verification: Option<VerificationReport>,
    /// Time spent by this invocation.
    pub timings: Timings,
    /// Things an operator should know (e.g. MySQL UPDATE triggers on masked
    /// tables, which fire during masking and cannot be disabled).
    pub warnings: Vec<String>,
}

impl RunReport {
    /// Total rows masked.
    pub fn rows_masked(&self) -> u64 {
        self.tables.iter().map(|t| t.rows_masked).sum()
    }
}

/// Test and operations knobs for [`Target::run_with`].
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop (as if the deadline had passed) after this many chunks have been
    /// committed by this invocation. For tests of resume.
    pub stop_after_chunks: Option<u64>,
}

#[derive(Debug, Clone, Default)]
struct Progress {
    last_key: Option<i64>,
    done: bool,
    rows: i64,
    chunks: i64,
    rows_before: Option<i64>,
}

#[derive(Debug)]
enum Step<'a> {
    Hook(usize, &'a HookRule),
    Actions(&'a TablePlan),
    Mask(&'a TablePlan),
    Verify,
}

fn step_id(step: &Step<'_>) -> String {
    match step {
        Step::Hook(i, h) => format!("hook:{i}:{}", h.kind.name()),
        Step::Actions(t) => format!("actions:{}", t.tref),
        Step::Mask(t) => format!("mask:{}", t.tref),
        Step::Verify => "verify".to_string(),
    }
}

struct Clock {
    deadline: Instant,
    stop_after: Option<u64>,
    chunks: u64,
    last_chunk: Duration,
}

impl Clock {
    /// Stop when the next chunk would probably end after the deadline.
    fn should_stop(&self) -> bool {
        if self.stop_after.is_some_and(|n| self.chunks >= n) {
            return true;
        }
        Instant::now() + self.last_chunk >= self.deadline
    }
}

struct Ctx<'a> {
    target: &'a Target,
    d: Dialect,
    run_id: &'a str,
    salt: &'a Salt,
    rules: &'a Rules,
    progress_table: String,
}

impl Ctx<'_> {
    /// Binds prefix for statements that reference the salt: PostgreSQL `$1`.
    fn salt_binds(&self) -> Vec<Bind<'_>> {
        match self.d {
            Dialect::Postgres => vec![Bind::Str(self.salt.expose())],
            Dialect::MySql => vec![],
        }
    }

    async fn load_progress(&self, conn: &mut Conn) -> Result<HashMap<String, Progress>, MaskError> {
        let rows = conn
            .rows(
                &numbered(
                    self.d,
                    &format!(
                        "SELECT step, last_key, done, rows_affected, chunks, rows_before FROM {} WHERE run_id = ?",
                        self.progress_table
                    ),
                ),
                &[Bind::Str(self.run_id)],
            )
            .await
            .map_err(MaskError::db("reading run progress"))?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let cell = |i: usize| r.get(i).cloned().unwrap_or(Val::Null);
                Some((
                    cell(0).text()?,
                    Progress {
                        last_key: cell(1).int(),
                        done: cell(2).int().unwrap_or(0) != 0,
                        rows: cell(3).int().unwrap_or(0),
                        chunks: cell(4).int().unwrap_or(0),
                        rows_before: cell(5).int(),
                    },
                ))
            })
            .collect())
    }

    async fn ensure_progress_row(
        &self,
        conn: &mut Conn,
        step: &str,
        table: Option<&str>,
        last_key: Option<i64>,
        rows_before: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        let cols = "(run_id, step, table_name, last_key, done, rows_affected, chunks, rows_before, updated_at_ms)";
        let sql = match self.d {
            Dialect::MySql => format!(
                "INSERT IGNORE INTO {} {cols} VALUES (?, ?, ?, ?, 0, 0, 0, ?, ?)",
                self.progress_table
            ),
            Dialect::Postgres => format!(
                "INSERT INTO {} {cols} VALUES ($1, $2, $3, $4, 0, 0, 0, $5, $6) ON CONFLICT (run_id, step) DO NOTHING",
                self.progress_table
            ),
        };
        conn.execute(
            &sql,
            &[
                Bind::Str(self.run_id),
                Bind::Str(step),
                Bind::OptStr(table),
                Bind::OptI64(last_key),
                Bind::OptI64(rows_before),
                Bind::I64(now_ms()),
            ],
        )
        .await
        .map(|_| ())
    }

    /// Lock the progress row of `step` (inside a transaction).
    async fn lock_progress(&self, conn: &mut Conn, step: &str) -> Result<Progress, sqlx::Error> {
        let rows = conn
            .rows(
                &numbered(
                    self.d,
                    &format!(
                        "SELECT last_key, done, rows_affected, chunks FROM {} WHERE run_id = ? AND step = ? FOR UPDATE",
                        self.progress_table
                    ),
                ),
                &[Bind::Str(self.run_id), Bind::Str(step)],
            )
            .await?;
        let r = rows.first().cloned().unwrap_or_default();
        let cell = |i: usize| r.get(i).cloned().unwrap_or(Val::Null);
        Ok(Progress {
            last_key: cell(0).int(),
            done: cell(1).int().unwrap_or(0) != 0,
            rows: cell(2).int().unwrap_or(0),
            chunks: cell(3).int().unwrap_or(0),
            rows_before: None,
        })
    }

    async fn save_progress(
        &self,
        conn: &mut Conn,
        step: &str,
        last_key: Option<i64>,
        done: bool,
        add_rows: i64,
        add_chunks: i64,
    ) -> Result<(), sqlx::Error> {
        conn.execute(
            &numbered(
                self.d,
                &format!(
                    "UPDATE {} SET last_key = ?, done = ?, rows_affected = rows_affected + ?, chunks = chunks + ?, updated_at_ms = ? WHERE run_id = ? AND step = ?",
                    self.progress_table
                ),
            ),
            &[
                Bind::OptI64(last_key),
                Bind::I64(i64::from(done)),
                Bind::I64(add_rows),
                Bind::I64(add_chunks),
                Bind::I64(now_ms()),
                Bind::Str(self.run_id),
                Bind::Str(step),
            ],
        )
        .await
        .map(|_| ())
    }
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Run a transaction body; commit on success, roll back on error.
macro_rules! in_tx {
    ($conn:expr, $ctx:expr, $body:expr) => {{
        let r: Result<_, sqlx::Error> = async {
            $conn.begin().await?;
            let v = $body;
            $conn.commit().await?;
            Ok(v)
        }
        .await;
        match r {
            Ok(v) => Ok(v),
            Err(e) => {
                $conn.rollback().await;
                Err(MaskError::Database {
                    context: $ctx,
                    source: e,
                })
            }
        }
    }};
}

impl Target {
    /// Run (or resume) the masking run `run_id` with `rules` until it is
    /// complete or `deadline` is near. The run must have been claimed with
    /// [`Target::begin`] (status `in_progress`). Validation against the live
    /// schema happens before any write.
    pub async fn run(
        &self,
        run_id: &str,
        rules: &Rules,
        salt: &Salt,
        deadline: Instant,
    ) -> Result<RunReport, MaskError> {
        self.run_with(run_id, rules, salt, deadline, RunOptions::default())
            .await
    }

    /// [`Target::run`] with extra options (tests, operations).
    pub async fn run_with(
        &self,
        run_id: &str,
        rules: &Rules,
        salt: &Salt,
        deadline: Instant,
        opts: RunOptions,
    ) -> Result<RunReport, MaskError> {
        if salt.expose().chars().count() < MIN_SALT_LEN {
            return Err(MaskError::Config(format!(
                "the masking salt must have at least {MIN_SALT_LEN} characters"
            )));
        }
        self.ensure_control_tables().await?;
        let mut conn = self.acquire().await?;
        // Session settings below (salt variable, FK checks, sql_mode) must not
        // leak to other users of the pool: this connection is closed at the end.
        conn.close_on_drop();
        let result = self
            .run_inner(&mut conn, run_id, rules, salt, deadline, opts)
            .await;
        if matches!(conn, Conn::My(_)) {
            // Best effort: clear the salt from the session even though the
            // connection is about to be closed.
            let _ = conn.raw("SET @dmsr_salt = NULL").await;
        }
        result
    }

    async fn run_inner(
        &self,
        conn: &mut Conn,
        run_id: &str,
        rules: &Rules,
        salt: &Salt,
        deadline: Instant,
        opts: RunOptions,
    ) -> Result<RunReport, MaskError> {
        let d = self.dialect;
        let t_validate = Instant::now();
        self.prepare_session(conn, salt, rules.settings.disable_fk_checks)
            .await?;

        // 1. Validate everything against the live schema, before any write.
        let default_schema = match d {
            Dialect::MySql => conn
                .rows("SELECT DATABASE()", &[])
                .await
                .map_err(MaskError::db("reading the current database"))?
                .first()
                .and_then(|r| r.first())
                .and_then(Val::text),
            Dialect::Postgres => None,
        };
        let plans = build_plan(conn, d, default_schema.as_deref(), rules).await?;
        let ctx = Ctx {
            target: self,
            d,
            run_id,
            salt,
            rules,
            progress_table: self.ctl("table_progress"),
        };
        preflight(&ctx, conn, &plans).await?;
        let warnings = update_trigger_warnings(conn, &plans).await?;

        // 2. The run must be claimed; the rules must not change mid-run.
        self.check_run_state(conn, run_id, &rules.fingerprint)
            .await?;

        // 3. Steps.
        let mut steps: Vec<Step<'_>> = Vec::new();
        for (i, h) in rules.hooks.iter().enumerate() {
            if h.phase == Phase::Before {
                steps.push(Step::Hook(i, h));
            }
        }
        for p in &plans {
            if p.rules.has_actions() {
                steps.push(Step::Actions(p));
            }
            if !p.columns.is_empty() {
                steps.push(Step::Mask(p));
            }
        }
        for (i, h) in rules.hooks.iter().enumerate() {
            if h.phase == Phase::After {
                steps.push(Step::Hook(i, h));
            }
        }
        steps.push(Step::Verify);

        let mut timings = Timings {
            validation_seconds: t_validate.elapsed().as_secs_f64(),
            ..Timings::default()
        };
        let mut clock = Clock {
            deadline,
            stop_after: opts.stop_after_chunks,
            chunks: 0,
            last_chunk: Duration::ZERO,
        };
        let mut hooks_run = Vec::new();
        let mut verification = None;
        let mut after_counts = None;
        let progress = ctx.load_progress(conn).await?;
        for step in &steps {
            let id = step_id(step);
            if progress.get(&id).is_some_and(|p| p.done) {
                continue;
            }
            if clock.should_stop() {
                let extra = Extra {
                    hooks_run,
                    timings,
                    warnings,
                };
                return incomplete(&ctx, conn, &plans, id, clock.chunks, extra).await;
            }
            tracing::info!(run_id, step = %id, "masking step");
            let t_step = Instant::now();
            let finished = match step {
                Step::Hook(_, h) => {
                    hooks_run.push(run_hook(&ctx, conn, &id, h).await?);
                    true
                }
                Step::Actions(p) => {
                    run_actions(&ctx, conn, &id, p).await?;
                    true
                }
                Step::Mask(p) => mask_table(&ctx, conn, &id, p, &mut clock).await?,
                Step::Verify => {
                    let (report, counts) = verify(&ctx, conn, &plans).await?;
                    after_counts = Some(counts);
                    let failed: Vec<String> = report
                        .checks
                        .iter()
                        .filter(|c| c.violations > 0)
                        .map(|c| {
                            format!("{} {}: {} offending row(s)", c.table, c.check, c.violations)
                        })
                        .collect();
                    if !failed.is_empty() {
                        tracing::error!(run_id, failures = ?failed, "verification failed");
                        return Err(MaskError::Verification { failures: failed });
                    }
                    ctx.ensure_progress_row(conn, &id, None, None, None)
                        .await
                        .map_err(MaskError::db("recording verification"))?;
                    ctx.save_progress(conn, &id, None, true, 0, 0)
                        .await
                        .map_err(MaskError::db("recording verification"))?;
                    verification = Some(report);
                    true
                }
            };
            let spent = t_step.elapsed().as_secs_f64();
            match step {
                Step::Hook(..) => timings.hook_seconds += spent,
                Step::Actions(_) => timings.action_seconds += spent,
                Step::Mask(_) => timings.mask_seconds += spent,
                Step::Verify => timings.verify_seconds += spent,
            }
            if !finished {
                let extra = Extra {
                    hooks_run,
                    timings,
                    warnings,
                };
                return incomplete(&ctx, conn, &plans, id, clock.chunks, extra).await;
            }
        }
        let tables = table_reports(&ctx, conn, &plans, after_counts.as_ref()).await?;
        Ok(RunReport {
            run_id: run_id.to_string(),
            outcome: RunOutcome::Complete,
            tables,
            hooks_run,
            verification,
            timings,
            warnings,
        })
    }

    async fn prepare_session(
        &self,
        conn: &mut Conn,
        salt: &Salt,
        disable_fk: bool,
    ) -> Result<(), MaskError> {
        match self.dialect {
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

    async fn check_run_state(
        &self,
        conn: &mut Conn,
        run_id: &str,
        fingerprint: &str,
    ) -> Result<(), MaskError> {
        let runs = self.ctl("runs");
        let rows = conn
            .rows(
                &numbered(
                    self.dialect,
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
                    &numbered(self.dialect, &format!("UPDATE {runs} SET rules_fingerprint = ? WHERE run_id = ? AND rules_fingerprint IS NULL")),
                    &[Bind::Str(fingerprint), Bind::Str(run_id)],
                )
                .await
                .map(|_| ())
                .map_err(MaskError::db("recording the rules fingerprint")),
        }
    }
}

/// Report parts collected along the way.
struct Extra {
    hooks_run: Vec<String>,
    timings: Timings,
    warnings: Vec<String>,
}

async fn incomplete(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    plans: &[TablePlan],
    next_step: String,
    chunks: u64,
    extra: Extra,
) -> Result<RunReport, MaskError> {
    tracing::info!(run_id = ctx.run_id, next_step = %next_step, chunks, "stopping before the deadline; the run will resume");
    let tables = table_reports(ctx, conn, plans, None).await?;
    Ok(RunReport {
        run_id: ctx.run_id.to_string(),
        outcome: RunOutcome::Incomplete {
            next_step,
            chunks_this_invocation: chunks,
        },
        tables,
        hooks_run: extra.hooks_run,
        verification: None,
        timings: extra.timings,
        warnings: extra.warnings,
    })
}

fn mask_sets(ctx: &Ctx<'_>, p: &TablePlan) -> Vec<(String, String)> {
    let salt = ctx.d.salt_placeholder();
    p.columns
        .iter()
        .map(|c| {
            (
                c.quoted.clone(),
                sql::column_expr(ctx.d, &c.strategy, &c.quoted, salt),
            )
        })
        .collect()
}

/// MySQL cannot disable triggers: an `ON UPDATE` trigger on a masked table
/// (e.g. an audit trigger copying old values) fires for every masked row.
async fn update_trigger_warnings(
    conn: &mut Conn,
    plans: &[TablePlan],
) -> Result<Vec<String>, MaskError> {
    if conn.dialect() != Dialect::MySql {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for p in plans.iter().filter(|p| !p.columns.is_empty()) {
        let rows = conn
            .rows(
                "SELECT CAST(TRIGGER_NAME AS CHAR) FROM information_schema.TRIGGERS \
                 WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ? AND EVENT_MANIPULATION = 'UPDATE'",
                &[Bind::Str(&p.tref.schema), Bind::Str(&p.tref.table)],
            )
            .await
            .map_err(MaskError::db("reading triggers"))?;
        for r in rows {
            let name = r.first().and_then(Val::text).unwrap_or_default();
            let w = format!(
                "{}: UPDATE trigger `{name}` fires for every masked row (MySQL triggers cannot be disabled); make sure it does not copy unmasked values",
                p.tref
            );
            tracing::warn!(warning = %w, "masking");
            out.push(w);
        }
    }
    Ok(out)
}

/// Compile every generated statement without changing anything (`WHERE 1 = 0`
/// in a rolled-back transaction), so syntax errors in `sql` expressions,
/// `check` predicates or `delete_where` conditions surface before any write.
async fn preflight(ctx: &Ctx<'_>, conn: &mut Conn, plans: &[TablePlan]) -> Result<(), MaskError> {
    let mut problems = Vec::new();
    for p in plans {
        let mut stmts: Vec<(String, bool, String)> = Vec::new();
        if !p.columns.is_empty() {
            stmts.push((
                format!(
                    "{} WHERE 1 = 0",
                    sql::update_all_sql(ctx.d, &p.tref, &mask_sets(ctx, p))
                ),
                true,
                format!("{}: masking UPDATE", p.rules.origin),
            ));
            for c in &p.columns {
                if let Some(pred) = sql::violation_predicate(ctx.d, &c.strategy, &c.quoted) {
                    stmts.push((
                        format!(
                            "{} AND 1 = 0",
                            sql::count_where_sql(ctx.d, &p.tref, &format!("({pred})"))
                        ),
                        false,
                        format!("{}: verification of `{}`", p.rules.origin, c.name),
                    ));
                }
            }
        }
        if let Some(cond) = &p.rules.delete_where {
            stmts.push((
                format!("{} AND 1 = 0", sql::delete_sql(ctx.d, &p.tref, cond)),
                false,
                format!("{}.delete_where", p.rules.origin),
            ));
        }
        for (stmt, salted, what) in stmts {
            let binds = if salted { ctx.salt_binds() } else { vec![] };
            let r: Result<(), sqlx::Error> = async {
                conn.begin().await?;
                conn.execute(&stmt, &binds).await?;
                Ok(())
            }
            .await;
            conn.rollback().await;
            if let Err(e) = r {
                if crate::error::is_transient(&e) {
                    return Err(MaskError::Database {
                        context: format!("pre-flight of {what}"),
                        source: e,
                    });
                }
                problems.push(format!(
                    "{what}: the generated SQL is rejected by the server: {e}"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(MaskError::Schema { problems })
    }
}

async fn run_actions(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    id: &str,
    p: &TablePlan,
) -> Result<(), MaskError> {
    let table = p.tref.to_string();
    ctx.ensure_progress_row(conn, id, Some(&table), None, None)
        .await
        .map_err(MaskError::db("creating progress"))?;
    let stmt = match &p.rules.delete_where {
        Some(cond) => sql::delete_sql(ctx.d, &p.tref, cond),
        None => sql::truncate_sql(ctx.d, &p.tref),
    };
    if ctx.d == Dialect::MySql && p.rules.truncate {
        // TRUNCATE commits implicitly on MySQL: at-least-once (idempotent).
        let before = conn
            .scalar_i64(&sql::count_sql(ctx.d, &p.tref), &[])
            .await
            .map_err(MaskError::db("counting"))?;
        conn.raw(&stmt)
            .await
            .map_err(MaskError::db(format!("truncating {table}")))?;
        ctx.save_progress(conn, id, None, true, before.unwrap_or(0), 1)
            .await
            .map_err(MaskError::db("recording progress"))?;
        return Ok(());
    }
    in_tx!(conn, format!("table action on {table}"), {
        let prog = ctx.lock_progress(conn, id).await?;
        if !prog.done {
            let n = if p.rules.truncate {
                let before = conn
                    .scalar_i64(&sql::count_sql(ctx.d, &p.tref), &[])
                    .await?
                    .unwrap_or(0);
                conn.raw(&stmt).await?;
                before
            } else {
                i64::try_from(conn.execute(&stmt, &[]).await?).unwrap_or(i64::MAX)
            };
            ctx.save_progress(conn, id, None, true, n, 1).await?;
        }
    })
}

/// Mask one table. Returns `false` when it stopped early (deadline).
async fn mask_table(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    id: &str,
    p: &TablePlan,
    clock: &mut Clock,
) -> Result<bool, MaskError> {
    let table = p.tref.to_string();
    let d = ctx.d;
    // Progress row with the row count before masking and the start key.
    let existing = ctx.load_progress(conn).await?.remove(id);
    let chunk_size = p.rules.chunk_size.unwrap_or(ctx.rules.settings.chunk_size);
    if existing.is_none() {
        let rows_before = conn
            .scalar_i64(&sql::count_sql(d, &p.tref), &[])
            .await
            .map_err(MaskError::db(format!("counting rows of {table}")))?
            .unwrap_or(0);
        let chunked = p.int_pk.is_some() && u(rows_before) > ctx.rules.settings.chunk_threshold;
        let start = match (&p.int_pk, chunked) {
            (Some(pk), true) => Some(
                conn.scalar_i64(&sql::min_key_sql(d, &p.tref, pk), &[])
                    .await
                    .map_err(MaskError::db(format!("reading the first key of {table}")))?
                    .unwrap_or(0),
            ),
            _ => None,
        };
        ctx.ensure_progress_row(conn, id, Some(&table), start, Some(rows_before))
            .await
            .map_err(MaskError::db("creating progress"))?;
        if chunked {
            tracing::info!(table = %table, rows_before, chunk_size, "masking in primary-key chunks");
        }
    }
    let sets = mask_sets(ctx, p);
    let start_key = match &existing {
        Some(e) => e.last_key,
        None => ctx
            .load_progress(conn)
            .await?
            .get(id)
            .and_then(|e| e.last_key),
    };
    let (Some(pk), Some(_)) = (&p.int_pk, start_key) else {
        // One statement for the whole table.
        let stmt = sql::update_all_sql(d, &p.tref, &sets);
        let binds = ctx.salt_binds();
        let t0 = Instant::now();
        in_tx!(conn, format!("masking {table}"), {
            let prog = ctx.lock_progress(conn, id).await?;
            if !prog.done {
                let n = conn.execute(&stmt, &binds).await?;
                ctx.save_progress(
                    conn,
                    id,
                    None,
                    true,
                    i64::try_from(n).unwrap_or(i64::MAX),
                    1,
                )
                .await?;
            }
        })?;
        clock.chunks += 1;
        clock.last_chunk = t0.elapsed();
        return Ok(true);
    };
    let (lo_ph, hi_ph) = match d {
        Dialect::MySql => ("?".to_string(), "?".to_string()),
        Dialect::Postgres => ("$2".to_string(), "$3".to_string()),
    };
    let update = sql::update_chunk_sql(d, &p.tref, &sets, pk, &lo_ph, &hi_ph);
    let bound = sql::next_chunk_bound_sql(d, &p.tref, pk, &d.placeholder(1), chunk_size);
    loop {
        if clock.should_stop() {
            return Ok(false);
        }
        let t0 = Instant::now();
        let finished = in_tx!(conn, format!("masking a chunk of {table}"), {
            let prog = ctx.lock_progress(conn, id).await?;
            match (prog.done, prog.last_key) {
                (true, _) | (false, None) => true,
                (false, Some(lo)) => match conn.scalar_i64(&bound, &[Bind::I64(lo)]).await? {
                    None => {
                        ctx.save_progress(conn, id, Some(lo), true, 0, 0).await?;
                        true
                    }
                    Some(hi) => {
                        let mut binds = ctx.salt_binds();
                        binds.push(Bind::I64(lo));
                        binds.push(Bind::I64(hi));
                        let n = conn.execute(&update, &binds).await?;
                        ctx.save_progress(
                            conn,
                            id,
                            Some(hi),
                            false,
                            i64::try_from(n).unwrap_or(i64::MAX),
                            1,
                        )
                        .await?;
                        false
                    }
                },
            }
        })?;
        if finished {
            return Ok(true);
        }
        clock.chunks += 1;
        clock.last_chunk = t0.elapsed();
    }
}

async fn run_hook(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    id: &str,
    h: &HookRule,
) -> Result<String, MaskError> {
    let d = ctx.d;
    ctx.ensure_progress_row(conn, id, None, None, None)
        .await
        .map_err(MaskError::db("creating progress"))?;
    let label = format!("{id} ({})", h.origin);
    let outcome = match d {
        Dialect::Postgres => {
            // PostgreSQL DDL is transactional: the hook and its progress row
            // commit together (exactly once). A failed check rolls back.
            let r: Result<Result<String, Vec<String>>, sqlx::Error> = async {
                conn.begin().await?;
                let prog = ctx.lock_progress(conn, id).await?;
                if prog.done {
                    conn.commit().await?;
                    return Ok(Ok(String::from("already done")));
                }
                let res = hook_body(ctx, conn, h).await?;
                if res.is_ok() {
                    ctx.save_progress(conn, id, None, true, 0, 1).await?;
                    conn.commit().await?;
                } else {
                    conn.rollback().await;
                }
                Ok(res)
            }
            .await;
            match r {
                Ok(v) => v,
                Err(e) => {
                    conn.rollback().await;
                    return Err(MaskError::Database {
                        context: format!("hook {label}"),
                        source: e,
                    });
                }
            }
        }
        Dialect::MySql => {
            // MySQL DDL commits implicitly: hooks are at-least-once.
            let res = hook_body(ctx, conn, h)
                .await
                .map_err(|e| MaskError::Database {
                    context: format!("hook {label}"),
                    source: e,
                })?;
            if res.is_ok() {
                ctx.save_progress(conn, id, None, true, 0, 1)
                    .await
                    .map_err(MaskError::db("recording progress"))?;
            }
            res
        }
    };
    match outcome {
        Ok(note) => Ok(format!("{id}: {note}")),
        Err(failures) => Err(MaskError::Verification { failures }),
    }
}

fn in_scope(
    t: &TableRef,
    tables: &Option<Vec<String>>,
    d: Dialect,
    default_schema: Option<&str>,
) -> bool {
    match tables {
        None => true,
        Some(list) => list
            .iter()
            .any(|n| crate::plan::resolve_table(d, n, default_schema).is_ok_and(|r| &r == t)),
    }
}

async fn current_schema(conn: &mut Conn) -> Result<Option<String>, sqlx::Error> {
    match conn.dialect() {
        Dialect::MySql => Ok(conn
            .rows("SELECT DATABASE()", &[])
            .await?
            .first()
            .and_then(|r| r.first())
            .and_then(Val::text)),
        Dialect::Postgres => Ok(Some("public".to_string())),
    }
}

/// Execute a hook. `Ok(Err(failures))` when `enable_foreign_keys` finds orphans.
async fn hook_body(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    h: &HookRule,
) -> Result<Result<String, Vec<String>>, sqlx::Error> {
    let d = ctx.d;
    let control = ctx.target.control_schema.clone();
    let default_schema = current_schema(conn).await?;
    match &h.kind {
        HookKind::Sql { statements } => {
            for s in statements {
                conn.raw(s).await?;
            }
            Ok(Ok(format!("{} statement(s)", statements.len())))
        }
        HookKind::SyncSequences { tables } => match d {
            Dialect::MySql => {
                tracing::info!(
                    "sync_sequences is a no-op on MySQL: InnoDB AUTO_INCREMENT already follows max(id)"
                );
                Ok(Ok("no-op on MySQL (AUTO_INCREMENT follows max(id))".into()))
            }
            Dialect::Postgres => {
                let rows = conn
                    .rows(
                        "SELECT sn.nspname::text, s.relname::text, tn.nspname::text, t.relname::text, a.attname::text \
                         FROM pg_class s JOIN pg_namespace sn ON sn.oid = s.relnamespace \
                         JOIN pg_depend dep ON dep.objid = s.oid AND dep.classid = 'pg_class'::regclass \
                           AND dep.refclassid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i') \
                         JOIN pg_class t ON t.oid = dep.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace \
                         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = dep.refobjsubid \
                         WHERE s.relkind = 'S' AND tn.nspname NOT IN ('pg_catalog', 'information_schema') AND tn.nspname <> $1 \
                         ORDER BY 1, 2",
                        &[Bind::Str(&control)],
                    )
                    .await?;
                let mut n = 0;
                for r in rows {
                    let cell = |i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
                    let seq = TableRef {
                        schema: cell(0),
                        table: cell(1),
                    };
                    let t = TableRef {
                        schema: cell(2),
                        table: cell(3),
                    };
                    if !in_scope(&t, tables, d, default_schema.as_deref()) {
                        continue;
                    }
                    let col = quote_ident(d, &cell(4));
                    let seq_lit = quote_literal(d, &seq.quoted(d));
                    conn.raw(&format!(
                        "SELECT setval({seq_lit}::regclass, COALESCE((SELECT MAX({col}) FROM {}) + 1, (SELECT seqstart FROM pg_sequence WHERE seqrelid = {seq_lit}::regclass)), false)",
                        t.quoted(d)
                    ))
                    .await?;
                    n += 1;
                }
                Ok(Ok(format!("{n} sequence(s) set to max+1")))
            }
        },
        HookKind::EnableTriggers { tables } => match d {
            Dialect::MySql => {
                tracing::info!(
                    "enable_triggers is a no-op on MySQL: triggers cannot be disabled there"
                );
                Ok(Ok("no-op on MySQL (triggers cannot be disabled)".into()))
            }
            Dialect::Postgres => {
                let rows = conn
                    .rows(
                        "SELECT n.nspname::text, c.relname::text, bool_or(t.tgisinternal)::text \
                         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE t.tgenabled = 'D' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                         GROUP BY 1, 2 ORDER BY 1, 2",
                        &[],
                    )
                    .await?;
                let mut n = 0;
                for r in rows {
                    let cell = |i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
                    let t = TableRef {
                        schema: cell(0),
                        table: cell(1),
                    };
                    if !in_scope(&t, tables, d, default_schema.as_deref()) {
                        continue;
                    }
                    // Internal (foreign-key) triggers need ALL (superuser);
                    // user triggers only need table ownership.
                    let which = if cell(2) == "true" { "ALL" } else { "USER" };
                    conn.raw(&format!(
                        "ALTER TABLE {} ENABLE TRIGGER {which}",
                        t.quoted(d)
                    ))
                    .await?;
                    n += 1;
                }
                Ok(Ok(format!("triggers re-enabled on {n} table(s)")))
            }
        },
        HookKind::EnableForeignKeys { tables } => {
            let mut validated = 0;
            match d {
                Dialect::MySql => {
                    conn.raw("SET FOREIGN_KEY_CHECKS = 1").await?;
                }
                Dialect::Postgres => {
                    conn.raw("RESET session_replication_role").await?;
                    let rows = conn
                        .rows(
                            "SELECT n.nspname::text, c.relname::text, con.conname::text FROM pg_constraint con \
                             JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                             WHERE NOT con.convalidated AND con.contype IN ('f', 'c') \
                             AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3",
                            &[],
                        )
                        .await?;
                    for r in rows {
                        let cell = |i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
                        let t = TableRef {
                            schema: cell(0),
                            table: cell(1),
                        };
                        if !in_scope(&t, tables, d, default_schema.as_deref()) {
                            continue;
                        }
                        conn.raw(&format!(
                            "ALTER TABLE {} VALIDATE CONSTRAINT {}",
                            t.quoted(d),
                            quote_ident(d, &cell(2))
                        ))
                        .await?;
                        validated += 1;
                    }
                }
            }
            let fks = foreign_keys(conn).await?;
            let mut orphans = Vec::new();
            let mut checked = 0;
            for fk in fks {
                if !(in_scope(&fk.child, tables, d, default_schema.as_deref())
                    || in_scope(&fk.parent, tables, d, default_schema.as_deref()))
                {
                    continue;
                }
                checked += 1;
                let n = conn
                    .scalar_i64(&sql::orphan_count_sql(d, &fk), &[])
                    .await?
                    .unwrap_or(0);
                if n > 0 {
                    orphans.push(format!("{} {}: {n} orphan row(s)", fk.child, fk.name));
                }
            }
            if !orphans.is_empty() {
                return Ok(Err(orphans));
            }
            Ok(Ok(format!(
                "{validated} constraint(s) validated, {checked} foreign key(s) resolve"
            )))
        }
    }
}

async fn foreign_keys(conn: &mut Conn) -> Result<Vec<ForeignKey>, sqlx::Error> {
    let d = conn.dialect();
    let rows = conn.rows(sql::foreign_keys_sql(d), &[]).await?;
    let mut out: Vec<ForeignKey> = Vec::new();
    for r in rows {
        let cell = |i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
        let (name, child, parent) = (
            cell(0),
            TableRef {
                schema: cell(1),
                table: cell(2),
            },
            TableRef {
                schema: cell(4),
                table: cell(5),
            },
        );
        match out.last_mut() {
            Some(last) if last.name == name && last.child == child => {
                last.child_cols.push(cell(3));
                last.parent_cols.push(cell(6));
            }
            _ => out.push(ForeignKey {
                name,
                child,
                child_cols: vec![cell(3)],
                parent,
                parent_cols: vec![cell(6)],
            }),
        }
    }
    Ok(out)
}

async fn verify(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    plans: &[TablePlan],
) -> Result<(VerificationReport, HashMap<String, u64>), MaskError> {
    let d = ctx.d;
    let progress = ctx.load_progress(conn).await?;
    let mut report = VerificationReport::default();
    let mut rows_after = HashMap::new();
    let mut touched = BTreeSet::new();
    for p in plans {
        let table = p.tref.to_string();
        touched.insert(p.tref.clone());
        let mut checked = Vec::new();
        let mut preds = Vec::new();
        for c in &p.columns {
            match sql::violation_predicate(d, &c.strategy, &c.quoted) {
                Some(pred) => {
                    checked.push(format!("{}:{}", c.name, c.strategy.name()));
                    preds.push(pred);
                }
                None => {
                    report
                        .unverifiable
                        .push(format!("{table}.{} ({})", c.name, c.strategy.name()))
                }
            }
        }
        // One scan per table: COUNT(*) and one violation count per column.
        let row = conn
            .rows(&sql::table_check_sql(d, &p.tref, &preds), &[])
            .await
            .map_err(MaskError::db(format!("verifying {table}")))?
            .into_iter()
            .next()
            .unwrap_or_default();
        let cell = |i: usize| row.get(i).and_then(Val::int).unwrap_or(0);
        let after = cell(0);
        rows_after.insert(table.clone(), u(after));
        for (i, check) in checked.into_iter().enumerate() {
            report.checks.push(VerificationCheck {
                table: table.clone(),
                check,
                violations: u(cell(i + 1)),
            });
        }
        if !p.columns.is_empty() && !p.rules.has_actions() {
            let before = progress
                .get(&format!("mask:{}", p.tref))
                .and_then(|x| x.rows_before);
            if let Some(before) = before {
                report.checks.push(VerificationCheck {
                    table: table.clone(),
                    check: format!("row_count (before {before}, after {after})"),
                    violations: before.abs_diff(after),
                });
            }
        }
    }
    let fks = foreign_keys(conn)
        .await
        .map_err(MaskError::db("reading foreign keys"))?;
    for fk in fks {
        if !(touched.contains(&fk.child) || touched.contains(&fk.parent)) {
            continue;
        }
        let n = conn
            .scalar_i64(&sql::orphan_count_sql(d, &fk), &[])
            .await
            .map_err(MaskError::db(format!("checking foreign key {}", fk.name)))?
            .unwrap_or(0);
        report.checks.push(VerificationCheck {
            table: fk.child.to_string(),
            check: format!("fk:{}", fk.name),
            violations: u(n),
        });
    }
    report.passed = report.checks.iter().all(|c| c.violations == 0);
    Ok((report, rows_after))
}

async fn table_reports(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    plans: &[TablePlan],
    rows_after: Option<&HashMap<String, u64>>,
) -> Result<Vec<TableReport>, MaskError> {
    let progress = ctx.load_progress(conn).await?;
    let mut out = Vec::new();
    for p in plans {
        let mask = progress
            .get(&format!("mask:{}", p.tref))
            .cloned()
            .unwrap_or_default();
        let actions = progress.get(&format!("actions:{}", p.tref));
        let table = p.tref.to_string();
        out.push(TableReport {
            rows_after: rows_after.and_then(|m| m.get(&table).copied()),
            table,
            rows_masked: u(mask.rows),
            chunks: u(mask.chunks),
            rows_before: mask.rows_before.map(u),
            rows_deleted: actions.map(|a| u(a.rows)),
        });
    }
    Ok(out)
}
