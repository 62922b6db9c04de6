//! Continuing a run in a fresh invocation: the function invokes itself
//! asynchronously with a continuation payload.

use dms_refresh_core::aws::invoke_async;
use dms_refresh_core::events::{CONTINUATION_KEY, Continuation};
use dms_refresh_core::ports::{Continuer, FailureKind, PortError};

/// Invokes `function_arn` (this function, from the invocation context) with
/// `InvocationType::Event`, so the new invocation gets its own 15 minutes and
/// Lambda's own retries and dead-letter queue.
#[derive(Debug)]
pub struct SelfInvoke<'a> {
    pub client: &'a aws_sdk_lambda::Client,
    pub function_arn: &'a str,
}

pub fn payload(continuation: &Continuation) -> Result<Vec<u8>, PortError> {
    serde_json::to_vec(&serde_json::json!({ CONTINUATION_KEY: continuation }))
        .map_err(|e| PortError::new("Invoke", FailureKind::Permanent, e.to_string()))
}

impl Continuer for SelfInvoke<'_> {
    async fn continue_run(&self, continuation: &Continuation) -> Result<(), PortError> {
        if self.function_arn.is_empty() {
            return Err(PortError::new(
                "Invoke",
                FailureKind::Permanent,
                "the invocation context names no function ARN to continue in",
            ));
        }
        invoke_async(self.client, self.function_arn, payload(continuation)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::operation::invoke::InvokeOutput;
    use aws_sdk_lambda::types::InvocationType;
    use aws_smithy_mocks::{mock, mock_client};

    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:dms-refresh-post-processor";

    #[tokio::test]
    async fn invokes_itself_asynchronously_with_the_continuation() {
        let rule = mock!(aws_sdk_lambda::Client::invoke)
            .match_requests(|req| {
                let body: serde_json::Value = req
                    .payload()
                    .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
                    .unwrap_or_default();
                req.function_name() == Some(ARN)
                    && req.invocation_type() == Some(&InvocationType::Event)
                    && body[CONTINUATION_KEY]["run_id"] == "task@1"
                    && body[CONTINUATION_KEY]["invocation"] == 3
            })
            .then_output(|| InvokeOutput::builder().status_code(202).build());
        let client = mock_client!(aws_sdk_lambda, [&rule]);
        let continuer = SelfInvoke {
            client: &client,
            function_arn: ARN,
        };
        continuer
            .continue_run(&Continuation {
                run_id: "task@1".into(),
                invocation: 3,
                load_complete: Some(true),
            })
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn refuses_without_a_function_arn() {
        let client = mock_client!(aws_sdk_lambda, []);
        let continuer = SelfInvoke {
            client: &client,
            function_arn: "",
        };
        let err = continuer
            .continue_run(&Continuation {
                run_id: "task@1".into(),
                invocation: 2,
                load_complete: None,
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind, FailureKind::Permanent);
    }
}
