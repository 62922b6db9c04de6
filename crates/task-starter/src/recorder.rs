//! The record of an operator request, handed to the post-processor (which
//! keeps it in the ledger on the target database) by an asynchronous
//! invocation: Lambda retries it, and its dead-letter queue keeps what
//! still fails.

use dms_refresh_core::aws::{invoke_async, invoke_sync};
use dms_refresh_core::ports::{FailureKind, PortError, RequestRecord, RequestRecorder};

/// The post-processor's name, set by the template.
pub const FUNCTION_VAR: &str = "POST_PROCESSOR_FUNCTION_NAME";

#[derive(Debug)]
pub struct InvokeRecorder {
    pub client: aws_sdk_lambda::Client,
    pub function_name: String,
}

impl InvokeRecorder {
    /// `None` when no post-processor is named (requests are then on record
    /// in the notifications only).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        client: impl FnOnce() -> aws_sdk_lambda::Client,
    ) -> Option<Self> {
        let function_name = lookup(FUNCTION_VAR).filter(|n| !n.trim().is_empty())?;
        Some(Self {
            client: client(),
            function_name: function_name.trim().to_owned(),
        })
    }
}

/// `{"operation": "record-request", "request_id": ..., "kind": ..., "outcome": ...}`.
pub fn payload(request: &RequestRecord) -> Result<Vec<u8>, PortError> {
    let mut body = serde_json::to_value(request)
        .map_err(|e| PortError::new("Invoke", FailureKind::Permanent, e.to_string()))?;
    if let Some(object) = body.as_object_mut() {
        object.insert("operation".into(), "record-request".into());
    }
    serde_json::to_vec(&body)
        .map_err(|e| PortError::new("Invoke", FailureKind::Permanent, e.to_string()))
}

/// `{"operation": "record-triggers"}`.
pub const RECORD_TRIGGERS: &str = r#"{"operation": "record-triggers"}"#;

impl RequestRecorder for InvokeRecorder {
    async fn record(&self, request: &RequestRecord) -> Result<(), PortError> {
        invoke_async(&self.client, &self.function_name, payload(request)?).await
    }

    /// A synchronous invocation: the load must not start before the
    /// triggers are recorded and disabled.
    async fn record_triggers(&self) -> Result<serde_json::Value, PortError> {
        let body = RECORD_TRIGGERS.as_bytes().to_vec();
        invoke_sync(&self.client, &self.function_name, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::operation::invoke::InvokeOutput;
    use aws_sdk_lambda::types::InvocationType;
    use aws_smithy_mocks::{mock, mock_client};
    use dms_refresh_core::events::{Invocation, Operation, parse_invocation};

    /// The payload is one the post-processor parses back into the same
    /// record; it is sent with `InvocationType` `Event` (asynchronous).
    #[tokio::test]
    async fn the_record_is_sent_asynchronously_in_the_post_processors_shape() {
        let request = RequestRecord {
            request_id: "req-1".into(),
            kind: "move".into(),
            outcome: serde_json::json!({"settled": true}),
        };
        let rule = mock!(aws_sdk_lambda::Client::invoke)
            .match_requests(|req| {
                let body: serde_json::Value = req
                    .payload()
                    .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
                    .unwrap_or_default();
                req.function_name() == Some("stack-post-processor")
                    && req.invocation_type() == Some(&InvocationType::Event)
                    && matches!(
                        parse_invocation(&body),
                        Ok(Invocation::Operation(Operation::RecordRequest(ref r)))
                            if r.request_id == "req-1" && r.kind == "move"
                    )
            })
            .then_output(|| InvokeOutput::builder().status_code(202).build());
        let client = mock_client!(aws_sdk_lambda, [&rule]);
        let recorder = InvokeRecorder::from_lookup(
            |k| (k == FUNCTION_VAR).then(|| "stack-post-processor".to_owned()),
            || client,
        )
        .expect("named");
        recorder.record(&request).await.unwrap();
        assert_eq!(rule.num_calls(), 1);
        let unnamed = InvokeRecorder::from_lookup(|_| Some(" ".into()), || unreachable!());
        assert!(unnamed.is_none());
    }

    fn recorder_with(rule: &aws_smithy_mocks::Rule) -> InvokeRecorder {
        let client = mock_client!(aws_sdk_lambda, [rule]);
        InvokeRecorder {
            client,
            function_name: "stack-post-processor".into(),
        }
    }

    /// The trigger record waits for the post-processor's answer
    /// (`InvocationType` `RequestResponse`, Lambda API reference, Invoke),
    /// with a payload the post-processor reads as `record-triggers`.
    #[tokio::test]
    async fn the_trigger_record_waits_for_the_post_processors_answer() {
        let rule = mock!(aws_sdk_lambda::Client::invoke)
            .match_requests(|req| {
                let body: serde_json::Value = req
                    .payload()
                    .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
                    .unwrap_or_default();
                req.invocation_type() == Some(&InvocationType::RequestResponse)
                    && matches!(
                        dms_refresh_core::cutover::request_from(&body),
                        Some(Ok(
                            dms_refresh_core::cutover::CutoverRequest::RecordTriggers
                        ))
                    )
            })
            .then_output(|| {
                InvokeOutput::builder()
                    .status_code(200)
                    .payload(aws_sdk_lambda::primitives::Blob::new(
                        r#"{"triggers": ["public.orders.audit"]}"#,
                    ))
                    .build()
            });
        let answer = recorder_with(&rule).record_triggers().await.unwrap();
        assert_eq!(answer["triggers"][0], "public.orders.audit");
        assert_eq!(rule.num_calls(), 1);
    }

    /// A function error comes back as status 200 with `FunctionError` set
    /// and the error document as the payload (Lambda API reference, Invoke:
    /// `X-Amz-Function-Error`): a permanent failure naming the error.
    #[tokio::test]
    async fn a_function_error_is_a_permanent_failure_with_its_message() {
        let rule = mock!(aws_sdk_lambda::Client::invoke).then_output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .function_error("Unhandled")
                .payload(aws_sdk_lambda::primitives::Blob::new(
                    r#"{"errorType": "RecordTriggersFailed", "errorMessage": "connection refused"}"#,
                ))
                .build()
        });
        let err = recorder_with(&rule).record_triggers().await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Permanent);
        // The post-processor names a retryable failure so: transient.
        let retryable = mock!(aws_sdk_lambda::Client::invoke).then_output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .function_error("Unhandled")
                .payload(aws_sdk_lambda::primitives::Blob::new(
                    r#"{"errorType": "RecordTriggersRetryable", "errorMessage": "timed out"}"#,
                ))
                .build()
        });
        let transient = recorder_with(&retryable)
            .record_triggers()
            .await
            .unwrap_err();
        assert_eq!(transient.kind, FailureKind::Transient);
        assert!(
            err.message
                .contains("RecordTriggersFailed connection refused"),
            "{err}"
        );
    }
}
