//! The source database, read for a cutover: where its sequences stand, so
//! that the target's continue from there (seed 003). One connection per
//! read, closed after it; nothing is written.

use std::time::Duration;

use dms_refresh_core::cutover::{SequenceValue, SourceSequences};
use dms_refresh_core::ports::{FailureKind, PortError, Secrets};
use masking::source_db::SourceDb;
use masking::{DbCredentials, MaskError, Target};

const OP: &str = "ReadSourceSequences";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Reads the source's sequences with the source secret.
#[derive(Debug)]
pub struct SourceDatabase<S> {
    source: SourceDb,
    secrets: S,
}

impl<S: Secrets> SourceDatabase<S> {
    /// `None` when no source secret is configured.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        secrets: S,
    ) -> Result<Option<Self>, String> {
        Ok(SourceDb::from_lookup(lookup)?.map(|source| Self { source, secrets }))
    }
}

fn failed(err: &MaskError) -> PortError {
    let kind = if err.is_permanent() {
        FailureKind::Permanent
    } else {
        FailureKind::Transient
    };
    PortError::new(OP, kind, format!("source database: {err}"))
}

impl<S: Secrets> SourceSequences for SourceDatabase<S> {
    async fn sequences(&self) -> Result<Vec<SequenceValue>, PortError> {
        let secret = self.secrets.secret_string(&self.source.secret_arn).await?;
        let creds = DbCredentials::from_secret_json(&secret).map_err(|e| {
            PortError::new(OP, FailureKind::Permanent, format!("source secret: {e}"))
        })?;
        let connect = Target::connect(&creds, self.source.tls.clone());
        let source = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(connected) => connected.map_err(|e| failed(&e))?,
            Err(_) => {
                return Err(PortError::new(
                    OP,
                    FailureKind::Transient,
                    format!(
                        "no answer from the source database {}:{} within {} s (network path, \
                         security group?)",
                        creds.host,
                        creds.port,
                        CONNECT_TIMEOUT.as_secs()
                    ),
                ));
            }
        };
        let read = source.source_sequences().await;
        source.close().await;
        Ok(read
            .map_err(|e| failed(&e))?
            .into_iter()
            .map(|v| SequenceValue {
                schema: v.schema,
                name: v.name,
                next_value: v.next_value,
            })
            .collect())
    }
}
