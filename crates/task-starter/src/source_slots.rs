//! The PostgreSQL source's logical replication slot, for a CDC start from an
//! LSN: the slot as `pg_replication_slots` shows it, and the first change it
//! holds at or after the LSN, peeked with `pg_logical_slot_peek_changes` so
//! that nothing is consumed (seed 003 warns that `..._get_changes` would
//! consume changes DMS still needs).

use std::time::Duration;

use dms_refresh_core::cdc_start::{Lsn, SlotView};
use dms_refresh_core::ports::{FailureKind, PortError, ReplicationSlots, Secrets};
use masking::source_db::SourceDb;
pub use masking::source_db::vars;
use masking::{DbCredentials, Dialect, TlsMode};
use sqlx::postgres::PgConnection;
use sqlx::{ConnectOptions, Connection};

const OP: &str = "ReadReplicationSlot";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Reads slots through a connection made from the source secret, one per check.
#[derive(Debug)]
pub struct SourceSlots<S> {
    source: SourceDb,
    secrets: S,
}

impl<S: Secrets> SourceSlots<S> {
    /// `None` when no source secret is configured.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        secrets: S,
    ) -> Result<Option<Self>, String> {
        Ok(SourceDb::from_lookup(lookup)?.map(|source| Self { source, secrets }))
    }
}

fn failed(kind: FailureKind, message: impl Into<String>) -> PortError {
    PortError::new(OP, kind, message)
}

fn db_error(e: &sqlx::Error) -> PortError {
    let kind = match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => {
            FailureKind::Transient
        }
        _ => FailureKind::Permanent,
    };
    failed(kind, format!("source database: {e}"))
}

/// Connect to the source as the secret says (the error never holds the password).
pub async fn connect(creds: &DbCredentials, tls: &TlsMode) -> Result<PgConnection, PortError> {
    if creds.engine != Dialect::Postgres {
        return Err(failed(
            FailureKind::Permanent,
            "the source secret is not a PostgreSQL one; slots are read only on PostgreSQL",
        ));
    }
    let options = creds.pg_options(tls, "dms-refresh-starter");
    let where_to = format!("{}:{}", creds.host, creds.port);
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(failed(
            db_error(&e).kind,
            format!("cannot connect to the source database {where_to}: {e}"),
        )),
        Err(_) => Err(failed(
            FailureKind::Transient,
            format!(
                "no answer from the source database {where_to} within {} s (network path, \
                 security group?)",
                CONNECT_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// The slot and the first change it holds at or after `from`; `None` when
/// there is no such slot. A slot being read (active) or of another database
/// is returned without peeking.
pub async fn read_slot(
    conn: &mut PgConnection,
    slot_name: &str,
    from: Lsn,
) -> Result<Option<SlotView>, PortError> {
    type Row = (
        String,
        Option<String>,
        Option<String>,
        bool,
        Option<String>,
        bool,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT slot_type, plugin::text, database::text, active, confirmed_flush_lsn::text, \
                coalesce(database = current_database(), false) \
         FROM pg_replication_slots WHERE slot_name = $1",
    )
    .bind(slot_name)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| db_error(&e))?;
    let Some((slot_type, plugin, database, active, confirmed, here)) = row else {
        return Ok(None);
    };
    let mut view = SlotView {
        slot_name: slot_name.to_owned(),
        slot_type,
        plugin,
        database,
        active,
        confirmed_flush: confirmed.as_deref().and_then(Lsn::parse),
        first_change_at_or_after: None,
    };
    if view.slot_type != "logical" || view.active {
        return Ok(Some(view));
    }
    if !here {
        return Err(failed(
            FailureKind::Permanent,
            format!(
                "slot {slot_name:?} decodes database {:?}, but the source secret connects to \
                 another one; point the secret's dbname at the slot's database",
                view.database.as_deref().unwrap_or("?")
            ),
        ));
    }
    let first: Option<String> = sqlx::query_scalar(
        "SELECT lsn::text FROM pg_logical_slot_peek_changes($1, NULL, NULL) \
         WHERE lsn >= $2::pg_lsn ORDER BY lsn LIMIT 1",
    )
    .bind(slot_name)
    .bind(from.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| db_error(&e))?;
    view.first_change_at_or_after = first.as_deref().and_then(Lsn::parse);
    Ok(Some(view))
}

impl<S: Secrets> ReplicationSlots for SourceSlots<S> {
    async fn slot(&self, slot_name: &str, from: Lsn) -> Result<Option<SlotView>, PortError> {
        let secret = self.secrets.secret_string(&self.source.secret_arn).await?;
        let creds = DbCredentials::from_secret_json(&secret)
            .map_err(|e| failed(FailureKind::Permanent, format!("source secret: {e}")))?;
        let mut conn = connect(&creds, &self.source.tls).await?;
        let view = read_slot(&mut conn, slot_name, from).await;
        if let Err(e) = conn.close().await {
            tracing::warn!(error = %e, "closing the source connection failed");
        }
        view
    }
}
