//! The target-database side of an operator cutover: once replication has
//! stopped, bring the target's sequences up to the source's, put back the
//! triggers that a load start switched off, and check that every foreign
//! key resolves.
//!
//! Triggers: a load start records which user triggers were enabled (and
//! how: `O`, `A` or `R`) in the control table `recorded_triggers`, then
//! disables them; the cutover re-enables exactly those and forgets the
//! record. A trigger disabled on purpose before the load is never recorded,
//! so it stays disabled. MySQL/MariaDB triggers cannot be disabled: there
//! these steps only say so.

use crate::db::{Bind, Conn, Target, Val};
use crate::error::MaskError;
use crate::hooks;
use crate::ledger::now_ms;
use crate::sql::{Dialect, TableRef, quote_ident, quote_literal};

/// The value the next row of a sequence (or AUTO_INCREMENT table) gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceValue {
    /// Schema (PostgreSQL) or database (MySQL).
    pub schema: String,
    /// PostgreSQL sequence name, or MySQL table name (its AUTO_INCREMENT).
    pub name: String,
    /// What `nextval` (or the next insert) hands out.
    pub next_value: i64,
}

/// What a sequence step did.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct SequenceReport {
    /// `schema.name=value`: moved to `value`.
    pub set: Vec<String>,
    /// `schema.name=value (target next n)`: the target was already at or
    /// past the value, left as is.
    pub kept: Vec<String>,
    /// `schema.name`: on the source, not on the target.
    pub missing: Vec<String>,
    /// `from the source`, `max+1`, or why nothing was done.
    pub method: String,
}

/// What a trigger step did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct TriggerReport {
    /// `schema.table.trigger` acted on (or recorded, for a dry run).
    pub triggers: Vec<String>,
    /// Recorded, but the trigger no longer exists.
    pub missing: Vec<String>,
    /// Disabled on the target but not recorded: left alone.
    pub left_disabled: Vec<String>,
    /// Why nothing was done, when nothing could be (MySQL).
    pub note: Option<String>,
}

const MYSQL_TRIGGERS: &str = "no-op on MySQL/MariaDB: triggers cannot be disabled there, so none were recorded or re-enabled";
const MYSQL_MAX_PLUS_ONE: &str = "no-op on MySQL/MariaDB (InnoDB AUTO_INCREMENT follows max(id))";
const FROM_SOURCE: &str = "from the source";
const RECORD: &str = "recorded_triggers";

/// The same advisory lock as the control tables' creation: serialises the
/// record's DDL and its readers and writers.
const CONTROL_LOCK: &str = "SELECT pg_advisory_xact_lock(7271993)";

/// User triggers on tables and partitioned tables of every schema but the
/// system ones and the control one (`$1`): schema, table, trigger, mode.
/// `{state}` picks enabled (`<> 'D'`) or disabled (`= 'D'`) ones.
fn triggers_sql(state: &str) -> String {
    format!(
        "SELECT n.nspname::text, c.relname::text, t.tgname::text, t.tgenabled::text \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT t.tgisinternal AND t.tgenabled {state} 'D' AND c.relkind IN ('r', 'p') \
         AND n.nspname <> $1 AND left(n.nspname, 3) <> 'pg_' AND n.nspname <> 'information_schema' \
         ORDER BY 1, 2, 3"
    )
}

/// The record with whether each trigger still exists; clones on partitions
/// last, so that re-enabling a partitioned table's trigger (which reaches
/// its partitions) cannot overwrite a partition's own recorded mode.
fn record_sql(record: &str) -> String {
    format!(
        "SELECT r.schema_name, r.table_name, r.trigger_name, r.mode, \
         (t.oid IS NOT NULL)::int, \
         EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_trigger p ON p.tgrelid = i.inhparent \
           AND p.tgname = t.tgname WHERE i.inhrelid = t.tgrelid)::int AS clone \
         FROM {record} r LEFT JOIN (pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
           JOIN pg_namespace n ON n.oid = c.relnamespace) \
         ON n.nspname = r.schema_name AND c.relname = r.table_name \
           AND t.tgname = r.trigger_name AND NOT t.tgisinternal \
         ORDER BY clone, 1, 2, 3"
    )
}

/// PostgreSQL DDL of the record of triggers a load start disabled.
fn record_ddl(record: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {record} (\
         schema_name TEXT NOT NULL, \
         table_name TEXT NOT NULL, \
         trigger_name TEXT NOT NULL, \
         mode CHAR(1) NOT NULL, \
         recorded_at_ms BIGINT NOT NULL, \
         PRIMARY KEY (schema_name, table_name, trigger_name))"
    )
}

/// One PostgreSQL trigger with its `tgenabled` mode.
#[derive(Debug)]
struct Trigger {
    table: TableRef,
    name: String,
    mode: String,
}

impl Trigger {
    fn from_row(r: &[Val]) -> Trigger {
        let cell = |i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
        Trigger {
            table: TableRef {
                schema: cell(0),
                table: cell(1),
            },
            name: cell(2),
            mode: cell(3),
        }
    }

    fn label(&self) -> String {
        format!("{}.{}", self.table, self.name)
    }

    /// `ALTER TABLE ... ENABLE|DISABLE [ALWAYS|REPLICA] TRIGGER ...`.
    fn alter(&self, action: &str) -> String {
        let d = Dialect::Postgres;
        format!(
            "ALTER TABLE {} {action} TRIGGER {}",
            self.table.quoted(d),
            quote_ident(d, &self.name)
        )
    }

    /// The statement putting the trigger back in its recorded mode.
    fn restore(&self) -> String {
        self.alter(match self.mode.as_str() {
            "A" => "ENABLE ALWAYS",
            "R" => "ENABLE REPLICA",
            _ => "ENABLE",
        })
    }
}

/// Run `body` in a transaction holding the control lock; roll back if it fails.
async fn in_control_tx<T>(
    conn: &mut Conn,
    body: impl AsyncFnOnce(&mut Conn) -> Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error> {
    let r = async {
        conn.begin().await?;
        conn.raw(CONTROL_LOCK).await?;
        let out = body(&mut *conn).await?;
        conn.commit().await?;
        Ok(out)
    }
    .await;
    if r.is_err() {
        conn.rollback().await;
    }
    r
}

async fn pg_triggers(
    conn: &mut Conn,
    state: &str,
    control: &str,
) -> Result<Vec<Trigger>, sqlx::Error> {
    let rows = conn
        .rows(&triggers_sql(state), &[Bind::Str(control)])
        .await?;
    Ok(rows.iter().map(|r| Trigger::from_row(r)).collect())
}

/// Whether the record table exists (it is only created by a load start).
async fn record_exists(conn: &mut Conn, record: &str) -> Result<bool, sqlx::Error> {
    let rows = conn
        .rows("SELECT to_regclass($1)::text", &[Bind::Str(record)])
        .await?;
    Ok(rows
        .first()
        .and_then(|r| r.first())
        .and_then(Val::text)
        .is_some())
}

/// The recorded triggers, each with whether it still exists.
async fn read_record(conn: &mut Conn, record: &str) -> Result<Vec<(Trigger, bool)>, sqlx::Error> {
    let rows = conn.rows(&record_sql(record), &[]).await?;
    Ok(rows
        .iter()
        .map(|r| (Trigger::from_row(r), r.get(4).and_then(Val::int) == Some(1)))
        .collect())
}

/// MySQL: read live AUTO_INCREMENT values. MySQL 8 caches them in
/// information_schema for a day unless told otherwise; MariaDB and MySQL
/// 5.7 have no such setting (and always read live values), so a refusal
/// is expected there and ignored.
async fn fresh_table_stats(conn: &mut Conn) {
    if conn
        .raw("SET SESSION information_schema_stats_expiry = 0")
        .await
        .is_err()
    {
        tracing::debug!("no information_schema_stats_expiry: AUTO_INCREMENT values are live");
    }
}

impl Target {
    /// The next value of every sequence of this connection's database, read
    /// on a source connection: never creates a control table, never writes.
    /// PostgreSQL: the sequences of every non-system schema (except the
    /// control schema) that have been called at least once (an uncalled one
    /// has nothing to carry over; one this login may not read looks the same
    /// in `pg_sequences` and is left out too). MySQL: the non-null
    /// AUTO_INCREMENT of the tables of the connection's database.
    pub async fn source_sequences(&self) -> Result<Vec<SequenceValue>, MaskError> {
        let mut conn = self.acquire().await?;
        let (sql, bind) = match self.dialect {
            Dialect::Postgres => (
                "SELECT schemaname::text, sequencename::text, last_value, increment_by \
                 FROM pg_sequences WHERE last_value IS NOT NULL AND schemaname <> $1 \
                 AND left(schemaname, 3) <> 'pg_' AND schemaname <> 'information_schema' \
                 ORDER BY 1, 2",
                vec![Bind::Str(&self.control_schema)],
            ),
            Dialect::MySql => {
                fresh_table_stats(&mut conn).await;
                (
                    "SELECT TABLE_SCHEMA, TABLE_NAME, CAST(AUTO_INCREMENT AS SIGNED), 0 \
                     FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
                     AND TABLE_TYPE = 'BASE TABLE' AND AUTO_INCREMENT IS NOT NULL ORDER BY 1, 2",
                    vec![],
                )
            }
        };
        let rows = conn
            .rows(sql, &bind)
            .await
            .map_err(MaskError::db("reading the source's sequences"))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let int = |i: usize| r.get(i).and_then(Val::int);
                Some(SequenceValue {
                    schema: r.first().and_then(Val::text)?,
                    name: r.get(1).and_then(Val::text)?,
                    next_value: int(2)?.saturating_add(int(3)?),
                })
            })
            .collect())
    }

    /// At a load start (PostgreSQL), in one transaction: record every
    /// enabled user trigger outside the system and control schemas, then
    /// disable each. A trigger already recorded keeps its first record, so
    /// a second start adds to the record and never forgets what an earlier
    /// one disabled. Returns the triggers disabled now.
    pub async fn record_and_disable_triggers(&self) -> Result<TriggerReport, MaskError> {
        if self.dialect == Dialect::MySql {
            return Ok(mysql_trigger_note());
        }
        self.ensure_control_tables().await?;
        let record = self.ctl(RECORD);
        let insert = format!(
            "INSERT INTO {record} (schema_name, table_name, trigger_name, mode, recorded_at_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
        );
        let mut conn = self.acquire().await?;
        let disabled = in_control_tx(&mut conn, async |conn| {
            conn.raw(&record_ddl(&record)).await?;
            let enabled = pg_triggers(conn, "<>", &self.control_schema).await?;
            for t in &enabled {
                let binds = [
                    Bind::Str(&t.table.schema),
                    Bind::Str(&t.table.table),
                    Bind::Str(&t.name),
                    Bind::Str(&t.mode),
                    Bind::I64(now_ms()),
                ];
                conn.execute(&insert, &binds).await?;
                conn.raw(&t.alter("DISABLE")).await?;
            }
            Ok(enabled.iter().map(Trigger::label).collect())
        })
        .await
        .map_err(MaskError::db("recording and disabling the triggers"))?;
        Ok(TriggerReport {
            triggers: disabled,
            ..TriggerReport::default()
        })
    }

    /// For a dry run: the recorded triggers that still exist, those that
    /// do not, and the disabled triggers that are not recorded. Reads only.
    pub async fn recorded_triggers(&self) -> Result<TriggerReport, MaskError> {
        if self.dialect == Dialect::MySql {
            return Ok(mysql_trigger_note());
        }
        let record = self.ctl(RECORD);
        let mut conn = self.acquire().await?;
        let r: Result<TriggerReport, sqlx::Error> = async {
            let recorded = match record_exists(&mut conn, &record).await? {
                true => read_record(&mut conn, &record).await?,
                false => Vec::new(),
            };
            let disabled = pg_triggers(&mut conn, "=", &self.control_schema).await?;
            let mut report = split_record(&recorded);
            report.left_disabled = disabled
                .iter()
                .map(Trigger::label)
                .filter(|l| !report.triggers.contains(l))
                .collect();
            Ok(report)
        }
        .await;
        r.map_err(MaskError::db("reading the recorded triggers"))
    }

    /// At cutover (PostgreSQL), in one transaction: put every recorded
    /// trigger that still exists back in its recorded mode, list the ones
    /// that are gone, and empty the record. Disabled triggers that were not
    /// recorded stay disabled (`left_disabled`). With an empty record (a
    /// second run) nothing is enabled.
    pub async fn enable_recorded_triggers(&self) -> Result<TriggerReport, MaskError> {
        if self.dialect == Dialect::MySql {
            return Ok(mysql_trigger_note());
        }
        let record = self.ctl(RECORD);
        let mut conn = self.acquire().await?;
        in_control_tx(&mut conn, async |conn| {
            let mut report = TriggerReport::default();
            if record_exists(conn, &record).await? {
                let recorded = read_record(conn, &record).await?;
                for (t, _) in recorded.iter().filter(|(_, exists)| *exists) {
                    conn.raw(&t.restore()).await?;
                }
                conn.raw(&format!("DELETE FROM {record}")).await?;
                report = split_record(&recorded);
            }
            let disabled = pg_triggers(conn, "=", &self.control_schema).await?;
            report.left_disabled = disabled.iter().map(Trigger::label).collect();
            Ok(report)
        })
        .await
        .map_err(MaskError::db("re-enabling the recorded triggers"))
    }

    /// Carry the source's sequence values over, never moving a target
    /// sequence back: a cutover sent twice, after the application wrote to
    /// the target, must not hand out ids already used. PostgreSQL: `setval`
    /// to the greater of the value and the target's own next value; MySQL:
    /// raise the table's AUTO_INCREMENT. Values not above the target's next
    /// are `kept`; sequences (tables) the target lacks are `missing`.
    pub async fn set_sequences_from(
        &self,
        values: &[SequenceValue],
    ) -> Result<SequenceReport, MaskError> {
        let mut conn = self.acquire().await?;
        if self.dialect == Dialect::MySql {
            fresh_table_stats(&mut conn).await;
        }
        let mut report = SequenceReport {
            method: FROM_SOURCE.into(),
            ..SequenceReport::default()
        };
        // MySQL: the source's database may have another name than the
        // target's; the tables are the connection's database's.
        let here = match self.dialect {
            Dialect::MySql => current_database(&mut conn).await?,
            Dialect::Postgres => None,
        };
        for v in values {
            let renamed;
            let v = match &here {
                Some(db) => {
                    renamed = SequenceValue {
                        schema: db.clone(),
                        ..v.clone()
                    };
                    &renamed
                }
                None => v,
            };
            let label = format!("{}.{}", v.schema, v.name);
            let outcome = match self.dialect {
                Dialect::Postgres => set_pg_sequence(&mut conn, v).await,
                Dialect::MySql => raise_auto_increment(&mut conn, v).await,
            }
            .map_err(MaskError::db(format!("setting sequence {label}")))?;
            match outcome {
                Outcome::Set => report.set.push(format!("{label}={}", v.next_value)),
                Outcome::Kept(next) => report
                    .kept
                    .push(format!("{label}={} (target next {next})", v.next_value)),
                Outcome::Missing => report.missing.push(label),
            }
        }
        Ok(report)
    }

    /// Without a source: every sequence owned by a column, in every schema
    /// but the control one, to max+1 (PostgreSQL). A no-op on MySQL, where
    /// InnoDB's AUTO_INCREMENT already follows max(id).
    pub async fn set_sequences_to_max_plus_one(&self) -> Result<SequenceReport, MaskError> {
        if self.dialect == Dialect::MySql {
            return Ok(SequenceReport {
                method: MYSQL_MAX_PLUS_ONE.into(),
                ..SequenceReport::default()
            });
        }
        let mut conn = self.acquire().await?;
        let control = self.control_schema.as_str();
        let set = hooks::sync_owned_sequences_listed(&mut conn, |t| t.schema != control, true)
            .await
            .map_err(MaskError::db("setting the sequences to max+1"))?;
        Ok(SequenceReport {
            set: set.iter().map(|(s, v)| format!("{s}={v}")).collect(),
            method: "max+1".into(),
            ..SequenceReport::default()
        })
    }

    /// Check every foreign key outside the control schema (on MySQL, of the
    /// connection's database) for rows pointing at no parent, then (when
    /// none do, on PostgreSQL) validate the NOT VALID constraints.
    /// `Ok(Ok(note))` when all resolve; `Ok(Err(lines))` lists
    /// `table fk: n orphan row(s)`.
    pub async fn validate_foreign_keys(&self) -> Result<Result<String, Vec<String>>, MaskError> {
        let mut conn = self.acquire().await?;
        hooks::check_foreign_keys_outside_control(&mut conn, &self.control_schema)
            .await
            .map_err(MaskError::db("validating the foreign keys"))
    }
}

fn mysql_trigger_note() -> TriggerReport {
    TriggerReport {
        note: Some(MYSQL_TRIGGERS.into()),
        ..TriggerReport::default()
    }
}

/// The record as a report: existing triggers and missing ones.
fn split_record(recorded: &[(Trigger, bool)]) -> TriggerReport {
    let labels = |exists: bool| {
        recorded
            .iter()
            .filter(|(_, e)| *e == exists)
            .map(|(t, _)| t.label())
            .collect()
    };
    TriggerReport {
        triggers: labels(true),
        missing: labels(false),
        ..TriggerReport::default()
    }
}

/// What happened to one sequence value.
enum Outcome {
    Set,
    /// The target's next value, at or past the one asked for.
    Kept(i64),
    Missing,
}

/// PostgreSQL: `setval` when the value is ahead of the sequence's own next
/// value (below it, for a descending sequence).
async fn set_pg_sequence(conn: &mut Conn, v: &SequenceValue) -> Result<Outcome, sqlx::Error> {
    let d = Dialect::Postgres;
    let increment = conn
        .scalar_i64(
            "SELECT s.seqincrement FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
            &[Bind::Str(&v.schema), Bind::Str(&v.name)],
        )
        .await?;
    let Some(increment) = increment else {
        return Ok(Outcome::Missing);
    };
    let seq = TableRef {
        schema: v.schema.clone(),
        table: v.name.clone(),
    }
    .quoted(d);
    let state = conn
        .rows(
            &format!("SELECT last_value, is_called::int FROM {seq}"),
            &[],
        )
        .await?;
    let cell = |i: usize| state.first().and_then(|r| r.get(i)).and_then(Val::int);
    let last = cell(0).unwrap_or_default();
    let next = match cell(1) == Some(1) {
        true => last.saturating_add(increment),
        false => last,
    };
    let (ahead, pick) = match increment > 0 {
        true => (v.next_value > next, "GREATEST"),
        false => (v.next_value < next, "LEAST"),
    };
    if !ahead {
        return Ok(Outcome::Kept(next));
    }
    // The target's next value is read again inside setval: a nextval since
    // the read above cannot be undone.
    let own_next =
        format!("(SELECT CASE WHEN is_called THEN last_value + $2 ELSE last_value END FROM {seq})");
    conn.execute(
        &format!(
            "SELECT setval({}::regclass, {pick}($1::int8, {own_next}), false)",
            quote_literal(d, &seq)
        ),
        &[Bind::I64(v.next_value), Bind::I64(increment)],
    )
    .await?;
    Ok(Outcome::Set)
}

/// MySQL: raise the table's AUTO_INCREMENT when the value is above it.
async fn raise_auto_increment(conn: &mut Conn, v: &SequenceValue) -> Result<Outcome, sqlx::Error> {
    let rows = conn
        .rows(
            "SELECT CAST(AUTO_INCREMENT AS SIGNED) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'",
            &[Bind::Str(&v.schema), Bind::Str(&v.name)],
        )
        .await?;
    // No such table, or a table without an AUTO_INCREMENT column.
    let Some(current) = rows.first().and_then(|r| r.first()).and_then(Val::int) else {
        return Ok(Outcome::Missing);
    };
    if v.next_value <= current {
        return Ok(Outcome::Kept(current));
    }
    let table = TableRef {
        schema: v.schema.clone(),
        table: v.name.clone(),
    };
    // DDL takes no bind parameters; the value is an integer, not text.
    conn.raw(&format!(
        "ALTER TABLE {} AUTO_INCREMENT = {}",
        table.quoted(Dialect::MySql),
        v.next_value
    ))
    .await?;
    Ok(Outcome::Set)
}

/// MySQL: the connection's database, if one is selected.
async fn current_database(conn: &mut Conn) -> Result<Option<String>, MaskError> {
    let rows = conn
        .rows("SELECT DATABASE()", &[])
        .await
        .map_err(MaskError::db("reading the current database"))?;
    Ok(rows.first().and_then(|r| r.first()).and_then(Val::text))
}
