//! What a run reports: serialisable, no row data, no salt.

use serde::Serialize;

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
    /// Rows removed by `delete_where` / `truncate` (None without action);
    /// for a rewrite, rows of quarantine not copied.
    pub rows_deleted: Option<u64>,
    /// Rewrite: rows written into the build copy (masked or as they are).
    /// None for in-place runs.
    pub rows_copied: Option<u64>,
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
    /// Masking updates (all chunks), or the masked copies of a rewrite.
    pub mask_seconds: f64,
    /// Rewrite: `prepare`, `index:*` and `constraints` steps.
    pub build_seconds: f64,
    /// Hooks.
    pub hook_seconds: f64,
    /// Verification.
    pub verify_seconds: f64,
    /// Rewrite: `publish` and `purge` steps.
    pub publish_seconds: f64,
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
    /// Rewrite: what the `publish` step published (also when an earlier
    /// invocation of the run published it). `None` for in-place runs.
    pub published: Option<PublishReport>,
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

/// What a publish did (no row data).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishReport {
    /// Tables now in the live place.
    pub tables: Vec<String>,
    /// Run whose copy is live.
    pub live_run: String,
    /// Run whose copy is retired (None when there was no previous copy, or
    /// it was published outside the engine).
    pub retired_run: Option<String>,
    /// Seconds the publish step took (0 when reported from an earlier
    /// invocation).
    pub seconds: f64,
}
