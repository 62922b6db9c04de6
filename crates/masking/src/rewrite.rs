//! [`Target::run_rewrite`]: the default publish model. DMS loads raw rows
//! into `quarantine`; the rewrite builds the masked copy in `build` with
//! `INSERT ... SELECT <masked expressions>`, adds keys, indexes and foreign
//! keys, runs the hooks and verification on the copy, then publishes it
//! atomically into `live` (previous live → `retired`) and optionally empties
//! quarantine.
//!
//! Steps (ids as stored in `table_progress.step`): `prepare` →
//! `hook:<i>:<kind>` (before) → `copy:<live>.<table>` per table →
//! `index:<live>.<table>` per table (PostgreSQL) → `constraints` →
//! `hook:<i>:<kind>` (after) → `verify` → `publish` → `purge` (when
//! configured). Any failure before `publish` leaves live untouched; build
//! keeps its state for diagnosis and is rebuilt by the next run.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::access::readers_of;
use crate::build_steps::{
    TableCopy, add_constraints, add_indexes, carried_foreign_keys, copy_table, prepare,
};
use crate::catalog::table_names;
use crate::chunk_checks::{counts_hold, predicates, summed};
use crate::db::{Conn, Target};
use crate::error::MaskError;
use crate::hooks::{HookScope, run_hook};
use crate::places::Publish;
use crate::plan::TablePlan;
use crate::preflight::{Probe, check_conflicts_of, compile_all, verification_probes};
use crate::progress::{Clock, ProgressLog, StepState, to_u64};
use crate::publications::{lock_places, unlock_places};
use crate::publish::{PUBLISH_STEP, PURGE_STEP, PublishStep, purge_quarantine};
use crate::report::{
    PublishReport, RunOutcome, RunReport, TableReport, Timings, VerificationReport,
};
use crate::rewrite_plan::{plan_copies, quarantine_charset};
use crate::rules::{HookRule, Phase, Rules};
use crate::runner::{RunOptions, schema_problems};
use crate::secret::Salt;
use crate::session::{
    IN_PLACE_STEPS, check_run_kind, check_run_state, check_salt, forget_key, prepare_session,
};
use crate::sql::{self, Dialect};
use crate::verify::{Before, Expected, TableCheck, failures, verify_units};
use crate::verify_store::VerifyStore;

/// `next_step` of a report when another invocation holds the places.
pub const WAITING_FOR_PLACES: &str = "wait:places-lock";

#[derive(Debug)]
enum Step<'a> {
    Prepare,
    Hook(usize, &'a HookRule),
    Copy(&'a TableCopy),
    Index(&'a TableCopy),
    Constraints,
    Verify,
    Publish,
    Purge,
}

fn step_id(step: &Step<'_>) -> String {
    match step {
        Step::Prepare => "prepare".into(),
        Step::Hook(i, h) => format!("hook:{i}:{}", h.kind.name()),
        Step::Copy(c) => format!("copy:{}", c.label),
        Step::Index(c) => format!("index:{}", c.label),
        Step::Constraints => "constraints".into(),
        Step::Verify => "verify".into(),
        Step::Publish => PUBLISH_STEP.into(),
        Step::Purge => PURGE_STEP.into(),
    }
}

/// Everything one invocation works with.
struct Rewrite<'a> {
    target: &'a Target,
    d: Dialect,
    log: ProgressLog<'a>,
    rules: &'a Rules,
    publish: &'a Publish,
    copies: Vec<TableCopy>,
    /// Names of the copied tables (quarantine = build = live names).
    copied: Vec<String>,
    opts: &'a RunOptions,
    /// MySQL: default character set and collation of quarantine.
    charset: Option<(String, String)>,
}

/// Report parts collected along the way.
#[derive(Default)]
struct Extra {
    hooks_run: Vec<String>,
    timings: Timings,
    warnings: Vec<String>,
    verification: Option<VerificationReport>,
    rows_after: Option<BTreeMap<String, u64>>,
    published: Option<PublishReport>,
}

impl Target {
    /// Build the masked copy from quarantine into build, run hooks and
    /// verification on build, publish it atomically into live (previous
    /// live → retired), optionally purge quarantine. Resumable and exactly
    /// once like [`Target::run`]: the run must be claimed with
    /// [`Target::begin`], the same salt and rules checks apply, and an
    /// invocation stops before `deadline` with [`RunOutcome::Incomplete`].
    /// One invocation at a time per live place (a session lock; another
    /// invocation waits for it until `deadline`, then reports
    /// `Incomplete { next_step: "wait:places-lock" }`).
    pub async fn run_rewrite(
        &self,
        run_id: &str,
        rules: &Rules,
        salt: &Salt,
        publish: &Publish,
        deadline: Instant,
        opts: RunOptions,
    ) -> Result<RunReport, MaskError> {
        check_salt(salt)?;
        publish.validate(self.dialect, &self.control_schema)?;
        self.ensure_publish_tables().await?;
        let mut conn = self.acquire().await?;
        // Session settings (key blocks, FK checks, sql_mode) and the
        // places lock die with this connection.
        conn.close_on_drop();
        let live = &publish.places.live;
        if !lock_places(&mut conn, live, deadline).await? {
            return Ok(waiting(run_id));
        }
        let result = self
            .rewrite(&mut conn, run_id, rules, salt, publish, deadline, &opts)
            .await;
        forget_key(&mut conn).await;
        unlock_places(&mut conn, live).await;
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn rewrite(
        &self,
        conn: &mut Conn,
        run_id: &str,
        rules: &Rules,
        salt: &Salt,
        publish: &Publish,
        deadline: Instant,
        opts: &RunOptions,
    ) -> Result<RunReport, MaskError> {
        let t0 = Instant::now();
        // MySQL: FK checks off so keys are added without a table rebuild
        // (verify checks orphans) and retired tables drop in any order.
        prepare_session(conn, salt, self.dialect == Dialect::MySql).await?;
        let (copies, mut warnings) = plan_copies(conn, rules, publish).await?;
        let rw = Rewrite {
            target: self,
            d: self.dialect,
            log: ProgressLog::new(self, run_id),
            rules,
            publish,
            copied: copies.iter().map(|c| c.plan.tref.table.clone()).collect(),
            copies,
            opts,
            charset: quarantine_charset(conn, &publish.places.quarantine).await?,
        };
        rw.preflight(conn).await?;
        let readers = readers_of(conn, &publish.places.quarantine, "quarantine", publish).await?;
        if !readers.is_empty() {
            return Err(MaskError::Places(readers.join("; ")));
        }
        let (fks, left) =
            carried_foreign_keys(conn, &publish.places.quarantine, &rw.copies).await?;
        let bad: Vec<String> = fks
            .iter()
            .filter(|fk| !fk.names_are_valid())
            .map(|fk| {
                format!(
                    "{}: foreign key `{}`: names must match [A-Za-z_][A-Za-z0-9_$]*",
                    fk.child, fk.name
                )
            })
            .collect();
        if !bad.is_empty() {
            return Err(MaskError::Schema { problems: bad });
        }
        warnings.extend(left);
        check_run_state(self, conn, run_id, &rules.fingerprint, salt).await?;
        let extra = Extra {
            timings: Timings {
                validation_seconds: t0.elapsed().as_secs_f64(),
                ..Timings::default()
            },
            warnings,
            ..Extra::default()
        };
        rw.run_steps(conn, Clock::new(deadline, opts.stop_after_chunks), extra)
            .await
    }
}

fn waiting(run_id: &str) -> RunReport {
    RunReport {
        run_id: run_id.to_string(),
        outcome: RunOutcome::Incomplete {
            next_step: WAITING_FOR_PLACES.into(),
            chunks_this_invocation: 0,
        },
        tables: Vec::new(),
        hooks_run: Vec::new(),
        verification: None,
        timings: Timings::default(),
        published: None,
        warnings: vec!["another rewrite, publish or rollback of these places is running".into()],
    }
}

impl Rewrite<'_> {
    /// Compile the copy expressions, verification predicates and
    /// `delete_where` conditions against quarantine, before any write.
    async fn preflight(&self, conn: &mut Conn) -> Result<(), MaskError> {
        let d = self.d;
        let mut probes = Vec::new();
        for c in self.copies.iter().filter(|c| c.ruled) {
            let src = &c.plan.tref;
            let exprs: Vec<String> = c.select_list(d).into_iter().map(|(_, e)| e).collect();
            probes.push(Probe {
                sql: format!(
                    "SELECT {} FROM {} WHERE 1 = 0",
                    exprs.join(", "),
                    src.quoted(d)
                ),
                what: format!("{}: masked copy", c.plan.rules.origin),
            });
            probes.extend(verification_probes(d, &c.plan, src));
            if let Some(cond) = &c.plan.rules.delete_where {
                probes.push(Probe {
                    sql: format!(
                        "{} AND 1 = 0",
                        sql::count_where_sql(d, src, &format!("({cond}) IS NOT TRUE"))
                    ),
                    what: format!("{}.delete_where", c.plan.rules.origin),
                });
            }
        }
        compile_all(conn, &probes).await?;
        let ruled: Vec<&TablePlan> = self
            .copies
            .iter()
            .filter(|c| c.ruled)
            .map(|c| &c.plan)
            .collect();
        schema_problems(check_conflicts_of(conn, ruled).await?)
    }

    fn steps(&self) -> Vec<Step<'_>> {
        let hooks = |phase: Phase| {
            self.rules
                .hooks
                .iter()
                .enumerate()
                .filter(move |(_, h)| h.phase == phase)
                .map(|(i, h)| Step::Hook(i, h))
        };
        let mut out = vec![Step::Prepare];
        out.extend(hooks(Phase::Before));
        out.extend(self.copies.iter().map(Step::Copy));
        if self.d == Dialect::Postgres {
            out.extend(self.copies.iter().map(Step::Index));
        }
        out.push(Step::Constraints);
        out.extend(hooks(Phase::After));
        out.push(Step::Verify);
        out.push(Step::Publish);
        if self.publish.purge_quarantine {
            out.push(Step::Purge);
        }
        out
    }

    async fn run_steps(
        &self,
        conn: &mut Conn,
        mut clock: Clock,
        mut extra: Extra,
    ) -> Result<RunReport, MaskError> {
        let progress = self.log.load(conn).await?;
        check_run_kind(self.log.run_id(), &progress, &IN_PLACE_STEPS, "rewrite")?;
        for step in self.steps() {
            let id = step_id(&step);
            if progress.get(&id).is_some_and(|p| p.done) {
                if matches!(step, Step::Publish) {
                    extra.published = Some(self.earlier_publish(conn).await?);
                }
                continue;
            }
            if clock.should_stop() || self.opts.stop_before_step.as_deref() == Some(id.as_str()) {
                return self.report(conn, incomplete(id, clock.chunks), extra).await;
            }
            tracing::info!(run_id = self.log.run_id(), step = %id, "rewrite step");
            let t_step = Instant::now();
            let finished = self
                .run_step(conn, &step, &id, &mut clock, &mut extra)
                .await?;
            let spent = t_step.elapsed().as_secs_f64();
            let t = &mut extra.timings;
            match step {
                Step::Prepare | Step::Index(_) | Step::Constraints => t.build_seconds += spent,
                Step::Hook(..) => t.hook_seconds += spent,
                Step::Copy(_) => t.mask_seconds += spent,
                Step::Verify => t.verify_seconds += spent,
                Step::Publish | Step::Purge => t.publish_seconds += spent,
            }
            if !finished {
                return self.report(conn, incomplete(id, clock.chunks), extra).await;
            }
        }
        self.report(conn, RunOutcome::Complete, extra).await
    }

    /// Run one step. Returns `false` when it stopped early (deadline).
    async fn run_step(
        &self,
        conn: &mut Conn,
        step: &Step<'_>,
        id: &str,
        clock: &mut Clock,
        extra: &mut Extra,
    ) -> Result<bool, MaskError> {
        let p = &self.publish.places;
        match step {
            Step::Prepare => {
                let cs = self.charset.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
                prepare(&self.log, conn, &p.build, &self.copies, cs).await?;
            }
            Step::Hook(_, h) => {
                let scope = HookScope {
                    enter: Some(p.build.clone()),
                    alias: Some(p.live.clone()),
                    control: self.target.control_schema().to_string(),
                };
                extra
                    .hooks_run
                    .push(run_hook(&self.log, conn, id, h, &scope).await?);
            }
            Step::Copy(c) => {
                let settings = &self.rules.settings;
                return copy_table(&self.log, conn, id, c, settings, clock).await;
            }
            Step::Index(c) => add_indexes(&self.log, conn, id, c).await?,
            Step::Constraints => {
                add_constraints(&self.log, conn, &p.quarantine, &p.build, &self.copies).await?;
            }
            Step::Verify => return self.verify(conn, id, clock, extra).await,
            Step::Publish => extra.published = Some(self.publish_step().run(conn).await?),
            Step::Purge => purge_quarantine(&self.log, conn, &p.quarantine, &self.copied).await?,
        }
        Ok(true)
    }

    fn publish_step(&self) -> PublishStep<'_> {
        PublishStep {
            target: self.target,
            log: &self.log,
            publish: self.publish,
            copied: &self.copied,
            fail_after_swap: self.opts.fail_after_publish_swap,
        }
    }

    /// The publish done by an earlier invocation, from the publication record.
    async fn earlier_publish(&self, conn: &mut Conn) -> Result<PublishReport, MaskError> {
        let live = &self.publish.places.live;
        let record = self.target.read_publication(conn, live, false).await?;
        Ok(PublishReport {
            tables: table_names(conn, live).await?,
            live_run: record.live_run.unwrap_or_default(),
            retired_run: record.retired_run,
            seconds: 0.0,
        })
    }

    /// Nobody but the masking user reads build; every copied table has the
    /// rows of quarantine minus the removed ones and looks masked; every
    /// foreign key among the build tables resolves.
    async fn verify(
        &self,
        conn: &mut Conn,
        id: &str,
        clock: &mut Clock,
        extra: &mut Extra,
    ) -> Result<bool, MaskError> {
        let build = &self.publish.places.build;
        let readers = readers_of(conn, build, "build", self.publish).await?;
        if !readers.is_empty() {
            return Err(MaskError::Places(readers.join("; ")));
        }
        let progress = self.log.load(conn).await?;
        let checks: Vec<TableCheck<'_>> = self
            .copies
            .iter()
            .map(|c| TableCheck {
                table: &c.build,
                columns: &c.plan.columns,
                expected_rows: Expected::CopyOf(c),
                sample: (!c.plan.columns.is_empty())
                    .then_some((&c.plan, Before::Quarantine(&c.plan.tref))),
                counted: summed(
                    [progress.get(&step_id(&Step::Copy(c)))],
                    predicates(self.d, &c.plan.columns).len(),
                )
                .filter(|_| counts_hold(self.rules)),
            })
            .collect();
        let in_build =
            |fk: &sql::ForeignKey| &fk.child.schema == build && &fk.parent.schema == build;
        let store = VerifyStore::new(self.target, self.log.run_id());
        let Some((report, counts)) = verify_units(conn, &store, &checks, in_build, clock).await?
        else {
            return Ok(false);
        };
        store.forget(conn).await;
        extra.rows_after = Some(counts.into_iter().collect());
        let failed = failures(&report);
        if !failed.is_empty() {
            tracing::error!(run_id = self.log.run_id(), failures = ?failed, "verification of the build copy failed");
            return Err(MaskError::Verification { failures: failed });
        }
        self.log.mark_done(conn, id).await?;
        extra.verification = Some(report);
        Ok(true)
    }

    async fn report(
        &self,
        conn: &mut Conn,
        outcome: RunOutcome,
        extra: Extra,
    ) -> Result<RunReport, MaskError> {
        if let RunOutcome::Incomplete { next_step, .. } = &outcome {
            tracing::info!(run_id = self.log.run_id(), next_step = %next_step, "stopping before the deadline; the rewrite will resume");
        }
        let progress = self.log.load(conn).await?;
        let tables = self
            .copies
            .iter()
            .map(|c| table_report(c, &progress, extra.rows_after.as_ref()))
            .collect();
        Ok(RunReport {
            run_id: self.log.run_id().to_string(),
            outcome,
            tables,
            hooks_run: extra.hooks_run,
            verification: extra.verification,
            timings: extra.timings,
            published: extra.published,
            warnings: extra.warnings,
        })
    }
}

fn incomplete(next_step: String, chunks: u64) -> RunOutcome {
    RunOutcome::Incomplete {
        next_step,
        chunks_this_invocation: chunks,
    }
}

fn table_report(
    c: &TableCopy,
    progress: &std::collections::HashMap<String, StepState>,
    rows_after: Option<&BTreeMap<String, u64>>,
) -> TableReport {
    let copy = progress
        .get(&format!("copy:{}", c.label))
        .cloned()
        .unwrap_or_default();
    let copied = to_u64(copy.rows);
    let before = copy.rows_before.map(to_u64);
    TableReport {
        table: c.label.clone(),
        rows_masked: if c.plan.columns.is_empty() { 0 } else { copied },
        chunks: to_u64(copy.chunks),
        rows_before: before,
        rows_after: rows_after.and_then(|m| m.get(&c.build.to_string()).copied()),
        rows_deleted: c
            .plan
            .rules
            .has_actions()
            .then(|| before.unwrap_or(0).saturating_sub(copied))
            .filter(|_| copy.done),
        rows_copied: Some(copied),
    }
}
