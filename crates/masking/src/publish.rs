//! The `publish` and `purge` steps of a rewrite, and [`Target::check_places`].
//!
//! Publish is one atomic swap: the masked copy in `build` becomes `live`,
//! the previous live copy becomes `retired`.
//!
//! * PostgreSQL: one transaction drops the old retired schema, locks every
//!   live and build table `ACCESS EXCLUSIVE` in sorted order, renames the
//!   schemas (`live` → `retired`, `build` → `live`), grants, records the
//!   publication and marks the step done. A crash anywhere rolls all of it
//!   back.
//! * MySQL: the old retired tables are dropped, then ONE `RENAME TABLE`
//!   moves every base table of live to retired and every table of build to
//!   live. `RENAME` commits implicitly and cannot share a transaction with
//!   the progress row, so before renaming the step looks at the places:
//!   build holds the copied tables → not published yet; build holds none of
//!   them and live holds all → already published by an earlier attempt,
//!   only record it. Grants are on `live.*` and survive renames.

use std::time::Instant;

use serde::Serialize;

use crate::access::readers_of;
use crate::catalog::{place_exists, table_names};
use crate::db::{Conn, Target};
use crate::error::MaskError;
use crate::places::Publish;
use crate::progress::{ProgressLog, Start, begin_tx, end_tx};
use crate::publications::Publication;
use crate::report::PublishReport;
use crate::rewrite_sql::{lock_tables_sql, publish_moves, rename_tables_sql};
use crate::sql::{Dialect, TableRef, quote_ident};

/// Step id of the publish step.
pub(crate) const PUBLISH_STEP: &str = "publish";
/// Step id of the purge step.
pub(crate) const PURGE_STEP: &str = "purge";

/// What [`Target::check_places`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacesReport {
    /// Whether the live place exists.
    pub live_exists: bool,
    /// Base tables of quarantine.
    pub quarantine_tables: Vec<String>,
    /// Whether the build place exists (a rewrite in progress or failed).
    pub build_exists: bool,
    /// Whether the retired place exists.
    pub retired_exists: bool,
    /// Run whose copy is live, per the publication record.
    pub live_run: Option<String>,
    /// Run whose copy is retired, per the publication record.
    pub retired_run: Option<String>,
}

impl Target {
    /// Read-only checks to run before writing: the four places are valid and
    /// distinct; quarantine exists; no configured grantee (nor PUBLIC) can
    /// read quarantine or build. Reports which run is live and retired.
    /// Every problem found is named in one [`MaskError::Places`].
    pub async fn check_places(&self, publish: &Publish) -> Result<PlacesReport, MaskError> {
        publish.validate(self.dialect, &self.control_schema)?;
        self.ensure_publish_tables().await?;
        let mut conn = self.acquire().await?;
        let p = &publish.places;
        let mut problems = Vec::new();
        if !place_exists(&mut conn, &p.quarantine).await? {
            problems.push(format!(
                "the quarantine place `{}` does not exist",
                p.quarantine
            ));
        }
        problems.extend(readers_of(&mut conn, &p.quarantine, "quarantine", publish).await?);
        problems.extend(readers_of(&mut conn, &p.build, "build", publish).await?);
        if !problems.is_empty() {
            return Err(MaskError::Places(problems.join("; ")));
        }
        let record = self.read_publication(&mut conn, &p.live, false).await?;
        Ok(PlacesReport {
            live_exists: place_exists(&mut conn, &p.live).await?,
            quarantine_tables: table_names(&mut conn, &p.quarantine).await?,
            build_exists: place_exists(&mut conn, &p.build).await?,
            retired_exists: place_exists(&mut conn, &p.retired).await?,
            live_run: record.live_run,
            retired_run: record.retired_run,
        })
    }
}

/// Where the swap stands.
#[derive(Debug)]
enum SwapState {
    /// Build holds the copy: swap.
    Pending {
        live_tables: Vec<String>,
        build_tables: Vec<String>,
    },
    /// An earlier attempt swapped (MySQL renames commit on their own).
    Done { live_tables: Vec<String> },
}

async fn swap_state(
    conn: &mut Conn,
    publish: &Publish,
    copied: &[String],
) -> Result<SwapState, MaskError> {
    let p = &publish.places;
    let build_tables = table_names(conn, &p.build).await?;
    let live_tables = table_names(conn, &p.live).await?;
    let in_build = copied.iter().filter(|t| build_tables.contains(t)).count();
    if in_build == copied.len() {
        return Ok(SwapState::Pending {
            live_tables,
            build_tables,
        });
    }
    if in_build == 0 && copied.iter().all(|t| live_tables.contains(t)) {
        return Ok(SwapState::Done { live_tables });
    }
    Err(MaskError::Places(format!(
        "cannot publish: the build place `{}` holds {in_build} of the {} copied tables and the live place `{}` does not hold them all; the places were changed outside the engine",
        p.build,
        copied.len(),
        p.live
    )))
}

/// Inputs of the publish step.
#[derive(Debug)]
pub(crate) struct PublishStep<'a> {
    pub target: &'a Target,
    pub log: &'a ProgressLog<'a>,
    pub publish: &'a Publish,
    /// Tables copied into build.
    pub copied: &'a [String],
    /// Fault injection: fail right after the swap.
    pub fail_after_swap: bool,
}

/// Give the developer grants on live and, with `revoke_retired`, take them
/// back from retired (it kept the grants it had as live). Publish and
/// rollback both end with it.
pub(crate) async fn apply_grants(
    conn: &mut Conn,
    d: Dialect,
    publish: &Publish,
    revoke_retired: bool,
) -> Result<(), MaskError> {
    let p = &publish.places;
    for g in &publish.grants {
        let mut stmts = Vec::new();
        if revoke_retired {
            stmts.extend(g.revoke_sql(d, &p.retired)?);
        }
        stmts.extend(g.grant_sql(d, &p.live)?);
        for s in stmts {
            conn.raw(&s)
                .await
                .map_err(MaskError::db(format!("granting to {}", g.grantee)))?;
        }
    }
    Ok(())
}

fn injected_failure() -> MaskError {
    MaskError::Database {
        context: "publishing (RunOptions::fail_after_publish_swap)".into(),
        source: sqlx::Error::Io(std::io::Error::other(
            "injected failure right after the publish swap",
        )),
    }
}

/// The publication after this run's publish, given the one before.
fn after_publish(run_id: &str, before: &Publication) -> Publication {
    Publication {
        live_run: Some(run_id.to_string()),
        retired_run: if before.live_run.as_deref() == Some(run_id) {
            before.retired_run.clone()
        } else {
            before.live_run.clone()
        },
    }
}

impl PublishStep<'_> {
    /// Publish exactly once; returns what is live now.
    pub(crate) async fn run(&self, conn: &mut Conn) -> Result<PublishReport, MaskError> {
        let t0 = Instant::now();
        self.log
            .ensure_row(conn, PUBLISH_STEP, None, &Start::Whole, None)
            .await
            .map_err(MaskError::db("creating progress"))?;
        let (tables, publication) = match self.target.dialect() {
            Dialect::Postgres => {
                begin_tx(conn, "the publish").await?;
                let body = self.publish_pg(conn).await;
                end_tx(conn, body, "the publish").await?
            }
            Dialect::MySql => self.publish_mysql(conn).await?,
        };
        Ok(PublishReport {
            tables,
            live_run: publication.live_run.unwrap_or_default(),
            retired_run: publication.retired_run,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }

    async fn publish_pg(&self, conn: &mut Conn) -> Result<(Vec<String>, Publication), MaskError> {
        let p = &self.publish.places;
        let before = self.target.read_publication(conn, &p.live, true).await?;
        let prog = self
            .log
            .lock(conn, PUBLISH_STEP)
            .await
            .map_err(MaskError::db("locking progress"))?;
        if prog.done {
            return Ok((table_names(conn, &p.live).await?, before));
        }
        let tables = match swap_state(conn, self.publish, self.copied).await? {
            SwapState::Pending {
                live_tables,
                build_tables,
            } => {
                self.swap_schemas(conn, &live_tables, &build_tables).await?;
                build_tables
            }
            SwapState::Done { live_tables } => live_tables,
        };
        self.grant(conn).await?;
        if self.fail_after_swap {
            return Err(injected_failure());
        }
        self.record(conn, &before, tables.len()).await?;
        Ok((tables, after_publish(self.log.run_id(), &before)))
    }

    /// PostgreSQL: drop retired, lock, rename live → retired, build → live.
    async fn swap_schemas(
        &self,
        conn: &mut Conn,
        live_tables: &[String],
        build_tables: &[String],
    ) -> Result<(), MaskError> {
        let d = Dialect::Postgres;
        let p = &self.publish.places;
        let q = |s: &str| quote_ident(d, s);
        let at = |s: &str, names: &[String]| {
            names
                .iter()
                .map(|n| TableRef {
                    schema: s.to_string(),
                    table: n.clone(),
                })
                .collect::<Vec<_>>()
        };
        let mut locked = at(&p.live, live_tables);
        locked.extend(at(&p.build, build_tables));
        let live_exists = place_exists(conn, &p.live).await?;
        let mut stmts = vec![format!("DROP SCHEMA IF EXISTS {} CASCADE", q(&p.retired))];
        stmts.extend(lock_tables_sql(&locked));
        if live_exists {
            stmts.push(format!(
                "ALTER SCHEMA {} RENAME TO {}",
                q(&p.live),
                q(&p.retired)
            ));
        }
        stmts.push(format!(
            "ALTER SCHEMA {} RENAME TO {}",
            q(&p.build),
            q(&p.live)
        ));
        for s in &stmts {
            conn.raw(s)
                .await
                .map_err(MaskError::db(format!("publishing: {s}")))?;
        }
        Ok(())
    }

    async fn publish_mysql(
        &self,
        conn: &mut Conn,
    ) -> Result<(Vec<String>, Publication), MaskError> {
        let p = &self.publish.places;
        if self
            .log
            .load(conn)
            .await?
            .get(PUBLISH_STEP)
            .is_some_and(|s| s.done)
        {
            let now = self.target.read_publication(conn, &p.live, false).await?;
            return Ok((table_names(conn, &p.live).await?, now));
        }
        let tables = match swap_state(conn, self.publish, self.copied).await? {
            SwapState::Pending {
                live_tables,
                build_tables,
            } => {
                self.rename_mysql(conn, &live_tables, &build_tables).await?;
                build_tables
            }
            SwapState::Done { live_tables } => live_tables,
        };
        self.grant(conn).await?;
        if self.fail_after_swap {
            return Err(injected_failure());
        }
        begin_tx(conn, "recording the publish").await?;
        let body = async {
            let before = self.target.read_publication(conn, &p.live, true).await?;
            let prog = self
                .log
                .lock(conn, PUBLISH_STEP)
                .await
                .map_err(MaskError::db("locking progress"))?;
            if !prog.done {
                self.record(conn, &before, tables.len()).await?;
                return Ok(after_publish(self.log.run_id(), &before));
            }
            Ok(before)
        }
        .await;
        let publication = end_tx(conn, body, "recording the publish").await?;
        Ok((tables, publication))
    }

    /// MySQL: drop the old retired tables, then one atomic RENAME TABLE.
    async fn rename_mysql(
        &self,
        conn: &mut Conn,
        live_tables: &[String],
        build_tables: &[String],
    ) -> Result<(), MaskError> {
        let d = Dialect::MySql;
        let p = &self.publish.places;
        for place in [&p.live, &p.retired] {
            conn.raw(&format!(
                "CREATE DATABASE IF NOT EXISTS {}",
                quote_ident(d, place)
            ))
            .await
            .map_err(MaskError::db(format!("creating the place {place}")))?;
        }
        let old = table_names(conn, &p.retired).await?;
        if !old.is_empty() {
            let list = old
                .iter()
                .map(|n| {
                    TableRef {
                        schema: p.retired.clone(),
                        table: n.clone(),
                    }
                    .quoted(d)
                })
                .collect::<Vec<_>>()
                .join(", ");
            conn.raw(&format!("DROP TABLE IF EXISTS {list}"))
                .await
                .map_err(MaskError::db("dropping the old retired tables"))?;
        }
        let moves = publish_moves(&p.live, &p.retired, &p.build, live_tables, build_tables);
        conn.raw(&rename_tables_sql(&moves))
            .await
            .map_err(MaskError::db(
                "publishing with RENAME TABLE (tables with triggers cannot move between databases)",
            ))?;
        Ok(())
    }

    /// Grant the developer grants on live (PostgreSQL: and take them away
    /// from the retired copy, which kept the grants it had as live).
    async fn grant(&self, conn: &mut Conn) -> Result<(), MaskError> {
        let d = self.target.dialect();
        let retired_exists =
            d == Dialect::Postgres && place_exists(conn, &self.publish.places.retired).await?;
        apply_grants(conn, d, self.publish, retired_exists).await
    }

    /// Record the publication and mark the step done (inside the caller's
    /// transaction).
    async fn record(
        &self,
        conn: &mut Conn,
        before: &Publication,
        tables: usize,
    ) -> Result<(), MaskError> {
        let after = after_publish(self.log.run_id(), before);
        self.target
            .write_publication(conn, &self.publish.places.live, &after, tables)
            .await?;
        self.log
            .save(conn, PUBLISH_STEP, None, true, 0, 1)
            .await
            .map_err(MaskError::db("recording the publish"))
    }
}

/// MySQL: `SET FOREIGN_KEY_CHECKS = 0` for this session.
pub(crate) async fn fk_checks_off(conn: &mut Conn) -> Result<(), MaskError> {
    conn.raw("SET FOREIGN_KEY_CHECKS = 0")
        .await
        .map(|_| ())
        .map_err(MaskError::db("disabling foreign key checks"))
}

/// Empty the quarantine tables after a publish (PostgreSQL: one `TRUNCATE`
/// with the progress row; MySQL: `TRUNCATE` per table, at least once).
pub(crate) async fn purge_quarantine(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    quarantine: &str,
    copied: &[String],
) -> Result<(), MaskError> {
    let d = conn.dialect();
    let tables: Vec<String> = copied
        .iter()
        .map(|n| {
            TableRef {
                schema: quarantine.to_string(),
                table: n.clone(),
            }
            .quoted(d)
        })
        .collect();
    log.ensure_row(conn, PURGE_STEP, None, &Start::Whole, None)
        .await
        .map_err(MaskError::db("creating progress"))?;
    match d {
        Dialect::Postgres => {
            begin_tx(conn, "the purge").await?;
            let body = async {
                let prog = log
                    .lock(conn, PURGE_STEP)
                    .await
                    .map_err(MaskError::db("locking progress"))?;
                if !prog.done && !tables.is_empty() {
                    conn.raw(&format!("TRUNCATE TABLE {}", tables.join(", ")))
                        .await
                        .map_err(MaskError::db("purging quarantine"))?;
                }
                log.save(conn, PURGE_STEP, None, true, 0, 1)
                    .await
                    .map_err(MaskError::db("recording the purge"))
            }
            .await;
            end_tx(conn, body, "the purge").await
        }
        Dialect::MySql => {
            fk_checks_off(conn).await?;
            for t in &tables {
                conn.raw(&format!("TRUNCATE TABLE {t}"))
                    .await
                    .map_err(MaskError::db(format!("purging {t}")))?;
            }
            log.mark_done(conn, PURGE_STEP).await
        }
    }
}
