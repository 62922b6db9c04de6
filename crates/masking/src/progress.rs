//! The step progress protocol shared by every kind of run.
//!
//! Every step of a run has a row in `<control>.table_progress` keyed by
//! `(run_id, step)`. A step's effect and the update of its row commit in one
//! transaction, with the row locked `FOR UPDATE` first, so a step (or a chunk
//! of a step) is applied exactly once across crashes, retries and racing
//! runners. [`run_in_chunks`] is that protocol for work ([`ChunkWork`])
//! applied to a table in chunks of its chunk key ([`crate::chunk_key`]):
//! integer ranges here, keyset and page chunks in [`crate::chunk_cursor`];
//! [`Clock`] decides when an invocation stops.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::chunk_checks::{self, Written};
use crate::chunk_cursor::{first_cursor, fits, run_keyset, run_pages};
use crate::chunk_key::ChunkKey;
use crate::chunk_sql::{Filter, int_range};
use crate::db::{Bind, Conn, Target, Val};
use crate::error::MaskError;
use crate::ledger::now_ms;
use crate::sql::{self, Dialect, TableRef, numbered};

/// The stored state of one step.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepState {
    /// Cursor of an integer-key chunked step.
    pub last_key: Option<i64>,
    /// Cursor of a keyset or page chunked step (JSON, see [`crate::chunk_cursor::Cursor`]).
    pub cursor: Option<String>,
    pub done: bool,
    pub rows: i64,
    pub chunks: i64,
    pub rows_before: Option<i64>,
    /// Shape violations counted in the chunks so far, per verifiable column
    /// (see [`crate::chunk_checks`]); `None` when not counted.
    pub violations: Option<String>,
}

/// `u64` view of a stored non-negative count.
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// `i64` view of a driver row count.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Run a transaction body; commit on success, roll back on error. The body
/// uses `?` on `sqlx::Error`; the result is `Result<_, MaskError>` with
/// `$ctx` as the error context.
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
                Err($crate::error::MaskError::Database {
                    context: $ctx,
                    source: e,
                })
            }
        }
    }};
}
pub(crate) use in_tx;

/// The progress rows of one run.
#[derive(Debug)]
pub(crate) struct ProgressLog<'a> {
    d: Dialect,
    run_id: &'a str,
    table: String,
}

impl<'a> ProgressLog<'a> {
    pub(crate) fn new(target: &Target, run_id: &'a str) -> Self {
        Self {
            d: target.dialect(),
            run_id,
            table: target.ctl("table_progress"),
        }
    }

    pub(crate) fn run_id(&self) -> &'a str {
        self.run_id
    }

    pub(crate) fn dialect(&self) -> Dialect {
        self.d
    }

    /// Every step row of the run.
    pub(crate) async fn load(
        &self,
        conn: &mut Conn,
    ) -> Result<HashMap<String, StepState>, MaskError> {
        let sql = format!(
            "SELECT step, last_key, done, rows_affected, chunks, rows_before, last_key_text, violations FROM {} WHERE run_id = ?",
            self.table
        );
        let rows = conn
            .rows(&numbered(self.d, &sql), &[Bind::Str(self.run_id)])
            .await
            .map_err(MaskError::db("reading run progress"))?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let cell = |i: usize| r.get(i).cloned().unwrap_or(Val::Null);
                Some((
                    cell(0).text()?,
                    StepState {
                        last_key: cell(1).int(),
                        done: cell(2).int().unwrap_or(0) != 0,
                        rows: cell(3).int().unwrap_or(0),
                        chunks: cell(4).int().unwrap_or(0),
                        rows_before: cell(5).int(),
                        cursor: cell(6).text(),
                        violations: cell(7).text(),
                    },
                ))
            })
            .collect())
    }

    /// Create the row of `step` unless it exists.
    pub(crate) async fn ensure_row(
        &self,
        conn: &mut Conn,
        step: &str,
        table: Option<&str>,
        start: &Start,
        rows_before: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        let cols = "(run_id, step, table_name, last_key, last_key_text, done, rows_affected, chunks, rows_before, updated_at_ms)";
        let sql = match self.d {
            Dialect::MySql => format!(
                "INSERT IGNORE INTO {} {cols} VALUES (?, ?, ?, ?, ?, 0, 0, 0, ?, ?)",
                self.table
            ),
            Dialect::Postgres => format!(
                "INSERT INTO {} {cols} VALUES ($1, $2, $3, $4, $5, 0, 0, 0, $6, $7) ON CONFLICT (run_id, step) DO NOTHING",
                self.table
            ),
        };
        let (last_key, cursor) = match start {
            Start::Whole => (None, None),
            Start::Int(k) => (Some(*k), None),
            Start::Cursor(c) => (None, Some(c.as_str())),
        };
        conn.execute(
            &sql,
            &[
                Bind::Str(self.run_id),
                Bind::Str(step),
                Bind::OptStr(table),
                Bind::OptI64(last_key),
                Bind::OptStr(cursor),
                Bind::OptI64(rows_before),
                Bind::I64(now_ms()),
            ],
        )
        .await
        .map(|_| ())
    }

    /// Lock the row of `step` (inside a transaction) and read it.
    pub(crate) async fn lock(&self, conn: &mut Conn, step: &str) -> Result<StepState, sqlx::Error> {
        let sql = format!(
            "SELECT last_key, done, rows_affected, chunks, last_key_text, violations FROM {} WHERE run_id = ? AND step = ? FOR UPDATE",
            self.table
        );
        let rows = conn
            .rows(
                &numbered(self.d, &sql),
                &[Bind::Str(self.run_id), Bind::Str(step)],
            )
            .await?;
        let r = rows.first().cloned().unwrap_or_default();
        let cell = |i: usize| r.get(i).cloned().unwrap_or(Val::Null);
        Ok(StepState {
            last_key: cell(0).int(),
            done: cell(1).int().unwrap_or(0) != 0,
            rows: cell(2).int().unwrap_or(0),
            chunks: cell(3).int().unwrap_or(0),
            rows_before: None,
            cursor: cell(4).text(),
            violations: cell(5).text(),
        })
    }

    /// Store the cursor and done flag of `step`, adding rows and chunks.
    pub(crate) async fn save(
        &self,
        conn: &mut Conn,
        step: &str,
        last_key: Option<i64>,
        done: bool,
        add_rows: i64,
        add_chunks: i64,
    ) -> Result<(), sqlx::Error> {
        let sql = format!(
            "UPDATE {} SET last_key = ?, done = ?, rows_affected = rows_affected + ?, chunks = chunks + ?, updated_at_ms = ? WHERE run_id = ? AND step = ?",
            self.table
        );
        conn.execute(
            &numbered(self.d, &sql),
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

    /// Record a chunk of `step` in one statement, inside the chunk's
    /// transaction with the row locked (`prog`): where the next chunk
    /// starts, the done flag, the rows and chunks added, and the shape
    /// violations counted in it added to those `prog` holds.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn save_chunk(
        &self,
        conn: &mut Conn,
        step: &str,
        prog: &StepState,
        at: &At<'_>,
        done: bool,
        written: &Written,
        add_chunks: i64,
    ) -> Result<(), sqlx::Error> {
        let (column, position) = match at {
            At::Key(k) => ("last_key", Bind::OptI64(*k)),
            At::Cursor(c) => ("last_key_text", Bind::Str(c)),
        };
        let violations = if written.violations.is_empty() {
            prog.violations.clone()
        } else {
            Some(chunk_checks::add(
                prog.violations.as_deref(),
                &written.violations,
            ))
        };
        let sql = format!(
            "UPDATE {} SET {column} = ?, done = ?, rows_affected = rows_affected + ?, chunks = chunks + ?, violations = ?, updated_at_ms = ? WHERE run_id = ? AND step = ?",
            self.table
        );
        conn.execute(
            &numbered(self.d, &sql),
            &[
                position,
                Bind::I64(i64::from(done)),
                Bind::I64(to_i64(written.rows)),
                Bind::I64(add_chunks),
                Bind::OptStr(violations.as_deref()),
                Bind::I64(now_ms()),
                Bind::Str(self.run_id),
                Bind::Str(step),
            ],
        )
        .await
        .map(|_| ())
    }

    /// Create the row of `step` if needed and mark it done (autocommit).
    pub(crate) async fn mark_done(&self, conn: &mut Conn, step: &str) -> Result<(), MaskError> {
        let ctx = format!("recording step {step}");
        self.ensure_row(conn, step, None, &Start::Whole, None)
            .await
            .map_err(MaskError::db(ctx.clone()))?;
        self.save(conn, step, None, true, 0, 0)
            .await
            .map_err(MaskError::db(ctx))
    }
}

/// Decides when an invocation stops: the deadline, or a test limit on chunks.
#[derive(Debug)]
pub(crate) struct Clock {
    deadline: Instant,
    stop_after: Option<u64>,
    /// Chunks committed by this invocation.
    pub chunks: u64,
    last_chunk: Duration,
}

impl Clock {
    pub(crate) fn new(deadline: Instant, stop_after: Option<u64>) -> Self {
        Self {
            deadline,
            stop_after,
            chunks: 0,
            last_chunk: Duration::ZERO,
        }
    }

    /// Stop when the next chunk would probably end after the deadline.
    pub(crate) fn should_stop(&self) -> bool {
        if self.stop_after.is_some_and(|n| self.chunks >= n) {
            return true;
        }
        Instant::now() + self.last_chunk >= self.deadline
    }

    /// Record a committed chunk that took `spent`.
    pub(crate) fn chunk_done(&mut self, spent: Duration) {
        self.chunks += 1;
        self.last_chunk = spent;
    }
}

/// What a chunk does to the rows it covers, inside the chunk's transaction.
/// Returns the rows written and the shape violations among them.
pub(crate) trait ChunkWork {
    /// Apply to the rows of `rows` (a condition on the source with its
    /// binds, the statement's only ones), or to all rows (`None`).
    async fn apply(&self, conn: &mut Conn, rows: Option<&Filter>) -> Result<Written, sqlx::Error>;
}

/// How the row of a step starts, when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Start {
    /// Not chunked (one statement, or not a table step).
    Whole,
    /// Integer chunks after this key.
    Int(i64),
    /// Keyset or page chunks from this cursor (JSON).
    Cursor(String),
}

/// Where the next chunk of a step starts, as stored.
#[derive(Debug)]
pub(crate) enum At<'a> {
    /// Integer chunks: after this key (`None`: not chunked).
    Key(Option<i64>),
    /// Keyset or page chunks: this cursor (JSON).
    Cursor(&'a str),
}

/// Work applied to a table, whole or in chunks of its chunk key.
#[derive(Debug)]
pub(crate) struct ChunkedStatement<'a, W> {
    /// Step id.
    pub step: &'a str,
    /// What the statement does, for logs and errors (e.g. `masking app.t`).
    pub what: String,
    /// The table whose keys drive the chunks (and whose rows are counted).
    pub source: &'a TableRef,
    /// How `source` is cut into chunks.
    pub key: &'a ChunkKey,
    /// The work writes the rows it reads (in place): page chunks skip the
    /// row versions earlier chunks wrote.
    pub rewrites_source: bool,
    /// Chunk when `source` has more rows than this.
    pub threshold: u64,
    /// Rows per chunk.
    pub chunk_size: u64,
    /// What each chunk does.
    pub work: W,
}

/// Apply `stmt` with the exactly-once chunk protocol. On the first visit the
/// step row records `COUNT(*)` of the source (`rows_before`) and, when
/// chunked, where the chunks start. Returns `false` when it stopped early
/// (deadline or test limit).
pub(crate) async fn run_in_chunks<W: ChunkWork>(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    stmt: &ChunkedStatement<'_, W>,
    clock: &mut Clock,
) -> Result<bool, MaskError> {
    let state = match log.load(conn).await?.remove(stmt.step) {
        Some(s) => s,
        None => first_visit(log, conn, stmt).await?,
    };
    if state.done {
        // Whatever chunks it was done by (a step done before a deploy
        // changed its chunk key is still done).
        return Ok(true);
    }
    match (stmt.key, &state.last_key, &state.cursor) {
        (_, None, None) => run_whole(log, conn, stmt, clock).await.map(|()| true),
        (ChunkKey::Int(pk), Some(_), None) => run_ranges(log, conn, stmt, pk, clock).await,
        (ChunkKey::Keyset(cols), None, Some(c)) if fits(stmt.key, c) => {
            run_keyset(log, conn, stmt, cols, clock).await
        }
        (ChunkKey::Pages, None, Some(c)) if fits(stmt.key, c) => {
            run_pages(log, conn, stmt, clock).await
        }
        _ => Err(MaskError::Schema {
            problems: vec![format!(
                "{}: its chunk key changed since the run started (the stored cursor of step {} does not fit chunks by {}); start a new run",
                stmt.source, stmt.step, stmt.key
            )],
        }),
    }
}

/// Count the source, decide whether to chunk, create the step row; returns
/// the stored state (a racing runner may have created it first).
async fn first_visit<W>(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    stmt: &ChunkedStatement<'_, W>,
) -> Result<StepState, MaskError> {
    let d = conn.dialect();
    let table = stmt.source.to_string();
    let rows_before = conn
        .scalar_i64(&sql::count_sql(d, stmt.source), &[])
        .await
        .map_err(MaskError::db(format!("counting rows of {table}")))?
        .unwrap_or(0);
    let start = if to_u64(rows_before) <= stmt.threshold {
        Start::Whole
    } else {
        match stmt.key {
            ChunkKey::Whole(_) => Start::Whole,
            ChunkKey::Int(pk) => Start::Int(
                conn.scalar_i64(&sql::min_key_sql(d, stmt.source, pk), &[])
                    .await
                    .map_err(MaskError::db(format!("reading the first key of {table}")))?
                    .unwrap_or(0),
            ),
            key => Start::Cursor(
                first_cursor(conn, stmt.source, key, rows_before, stmt.chunk_size)
                    .await?
                    .to_json(),
            ),
        }
    };
    log.ensure_row(conn, stmt.step, Some(&table), &start, Some(rows_before))
        .await
        .map_err(MaskError::db("creating progress"))?;
    if start != Start::Whole {
        tracing::info!(table = %table, rows_before, chunk_size = stmt.chunk_size, step = stmt.step, key = ?stmt.key, "working in chunks");
    }
    Ok(log.load(conn).await?.remove(stmt.step).unwrap_or_default())
}

async fn run_whole<W: ChunkWork>(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    stmt: &ChunkedStatement<'_, W>,
    clock: &mut Clock,
) -> Result<(), MaskError> {
    let t0 = Instant::now();
    in_tx!(conn, stmt.what.clone(), {
        let prog = log.lock(conn, stmt.step).await?;
        if !prog.done {
            let w = stmt.work.apply(conn, None).await?;
            log.save_chunk(conn, stmt.step, &prog, &At::Key(None), true, &w, 1)
                .await?;
        }
    })?;
    clock.chunk_done(t0.elapsed());
    Ok(())
}

async fn run_ranges<W: ChunkWork>(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    stmt: &ChunkedStatement<'_, W>,
    pk: &str,
    clock: &mut Clock,
) -> Result<bool, MaskError> {
    let d = conn.dialect();
    let bound = sql::next_chunk_bound_sql(d, stmt.source, pk, &d.placeholder(1), stmt.chunk_size);
    loop {
        if clock.should_stop() {
            return Ok(false);
        }
        let t0 = Instant::now();
        let finished = in_tx!(conn, format!("{} (a chunk)", stmt.what), {
            let prog = log.lock(conn, stmt.step).await?;
            match (prog.done, prog.last_key) {
                (true, _) | (false, None) => true,
                (false, Some(lo)) => match conn.scalar_i64(&bound, &[Bind::I64(lo)]).await? {
                    None => {
                        log.save(conn, stmt.step, Some(lo), true, 0, 0).await?;
                        true
                    }
                    Some(hi) => {
                        let rows = int_range(d, pk, lo, hi);
                        let w = stmt.work.apply(conn, Some(&rows)).await?;
                        let at = At::Key(Some(hi));
                        log.save_chunk(conn, stmt.step, &prog, &at, false, &w, 1)
                            .await?;
                        false
                    }
                },
            }
        })?;
        if finished {
            return Ok(true);
        }
        clock.chunk_done(t0.elapsed());
    }
}

/// Start a transaction whose body returns `Result<_, MaskError>`; finish it
/// with [`end_tx`].
pub(crate) async fn begin_tx(conn: &mut Conn, what: &str) -> Result<(), MaskError> {
    conn.begin()
        .await
        .map_err(MaskError::db(format!("starting a transaction for {what}")))
}

/// Commit when the body succeeded, roll back otherwise.
pub(crate) async fn end_tx<T>(
    conn: &mut Conn,
    body: Result<T, MaskError>,
    what: &str,
) -> Result<T, MaskError> {
    match body {
        Ok(v) => {
            conn.commit()
                .await
                .map_err(MaskError::db(format!("committing {what}")))?;
            Ok(v)
        }
        Err(e) => {
            conn.rollback().await;
            Err(e)
        }
    }
}
