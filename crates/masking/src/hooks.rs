//! Post-refresh hooks (`sql`, `sync_sequences`, `enable_triggers`,
//! `enable_foreign_keys`), run as steps of a run.
//!
//! On PostgreSQL a hook and its progress row commit in one transaction
//! (exactly once); on MySQL DDL commits implicitly, so hooks are at least
//! once. A [`HookScope`] says where a hook acts: the connection's default
//! schema (in-place runs) or one place such as the `build` copy of a rewrite
//! (PostgreSQL `search_path`, MySQL `USE`; catalog-wide hooks restricted to
//! that schema).

use crate::db::{Conn, Val};
use crate::error::MaskError;
use crate::plan::resolve_table;
use crate::progress::{ProgressLog, Start};
use crate::rules::{HookKind, HookRule};
use crate::sql::{self, Dialect, TableRef, quote_ident, quote_literal};
use crate::verify::foreign_keys;

/// Where hooks act.
#[derive(Debug, Clone)]
pub(crate) struct HookScope {
    /// Schema (PostgreSQL) / database (MySQL) the hooks act in; `None` for
    /// the connection's default (in-place runs, PostgreSQL `public`).
    pub enter: Option<String>,
    /// A place name that the rules use to mean `enter` (the live place of a
    /// rewrite, whose tables are being built in `enter`).
    pub alias: Option<String>,
    /// The control schema, never touched by catalog-wide hooks.
    pub control: String,
}

/// The tables a hook may touch, resolved for one invocation.
#[derive(Debug)]
struct Reach<'a> {
    d: Dialect,
    default_schema: Option<String>,
    scope: &'a HookScope,
    /// Leave the control schema out (catalog-wide checks of a cutover).
    skip_control: bool,
}

impl Reach<'_> {
    /// Whether `t` is in the scope and in `tables` (all tables when `None`).
    fn covers(&self, t: &TableRef, tables: &Option<Vec<String>>) -> bool {
        if self.skip_control && t.schema == self.scope.control {
            return false;
        }
        if let Some(enter) = &self.scope.enter
            && &t.schema != enter
        {
            return false;
        }
        match tables {
            None => true,
            Some(list) => list.iter().any(|n| {
                resolve_table(self.d, n, self.default_schema.as_deref())
                    .map(|mut r| {
                        if self.scope.alias.as_ref() == Some(&r.schema)
                            && let Some(enter) = &self.scope.enter
                        {
                            r.schema.clone_from(enter);
                        }
                        r
                    })
                    .is_ok_and(|r| &r == t)
            }),
        }
    }
}

async fn current_schema(conn: &mut Conn) -> Result<Option<String>, sqlx::Error> {
    match conn.dialect() {
        Dialect::MySql => Ok(conn
            .rows("SELECT DATABASE()", &[])
            .await?
            .first()
            .and_then(|r| r.first())
            .and_then(Val::text)),
        Dialect::Postgres => Ok(Some("public".to_string())),
    }
}

/// Run hook `id` unless its progress row says it is done. A failed
/// `enable_foreign_keys` check is [`MaskError::Verification`].
pub(crate) async fn run_hook(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    id: &str,
    h: &HookRule,
    scope: &HookScope,
) -> Result<String, MaskError> {
    log.ensure_row(conn, id, None, &Start::Whole, None)
        .await
        .map_err(MaskError::db("creating progress"))?;
    let label = format!("{id} ({})", h.origin);
    let as_db_error = |e| MaskError::Database {
        context: format!("hook {label}"),
        source: e,
    };
    let outcome = match conn.dialect() {
        Dialect::Postgres => run_hook_in_tx(log, conn, id, h, scope)
            .await
            .map_err(as_db_error)?,
        Dialect::MySql => {
            // MySQL DDL commits implicitly: hooks are at-least-once.
            let res = hook_body(conn, h, scope).await.map_err(as_db_error)?;
            if res.is_ok() {
                log.save(conn, id, None, true, 0, 1)
                    .await
                    .map_err(MaskError::db("recording progress"))?;
            }
            res
        }
    };
    match outcome {
        Ok(note) => Ok(format!("{id}: {note}")),
        Err(failures) => Err(MaskError::Verification { failures }),
    }
}

/// PostgreSQL DDL is transactional: the hook and its progress row commit
/// together (exactly once). A failed check rolls back.
async fn run_hook_in_tx(
    log: &ProgressLog<'_>,
    conn: &mut Conn,
    id: &str,
    h: &HookRule,
    scope: &HookScope,
) -> Result<Result<String, Vec<String>>, sqlx::Error> {
    let r: Result<Result<String, Vec<String>>, sqlx::Error> = async {
        conn.begin().await?;
        let prog = log.lock(conn, id).await?;
        if prog.done {
            conn.commit().await?;
            return Ok(Ok(String::from("already done")));
        }
        let res = hook_body(conn, h, scope).await?;
        if res.is_ok() {
            log.save(conn, id, None, true, 0, 1).await?;
            conn.commit().await?;
        } else {
            conn.rollback().await;
        }
        Ok(res)
    }
    .await;
    if r.is_err() {
        conn.rollback().await;
    }
    r
}

/// Execute a hook. `Ok(Err(failures))` when `enable_foreign_keys` finds orphans.
async fn hook_body(
    conn: &mut Conn,
    h: &HookRule,
    scope: &HookScope,
) -> Result<Result<String, Vec<String>>, sqlx::Error> {
    let d = conn.dialect();
    let default_schema = match &scope.enter {
        Some(s) => {
            enter_schema(conn, s).await?;
            Some(s.clone())
        }
        None => current_schema(conn).await?,
    };
    let reach = Reach {
        d,
        default_schema,
        scope,
        skip_control: false,
    };
    match &h.kind {
        HookKind::Sql { statements } => {
            for s in statements {
                conn.raw(s).await?;
            }
            Ok(Ok(format!("{} statement(s)", statements.len())))
        }
        HookKind::SyncSequences { tables } => match d {
            Dialect::MySql => {
                tracing::info!(
                    "sync_sequences is a no-op on MySQL: InnoDB AUTO_INCREMENT already follows max(id)"
                );
                Ok(Ok("no-op on MySQL (AUTO_INCREMENT follows max(id))".into()))
            }
            Dialect::Postgres => {
                let n = sync_owned_sequences(conn, |t| {
                    t.schema != scope.control && reach.covers(t, tables)
                })
                .await?;
                Ok(Ok(format!("{n} sequence(s) set to max+1")))
            }
        },
        HookKind::EnableTriggers { tables } => match d {
            Dialect::MySql => {
                tracing::info!(
                    "enable_triggers is a no-op on MySQL: triggers cannot be disabled there"
                );
                Ok(Ok("no-op on MySQL (triggers cannot be disabled)".into()))
            }
            Dialect::Postgres => enable_pg_triggers(conn, &reach, tables).await.map(Ok),
        },
        HookKind::EnableForeignKeys { tables } => enable_foreign_keys(conn, &reach, tables).await,
    }
}

/// Make unqualified names in hook SQL refer to `schema`: PostgreSQL
/// `SET LOCAL search_path` (inside the hook's transaction), MySQL `USE`.
async fn enter_schema(conn: &mut Conn, schema: &str) -> Result<(), sqlx::Error> {
    let q = quote_ident(conn.dialect(), schema);
    let stmt = match conn.dialect() {
        Dialect::Postgres => format!("SET LOCAL search_path TO {q}"),
        Dialect::MySql => format!("USE {q}"),
    };
    conn.raw(&stmt).await.map(|_| ())
}

/// PostgreSQL: `setval` every sequence owned by a column (serial and
/// identity) of a table accepted by `keep` so that `nextval` returns
/// max+1 (the sequence's START for an empty table). Returns how many.
pub(crate) async fn sync_owned_sequences(
    conn: &mut Conn,
    keep: impl Fn(&TableRef) -> bool,
) -> Result<usize, sqlx::Error> {
    Ok(sync_owned_sequences_listed(conn, keep, false).await?.len())
}

/// [`sync_owned_sequences`], returning each sequence set with the value
/// its next `nextval` hands out. `never_back`: a sequence already past
/// max+1 keeps its own next value (a cutover sent again after the
/// application wrote must not hand out used ids).
pub(crate) async fn sync_owned_sequences_listed(
    conn: &mut Conn,
    keep: impl Fn(&TableRef) -> bool,
    never_back: bool,
) -> Result<Vec<(TableRef, i64)>, sqlx::Error> {
    let d = conn.dialect();
    let rows = conn
        .rows(
            "SELECT sn.nspname::text, s.relname::text, tn.nspname::text, t.relname::text, a.attname::text \
             FROM pg_class s JOIN pg_namespace sn ON sn.oid = s.relnamespace \
             JOIN pg_depend dep ON dep.objid = s.oid AND dep.classid = 'pg_class'::regclass \
               AND dep.refclassid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i') \
             JOIN pg_class t ON t.oid = dep.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = dep.refobjsubid \
             WHERE s.relkind = 'S' AND tn.nspname NOT IN ('pg_catalog', 'information_schema') \
             ORDER BY 1, 2",
            &[],
        )
        .await?;
    let mut set = Vec::new();
    for r in rows {
        let cell = |i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
        let seq = TableRef {
            schema: cell(0),
            table: cell(1),
        };
        let t = TableRef {
            schema: cell(2),
            table: cell(3),
        };
        if !keep(&t) {
            continue;
        }
        let col = quote_ident(d, &cell(4));
        let seq_lit = quote_literal(d, &seq.quoted(d));
        let mut target = format!(
            "COALESCE((SELECT MAX({col}) FROM {}) + 1, (SELECT seqstart FROM pg_sequence WHERE seqrelid = {seq_lit}::regclass))",
            t.quoted(d)
        );
        if never_back {
            target = format!(
                "GREATEST({target}, (SELECT CASE WHEN q.is_called THEN q.last_value + p.seqincrement \
                 ELSE q.last_value END FROM {} q, pg_sequence p WHERE p.seqrelid = {seq_lit}::regclass))",
                seq.quoted(d)
            );
        }
        let value = conn
            .scalar_i64(
                &format!("SELECT setval({seq_lit}::regclass, {target}, false)"),
                &[],
            )
            .await?
            .unwrap_or_default();
        set.push((seq, value));
    }
    Ok(set)
}

async fn enable_pg_triggers(
    conn: &mut Conn,
    reach: &Reach<'_>,
    tables: &Option<Vec<String>>,
) -> Result<String, sqlx::Error> {
    let n = alter_reached_tables(
        conn,
        reach,
        tables,
        "SELECT n.nspname::text, c.relname::text, bool_or(t.tgisinternal)::text \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE t.tgenabled = 'D' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         GROUP BY 1, 2 ORDER BY 1, 2",
        // Internal (foreign-key) triggers need ALL (superuser);
        // user triggers only need table ownership.
        |_, any_internal| {
            let which = if any_internal == "true" { "ALL" } else { "USER" };
            format!("ENABLE TRIGGER {which}")
        },
    )
    .await?;
    Ok(format!("triggers re-enabled on {n} table(s)"))
}

/// PostgreSQL: validate NOT VALID FK/check constraints. Returns how many.
async fn validate_pg_constraints(
    conn: &mut Conn,
    reach: &Reach<'_>,
    tables: &Option<Vec<String>>,
) -> Result<usize, sqlx::Error> {
    alter_reached_tables(
        conn,
        reach,
        tables,
        "SELECT n.nspname::text, c.relname::text, con.conname::text FROM pg_constraint con \
         JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT con.convalidated AND con.contype IN ('f', 'c') \
         AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3",
        |d, name| format!("VALIDATE CONSTRAINT {}", quote_ident(d, name)),
    )
    .await
}

/// Runs `ALTER TABLE <table> <action>` for each `(schema, table, detail)`
/// row of `catalog_sql` whose table the hook reaches; `action` gets the
/// dialect and the detail. Returns how many tables were altered.
async fn alter_reached_tables(
    conn: &mut Conn,
    reach: &Reach<'_>,
    tables: &Option<Vec<String>>,
    catalog_sql: &str,
    action: impl Fn(Dialect, &str) -> String,
) -> Result<usize, sqlx::Error> {
    let d = conn.dialect();
    let mut n = 0;
    for r in conn.rows(catalog_sql, &[]).await? {
        let cell = |i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
        let t = TableRef {
            schema: cell(0),
            table: cell(1),
        };
        if reach.covers(&t, tables) {
            let stmt = format!("ALTER TABLE {} {}", t.quoted(d), action(d, &cell(2)));
            conn.raw(&stmt).await?;
            n += 1;
        }
    }
    Ok(n)
}

async fn enable_foreign_keys(
    conn: &mut Conn,
    reach: &Reach<'_>,
    tables: &Option<Vec<String>>,
) -> Result<Result<String, Vec<String>>, sqlx::Error> {
    let validated = restore_constraint_checks(conn, reach, tables).await?;
    let (checked, orphans) = count_orphans(conn, reach, tables).await?;
    if !orphans.is_empty() {
        return Ok(Err(orphans));
    }
    Ok(Ok(format!(
        "{validated} constraint(s) validated, {checked} foreign key(s) resolve"
    )))
}

/// The checks of [`enable_foreign_keys`] over every schema but the control
/// one (on MySQL, the connection's database when it has one), orphans
/// first: a NOT VALID constraint is only validated once nothing dangles,
/// so orphans come back as a list rather than as the first failed VALIDATE.
pub(crate) async fn check_foreign_keys_outside_control(
    conn: &mut Conn,
    control: &str,
) -> Result<Result<String, Vec<String>>, sqlx::Error> {
    let d = conn.dialect();
    let scope = HookScope {
        enter: match d {
            Dialect::MySql => current_schema(conn).await?,
            Dialect::Postgres => None,
        },
        alias: None,
        control: control.to_string(),
    };
    let reach = Reach {
        d,
        default_schema: None,
        scope: &scope,
        skip_control: true,
    };
    let (checked, orphans) = count_orphans(conn, &reach, &None).await?;
    if !orphans.is_empty() {
        return Ok(Err(orphans));
    }
    let validated = restore_constraint_checks(conn, &reach, &None).await?;
    Ok(Ok(format!(
        "{validated} constraint(s) validated, {checked} foreign key(s) resolve"
    )))
}

/// Turn foreign-key enforcement back on for the session and, on
/// PostgreSQL, validate the NOT VALID constraints reached. Returns how
/// many were validated.
async fn restore_constraint_checks(
    conn: &mut Conn,
    reach: &Reach<'_>,
    tables: &Option<Vec<String>>,
) -> Result<usize, sqlx::Error> {
    match conn.dialect() {
        Dialect::MySql => {
            conn.raw("SET FOREIGN_KEY_CHECKS = 1").await?;
            Ok(0)
        }
        Dialect::Postgres => {
            conn.raw("RESET session_replication_role").await?;
            validate_pg_constraints(conn, reach, tables).await
        }
    }
}

/// How many reached foreign keys were checked, and one line per foreign key
/// with rows pointing at no parent.
async fn count_orphans(
    conn: &mut Conn,
    reach: &Reach<'_>,
    tables: &Option<Vec<String>>,
) -> Result<(usize, Vec<String>), sqlx::Error> {
    let d = conn.dialect();
    let mut orphans = Vec::new();
    let mut checked = 0;
    for fk in foreign_keys(conn).await? {
        if !(reach.covers(&fk.child, tables) || reach.covers(&fk.parent, tables)) {
            continue;
        }
        checked += 1;
        let n = conn
            .scalar_i64(&sql::orphan_count_sql(d, &fk), &[])
            .await?
            .unwrap_or(0);
        if n > 0 {
            orphans.push(format!("{} {}: {n} orphan row(s)", fk.child, fk.name));
        }
    }
    Ok((checked, orphans))
}
