//! Operator requests (a `stop-at`, a `move`, a CDC start from a point of the
//! source) kept in the control schema with their outcome, next to the runs
//! they act on: the target's own record of who changed the replication and
//! how it answered. Keyed by the request's Lambda request id, so a retried
//! delivery records it once.

use crate::db::{Bind, Target, Val};
use crate::error::MaskError;
use crate::ledger::now_ms;
use crate::sql::{Dialect, numbered, quote_ident};

/// One operator request and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The task-starter invocation's request id.
    pub request_id: String,
    /// `stop-at`, `move`, `cdc-start`...
    pub operation: String,
    /// The answer the operator got, as JSON text.
    pub outcome: String,
}

/// The requests table, created with the other control tables.
pub(crate) fn requests_ddl(d: Dialect, schema: &str) -> Vec<String> {
    let s = quote_ident(d, schema);
    match d {
        Dialect::MySql => vec![format!(
            "CREATE TABLE IF NOT EXISTS {s}.`requests` (\
             `request_id` VARCHAR(255) NOT NULL, \
             `operation` VARCHAR(64) NOT NULL, \
             `outcome` MEDIUMTEXT NOT NULL, \
             `recorded_at_ms` BIGINT NOT NULL, \
             PRIMARY KEY (`request_id`)\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        )],
        Dialect::Postgres => vec![format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"requests\" (\
             request_id VARCHAR(255) NOT NULL PRIMARY KEY, \
             operation VARCHAR(64) NOT NULL, \
             outcome TEXT NOT NULL, \
             recorded_at_ms BIGINT NOT NULL)"
        )],
    }
}

impl Target {
    /// Keep `request`; `Ok(false)` when a request with that id was kept
    /// before (its first outcome stays).
    pub async fn record_request(&self, request: &RequestRecord) -> Result<bool, MaskError> {
        let fits = |v: &str, max: usize| !v.is_empty() && v.chars().count() <= max;
        if !fits(&request.request_id, 255) || !fits(&request.operation, 64) {
            return Err(MaskError::Config(
                "a request needs an id of 1..=255 and an operation of 1..=64 characters".into(),
            ));
        }
        self.ensure_control_tables().await?;
        let table = self.ctl("requests");
        let cols = "(request_id, operation, outcome, recorded_at_ms)";
        let sql = match self.dialect {
            Dialect::MySql => format!("INSERT IGNORE INTO {table} {cols} VALUES (?, ?, ?, ?)"),
            Dialect::Postgres => format!(
                "INSERT INTO {table} {cols} VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING"
            ),
        };
        let mut conn = self.acquire().await?;
        let inserted = conn
            .execute(
                &sql,
                &[
                    Bind::Str(&request.request_id),
                    Bind::Str(&request.operation),
                    Bind::Str(&request.outcome),
                    Bind::I64(now_ms()),
                ],
            )
            .await
            .map_err(MaskError::db("recording an operator request"))?;
        Ok(inserted == 1)
    }

    /// The recorded requests, oldest first.
    pub async fn requests(&self) -> Result<Vec<RequestRecord>, MaskError> {
        self.ensure_control_tables().await?;
        let table = self.ctl("requests");
        let read = numbered(
            self.dialect,
            &format!(
                "SELECT request_id, operation, outcome FROM {table} \
                 ORDER BY recorded_at_ms, request_id"
            ),
        );
        let mut conn = self.acquire().await?;
        let rows = conn
            .rows(&read, &[])
            .await
            .map_err(MaskError::db("reading the operator requests"))?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let cell = |i: usize| r.get(i).and_then(Val::text);
                Some(RequestRecord {
                    request_id: cell(0)?,
                    operation: cell(1)?,
                    outcome: cell(2)?,
                })
            })
            .collect())
    }
}
