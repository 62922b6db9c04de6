//! Validate a rules file against a live database without writing: the
//! checks a masking run makes before its first write (the plan against the
//! live schema, coverage, the pre-flight compilation of every generated
//! statement, the MySQL in-place guards), plus a few rows before and after
//! masking, computed with the run's own expressions.
//!
//! What reaches the server: the session settings of a run (the key blocks,
//! bound once as parameters, and `sql_mode`); catalog reads and the sample
//! `SELECT`s inside one `READ ONLY` transaction that is rolled back; then
//! the run's pre-flight probes (`UPDATE ... WHERE 1 = 0` and the like), each
//! in its own transaction, rolled back, exactly as the run compiles them (an
//! `UPDATE` is refused even with `WHERE 1 = 0` inside a read-only
//! transaction, on both engines). The control schema, the ledger and the
//! progress tables are never touched, and the connection is closed at the
//! end.

pub mod sample;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use self::sample::{SampleCell, SampledColumn, TableSample};
use self::sample::{sample_table, unchanged_warnings};

use crate::catalog::place_exists;
use crate::coverage::{Gaps, find_gaps, live_tables};
use crate::db::{Conn, Target};
use crate::error::MaskError;
use crate::in_place_guards::mysql_in_place_guards;
use crate::plan::{TablePlan, build_plan, resolve_table};
use crate::preflight::{
    Probe, check_conflicts_of, compile_all, delete_probe, update_probe, verification_probes,
};
use crate::rules::{Coverage, Rules, TableRules};
use crate::runner::mask_sets;
use crate::secret::Salt;
use crate::session::{check_salt, default_database, forget_key, prepare_session};
use crate::sql::{Dialect, TableRef};

/// Largest number of rows sampled per table.
pub const MAX_SAMPLE_ROWS: u32 = 50;
/// Rows sampled per table unless told otherwise.
pub const DEFAULT_SAMPLE_ROWS: u32 = 3;

/// What [`Target::validate`] looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Where bare table names of the rules live: a PostgreSQL schema or a
    /// MySQL database. `None`: the connection's database (MySQL) or
    /// `public` (PostgreSQL). Coverage covers it and every schema the rules
    /// name.
    pub schema: Option<String>,
    /// Rows sampled per table with masked columns (0 = none, at most
    /// [`MAX_SAMPLE_ROWS`]).
    pub sample_rows: u32,
    /// Put the original values in the report (off: only the masked values
    /// and whether they differ).
    pub reveal_originals: bool,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        Self {
            schema: None,
            sample_rows: DEFAULT_SAMPLE_ROWS,
            reveal_originals: false,
        }
    }
}

/// Which check found an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Tables and columns exist, types, lengths, unique indexes
    /// ([`crate::plan`]).
    Plan,
    /// Every column declared ([`crate::coverage`]).
    Coverage,
    /// The server compiles every generated statement.
    Preflight,
    /// The table's CHECK constraints accept the masked values of a sample
    /// ([`crate::check_constraints`]).
    Constraint,
    /// MySQL in-place refusals (storage engine, `UPDATE` triggers).
    InPlaceGuard,
    /// The sampled rows.
    Sample,
}

/// One problem or warning: one line, naming where in the rules file (or
/// which table or column) and what to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// The check that found it.
    pub check: Check,
    /// The line.
    pub message: String,
}

impl Issue {
    fn new(check: Check, message: impl Into<String>) -> Issue {
        Issue {
            check,
            message: message.into(),
        }
    }
}

/// A live table without any rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UndeclaredTable {
    /// As the rules file would name it.
    pub table: String,
    /// Its columns, all undeclared.
    pub columns: Vec<String>,
}

/// A live column the rules do not declare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UndeclaredColumn {
    /// As the rules file names the table.
    pub table: String,
    /// Column.
    pub column: String,
}

/// What the rules file misses, whatever its coverage mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CoverageGaps {
    /// Tables without any rule.
    pub tables: Vec<UndeclaredTable>,
    /// Columns of ruled tables that are not declared.
    pub columns: Vec<UndeclaredColumn>,
    /// `keep` declarations of columns that no longer exist.
    pub vanished_keeps: Vec<String>,
}

impl From<&Gaps> for CoverageGaps {
    fn from(g: &Gaps) -> Self {
        CoverageGaps {
            tables: g
                .tables
                .iter()
                .map(|t| UndeclaredTable {
                    table: t.label.clone(),
                    columns: t.columns.clone(),
                })
                .collect(),
            columns: g
                .columns
                .iter()
                .map(|(t, c)| UndeclaredColumn {
                    table: t.clone(),
                    column: c.clone(),
                })
                .collect(),
            vanished_keeps: g.vanished.clone(),
        }
    }
}

/// The outcome of [`Target::validate`]. No secret in it; original values
/// only with [`ValidateOptions::reveal_originals`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationReport {
    /// `MySQL` or `PostgreSQL`.
    pub engine: &'static str,
    /// The schema (database) bare names resolve to.
    pub schema: String,
    /// The rules file, as named to the loader.
    pub rules_file: String,
    /// The file's coverage setting.
    pub coverage_mode: Coverage,
    /// Tables of the rules file.
    pub tables_in_rules: usize,
    /// Tables that passed the plan checks.
    pub tables_planned: usize,
    /// Masked columns of those tables.
    pub columns_masked: usize,
    /// What a run would refuse: any problem means the run would stop before
    /// writing.
    pub problems: Vec<Issue>,
    /// What a run would go on with, but someone should look at.
    pub warnings: Vec<Issue>,
    /// Coverage gaps, whatever the coverage mode (they are also lines of
    /// `problems` under strict coverage, of `warnings` under report).
    pub coverage_gaps: CoverageGaps,
    /// Rows before and after masking.
    pub samples: Vec<TableSample>,
    /// Whether the samples hold the original values.
    pub originals_revealed: bool,
}

impl ValidationReport {
    /// No problem: the run would start writing.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A sample that could not be taken, kept until the pre-flight has said
/// whether the table's statements compile at all.
struct FailedSample {
    table: TableRef,
    message: String,
}

/// What the read-only transaction found.
struct ReadOnlyFindings {
    plans: Vec<TablePlan>,
    samples: Vec<TableSample>,
    failed_samples: Vec<FailedSample>,
}

impl Target {
    /// Check `rules` against the live database as a run would before its
    /// first write, and sample a few rows before and after masking with
    /// `key`. Never writes (see the module documentation). `Err` only when
    /// the validation itself cannot proceed (connection, unknown schema,
    /// a key the run would refuse, a key the server would log); everything
    /// the rules get wrong is in [`ValidationReport::problems`].
    pub async fn validate(
        &self,
        rules: &Rules,
        key: &Salt,
        opts: &ValidateOptions,
    ) -> Result<ValidationReport, MaskError> {
        check_salt(key)?;
        if opts.sample_rows > MAX_SAMPLE_ROWS {
            return Err(MaskError::Config(format!(
                "at most {MAX_SAMPLE_ROWS} rows can be sampled per table, not {}",
                opts.sample_rows
            )));
        }
        let mut conn = self.acquire().await?;
        // The key blocks and sql_mode stay in this session: close it at the end.
        conn.close_on_drop();
        let result = self.validate_on(&mut conn, rules, key, opts).await;
        forget_key(&mut conn).await;
        result
    }

    async fn validate_on(
        &self,
        conn: &mut Conn,
        rules: &Rules,
        key: &Salt,
        opts: &ValidateOptions,
    ) -> Result<ValidationReport, MaskError> {
        let d = self.dialect;
        prepare_session(conn, key, false).await?;
        let schema = match (&opts.schema, d) {
            (Some(s), _) => s.clone(),
            (None, Dialect::Postgres) => "public".to_string(),
            (None, Dialect::MySql) => default_database(conn).await?.ok_or_else(|| {
                MaskError::Config(
                    "the connection has no default database: name the schema to validate".into(),
                )
            })?,
        };
        if !place_exists(conn, &schema).await? {
            return Err(MaskError::Config(format!(
                "unknown schema `{schema}` on this {} server",
                engine_name(d)
            )));
        }
        let mut report = ValidationReport {
            engine: engine_name(d),
            schema: schema.clone(),
            rules_file: rules.file.clone(),
            coverage_mode: rules.settings.coverage,
            tables_in_rules: rules.tables.len(),
            tables_planned: 0,
            columns_masked: 0,
            problems: Vec::new(),
            warnings: Vec::new(),
            coverage_gaps: CoverageGaps::default(),
            samples: Vec::new(),
            originals_revealed: opts.reveal_originals,
        };

        let begin = match d {
            Dialect::MySql => "START TRANSACTION READ ONLY",
            Dialect::Postgres => "BEGIN; SET TRANSACTION READ ONLY",
        };
        conn.raw(begin)
            .await
            .map_err(MaskError::db("starting a read-only transaction"))?;
        let found = self
            .read_only_checks(conn, rules, &schema, opts, &mut report)
            .await;
        conn.rollback().await;
        let found = found?;

        let failed_tables = preflight(conn, d, &found.plans, &mut report.problems).await?;
        for f in found.failed_samples {
            if !failed_tables.contains(&f.table) {
                report.problems.push(Issue::new(Check::Sample, f.message));
            }
        }
        report.tables_planned = found.plans.len();
        report.columns_masked = found.plans.iter().map(|p| p.columns.len()).sum();
        report.samples = found.samples;
        Ok(report)
    }

    /// Plan, coverage, guards and samples, inside the read-only transaction.
    async fn read_only_checks(
        &self,
        conn: &mut Conn,
        rules: &Rules,
        schema: &str,
        opts: &ValidateOptions,
        report: &mut ValidationReport,
    ) -> Result<ReadOnlyFindings, MaskError> {
        let d = self.dialect;
        let plans = plan_every_table(conn, d, schema, rules, &mut report.problems).await?;

        let gaps = self.coverage(conn, rules, schema).await?;
        let gap_check = match rules.settings.coverage {
            Coverage::Strict => &mut report.problems,
            Coverage::Report => &mut report.warnings,
        };
        gap_check.extend(
            gaps.lines()
                .into_iter()
                .map(|l| Issue::new(Check::Coverage, l)),
        );
        report.coverage_gaps = CoverageGaps::from(&gaps);

        match mysql_in_place_guards(conn, &plans).await {
            Ok(lines) => report.warnings.extend(lines.into_iter().map(in_place)),
            Err(MaskError::Schema { problems }) => {
                report.warnings.extend(problems.into_iter().map(in_place));
            }
            Err(e) => return Err(e),
        }

        let mut samples = Vec::new();
        let mut failed_samples = Vec::new();
        if opts.sample_rows > 0 {
            for p in plans
                .iter()
                .filter(|p| !p.columns.is_empty() && !p.rules.truncate)
            {
                match sample_table(conn, p, opts).await? {
                    Ok((s, unchanged)) => {
                        report
                            .warnings
                            .extend(unchanged_warnings(p, s.rows.len(), &unchanged));
                        samples.push(s);
                    }
                    Err(message) => failed_samples.push(FailedSample {
                        table: p.tref.clone(),
                        message,
                    }),
                }
            }
        }
        Ok(ReadOnlyFindings {
            plans,
            samples,
            failed_samples,
        })
    }

    /// Coverage as the in-place run reads it: bare names in `schema`, the
    /// other schemas the rules name qualified; the control schema left out.
    async fn coverage(
        &self,
        conn: &mut Conn,
        rules: &Rules,
        schema: &str,
    ) -> Result<Gaps, MaskError> {
        let label = |s: &str, t: &str| {
            if s == schema {
                t.to_string()
            } else {
                format!("{s}.{t}")
            }
        };
        let mut declared: BTreeMap<String, &TableRules> = BTreeMap::new();
        let mut schemas = BTreeSet::from([schema.to_string()]);
        for t in &rules.tables {
            if let Ok(r) = resolve_table(self.dialect, &t.name, Some(schema)) {
                declared.insert(label(&r.schema, &r.table), t);
                schemas.insert(r.schema);
            }
        }
        schemas.remove(self.control_schema());
        let mut live = Vec::new();
        for s in &schemas {
            live.extend(live_tables(conn, s, |t| label(s, t)).await?);
        }
        Ok(find_gaps(&live, &declared))
    }
}

fn engine_name(d: Dialect) -> &'static str {
    match d {
        Dialect::MySql => "MySQL",
        Dialect::Postgres => "PostgreSQL",
    }
}

fn in_place(line: String) -> Issue {
    Issue::new(Check::InPlaceGuard, format!("in place only: {line}"))
}

/// [`build_plan`] on the whole file (it collects every problem it can); when
/// it refuses, the plan of each table on its own, so the tables without
/// problems still get their pre-flight and samples.
async fn plan_every_table(
    conn: &mut Conn,
    d: Dialect,
    schema: &str,
    rules: &Rules,
    problems: &mut Vec<Issue>,
) -> Result<Vec<TablePlan>, MaskError> {
    let found = match build_plan(conn, d, Some(schema), rules).await {
        Ok(plans) => return Ok(plans),
        Err(MaskError::Schema { problems }) => problems,
        Err(e) => return Err(e),
    };
    problems.extend(found.into_iter().map(|p| Issue::new(Check::Plan, p)));
    let empty = Rules {
        tables: Vec::new(),
        hooks: Vec::new(),
        ..rules.clone()
    };
    let mut plans: Vec<TablePlan> = Vec::new();
    for t in &rules.tables {
        let one = Rules {
            tables: vec![t.clone()],
            ..empty.clone()
        };
        match build_plan(conn, d, Some(schema), &one).await {
            Ok(found) => {
                for p in found {
                    if !plans.iter().any(|q| q.tref == p.tref) {
                        plans.push(p);
                    }
                }
            }
            // Already reported by the whole-file plan.
            Err(MaskError::Schema { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(plans)
}

/// Where the rules declare a masked column of `p`.
pub(crate) fn column_origin(p: &TablePlan, column: &str) -> String {
    p.rules
        .columns
        .iter()
        .find(|c| c.column == column)
        .map_or_else(|| p.rules.origin.to_string(), |c| c.origin.to_string())
}

/// The run's pre-flight probes, compiled by [`compile_all`] (each in its own
/// rolled-back transaction). A table whose masking `UPDATE` is refused has
/// each column's expression compiled on its own, so the line names the
/// column. Returns the tables with a refused statement.
async fn preflight(
    conn: &mut Conn,
    d: Dialect,
    plans: &[TablePlan],
    problems: &mut Vec<Issue>,
) -> Result<BTreeSet<TableRef>, MaskError> {
    let mut failed = BTreeSet::new();
    for p in plans {
        let mut lines = Vec::new();
        if !p.columns.is_empty() {
            let sets = mask_sets(d, p);
            let update = update_probe(d, p, &sets, format!("{}: masking UPDATE", p.rules.origin));
            if let Some(table_lines) = refused(conn, &[update]).await? {
                let each: Vec<Probe> = p
                    .columns
                    .iter()
                    .zip(&sets)
                    .map(|(c, set)| {
                        let what = format!("{}: masking expression", column_origin(p, &c.name));
                        update_probe(d, p, std::slice::from_ref(set), what)
                    })
                    .collect();
                lines.extend(refused(conn, &each).await?.unwrap_or(table_lines));
            }
            let checks = verification_probes(d, p, &p.tref);
            lines.extend(refused(conn, &checks).await?.unwrap_or_default());
        }
        if let Some(cond) = &p.rules.delete_where {
            let delete = delete_probe(d, p, cond);
            lines.extend(refused(conn, &[delete]).await?.unwrap_or_default());
        }
        if !lines.is_empty() {
            failed.insert(p.tref.clone());
            problems.extend(lines.into_iter().map(|l| Issue::new(Check::Preflight, l)));
        }
    }
    let compiled: Vec<&TablePlan> = plans.iter().filter(|p| !failed.contains(&p.tref)).collect();
    let conflicts = check_conflicts_of(conn, compiled).await?;
    problems.extend(
        conflicts
            .into_iter()
            .map(|l| Issue::new(Check::Constraint, l)),
    );
    Ok(failed)
}

/// The problems of the refused probes, `None` when the server compiles them
/// all.
async fn refused(conn: &mut Conn, probes: &[Probe]) -> Result<Option<Vec<String>>, MaskError> {
    if probes.is_empty() {
        return Ok(None);
    }
    match compile_all(conn, probes).await {
        Ok(()) => Ok(None),
        Err(MaskError::Schema { problems }) => Ok(Some(problems)),
        Err(e) => Err(e),
    }
}
