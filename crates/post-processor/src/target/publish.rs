//! The publish model on the target: the rewrite of a finished load into a
//! masked copy published atomically into live, and the rollback request.
//! A failed load publishes nothing: live keeps the last masked copy and the
//! quarantine keeps what was loaded, for diagnosis.

use dms_refresh_core::ports::{Endpoints, HookError, HookReport, RunContext, RunFigures, Secrets};
use masking::{Publish, RunOptions};
use serde_json::{Value, json};
use tracing::info;

use super::database::{DatabaseHooks, hook_error, permanent};
use super::layout::Layout;

impl<E: Endpoints, S: Secrets> DatabaseHooks<E, S> {
    pub(super) async fn rewrite(
        &self,
        run: &RunContext,
        publish: &Publish,
    ) -> Result<HookReport, HookError> {
        if !run.load_complete {
            info!(run_id = %run.run_id, "the load failed: nothing is built or published");
            return Ok(HookReport::Complete {
                rows_affected: None,
                figures: RunFigures::default(),
                details: json!({
                    "published": false,
                    "summary": format!(
                        "Nothing was published: live ({}) keeps the last masked copy, and the \
                         quarantine ({}) keeps the failed load for diagnosis.",
                        publish.places.live, publish.places.quarantine
                    ),
                }),
            });
        }
        let (target, id) = self.target(run).await?;
        let salt = self.salt().await?;
        let report = target
            .run_rewrite(
                &id,
                &self.settings.rules,
                &salt,
                publish,
                run.deadline,
                RunOptions::default(),
            )
            .await;
        self.report(report).await
    }

    /// Swap the retired copy back into live, once per request id. A dry run
    /// only reports which runs are live and retired.
    pub(super) async fn rollback(
        &self,
        run: &RunContext,
        request_id: &str,
        dry_run: bool,
    ) -> Result<Value, HookError> {
        let Layout::Rewrite(publish) = &self.settings.layout else {
            return Err(permanent(
                "rollback needs the publish model (PUBLISH_MODE=rewrite with LIVE_SCHEMA); the \
                 in-place mode keeps no previous copy"
                    .into(),
            ));
        };
        let (target, _) = self.target(run).await?;
        if dry_run {
            let places = target
                .check_places(publish)
                .await
                .map_err(|e| hook_error(&e))?;
            return Ok(json!({ "dry_run": true, "places": places }));
        }
        match target.rollback(publish, request_id).await {
            Ok(report) => Ok(json!({ "rolled_back": true, "report": report })),
            Err(e) => {
                let err = hook_error(&e);
                self.forget_connection().await;
                Err(err)
            }
        }
    }
}
