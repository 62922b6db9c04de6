//! Keyset and page chunks: the cursor stored in the progress row
//! (`table_progress.last_key_text`) and the loops that advance it, with the
//! protocol of [`crate::progress`]: each chunk locks the step row
//! `FOR UPDATE`, reads the cursor, finds its bound, applies the work, stores
//! the new cursor and counts, and commits, in one transaction.
//!
//! * **Keyset** (any key but a single integer column): the cursor is the key
//!   of the last row of the last committed chunk, as text. The next chunk
//!   covers the rows after it up to the key of the `chunk_size`-th row after
//!   it; when fewer rows are left, the chunk goes to the end and the step is
//!   done in the same transaction.
//! * **Pages** (PostgreSQL without a usable key): the first visit fixes the
//!   table's page count `end`; chunks are page ranges `[next, next +
//!   per_chunk)` below `end` read by `ctid`. Rows never move on their own,
//!   so every row present at the first visit is in exactly one range. An
//!   in-place `UPDATE` writes each new row version wherever there is room
//!   (the same page, a page with free space, or a new page past `end`); a
//!   version landing in a range not yet read would be masked again, so the
//!   cursor keeps the ids of the transactions of the committed chunks and a
//!   chunk skips the row versions they wrote (`xmin`). The rewrite's copy
//!   reads quarantine and never writes it: it needs no such list.
//!   Positions hold only while the table keeps its storage: the cursor
//!   keeps the table's file node from the first visit, and a chunk that
//!   finds another one (the table was rewritten by `VACUUM FULL`,
//!   `CLUSTER`, a rewriting `ALTER TABLE` or `TRUNCATE`, which give every
//!   row a new position) fails the run permanently instead of guessing
//!   which rows were done.

use serde::{Deserialize, Serialize};
use std::time::Instant;

use crate::chunk_checks::Written;
use crate::chunk_key::{ChunkKey, KeyColumn};
use crate::chunk_sql::{
    CURRENT_XID_SQL, FILENODE_SQL, PAGES_SQL, keyset_bound, keyset_range, page_range, pages_ahead,
};
use crate::db::{Bind, Conn, Val};
use crate::error::MaskError;
use crate::progress::{At, ChunkWork, ChunkedStatement, Clock, ProgressLog, in_tx};
use crate::sql::{Dialect, TableRef};

/// The stored position of a keyset or page chunked step, as JSON in
/// `table_progress.last_key_text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Cursor {
    /// `{"keyset":{"key":["a","b"],"after":["7","x"]}}`: the key's columns,
    /// and the key (values as text) of the last row done; `null` before the
    /// first chunk.
    Keyset {
        key: Vec<String>,
        after: Option<Vec<String>>,
    },
    /// `{"pages":{"next":0,"end":2500,"per_chunk":250,"skip_xids":[],
    /// "filenode":"16391"}}`.
    Pages {
        /// First page of the next chunk.
        next: u64,
        /// Pages of the table at the first visit.
        end: u64,
        /// Pages per chunk.
        per_chunk: u64,
        /// In place: the transactions of the committed chunks.
        skip_xids: Vec<String>,
        /// The table's file node at the first visit (`None` in cursors
        /// stored before it was kept: not checked).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filenode: Option<String>,
    },
}

impl Cursor {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn parse(json: Option<&str>) -> Result<Cursor, sqlx::Error> {
        serde_json::from_str(json.unwrap_or("")).map_err(|e| {
            sqlx::Error::Decode(
                format!("the chunk cursor of the progress row is unreadable: {e}").into(),
            )
        })
    }
}

/// Whether a stored cursor was written for chunks by `key`: a run begun by
/// an earlier version may have stored a keyset cursor for a step this one
/// cuts by heap pages (or the other way round), or one for other key
/// columns. An unreadable cursor "fits": the chunk loop reports it as such.
pub(crate) fn fits(key: &ChunkKey, stored: &str) -> bool {
    match (Cursor::parse(Some(stored)), key) {
        (Err(_), _) => true,
        (
            Ok(Cursor::Keyset {
                key: names_then, ..
            }),
            ChunkKey::Keyset(cols),
        ) => names_then == names(cols),
        (Ok(Cursor::Pages { .. }), ChunkKey::Pages) => true,
        (Ok(_), _) => false,
    }
}

fn names(cols: &[KeyColumn]) -> Vec<String> {
    cols.iter().map(|c| c.name.clone()).collect()
}

/// Where the chunks of a keyset or page chunked step start.
pub(crate) async fn first_cursor(
    conn: &mut Conn,
    source: &TableRef,
    key: &ChunkKey,
    rows_before: i64,
    chunk_size: u64,
) -> Result<Cursor, MaskError> {
    Ok(match key {
        ChunkKey::Pages => {
            let end = conn
                .scalar_i64(PAGES_SQL, &[Bind::Str(&source.quoted(Dialect::Postgres))])
                .await
                .map_err(MaskError::db(format!("reading the size of {source}")))?
                .and_then(|p| u64::try_from(p).ok())
                .unwrap_or(0);
            let rows = u64::try_from(rows_before).unwrap_or(1).max(1);
            let filenode = filenode(conn, source)
                .await
                .map_err(MaskError::db(format!("reading the file node of {source}")))?;
            Cursor::Pages {
                next: 0,
                end,
                per_chunk: per_chunk(chunk_size, end, rows),
                skip_xids: Vec::new(),
                filenode,
            }
        }
        ChunkKey::Keyset(cols) => Cursor::Keyset {
            key: names(cols),
            after: None,
        },
        ChunkKey::Int(_) | ChunkKey::Whole(_) => {
            return Err(MaskError::Config(format!(
                "{source}: no cursor for an integer or whole-table step"
            )));
        }
    })
}

/// The file node of `table` (PostgreSQL), as text.
async fn filenode(conn: &mut Conn, table: &TableRef) -> Result<Option<String>, sqlx::Error> {
    let rows = conn
        .rows(FILENODE_SQL, &[Bind::Str(&table.quoted(Dialect::Postgres))])
        .await?;
    Ok(rows.first().and_then(|r| r.first()).and_then(Val::text))
}

/// Fails when `table` no longer has the file node `kept` at the first visit.
/// Called after a chunk's statement, whose lock keeps the table from being
/// rewritten until the chunk commits.
async fn check_filenode(
    conn: &mut Conn,
    table: &TableRef,
    kept: Option<&str>,
) -> Result<(), sqlx::Error> {
    let Some(kept) = kept else {
        return Ok(());
    };
    let now = filenode(conn, table).await?;
    if now.as_deref() == Some(kept) {
        return Ok(());
    }
    Err(sqlx::Error::Decode(
        format!(
            "{table} was rewritten since its chunks started (VACUUM FULL, CLUSTER, a rewriting ALTER TABLE or TRUNCATE): \
             the heap-page positions kept in the progress row no longer name the same rows, so the rest of the step \
             cannot tell which rows were done; reload the target (reload-target) and start a new run"
        )
        .into(),
    ))
}

/// Whether an in-place chunk that wrote `w` on pages `..to` of a step whose
/// pages end at `end` must be skipped by the later chunks: it wrote rows and
/// some of them landed on pages `to..end`, or it could not tell.
fn lands_ahead(w: &Written, to: u64, end: u64) -> bool {
    w.rows > 0 && to < end && w.ahead.is_none_or(|n| n > 0)
}

/// Pages per chunk for about `chunk_size` rows, at least one.
fn per_chunk(chunk_size: u64, pages: u64, rows: u64) -> u64 {
    let p = u128::from(chunk_size) * u128::from(pages);
    u64::try_from(p.div_ceil(u128::from(rows.max(1))))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Keyset chunks until the step is done (`true`) or the clock stops it.
pub(crate) async fn run_keyset<W: ChunkWork>(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    stmt: &ChunkedStatement<'_, W>,
    cols: &[KeyColumn],
    clock: &mut Clock,
) -> Result<bool, MaskError> {
    let d = conn.dialect();
    loop {
        if clock.should_stop() {
            return Ok(false);
        }
        let t0 = Instant::now();
        let finished = in_tx!(conn, format!("{} (a chunk)", stmt.what), {
            let prog = log.lock(conn, stmt.step).await?;
            if prog.done {
                true
            } else {
                // `run_in_chunks` checked the cursor `fits` these columns.
                let Cursor::Keyset { key, after } = Cursor::parse(prog.cursor.as_deref())? else {
                    return Err(sqlx::Error::Decode("not a keyset cursor".into()));
                };
                let bound = keyset_bound(d, stmt.source, cols, after.as_deref(), stmt.chunk_size);
                let upto = conn
                    .rows(&bound.cond, &bound.bind_refs())
                    .await?
                    .into_iter()
                    .next()
                    .map(|r| {
                        r.iter()
                            .map(|v| v.text().unwrap_or_default())
                            .collect::<Vec<_>>()
                    });
                let rows = keyset_range(d, cols, after.as_deref(), upto.as_deref());
                let w = stmt.work.apply(conn, Some(&rows)).await?;
                let last = upto.is_none();
                let cursor = Cursor::Keyset {
                    key,
                    after: upto.or(after),
                };
                let chunk = i64::from(!last || w.rows > 0);
                let at = At::Cursor(&cursor.to_json());
                log.save_chunk(conn, stmt.step, &prog, &at, last, &w, chunk)
                    .await?;
                last
            }
        })?;
        if finished {
            return Ok(true);
        }
        clock.chunk_done(t0.elapsed());
    }
}

/// Page chunks until the step is done (`true`) or the clock stops it.
pub(crate) async fn run_pages<W: ChunkWork>(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    stmt: &ChunkedStatement<'_, W>,
    clock: &mut Clock,
) -> Result<bool, MaskError> {
    loop {
        if clock.should_stop() {
            return Ok(false);
        }
        let t0 = Instant::now();
        let finished = in_tx!(conn, format!("{} (a chunk)", stmt.what), {
            let prog = log.lock(conn, stmt.step).await?;
            if prog.done {
                true
            } else {
                let Cursor::Pages {
                    next,
                    end,
                    per_chunk,
                    mut skip_xids,
                    filenode,
                } = Cursor::parse(prog.cursor.as_deref())?
                else {
                    return Err(sqlx::Error::Decode("not a page cursor".into()));
                };
                let to = next.saturating_add(per_chunk.max(1)).min(end);
                let mut w = Written::default();
                if next < end {
                    let mut rows = page_range(next, to, &skip_xids);
                    if stmt.rewrites_source {
                        rows.ahead = pages_ahead(to, end);
                    }
                    w = stmt.work.apply(conn, Some(&rows)).await?;
                    check_filenode(conn, stmt.source, filenode.as_deref()).await?;
                    if stmt.rewrites_source && lands_ahead(&w, to, end) {
                        let xid = conn.rows(CURRENT_XID_SQL, &[]).await?;
                        if let Some(x) = xid.first().and_then(|r| r.first()).and_then(Val::text) {
                            skip_xids.push(x);
                        }
                    }
                }
                let last = to >= end;
                let cursor = Cursor::Pages {
                    next: to.max(next),
                    end,
                    per_chunk,
                    skip_xids,
                    filenode,
                };
                let chunk = i64::from(next < end);
                let at = At::Cursor(&cursor.to_json());
                log.save_chunk(conn, stmt.step, &prog, &at, last, &w, chunk)
                    .await?;
                last
            }
        })?;
        if finished {
            return Ok(true);
        }
        clock.chunk_done(t0.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_stored_as_json() {
        let k = Cursor::Keyset {
            key: vec!["a".into(), "b".into()],
            after: Some(vec!["7".into(), "x\"y".into()]),
        };
        assert_eq!(
            k.to_json(),
            r#"{"keyset":{"key":["a","b"],"after":["7","x\"y"]}}"#
        );
        assert_eq!(Cursor::parse(Some(&k.to_json())).unwrap(), k);
        let start = Cursor::Keyset {
            key: vec!["id".into()],
            after: None,
        };
        assert_eq!(start.to_json(), r#"{"keyset":{"key":["id"],"after":null}}"#);
        let p = Cursor::Pages {
            next: 0,
            end: 2500,
            per_chunk: 250,
            skip_xids: vec!["731".into()],
            filenode: Some("16391".into()),
        };
        assert_eq!(
            p.to_json(),
            r#"{"pages":{"next":0,"end":2500,"per_chunk":250,"skip_xids":["731"],"filenode":"16391"}}"#
        );
        assert_eq!(Cursor::parse(Some(&p.to_json())).unwrap(), p);
        let before_filenodes = r#"{"pages":{"next":0,"end":2500,"per_chunk":250,"skip_xids":[]}}"#;
        assert!(matches!(
            Cursor::parse(Some(before_filenodes)).unwrap(),
            Cursor::Pages { filenode: None, .. }
        ));
        assert!(Cursor::parse(Some("[\"7\"]")).is_err());
        assert!(Cursor::parse(None).is_err());
    }

    #[test]
    fn a_stored_cursor_fits_only_the_chunks_it_was_written_for() {
        let col = |name: &str| KeyColumn {
            name: name.into(),
            value: crate::chunk_key::KeyValue::Text,
        };
        let by_code = ChunkKey::Keyset(vec![col("code")]);
        let keyset = r#"{"keyset":{"key":["code"],"after":null}}"#;
        let pages = r#"{"pages":{"next":0,"end":25,"per_chunk":5,"skip_xids":[]}}"#;
        assert!(fits(&by_code, keyset));
        assert!(!fits(&ChunkKey::Keyset(vec![col("alt")]), keyset));
        assert!(!fits(&ChunkKey::Pages, keyset));
        assert!(fits(&ChunkKey::Pages, pages));
        assert!(!fits(&by_code, pages));
        // Left to the chunk loop, which says it is unreadable.
        assert!(fits(&ChunkKey::Pages, "[\"7\"]"));
    }

    #[test]
    fn pages_per_chunk() {
        assert_eq!(per_chunk(200_000, 25_000, 2_000_000), 2_500);
        assert_eq!(per_chunk(10, 3, 1_000), 1);
        assert_eq!(per_chunk(1_000, 7, 1_000), 7);
        assert_eq!(per_chunk(5, 0, 0), 1);
    }

    #[test]
    fn only_chunks_that_wrote_ahead_are_skipped() {
        let w = |rows, ahead| Written {
            rows,
            violations: Vec::new(),
            ahead,
        };
        assert!(!lands_ahead(&w(100, Some(0)), 10, 20), "all at the end");
        assert!(lands_ahead(&w(100, Some(1)), 10, 20), "one on a later page");
        assert!(lands_ahead(&w(100, None), 10, 20), "not counted");
        assert!(!lands_ahead(&w(0, None), 10, 20), "wrote nothing");
        assert!(!lands_ahead(&w(100, None), 20, 20), "the last chunk");
    }
}
