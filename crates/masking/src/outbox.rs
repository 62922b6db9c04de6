//! The outbox: messages a run owes to operators, kept in the control schema
//! until the caller reports them sent. A message is keyed by its run and the
//! outcome it reports, so a retried failure is announced once, and a message
//! that could not be sent (a crash, a refused publish) is found again.

use crate::db::{Bind, Target, Val};
use crate::error::MaskError;
use crate::ledger::now_ms;
use crate::sql::{Dialect, numbered, quote_ident};

/// A message kept in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The run it belongs to (the ledger's run id).
    pub run_id: String,
    /// The outcome it reports; unique per run.
    pub key: String,
    pub subject: String,
    pub body: String,
}

/// The outbox table, created with the other control tables.
pub(crate) fn outbox_ddl(d: Dialect, schema: &str) -> Vec<String> {
    let s = quote_ident(d, schema);
    match d {
        Dialect::MySql => vec![format!(
            "CREATE TABLE IF NOT EXISTS {s}.`outbox` (\
             `run_id` VARCHAR(255) NOT NULL, \
             `msg_key` VARCHAR(255) NOT NULL, \
             `subject` VARCHAR(255) NOT NULL, \
             `body` MEDIUMTEXT NOT NULL, \
             `created_at_ms` BIGINT NOT NULL, \
             `claimed_by` VARCHAR(255) NULL, \
             `claim_until_ms` BIGINT NULL, \
             `sent_at_ms` BIGINT NULL, \
             PRIMARY KEY (`run_id`, `msg_key`)\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        )],
        Dialect::Postgres => vec![format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"outbox\" (\
             run_id VARCHAR(255) NOT NULL, \
             msg_key VARCHAR(255) NOT NULL, \
             subject VARCHAR(255) NOT NULL, \
             body TEXT NOT NULL, \
             created_at_ms BIGINT NOT NULL, \
             claimed_by VARCHAR(255) NULL, \
             claim_until_ms BIGINT NULL, \
             sent_at_ms BIGINT NULL, \
             PRIMARY KEY (run_id, msg_key))"
        )],
    }
}

fn check_len(what: &str, value: &str, max: usize) -> Result<(), MaskError> {
    if value.is_empty() || value.chars().count() > max {
        return Err(MaskError::Config(format!(
            "outbox {what} must be 1..={max} characters"
        )));
    }
    Ok(())
}

impl Target {
    /// Keep `message` until it is marked sent. `Ok(false)` when a message
    /// with the same run and key was kept before (sent or not): the caller
    /// must not announce the outcome again.
    pub async fn enqueue(&self, message: &OutboxMessage) -> Result<bool, MaskError> {
        check_len("run id", &message.run_id, 255)?;
        check_len("key", &message.key, 255)?;
        check_len("subject", &message.subject, 255)?;
        self.ensure_control_tables().await?;
        let table = self.ctl("outbox");
        let cols = "(run_id, msg_key, subject, body, created_at_ms)";
        let sql = match self.dialect {
            Dialect::MySql => format!("INSERT IGNORE INTO {table} {cols} VALUES (?, ?, ?, ?, ?)"),
            Dialect::Postgres => format!(
                "INSERT INTO {table} {cols} VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, msg_key) DO NOTHING"
            ),
        };
        let mut conn = self.acquire().await?;
        let inserted = conn
            .execute(
                &sql,
                &[
                    Bind::Str(&message.run_id),
                    Bind::Str(&message.key),
                    Bind::Str(&message.subject),
                    Bind::Str(&message.body),
                    Bind::I64(now_ms()),
                ],
            )
            .await
            .map_err(MaskError::db("keeping a message in the outbox"))?;
        Ok(inserted == 1)
    }

    /// Claim the unsent messages whose run id starts with `run_prefix` (all
    /// of this database's runs) for `owner` until `claim_until`, and return
    /// them, oldest first. A message claimed by another owner whose claim has
    /// not expired is left to it, so concurrent deliveries of one outcome send
    /// it once; a claim that expires (its holder died) is taken over.
    pub async fn claim_unsent(
        &self,
        run_prefix: &str,
        owner: &str,
        claim_until: std::time::SystemTime,
    ) -> Result<Vec<OutboxMessage>, MaskError> {
        check_len("owner", owner, 255)?;
        self.ensure_control_tables().await?;
        let table = self.ctl("outbox");
        let len = i64::try_from(run_prefix.chars().count()).unwrap_or(i64::MAX);
        let prefix = match self.dialect {
            Dialect::MySql => "SUBSTRING(run_id, 1, CAST(? AS SIGNED)) = ?",
            Dialect::Postgres => "substring(run_id from 1 for CAST(? AS INTEGER)) = ?",
        };
        let claim = numbered(
            self.dialect,
            &format!(
                "UPDATE {table} SET claimed_by = ?, claim_until_ms = ? \
                 WHERE sent_at_ms IS NULL AND {prefix} \
                 AND (claimed_by IS NULL OR claimed_by = ? OR claim_until_ms < ?)"
            ),
        );
        let now = now_ms();
        let mut conn = self.acquire().await?;
        conn.execute(
            &claim,
            &[
                Bind::Str(owner),
                Bind::I64(crate::ledger::to_ms(claim_until)),
                Bind::I64(len),
                Bind::Str(run_prefix),
                Bind::Str(owner),
                Bind::I64(now),
            ],
        )
        .await
        .map_err(MaskError::db("claiming outbox messages"))?;
        let read = numbered(
            self.dialect,
            &format!(
                "SELECT run_id, msg_key, subject, body FROM {table} \
                 WHERE sent_at_ms IS NULL AND claimed_by = ? AND {prefix} \
                 ORDER BY created_at_ms, run_id, msg_key"
            ),
        );
        let rows = conn
            .rows(
                &read,
                &[Bind::Str(owner), Bind::I64(len), Bind::Str(run_prefix)],
            )
            .await
            .map_err(MaskError::db("reading the outbox"))?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let cell = |i: usize| r.get(i).and_then(Val::text);
                Some(OutboxMessage {
                    run_id: cell(0)?,
                    key: cell(1)?,
                    subject: cell(2)?,
                    body: cell(3)?,
                })
            })
            .collect())
    }

    /// Record that `run_id`'s message `key` was accepted by the notifier.
    pub async fn mark_sent(&self, run_id: &str, key: &str) -> Result<(), MaskError> {
        let table = self.ctl("outbox");
        let sql = numbered(
            self.dialect,
            &format!(
                "UPDATE {table} SET sent_at_ms = ? WHERE run_id = ? AND msg_key = ? AND sent_at_ms IS NULL"
            ),
        );
        let mut conn = self.acquire().await?;
        conn.execute(
            &sql,
            &[Bind::I64(now_ms()), Bind::Str(run_id), Bind::Str(key)],
        )
        .await
        .map_err(MaskError::db("marking an outbox message sent"))?;
        Ok(())
    }
}
