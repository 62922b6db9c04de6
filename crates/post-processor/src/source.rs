//! The source database, read for a cutover: where its sequences stand, so
//! that the target's continue from there (seed 003). One connection per
//! read, closed after it; nothing is written.

use std::time::Duration;

use std::collections::BTreeSet;

use dms_refresh_core::cutover::{SequenceValue, SourceSequences};
use dms_refresh_core::guard::check_source;
use dms_refresh_core::ports::{Endpoints, FailureKind, PortError, Secrets};
use dms_refresh_core::task::TaskInfo;
use masking::source_db::SourceDb;
use masking::{DbCredentials, MaskError, Target};

const OP: &str = "ReadSourceSequences";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Reads the source's sequences with the source secret, from the database
/// the tasks' source endpoints name only.
#[derive(Debug)]
pub struct SourceDatabase<S, E> {
    source: SourceDb,
    secrets: S,
    endpoints: E,
}

impl<S: Secrets, E: Endpoints> SourceDatabase<S, E> {
    /// `None` when no source secret is configured.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        secrets: S,
        endpoints: E,
    ) -> Result<Option<Self>, String> {
        Ok(SourceDb::from_lookup(lookup)?.map(|source| Self {
            source,
            secrets,
            endpoints,
        }))
    }

    /// Refuse unless the secret's database is what every task's source
    /// endpoint names.
    async fn guard(&self, tasks: &[TaskInfo], creds: &DbCredentials) -> Result<(), PortError> {
        let refuse = |message: String| PortError::new(OP, FailureKind::Permanent, message);
        let location = crate::target::location(creds);
        let mut arns = BTreeSet::new();
        for task in tasks {
            let arn = task.source_endpoint_arn.as_deref().ok_or_else(|| {
                refuse(format!(
                    "DMS reports no source endpoint for task {}",
                    task.identifier
                ))
            })?;
            arns.insert(arn);
        }
        for arn in arns {
            let endpoint = self
                .endpoints
                .describe_endpoint(arn)
                .await?
                .ok_or_else(|| refuse(format!("the source endpoint {arn} does not exist")))?;
            check_source(&endpoint, &location).map_err(refuse)?;
        }
        Ok(())
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

impl<S: Secrets, E: Endpoints> SourceSequences for SourceDatabase<S, E> {
    async fn sequences(&self, tasks: &[TaskInfo]) -> Result<Vec<SequenceValue>, PortError> {
        let secret = self.secrets.secret_string(&self.source.secret_arn).await?;
        let creds = DbCredentials::from_secret_json(&secret).map_err(|e| {
            PortError::new(OP, FailureKind::Permanent, format!("source secret: {e}"))
        })?;
        self.guard(tasks, &creds).await?;
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
