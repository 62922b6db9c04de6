//! [`Target::rollback`]: swap the retired copy back into live (and live into
//! retired), idempotent per request id.
//!
//! * PostgreSQL: one transaction locks the live and retired tables, renames
//!   the schemas in a cycle through a temporary name, re-grants, updates the
//!   publication record and stores the request as done.
//! * MySQL: one `RENAME TABLE` moves the tables through the (empty) build
//!   place. `RENAME` commits on its own, so the request is first stored as
//!   `started` next to a marker table in the control database, and the same
//!   `RENAME` renames the marker (`rb_<id>_a` → `rb_<id>_b`): after a crash,
//!   a retry with the same request id knows from the marker whether the
//!   swap happened.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::catalog::{place_exists, table_names};
use crate::db::{Conn, Target};
use crate::error::MaskError;
use crate::places::Publish;
use crate::progress::{begin_tx, end_tx};
use crate::publications::{Publication, Request, lock_places, places_busy, unlock_places};
use crate::rewrite_sql::{lock_tables_sql, rename_tables_sql, rollback_moves};
use crate::rules::fnv1a64;
use crate::sql::{Dialect, TableRef, quote_ident};

/// How long a rollback waits for a running rewrite of the same places.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// What a rollback did (or, for a repeated request id, did the first time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackReport {
    /// The request id.
    pub request_id: String,
    /// `true` when the request id had been handled before (nothing done now).
    pub repeated: bool,
    /// Run whose copy is live after the rollback.
    pub live_run: Option<String>,
    /// Run whose copy is retired after the rollback.
    pub retired_run: Option<String>,
    /// Number of tables in live after the rollback.
    pub tables_live: u64,
    /// Seconds this call took.
    pub seconds: f64,
}

fn check_request_id(v: &str) -> Result<(), MaskError> {
    if v.is_empty() || v.chars().count() > 255 || v.chars().any(|c| c.is_control()) {
        return Err(MaskError::Config(
            "rollback request id must be 1..=255 printable characters".into(),
        ));
    }
    Ok(())
}

fn place_tables(place: &str, names: &[String]) -> Vec<TableRef> {
    names
        .iter()
        .map(|n| TableRef {
            schema: place.to_string(),
            table: n.clone(),
        })
        .collect()
}

/// A rollback in progress.
struct Rollback<'a> {
    target: &'a Target,
    publish: &'a Publish,
    request_id: &'a str,
}

impl Target {
    /// Swap the retired copy back into live (and live into retired)
    /// atomically and re-grant. A repeated `request_id` is a no-op that
    /// reports what the first call did. [`MaskError::Places`] when there is
    /// no retired copy (or, on MySQL, the build place is not empty).
    pub async fn rollback(
        &self,
        publish: &Publish,
        request_id: &str,
    ) -> Result<RollbackReport, MaskError> {
        check_request_id(request_id)?;
        publish.validate(self.dialect, &self.control_schema)?;
        self.ensure_publish_tables().await?;
        let t0 = Instant::now();
        let mut conn = self.acquire().await?;
        conn.close_on_drop();
        let live = &publish.places.live;
        if !lock_places(&mut conn, live, Instant::now() + LOCK_WAIT).await? {
            return Err(places_busy(live));
        }
        let rb = Rollback {
            target: self,
            publish,
            request_id,
        };
        let result = rb.run(&mut conn).await;
        unlock_places(&mut conn, live).await;
        result.map(|(repeated, req)| RollbackReport {
            request_id: request_id.to_string(),
            repeated,
            live_run: req.after.live_run,
            retired_run: req.after.retired_run,
            tables_live: u64::try_from(req.tables_live).unwrap_or(0),
            seconds: t0.elapsed().as_secs_f64(),
        })
    }
}

impl Rollback<'_> {
    /// Returns (repeated, the request as stored).
    async fn run(&self, conn: &mut Conn) -> Result<(bool, Request), MaskError> {
        let live = &self.publish.places.live;
        match self.target.read_request(conn, self.request_id).await? {
            Some(r) if &r.live_place != live => Err(MaskError::Config(format!(
                "rollback request id `{}` was used for the live place `{}`",
                self.request_id, r.live_place
            ))),
            Some(r) if r.status == "done" => Ok((true, r)),
            Some(r) => self.resume_mysql(conn, r).await.map(|r| (false, r)),
            None => match self.target.dialect() {
                Dialect::Postgres => {
                    begin_tx(conn, "the rollback").await?;
                    let body = self.swap_pg(conn).await;
                    end_tx(conn, body, "the rollback").await.map(|r| (false, r))
                }
                Dialect::MySql => self.swap_mysql(conn).await.map(|r| (false, r)),
            },
        }
    }

    /// Tables of live and retired; error when retired has none.
    async fn tables(&self, conn: &mut Conn) -> Result<(Vec<String>, Vec<String>), MaskError> {
        let p = &self.publish.places;
        let retired = table_names(conn, &p.retired).await?;
        if retired.is_empty() {
            return Err(MaskError::Places(format!(
                "nothing to roll back to: the retired place `{}` holds no tables",
                p.retired
            )));
        }
        Ok((table_names(conn, &p.live).await?, retired))
    }

    fn request(&self, status: &str, before: &Publication, tables_live: usize) -> Request {
        Request {
            live_place: self.publish.places.live.clone(),
            status: status.to_string(),
            after: Publication {
                live_run: before.retired_run.clone(),
                retired_run: before.live_run.clone(),
            },
            tables_live: i64::try_from(tables_live).unwrap_or(i64::MAX),
        }
    }

    async fn swap_pg(&self, conn: &mut Conn) -> Result<Request, MaskError> {
        let p = &self.publish.places;
        let before = self.target.read_publication(conn, &p.live, true).await?;
        let (live_tables, retired_tables) = self.tables(conn).await?;
        let mut locked = place_tables(&p.live, &live_tables);
        locked.extend(place_tables(&p.retired, &retired_tables));
        let q = |s: &str| quote_ident(Dialect::Postgres, s);
        let tmp = format!("dmsr_swap_{}", fnv1a64(self.request_id.as_bytes()));
        let mut stmts: Vec<String> = lock_tables_sql(&locked).into_iter().collect();
        if place_exists(conn, &p.live).await? {
            stmts.push(format!("ALTER SCHEMA {} RENAME TO {}", q(&p.live), q(&tmp)));
        }
        stmts.push(format!(
            "ALTER SCHEMA {} RENAME TO {}",
            q(&p.retired),
            q(&p.live)
        ));
        stmts.push(format!(
            "ALTER SCHEMA {} RENAME TO {}",
            q(&tmp),
            q(&p.retired)
        ));
        for s in &stmts {
            conn.raw(s)
                .await
                .map_err(MaskError::db(format!("rolling back: {s}")))?;
        }
        self.regrant(conn).await?;
        self.record(conn, self.request("done", &before, retired_tables.len()))
            .await
    }

    /// Marker tables of the MySQL rollback `request_id`: (before, after).
    fn markers(&self) -> (TableRef, TableRef) {
        let id = fnv1a64(self.request_id.as_bytes());
        let m = |s: &str| TableRef {
            schema: self.target.control_schema().to_string(),
            table: format!("rb_{id}_{s}"),
        };
        (m("a"), m("b"))
    }

    async fn swap_mysql(&self, conn: &mut Conn) -> Result<Request, MaskError> {
        let p = &self.publish.places;
        let before = self.target.read_publication(conn, &p.live, false).await?;
        let (_, retired_tables) = self.tables(conn).await?;
        let req = self.request("started", &before, retired_tables.len());
        let (a, _) = self.markers();
        conn.raw(&format!(
            "CREATE TABLE IF NOT EXISTS {} (x INT) ENGINE=InnoDB",
            a.quoted(Dialect::MySql)
        ))
        .await
        .map_err(MaskError::db("creating the rollback marker"))?;
        self.target
            .write_request(conn, self.request_id, &req)
            .await?;
        self.rename_mysql(conn).await?;
        self.finish_mysql(conn, req).await
    }

    /// MySQL: one RENAME TABLE through build, the marker renamed with it.
    async fn rename_mysql(&self, conn: &mut Conn) -> Result<(), MaskError> {
        let p = &self.publish.places;
        let (live_tables, retired_tables) = self.tables(conn).await?;
        let in_build = table_names(conn, &p.build).await?;
        if !in_build.is_empty() {
            return Err(MaskError::Places(format!(
                "the build place `{}` holds {} table(s) and a MySQL rollback moves tables through it: drop it or finish the rewrite first",
                p.build,
                in_build.len()
            )));
        }
        conn.raw(&format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            quote_ident(Dialect::MySql, &p.build)
        ))
        .await
        .map_err(MaskError::db("creating the build place"))?;
        let mut moves =
            rollback_moves(&p.live, &p.retired, &p.build, &live_tables, &retired_tables);
        let (a, b) = self.markers();
        moves.push((a, b));
        conn.raw(&rename_tables_sql(&moves))
            .await
            .map_err(MaskError::db(
                "rolling back with RENAME TABLE (tables with triggers cannot move between databases)",
            ))?;
        Ok(())
    }

    /// MySQL: a request stored as `started` by a call that did not finish.
    async fn resume_mysql(&self, conn: &mut Conn, req: Request) -> Result<Request, MaskError> {
        let (a, b) = self.markers();
        let control = self.target.control_schema();
        let names = table_names(conn, control).await?;
        if names.contains(&b.table) {
            return self.finish_mysql(conn, req).await;
        }
        if names.contains(&a.table) {
            self.rename_mysql(conn).await?;
            return self.finish_mysql(conn, req).await;
        }
        Err(MaskError::Places(format!(
            "rollback request `{}` was started but its marker table is gone; check the places by hand",
            self.request_id
        )))
    }

    async fn finish_mysql(&self, conn: &mut Conn, req: Request) -> Result<Request, MaskError> {
        self.regrant(conn).await?;
        begin_tx(conn, "recording the rollback").await?;
        let body = self
            .record(
                conn,
                Request {
                    status: "done".into(),
                    ..req
                },
            )
            .await;
        let done = end_tx(conn, body, "recording the rollback").await?;
        let (_, b) = self.markers();
        conn.raw(&format!(
            "DROP TABLE IF EXISTS {}",
            b.quoted(Dialect::MySql)
        ))
        .await
        .map_err(MaskError::db("dropping the rollback marker"))?;
        Ok(done)
    }

    /// Grant on the restored live copy; revoke on the one now retired.
    /// (MySQL `GRANT` commits implicitly: call it outside a transaction.)
    async fn regrant(&self, conn: &mut Conn) -> Result<(), MaskError> {
        crate::publish::apply_grants(conn, self.target.dialect(), self.publish, true).await
    }

    /// Record the publication and the request (inside the caller's
    /// transaction).
    async fn record(&self, conn: &mut Conn, req: Request) -> Result<Request, MaskError> {
        let p = &self.publish.places;
        self.target
            .write_publication(
                conn,
                &p.live,
                &req.after,
                usize::try_from(req.tables_live).unwrap_or(0),
            )
            .await?;
        self.target
            .write_request(conn, self.request_id, &req)
            .await?;
        Ok(req)
    }
}
