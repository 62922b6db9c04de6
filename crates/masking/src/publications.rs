//! The publish model's own control tables and the places lock.
//!
//! * `<control>.publications` (PK `live_place`): which run's copy is live
//!   and which is retired, written by publish and rollback.
//! * `<control>.publish_requests` (PK `request_id`): rollback requests, so
//!   that a repeated request id is a no-op reporting the first outcome.
//!
//! One rewrite, publish or rollback at a time per live place: a session lock
//! (PostgreSQL advisory lock, MySQL `GET_LOCK`) keyed by the live place name,
//! held for the whole invocation. MySQL DDL is not transactional, so this
//! lock (not row locks) is what keeps two invocations from rebuilding or
//! renaming at the same time.

use std::time::{Duration, Instant};

use crate::db::{Bind, Conn, Target, Val};
use crate::error::MaskError;
use crate::ledger::now_ms;
use crate::rules::fnv1a64;
use crate::sql::{Dialect, numbered, quote_ident};

/// Statements creating the publish control tables (in the control schema,
/// which [`Target::ensure_control_tables`] creates).
pub fn publish_ddl(d: Dialect, schema: &str) -> Vec<String> {
    let s = quote_ident(d, schema);
    let tail = match d {
        Dialect::MySql => " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        Dialect::Postgres => "",
    };
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.{} (\
             live_place VARCHAR(64) NOT NULL PRIMARY KEY, \
             live_run VARCHAR(255) NULL, \
             retired_run VARCHAR(255) NULL, \
             tables_published BIGINT NULL, \
             updated_at_ms BIGINT NOT NULL){tail}",
            quote_ident(d, "publications")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.{} (\
             request_id VARCHAR(255) NOT NULL PRIMARY KEY, \
             live_place VARCHAR(64) NOT NULL, \
             action VARCHAR(16) NOT NULL, \
             status VARCHAR(16) NOT NULL, \
             live_run VARCHAR(255) NULL, \
             retired_run VARCHAR(255) NULL, \
             tables_live BIGINT NULL, \
             updated_at_ms BIGINT NOT NULL){tail}",
            quote_ident(d, "publish_requests")
        ),
    ]
}

/// Which run's copy is live / retired for one live place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Publication {
    pub live_run: Option<String>,
    pub retired_run: Option<String>,
}

/// A stored rollback request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub live_place: String,
    pub status: String,
    pub after: Publication,
    pub tables_live: i64,
}

impl Target {
    /// Create the control tables and the publish control tables if absent.
    pub(crate) async fn ensure_publish_tables(&self) -> Result<(), MaskError> {
        self.ensure_control_tables().await?;
        let mut conn = self.acquire().await?;
        let ddl = publish_ddl(self.dialect, &self.control_schema);
        let res: Result<(), sqlx::Error> = async {
            if self.dialect == Dialect::Postgres {
                // Concurrent CREATE ... IF NOT EXISTS can collide in the catalog.
                conn.begin().await?;
                conn.raw("SELECT pg_advisory_xact_lock(7271993)").await?;
            }
            for s in &ddl {
                conn.raw(s).await?;
            }
            if self.dialect == Dialect::Postgres {
                conn.commit().await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = res {
            conn.rollback().await;
            return Err(MaskError::Database {
                context: "creating the publish control tables".into(),
                source: e,
            });
        }
        Ok(())
    }

    /// Read the publication record of `live` (locked when `for_update`).
    pub(crate) async fn read_publication(
        &self,
        conn: &mut Conn,
        live: &str,
        for_update: bool,
    ) -> Result<Publication, MaskError> {
        let lock = if for_update { " FOR UPDATE" } else { "" };
        let sql = format!(
            "SELECT live_run, retired_run FROM {} WHERE live_place = ?{lock}",
            self.ctl("publications")
        );
        let rows = conn
            .rows(&numbered(self.dialect, &sql), &[Bind::Str(live)])
            .await
            .map_err(MaskError::db("reading the publication record"))?;
        Ok(rows
            .first()
            .map(|r| Publication {
                live_run: r.first().and_then(Val::text),
                retired_run: r.get(1).and_then(Val::text),
            })
            .unwrap_or_default())
    }

    /// Upsert the publication record of `live`.
    pub(crate) async fn write_publication(
        &self,
        conn: &mut Conn,
        live: &str,
        p: &Publication,
        tables: usize,
    ) -> Result<(), MaskError> {
        let t = self.ctl("publications");
        let cols = "(live_place, live_run, retired_run, tables_published, updated_at_ms)";
        let sql = match self.dialect {
            Dialect::MySql => format!(
                "INSERT INTO {t} {cols} VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                 live_run = VALUES(live_run), retired_run = VALUES(retired_run), \
                 tables_published = VALUES(tables_published), updated_at_ms = VALUES(updated_at_ms)"
            ),
            Dialect::Postgres => format!(
                "INSERT INTO {t} {cols} VALUES ($1, $2, $3, $4, $5) ON CONFLICT (live_place) DO UPDATE SET \
                 live_run = EXCLUDED.live_run, retired_run = EXCLUDED.retired_run, \
                 tables_published = EXCLUDED.tables_published, updated_at_ms = EXCLUDED.updated_at_ms"
            ),
        };
        conn.execute(
            &sql,
            &[
                Bind::Str(live),
                Bind::OptStr(p.live_run.as_deref()),
                Bind::OptStr(p.retired_run.as_deref()),
                Bind::I64(i64::try_from(tables).unwrap_or(i64::MAX)),
                Bind::I64(now_ms()),
            ],
        )
        .await
        .map(|_| ())
        .map_err(MaskError::db("recording the publication"))
    }

    /// The stored rollback request `request_id`, if any.
    pub(crate) async fn read_request(
        &self,
        conn: &mut Conn,
        request_id: &str,
    ) -> Result<Option<Request>, MaskError> {
        let sql = format!(
            "SELECT live_place, status, live_run, retired_run, tables_live FROM {} WHERE request_id = ?",
            self.ctl("publish_requests")
        );
        let rows = conn
            .rows(&numbered(self.dialect, &sql), &[Bind::Str(request_id)])
            .await
            .map_err(MaskError::db("reading the rollback request"))?;
        Ok(rows.first().map(|r| {
            let cell = |i: usize| r.get(i).and_then(Val::text);
            Request {
                live_place: cell(0).unwrap_or_default(),
                status: cell(1).unwrap_or_default(),
                after: Publication {
                    live_run: cell(2),
                    retired_run: cell(3),
                },
                tables_live: r.get(4).and_then(Val::int).unwrap_or(0),
            }
        }))
    }

    /// Insert or update the rollback request `request_id`.
    pub(crate) async fn write_request(
        &self,
        conn: &mut Conn,
        request_id: &str,
        req: &Request,
    ) -> Result<(), MaskError> {
        let t = self.ctl("publish_requests");
        let cols = "(request_id, live_place, action, status, live_run, retired_run, tables_live, updated_at_ms)";
        let sql = match self.dialect {
            Dialect::MySql => format!(
                "INSERT INTO {t} {cols} VALUES (?, ?, 'rollback', ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                 status = VALUES(status), tables_live = VALUES(tables_live), updated_at_ms = VALUES(updated_at_ms)"
            ),
            Dialect::Postgres => format!(
                "INSERT INTO {t} {cols} VALUES ($1, $2, 'rollback', $3, $4, $5, $6, $7) ON CONFLICT (request_id) DO UPDATE SET \
                 status = EXCLUDED.status, tables_live = EXCLUDED.tables_live, updated_at_ms = EXCLUDED.updated_at_ms"
            ),
        };
        conn.execute(
            &sql,
            &[
                Bind::Str(request_id),
                Bind::Str(&req.live_place),
                Bind::Str(&req.status),
                Bind::OptStr(req.after.live_run.as_deref()),
                Bind::OptStr(req.after.retired_run.as_deref()),
                Bind::I64(req.tables_live),
                Bind::I64(now_ms()),
            ],
        )
        .await
        .map(|_| ())
        .map_err(MaskError::db("recording the rollback request"))
    }
}

/// Name (MySQL) and key (PostgreSQL) of the lock of a live place.
fn lock_key(live: &str) -> (String, i64) {
    let hex = fnv1a64(format!("dms-refresh places {live}").as_bytes());
    let key = u64::from_str_radix(&hex, 16).unwrap_or(0);
    (
        format!("dmsr-places-{hex}"),
        i64::from_be_bytes(key.to_be_bytes()),
    )
}

/// Take the lock of the live place `live` on this session, waiting until
/// `until`. Returns `false` when another session still holds it then.
pub(crate) async fn lock_places(
    conn: &mut Conn,
    live: &str,
    until: Instant,
) -> Result<bool, MaskError> {
    let (name, key) = lock_key(live);
    loop {
        let got = match conn.dialect() {
            Dialect::MySql => {
                conn.scalar_i64("SELECT GET_LOCK(?, 0)", &[Bind::Str(&name)])
                    .await
            }
            Dialect::Postgres => {
                conn.scalar_i64(
                    "SELECT CASE WHEN pg_try_advisory_lock($1) THEN 1 ELSE 0 END",
                    &[Bind::I64(key)],
                )
                .await
            }
        }
        .map_err(MaskError::db("taking the places lock"))?;
        if got == Some(1) {
            return Ok(true);
        }
        if Instant::now() >= until {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Release the lock of `live` (best effort; closing the session releases it too).
pub(crate) async fn unlock_places(conn: &mut Conn, live: &str) {
    let (name, key) = lock_key(live);
    let _ = match conn.dialect() {
        Dialect::MySql => {
            conn.execute("DO RELEASE_LOCK(?)", &[Bind::Str(&name)])
                .await
        }
        Dialect::Postgres => {
            conn.execute("SELECT pg_advisory_unlock($1)", &[Bind::I64(key)])
                .await
        }
    };
}

/// The error of an invocation that could not take the places lock in time
/// (transient: retry later).
pub(crate) fn places_busy(live: &str) -> MaskError {
    MaskError::Database {
        context: format!("waiting for the lock of the places of `{live}`"),
        source: sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "another rewrite, publish or rollback of these places is running",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_short() {
        let (name, key) = lock_key("app");
        assert_eq!(lock_key("app"), (name.clone(), key));
        assert_ne!(lock_key("app2").1, key);
        assert!(name.len() <= 64, "{name}");
    }
}
