//! The step progress protocol shared by every kind of run.
//!
//! Every step of a run has a row in `<control>.table_progress` keyed by
//! `(run_id, step)`. A step's effect and the update of its row commit in one
//! transaction, with the row locked `FOR UPDATE` first, so a step (or a chunk
//! of a step) is applied exactly once across crashes, retries and racing
//! runners. [`run_in_chunks`] is that protocol for work ([`ChunkWork`])
//! applied to a table in primary-key ranges; [`Clock`] decides when an invocation stops.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::db::{Bind, Conn, Target, Val};
use crate::error::MaskError;
use crate::ledger::now_ms;
use crate::sql::{self, Dialect, TableRef, numbered};

/// The stored state of one step.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepState {
    pub last_key: Option<i64>,
    pub done: bool,
    pub rows: i64,
    pub chunks: i64,
    pub rows_before: Option<i64>,
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

    /// Every step row of the run.
    pub(crate) async fn load(
        &self,
        conn: &mut Conn,
    ) -> Result<HashMap<String, StepState>, MaskError> {
        let sql = format!(
            "SELECT step, last_key, done, rows_affected, chunks, rows_before FROM {} WHERE run_id = ?",
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
        last_key: Option<i64>,
        rows_before: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        let cols = "(run_id, step, table_name, last_key, done, rows_affected, chunks, rows_before, updated_at_ms)";
        let sql = match self.d {
            Dialect::MySql => format!(
                "INSERT IGNORE INTO {} {cols} VALUES (?, ?, ?, ?, 0, 0, 0, ?, ?)",
                self.table
            ),
            Dialect::Postgres => format!(
                "INSERT INTO {} {cols} VALUES ($1, $2, $3, $4, 0, 0, 0, $5, $6) ON CONFLICT (run_id, step) DO NOTHING",
                self.table
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

    /// Lock the row of `step` (inside a transaction) and read it.
    pub(crate) async fn lock(&self, conn: &mut Conn, step: &str) -> Result<StepState, sqlx::Error> {
        let sql = format!(
            "SELECT last_key, done, rows_affected, chunks FROM {} WHERE run_id = ? AND step = ? FOR UPDATE",
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

    /// Create the row of `step` if needed and mark it done (autocommit).
    pub(crate) async fn mark_done(&self, conn: &mut Conn, step: &str) -> Result<(), MaskError> {
        let ctx = format!("recording step {step}");
        self.ensure_row(conn, step, None, None, None)
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

/// What a chunk does to the rows of its key range, inside the chunk's
/// transaction. Returns the rows written.
pub(crate) trait ChunkWork {
    /// Apply to the rows with `lo < key <= hi`, or to all rows (`None`).
    async fn apply(&self, conn: &mut Conn, range: Option<(i64, i64)>) -> Result<u64, sqlx::Error>;
}

/// One prepared statement for the whole table, another for a key range
/// (binds: `lo`, `hi`).
#[derive(Debug)]
pub(crate) struct BoundStatement {
    pub whole: String,
    pub ranged: String,
}

impl ChunkWork for BoundStatement {
    async fn apply(&self, conn: &mut Conn, range: Option<(i64, i64)>) -> Result<u64, sqlx::Error> {
        match range {
            None => conn.execute(&self.whole, &[]).await,
            Some((lo, hi)) => {
                conn.execute(&self.ranged, &[Bind::I64(lo), Bind::I64(hi)])
                    .await
            }
        }
    }
}

/// Work applied to a table, whole or in primary-key ranges.
#[derive(Debug)]
pub(crate) struct ChunkedStatement<'a, W> {
    /// Step id.
    pub step: &'a str,
    /// What the statement does, for logs and errors (e.g. `masking app.t`).
    pub what: String,
    /// The table whose keys drive the chunks (and whose rows are counted).
    pub source: &'a TableRef,
    /// Single-column integer key of `source`, if any.
    pub int_pk: Option<&'a str>,
    /// Chunk when `source` has more rows than this.
    pub threshold: u64,
    /// Rows per chunk.
    pub chunk_size: u64,
    /// What each chunk does.
    pub work: W,
}

/// Apply `stmt` with the exactly-once chunk protocol. On the first visit the
/// step row records `COUNT(*)` of the source (`rows_before`) and, when
/// chunked, the key below the first one. Returns `false` when it stopped
/// early (deadline or test limit).
pub(crate) async fn run_in_chunks<W: ChunkWork>(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    stmt: &ChunkedStatement<'_, W>,
    clock: &mut Clock,
) -> Result<bool, MaskError> {
    let existing = log.load(conn).await?.remove(stmt.step);
    let start_key = match existing {
        Some(e) => e.last_key,
        None => first_visit(log, conn, stmt).await?,
    };
    match (stmt.int_pk, start_key) {
        (Some(pk), Some(_)) => run_ranges(log, conn, stmt, pk, clock).await,
        _ => run_whole(log, conn, stmt, clock).await.map(|()| true),
    }
}

/// Count the source, decide whether to chunk, create the step row; returns
/// the start key when chunked.
async fn first_visit<W>(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    stmt: &ChunkedStatement<'_, W>,
) -> Result<Option<i64>, MaskError> {
    let d = conn.dialect();
    let table = stmt.source.to_string();
    let rows_before = conn
        .scalar_i64(&sql::count_sql(d, stmt.source), &[])
        .await
        .map_err(MaskError::db(format!("counting rows of {table}")))?
        .unwrap_or(0);
    let start = match stmt.int_pk {
        Some(pk) if to_u64(rows_before) > stmt.threshold => Some(
            conn.scalar_i64(&sql::min_key_sql(d, stmt.source, pk), &[])
                .await
                .map_err(MaskError::db(format!("reading the first key of {table}")))?
                .unwrap_or(0),
        ),
        _ => None,
    };
    log.ensure_row(conn, stmt.step, Some(&table), start, Some(rows_before))
        .await
        .map_err(MaskError::db("creating progress"))?;
    if start.is_some() {
        tracing::info!(table = %table, rows_before, chunk_size = stmt.chunk_size, step = stmt.step, "working in primary-key chunks");
    }
    // A racing runner may have created the row first: use what is stored.
    Ok(log
        .load(conn)
        .await?
        .get(stmt.step)
        .and_then(|e| e.last_key))
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
            let n = stmt.work.apply(conn, None).await?;
            log.save(conn, stmt.step, None, true, to_i64(n), 1).await?;
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
                        let n = stmt.work.apply(conn, Some((lo, hi))).await?;
                        log.save(conn, stmt.step, Some(hi), false, to_i64(n), 1)
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

/// Placeholders of the range bounds, the only binds of a ranged statement.
pub(crate) fn range_placeholders(d: Dialect) -> (String, String) {
    (d.placeholder(1), d.placeholder(2))
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
