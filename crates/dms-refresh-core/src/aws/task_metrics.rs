//! DMS task metrics through `aws-sdk-cloudwatch`.
//!
//! DMS publishes a task's metrics in the namespace `AWS/DMS` with the
//! dimensions `ReplicationInstanceIdentifier` and `ReplicationTaskIdentifier`
//! (the task's resource id, the last segment of its ARN). The caller knows
//! the task, not the instance, and a moved task has one metric per instance
//! it ran on: ListMetrics finds every one of them, GetMetricData reads them
//! all in one request, and the latest datapoint of any of them wins.

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{
    DimensionFilter, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};
use aws_smithy_types::DateTime;

use super::classify;
use crate::cutover::{Datapoint, LatencyMetric, TaskMetrics};
use crate::ports::{FailureKind, PortError};

/// The namespace of the metrics DMS publishes.
const NAMESPACE: &str = "AWS/DMS";
/// The dimension naming the task (its ARN's resource id).
const TASK_DIMENSION: &str = "ReplicationTaskIdentifier";
/// One-minute datapoints.
const PERIOD_SECONDS: i32 = 60;
const STAT: &str = "Maximum";
/// The most `MetricDataQuery` structures one GetMetricData takes.
const MAX_QUERIES: usize = 500;

/// CloudWatch through `aws-sdk-cloudwatch`.
#[derive(Debug, Clone)]
pub struct CloudWatchClient {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatchClient {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_client(aws_sdk_cloudwatch::Client::new(config))
    }

    pub fn from_client(client: aws_sdk_cloudwatch::Client) -> Self {
        Self { client }
    }

    /// Every metric named `metric_name` in `AWS/DMS` whose
    /// `ReplicationTaskIdentifier` is `task_resource_id`, whatever its
    /// instance (ListMetrics, following `NextToken`).
    async fn task_metrics(
        &self,
        task_resource_id: &str,
        metric_name: &str,
    ) -> Result<Vec<Metric>, PortError> {
        let filter = DimensionFilter::builder()
            .name(TASK_DIMENSION)
            .value(task_resource_id)
            .build();
        let mut metrics = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .client
                .list_metrics()
                .namespace(NAMESPACE)
                .metric_name(metric_name)
                .dimensions(filter.clone())
                .set_next_token(next_token.clone())
                .send()
                .await
                .map_err(|e| classify("ListMetrics", e))?;
            // Each metric once, should a page repeat one.
            for metric in output.metrics() {
                if !metrics.contains(metric) {
                    metrics.push(metric.clone());
                }
            }
            next_token = next_page(output.next_token());
            if next_token.is_none() {
                return Ok(metrics);
            }
        }
    }

    /// The latest one-minute `Maximum` of any of `metrics` between `from`
    /// and `to` (GetMetricData, newest first, following `NextToken`).
    async fn latest_of(
        &self,
        metrics: &[Metric],
        from: DateTime,
        to: DateTime,
    ) -> Result<Option<Datapoint>, PortError> {
        const OP: &str = "GetMetricData";
        let mut latest: Option<Datapoint> = None;
        for batch in metrics.chunks(MAX_QUERIES) {
            let queries: Vec<MetricDataQuery> = batch
                .iter()
                .enumerate()
                .map(|(i, metric)| {
                    MetricDataQuery::builder()
                        .id(format!("m{i}"))
                        .metric_stat(
                            MetricStat::builder()
                                .metric(metric.clone())
                                .period(PERIOD_SECONDS)
                                .stat(STAT)
                                .build(),
                        )
                        .return_data(true)
                        .build()
                })
                .collect();
            let mut next_token: Option<String> = None;
            loop {
                let output = self
                    .client
                    .get_metric_data()
                    .set_metric_data_queries(Some(queries.clone()))
                    .start_time(from)
                    .end_time(to)
                    .scan_by(ScanBy::TimestampDescending)
                    .set_next_token(next_token.clone())
                    .send()
                    .await
                    .map_err(|e| classify(OP, e))?;
                next_token = next_page(output.next_token());
                for result in output.metric_data_results() {
                    match result.status_code() {
                        Some(StatusCode::Forbidden) => {
                            return Err(result_error(result, FailureKind::Permanent));
                        }
                        // Retry with NextToken, if present; otherwise some
                        // datapoints may be missing: the answer is unknown.
                        Some(StatusCode::InternalError) if next_token.is_none() => {
                            return Err(result_error(result, FailureKind::Transient));
                        }
                        _ => {}
                    }
                    // `Values[x]` is the value at `Timestamps[x]`.
                    for (at, value) in result.timestamps().iter().zip(result.values()) {
                        let point = Datapoint {
                            epoch: at.as_secs_f64(),
                            value: *value,
                        };
                        if latest.is_none_or(|l| point.epoch > l.epoch) {
                            latest = Some(point);
                        }
                    }
                }
                if next_token.is_none() {
                    break;
                }
            }
        }
        Ok(latest)
    }
}

/// A `NextToken` worth following.
fn next_page(token: Option<&str>) -> Option<String> {
    token.filter(|t| !t.is_empty()).map(str::to_owned)
}

/// A GetMetricData result whose `StatusCode` says its data is not there.
fn result_error(
    result: &aws_sdk_cloudwatch::types::MetricDataResult,
    kind: FailureKind,
) -> PortError {
    let messages: Vec<&str> = result.messages().iter().filter_map(|m| m.value()).collect();
    PortError::new(
        "GetMetricData",
        kind,
        format!(
            "result {} has StatusCode {}: {}",
            result.id().unwrap_or("?"),
            result.status_code().map_or("?", StatusCode::as_str),
            messages.join("; ")
        ),
    )
}

impl TaskMetrics for CloudWatchClient {
    async fn latest(
        &self,
        task_resource_id: &str,
        metric: LatencyMetric,
        from_epoch: f64,
        to_epoch: f64,
    ) -> Result<Option<Datapoint>, PortError> {
        let metrics = self.task_metrics(task_resource_id, metric.name()).await?;
        if metrics.is_empty() {
            return Ok(None);
        }
        self.latest_of(
            &metrics,
            DateTime::from_secs_f64(from_epoch),
            DateTime::from_secs_f64(to_epoch),
        )
        .await
    }
}
