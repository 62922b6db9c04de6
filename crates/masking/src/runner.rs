//! The in-place run: mask the tables where they are, with `UPDATE`s (the
//! explicit opt-in mode; the default is the rewrite of
//! [`crate::rewrite`]).
//!
//! A run is the ordered list of steps
//! `hook:<i>:<kind>` (phase before) → `actions:<schema.table>` →
//! `mask:<schema.table>` → `hook:<i>:<kind>` (phase after) → `verify`.
//! Every step has a row in `<control>.table_progress`; a finished step is
//! skipped by a resumed run, and a chunked `mask` step resumes after the last
//! committed key (see [`crate::progress`] for the exactly-once protocol).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::before_after::{forget_prints, record_sample};
use crate::chunk_checks::{counts_hold, predicates, summed};
use crate::chunk_key::whole_tables_warning;
use crate::coverage::{enforce, find_gaps, live_tables};
use crate::db::{Conn, Target};
use crate::error::MaskError;
use crate::hooks::{HookScope, run_hook};
use crate::in_place_guards::mysql_in_place_guards;
use crate::mask_step::mask_table;
use crate::normalize::input_expr;
use crate::plan::{TablePlan, build_plan};
use crate::preflight::{Probe, check_conflicts_of, compile_all, in_place_probes};
use crate::progress::{Clock, ProgressLog, Start, StepState, in_tx, to_u64};
use crate::remask::{LoadStart, check_remask};
pub use crate::report::{
    PublishReport, RunOutcome, RunReport, TableReport, Timings, VerificationCheck,
    VerificationReport,
};
use crate::rules::{HookRule, Phase, Rules};
use crate::secret::Salt;
pub use crate::session::MIN_SALT_LEN;
use crate::session::{
    REWRITE_STEPS, check_run_kind, check_run_state, check_salt, default_database, forget_key,
    prepare_session,
};
use crate::sql::{self, Dialect};
use crate::verify::{Before, Expected, TableCheck, failures, verify_units};
use crate::verify_store::VerifyStore;

/// Test and operations knobs for [`Target::run_with`] and
/// [`Target::run_rewrite`].
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop (as if the deadline had passed) after this many chunks have been
    /// committed by this invocation. For tests of resume.
    pub stop_after_chunks: Option<u64>,
    /// Rewrite only: stop (as if the deadline had passed) right before the
    /// step with this id (e.g. `publish`), leaving it to the next
    /// invocation. For tests of a crash between two steps.
    pub stop_before_step: Option<String>,
    /// Rewrite only: fail with a transient error right after the publish
    /// swap, before its progress row is recorded, as a crash at that point
    /// would. On PostgreSQL the swap's transaction is rolled back with it;
    /// on MySQL the renames have committed. For tests of exactly-once
    /// publishing.
    pub fail_after_publish_swap: bool,
    /// In place: how DMS started the load this run masks. After a
    /// `resume-processing` the run refuses unless `settings.remask` allows
    /// it (see [`crate::remask`]).
    pub load_start: LoadStart,
}

#[derive(Debug)]
enum Step<'a> {
    Hook(usize, &'a HookRule),
    Actions(&'a TablePlan),
    /// Record the keyed fingerprints of a sample before masking
    /// ([`crate::before_after`]).
    Sample(&'a TablePlan),
    /// Mask the table (or one leaf partition of it) with its columns.
    Mask(&'a TablePlan, &'a sql::TableRef),
    Verify,
}

fn step_id(step: &Step<'_>) -> String {
    match step {
        Step::Hook(i, h) => format!("hook:{i}:{}", h.kind.name()),
        Step::Actions(t) => format!("actions:{}", t.tref),
        Step::Sample(t) => format!("sample:{}", t.tref),
        Step::Mask(_, target) => mask_step_id(target),
        Step::Verify => "verify".to_string(),
    }
}

pub(crate) fn mask_step_id(target: &sql::TableRef) -> String {
    format!("mask:{target}")
}

/// The mask steps of `p` added up (one per leaf partition of a partitioned
/// table); `rows_before` only once every step has counted its rows.
fn mask_progress(p: &TablePlan, progress: &HashMap<String, StepState>) -> StepState {
    let mut sum = StepState {
        done: true,
        rows_before: Some(0),
        ..StepState::default()
    };
    for t in p.mask_targets() {
        let s = progress.get(&mask_step_id(t)).cloned().unwrap_or_default();
        sum.rows += s.rows;
        sum.chunks += s.chunks;
        sum.done &= s.done;
        sum.rows_before = sum.rows_before.zip(s.rows_before).map(|(a, b)| a + b);
    }
    sum
}

fn steps<'a>(rules: &'a Rules, plans: &'a [TablePlan]) -> Vec<Step<'a>> {
    let hooks = |phase: Phase| {
        rules
            .hooks
            .iter()
            .enumerate()
            .filter(move |(_, h)| h.phase == phase)
            .map(|(i, h)| Step::Hook(i, h))
    };
    let mut out: Vec<Step<'_>> = hooks(Phase::Before).collect();
    for p in plans {
        if p.rules.has_actions() {
            out.push(Step::Actions(p));
        }
        if !p.columns.is_empty() {
            out.push(Step::Sample(p));
            out.extend(p.mask_targets().into_iter().map(|t| Step::Mask(p, t)));
        }
    }
    out.extend(hooks(Phase::After));
    out.push(Step::Verify);
    out
}

struct Ctx<'a> {
    target: &'a Target,
    d: Dialect,
    log: ProgressLog<'a>,
    rules: &'a Rules,
}

/// Report parts collected along the way.
struct Extra {
    hooks_run: Vec<String>,
    timings: Timings,
    warnings: Vec<String>,
    verification: Option<VerificationReport>,
    rows_after: Option<HashMap<String, u64>>,
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
        check_salt(salt)?;
        self.ensure_control_tables().await?;
        let mut conn = self.acquire().await?;
        // Session settings below (key blocks, FK checks, sql_mode) must not
        // leak to other users of the pool: this connection is closed at the end.
        conn.close_on_drop();
        let result = self
            .run_inner(&mut conn, run_id, rules, salt, deadline, opts)
            .await;
        forget_key(&mut conn).await;
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
        let t_validate = Instant::now();
        let remask_warning = check_remask(rules, opts.load_start)?;
        prepare_session(conn, salt, rules.settings.disable_fk_checks).await?;

        // 1. Validate everything against the live schema, before any write.
        let default_schema = default_database(conn).await?;
        let plans = build_plan(conn, self.dialect, default_schema.as_deref(), rules).await?;
        let ctx = Ctx {
            target: self,
            d: self.dialect,
            log: ProgressLog::new(self, run_id),
            rules,
        };
        let mut warnings =
            in_place_coverage(self, conn, rules, &plans, default_schema.as_deref()).await?;
        preflight(&ctx, conn, &plans).await?;
        warnings.extend(mysql_in_place_guards(conn, &plans).await?);
        warnings.extend(whole_tables_warning(
            "masked",
            plans
                .iter()
                .filter(|p| !p.columns.is_empty())
                .map(|p| (p.tref.to_string(), &p.chunk_key)),
        ));
        warnings.extend(remask_warning);

        // 2. The run must be claimed; the rules must not change mid-run.
        check_run_state(self, conn, run_id, &rules.fingerprint, salt).await?;

        // 3. Steps.
        let extra = Extra {
            hooks_run: Vec::new(),
            timings: Timings {
                validation_seconds: t_validate.elapsed().as_secs_f64(),
                ..Timings::default()
            },
            warnings,
            verification: None,
            rows_after: None,
        };
        let clock = Clock::new(deadline, opts.stop_after_chunks);
        run_steps(&ctx, conn, &plans, clock, extra).await
    }
}

async fn run_steps(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    plans: &[TablePlan],
    mut clock: Clock,
    mut extra: Extra,
) -> Result<RunReport, MaskError> {
    let progress = ctx.log.load(conn).await?;
    check_run_kind(ctx.log.run_id(), &progress, &REWRITE_STEPS, "in-place run")?;
    for step in steps(ctx.rules, plans) {
        let id = step_id(&step);
        if progress.get(&id).is_some_and(|p| p.done) {
            continue;
        }
        if clock.should_stop() {
            return incomplete(ctx, conn, plans, id, clock.chunks, extra).await;
        }
        tracing::info!(run_id = ctx.log.run_id(), step = %id, "masking step");
        let t_step = Instant::now();
        let finished = run_step(ctx, conn, plans, &step, &id, &mut clock, &mut extra).await?;
        let spent = t_step.elapsed().as_secs_f64();
        let t = &mut extra.timings;
        match step {
            Step::Hook(..) => t.hook_seconds += spent,
            Step::Actions(_) => t.action_seconds += spent,
            Step::Mask(..) => t.mask_seconds += spent,
            Step::Sample(_) | Step::Verify => t.verify_seconds += spent,
        }
        if !finished {
            return incomplete(ctx, conn, plans, id, clock.chunks, extra).await;
        }
    }
    let tables = table_reports(ctx, conn, plans, extra.rows_after.as_ref()).await?;
    Ok(RunReport {
        run_id: ctx.log.run_id().to_string(),
        outcome: RunOutcome::Complete,
        tables,
        hooks_run: extra.hooks_run,
        verification: extra.verification,
        timings: extra.timings,
        published: None,
        warnings: extra.warnings,
    })
}

/// Run one step. Returns `false` when it stopped early (deadline).
async fn run_step(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    plans: &[TablePlan],
    step: &Step<'_>,
    id: &str,
    clock: &mut Clock,
    extra: &mut Extra,
) -> Result<bool, MaskError> {
    match step {
        Step::Hook(_, h) => {
            let scope = HookScope {
                enter: None,
                alias: None,
                control: ctx.target.control_schema().to_string(),
            };
            extra
                .hooks_run
                .push(run_hook(&ctx.log, conn, id, h, &scope).await?);
            Ok(true)
        }
        Step::Actions(p) => run_actions(ctx, conn, id, p).await.map(|()| true),
        Step::Sample(p) => record_sample(ctx.target, &ctx.log, conn, id, p)
            .await
            .map(|()| true),
        Step::Mask(p, target) => {
            mask_table(&ctx.log, &ctx.rules.settings, conn, id, p, target, clock).await
        }
        Step::Verify => run_verify(ctx, conn, plans, id, clock, extra).await,
    }
}

async fn incomplete(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    plans: &[TablePlan],
    next_step: String,
    chunks: u64,
    extra: Extra,
) -> Result<RunReport, MaskError> {
    tracing::info!(run_id = ctx.log.run_id(), next_step = %next_step, chunks, "stopping before the deadline; the run will resume");
    let tables = table_reports(ctx, conn, plans, None).await?;
    Ok(RunReport {
        run_id: ctx.log.run_id().to_string(),
        outcome: RunOutcome::Incomplete {
            next_step,
            chunks_this_invocation: chunks,
        },
        tables,
        hooks_run: extra.hooks_run,
        verification: None,
        timings: extra.timings,
        published: None,
        warnings: extra.warnings,
    })
}

/// `(quoted column, masking expression)` of every masked column of `p`.
pub(crate) fn mask_sets(d: Dialect, p: &TablePlan) -> Vec<(String, String)> {
    p.columns
        .iter()
        .map(|c| {
            let input = input_expr(d, c.normalize, &c.quoted);
            (
                c.quoted.clone(),
                sql::column_expr_for(d, &c.strategy, &input, Some(&c.kind)),
            )
        })
        .collect()
}

/// Coverage of an in-place run: the masked schema is the connection's default
/// schema (PostgreSQL `public` when none) and every schema the rules name.
async fn in_place_coverage(
    target: &Target,
    conn: &mut Conn,
    rules: &Rules,
    plans: &[TablePlan],
    default_schema: Option<&str>,
) -> Result<Vec<String>, MaskError> {
    let default = match (target.dialect(), default_schema) {
        (_, Some(s)) => Some(s.to_string()),
        (Dialect::Postgres, None) => Some("public".to_string()),
        (Dialect::MySql, None) => None,
    };
    let label = |schema: &str, table: &str| match &default {
        Some(s) if s == schema => table.to_string(),
        _ => format!("{schema}.{table}"),
    };
    let declared = plans
        .iter()
        .map(|p| (label(&p.tref.schema, &p.tref.table), &p.rules))
        .collect();
    let schemas: BTreeSet<String> = plans
        .iter()
        .map(|p| p.tref.schema.clone())
        .chain(default.clone())
        .filter(|s| s != target.control_schema())
        .collect();
    let mut live = Vec::new();
    for schema in &schemas {
        live.extend(live_tables(conn, schema, |t| label(schema, t)).await?);
    }
    enforce(rules, &find_gaps(&live, &declared))
}

/// Compile every generated statement without changing anything, so syntax
/// errors in `sql` expressions, `check` predicates or `delete_where`
/// conditions surface before any write; then test the CHECK constraints
/// against masked values.
async fn preflight(ctx: &Ctx<'_>, conn: &mut Conn, plans: &[TablePlan]) -> Result<(), MaskError> {
    let probes: Vec<Probe> = plans
        .iter()
        .flat_map(|p| in_place_probes(ctx.d, p))
        .collect();
    compile_all(conn, &probes).await?;
    schema_problems(check_conflicts_of(conn, plans.iter()).await?)
}

/// `Ok` when nothing is wrong, else one [`MaskError::Schema`] with every line.
pub(crate) fn schema_problems(problems: Vec<String>) -> Result<(), MaskError> {
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
    ctx.log
        .ensure_row(conn, id, Some(&table), &Start::Whole, None)
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
        ctx.log
            .save(conn, id, None, true, before.unwrap_or(0), 1)
            .await
            .map_err(MaskError::db("recording progress"))?;
        return Ok(());
    }
    in_tx!(conn, format!("table action on {table}"), {
        let prog = ctx.log.lock(conn, id).await?;
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
            ctx.log.save(conn, id, None, true, n, 1).await?;
        }
    })
}

/// The `verify` step: every unit not verified yet, then the outcome.
/// `false` when the deadline stopped it between two units.
async fn run_verify(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    plans: &[TablePlan],
    id: &str,
    clock: &mut Clock,
    extra: &mut Extra,
) -> Result<bool, MaskError> {
    let store = VerifyStore::new(ctx.target, ctx.log.run_id());
    let Some((report, counts)) = verify(ctx, conn, plans, &store, clock).await? else {
        return Ok(false);
    };
    store.forget(conn).await;
    extra.rows_after = Some(counts);
    let failed = failures(&report);
    if !failed.is_empty() {
        tracing::error!(run_id = ctx.log.run_id(), failures = ?failed, "verification failed");
        return Err(MaskError::Verification { failures: failed });
    }
    ctx.log.mark_done(conn, id).await?;
    forget_prints(ctx.target, conn, ctx.log.run_id()).await;
    extra.verification = Some(report);
    Ok(true)
}

async fn verify(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    plans: &[TablePlan],
    store: &VerifyStore<'_>,
    clock: &mut Clock,
) -> Result<Option<(VerificationReport, HashMap<String, u64>)>, MaskError> {
    let progress = ctx.log.load(conn).await?;
    let before = Before::Stored {
        target: ctx.target,
        run_id: ctx.log.run_id(),
    };
    let checks: Vec<TableCheck<'_>> = plans
        .iter()
        .map(|p| TableCheck {
            table: &p.tref,
            columns: &p.columns,
            expected_rows: match mask_progress(p, &progress).rows_before {
                Some(n) if !p.columns.is_empty() && !p.rules.has_actions() => Expected::Before(n),
                _ => Expected::Any,
            },
            sample: (!p.columns.is_empty()).then_some((p, before)),
            counted: summed(
                p.mask_targets()
                    .into_iter()
                    .map(|t| progress.get(&mask_step_id(t))),
                predicates(ctx.d, &p.columns).len(),
            )
            .filter(|_| counts_hold(ctx.rules)),
        })
        .collect();
    let touched: BTreeSet<_> = plans.iter().map(|p| p.tref.clone()).collect();
    let in_scope =
        |fk: &sql::ForeignKey| touched.contains(&fk.child) || touched.contains(&fk.parent);
    verify_units(conn, store, &checks, in_scope, clock).await
}

async fn table_reports(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    plans: &[TablePlan],
    rows_after: Option<&HashMap<String, u64>>,
) -> Result<Vec<TableReport>, MaskError> {
    let progress = ctx.log.load(conn).await?;
    let mut out = Vec::new();
    for p in plans {
        let mask = mask_progress(p, &progress);
        let actions = progress.get(&format!("actions:{}", p.tref));
        let table = p.tref.to_string();
        out.push(TableReport {
            rows_after: rows_after.and_then(|m| m.get(&table).copied()),
            table,
            rows_masked: to_u64(mask.rows),
            chunks: to_u64(mask.chunks),
            rows_before: mask.rows_before.map(to_u64),
            rows_deleted: actions.map(|a| to_u64(a.rows)),
            rows_copied: None,
        });
    }
    Ok(out)
}
