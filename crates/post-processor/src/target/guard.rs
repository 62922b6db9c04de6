//! The guard in front of every write: the secret's database must be the
//! target of the run's DMS tasks; in the publish model, the tasks must write
//! only into the quarantine and no task on that target may write into live.

use std::collections::BTreeSet;

use dms_refresh_core::guard::{
    DbLocation, EndpointInfo, Writer, check_placement, check_target, check_target_server,
};
use dms_refresh_core::placement::landing;
use dms_refresh_core::ports::{Endpoints, HookError, RunContext, Secrets};
use masking::{DbCredentials, Dialect, Publish};

use super::database::{DatabaseHooks, permanent, port_error};

/// Where a secret's credentials connect, as the guard compares it.
pub(crate) fn location(creds: &DbCredentials) -> DbLocation {
    DbLocation {
        engine: match creds.engine {
            Dialect::MySql => "mysql".into(),
            Dialect::Postgres => "postgres".into(),
        },
        host: creds.host.clone(),
        port: creds.port,
        dbname: creds.dbname.clone(),
    }
}

impl<E: Endpoints, S: Secrets> DatabaseHooks<E, S> {
    /// Refuse unless every task of the run targets the secret's database
    /// (and, in the publish model, the placement holds).
    pub(super) async fn guard(
        &self,
        run: &RunContext,
        creds: &DbCredentials,
    ) -> Result<(), HookError> {
        let location = location(creds);
        let publish = self.settings.layout.publish();
        let mut writers = Vec::new();
        let mut endpoints = BTreeSet::new();
        for task in &run.tasks {
            let Some(arn) = task.target_endpoint_arn.as_deref() else {
                return Err(permanent(format!(
                    "refusing to write: DMS reports no target endpoint for task {}",
                    task.identifier
                )));
            };
            let endpoint = self
                .endpoints
                .describe_endpoint(arn)
                .await
                .map_err(|e| port_error(&e))?
                .ok_or_else(|| {
                    permanent(format!(
                        "refusing to write: target endpoint {arn} does not exist"
                    ))
                })?;
            // On MySQL the publish model's places are databases of the
            // server: the secret's database is only a default there.
            let checked = match (publish, creds.engine) {
                (Some(_), Dialect::MySql) => check_target_server(&endpoint, &location),
                _ => check_target(&endpoint, &location),
            };
            checked.map_err(permanent)?;
            if publish.is_some() && endpoints.insert(arn.to_owned()) {
                writers.extend(self.writers(run, &endpoint).await?);
            }
        }
        match publish {
            Some(publish) => placement(run, publish, &writers),
            None => Ok(()),
        }
    }

    /// Every task writing to `endpoint`, with where its mappings land.
    async fn writers(
        &self,
        run: &RunContext,
        endpoint: &EndpointInfo,
    ) -> Result<Vec<Writer>, HookError> {
        let tasks = self
            .endpoints
            .tasks_writing_to(&endpoint.arn)
            .await
            .map_err(|e| port_error(&e))?;
        let mut writers = Vec::with_capacity(tasks.len());
        for task in tasks {
            let mappings = task.table_mappings.as_deref().ok_or_else(|| {
                permanent(format!(
                    "refusing to mask or publish: DMS reports no table mappings for task {}",
                    task.identifier
                ))
            })?;
            let landing = landing(mappings, endpoint.single_database.as_deref()).map_err(|e| {
                permanent(format!(
                    "refusing to mask or publish: task {}: {e}",
                    task.identifier
                ))
            })?;
            writers.push(Writer {
                in_group: run.tasks.iter().any(|t| t.arn == task.arn),
                task: task.identifier,
                landing,
            });
        }
        Ok(writers)
    }
}

/// The placement check, and every task of the run among the writers.
fn placement(run: &RunContext, publish: &Publish, writers: &[Writer]) -> Result<(), HookError> {
    for task in &run.tasks {
        if !writers
            .iter()
            .any(|w| w.in_group && w.task == task.identifier)
        {
            return Err(permanent(format!(
                "refusing to mask or publish: task {} is not listed among the tasks writing to \
                 its target endpoint, so where it writes cannot be checked",
                task.identifier
            )));
        }
    }
    let places = &publish.places;
    check_placement(&places.quarantine, &places.live, writers).map_err(permanent)
}
