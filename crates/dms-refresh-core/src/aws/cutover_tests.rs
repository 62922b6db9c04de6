//! The cutover's adapters against `aws-smithy-mocks` clients answering with
//! the shapes of the CloudWatch API reference (ListMetrics, GetMetricData)
//! and of the DMS API reference (DescribeReplicationTasks,
//! DescribeTableStatistics).

use aws_sdk_cloudwatch::config::retry::RetryConfig;
use aws_sdk_cloudwatch::error::ErrorMetadata;
use aws_sdk_cloudwatch::operation::get_metric_data::{GetMetricDataError, GetMetricDataOutput};
use aws_sdk_cloudwatch::operation::list_metrics::{ListMetricsError, ListMetricsOutput};
use aws_sdk_cloudwatch::types::{
    Dimension, DimensionFilter, MessageData, Metric, MetricDataResult, ScanBy, StatusCode,
};
use aws_sdk_databasemigration::operation::describe_replication_tasks::{
    DescribeReplicationTasksError, DescribeReplicationTasksOutput,
};
use aws_sdk_databasemigration::operation::describe_table_statistics::DescribeTableStatisticsOutput;
use aws_sdk_databasemigration::types::error::ResourceNotFoundFault;
use aws_sdk_databasemigration::types::{ReplicationTask, TableStatistics};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;

use super::*;
use crate::cutover::{
    DataValidation, Datapoint, LatencyMetric, TableValidation, TaskMetrics, TaskValidation,
};

/// The task's resource id: the last segment of its ARN, the value of the
/// `ReplicationTaskIdentifier` dimension DMS publishes its metrics with.
const TASK_ID: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const TASK_ARN: &str = "arn:aws:dms:eu-west-1:123456789012:task:ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const FROM: f64 = 1_767_225_600.0;
const TO: f64 = 1_767_229_200.0;

// ---------------------------------------------------------------------------
// CloudWatch: ListMetrics, GetMetricData
// ---------------------------------------------------------------------------

/// A DMS task metric as ListMetrics lists it: `Namespace`, `MetricName`
/// and `Dimensions` (`ReplicationInstanceIdentifier`,
/// `ReplicationTaskIdentifier`).
fn dms_metric(name: &str, instance: &str) -> Metric {
    Metric::builder()
        .namespace("AWS/DMS")
        .metric_name(name)
        .dimensions(
            Dimension::builder()
                .name("ReplicationInstanceIdentifier")
                .value(instance)
                .build(),
        )
        .dimensions(
            Dimension::builder()
                .name("ReplicationTaskIdentifier")
                .value(TASK_ID)
                .build(),
        )
        .build()
}

/// A `MetricDataResult`: `Id`, `Timestamps` and `Values` in step,
/// `StatusCode` `Complete`.
fn result(id: &str, points: &[(f64, f64)]) -> MetricDataResult {
    let mut out = MetricDataResult::builder()
        .id(id)
        .status_code(StatusCode::Complete);
    for (at, value) in points {
        out = out.timestamps(DateTime::from_secs_f64(*at)).values(*value);
    }
    out.build()
}

fn list_metrics_answering(metrics: Vec<Metric>) -> Rule {
    mock!(aws_sdk_cloudwatch::Client::list_metrics).then_output(move || {
        ListMetricsOutput::builder()
            .set_metrics(Some(metrics.clone()))
            .build()
    })
}

fn cloudwatch(mode: RuleMode, rules: &[&Rule]) -> CloudWatchClient {
    // Without retries: each rule answers exactly the calls the adapter makes.
    let client = mock_client!(aws_sdk_cloudwatch, mode, rules, |c| c
        .retry_config(RetryConfig::disabled()));
    CloudWatchClient::from_client(client)
}

/// ListMetrics takes `Namespace` `AWS/DMS`, the `MetricName` and a
/// `Dimensions` filter (`DimensionFilter` `Name`
/// `ReplicationTaskIdentifier`, `Value` the task's resource id) and no
/// instance; GetMetricData takes one `MetricDataQuery` per listed metric
/// (`Id` `m0`, `MetricStat` with the listed `Metric`, `Period` 60, `Stat`
/// `Maximum`), `StartTime`/`EndTime` and `ScanBy` `TimestampDescending`.
#[tokio::test]
async fn list_metrics_filters_by_the_task_dimension_then_get_metric_data_reads_it() {
    let list = mock!(aws_sdk_cloudwatch::Client::list_metrics)
        .match_requests(|req| {
            req.namespace() == Some("AWS/DMS")
                && req.metric_name() == Some("CDCLatencyTarget")
                && req.dimensions()
                    == [DimensionFilter::builder()
                        .name("ReplicationTaskIdentifier")
                        .value(TASK_ID)
                        .build()]
                && req.next_token().is_none()
        })
        .then_output(|| {
            ListMetricsOutput::builder()
                .metrics(dms_metric("CDCLatencyTarget", "instance-a"))
                .build()
        });
    let get = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|req| {
            let [query] = req.metric_data_queries() else {
                return false;
            };
            let stat = query.metric_stat();
            query.id() == Some("m0")
                && stat.and_then(|s| s.metric())
                    == Some(&dms_metric("CDCLatencyTarget", "instance-a"))
                && stat.and_then(|s| s.period()) == Some(60)
                && stat.and_then(|s| s.stat()) == Some("Maximum")
                && req.start_time() == Some(&DateTime::from_secs_f64(FROM))
                && req.end_time() == Some(&DateTime::from_secs_f64(TO))
                && req.scan_by() == Some(&ScanBy::TimestampDescending)
        })
        .then_output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(result("m0", &[(FROM + 120.0, 4.0), (FROM + 60.0, 9.0)]))
                .build()
        });
    let cw = cloudwatch(RuleMode::Sequential, &[&list, &get]);
    let latest = cw
        .latest(TASK_ID, LatencyMetric::Target, FROM, TO)
        .await
        .unwrap();
    assert_eq!(
        latest,
        Some(Datapoint {
            epoch: FROM + 120.0,
            value: 4.0
        })
    );
    assert_eq!((list.num_calls(), get.num_calls()), (1, 1));
}

/// A moved task has one metric per instance. ListMetrics answers them over
/// two pages (`NextToken`), the second listing the first metric again (moto
/// repeats a metric of two dimensions once per datapoint); GetMetricData
/// asks for each metric once (`m0`, `m1`) and the latest `Timestamps` entry
/// of any `MetricDataResult` wins, here the new instance's 0.
#[tokio::test]
async fn two_instances_the_latest_datapoint_of_both_wins() {
    let first = mock!(aws_sdk_cloudwatch::Client::list_metrics)
        .match_requests(|req| req.next_token().is_none())
        .then_output(|| {
            ListMetricsOutput::builder()
                .metrics(dms_metric("CDCLatencySource", "old-instance"))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_cloudwatch::Client::list_metrics)
        .match_requests(|req| req.next_token() == Some("page-2"))
        .then_output(|| {
            ListMetricsOutput::builder()
                // A metric listed again is asked for once.
                .metrics(dms_metric("CDCLatencySource", "old-instance"))
                .metrics(dms_metric("CDCLatencySource", "new-instance"))
                .build()
        });
    let get = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|req| {
            let ids: Vec<_> = req.metric_data_queries().iter().map(|q| q.id()).collect();
            let metrics: Vec<_> = req
                .metric_data_queries()
                .iter()
                .filter_map(|q| q.metric_stat().and_then(|s| s.metric()).cloned())
                .collect();
            ids == [Some("m0"), Some("m1")]
                && metrics
                    == [
                        dms_metric("CDCLatencySource", "old-instance"),
                        dms_metric("CDCLatencySource", "new-instance"),
                    ]
        })
        .then_output(|| {
            GetMetricDataOutput::builder()
                // Newest first (`TimestampDescending`), per result.
                .metric_data_results(result("m0", &[(FROM + 300.0, 12.0), (FROM, 30.0)]))
                .metric_data_results(result("m1", &[(FROM + 360.0, 0.0), (FROM + 240.0, 2.0)]))
                .build()
        });
    let cw = cloudwatch(RuleMode::Sequential, &[&first, &second, &get]);
    let latest = cw
        .latest(TASK_ID, LatencyMetric::Source, FROM, TO)
        .await
        .unwrap();
    assert_eq!(
        latest,
        Some(Datapoint {
            epoch: FROM + 360.0,
            value: 0.0
        })
    );
    assert_eq!(
        (first.num_calls(), second.num_calls(), get.num_calls()),
        (1, 1, 1)
    );
}

/// GetMetricData pages by `NextToken` across its results: the second page,
/// asked with the same queries and the token, holds the other metric's
/// newer datapoint.
#[tokio::test]
async fn get_metric_data_follows_next_token() {
    let list = list_metrics_answering(vec![
        dms_metric("CDCLatencySource", "old-instance"),
        dms_metric("CDCLatencySource", "new-instance"),
    ]);
    let page1 = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|req| req.next_token().is_none())
        .then_output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("m0")
                        .status_code(StatusCode::PartialData)
                        .timestamps(DateTime::from_secs_f64(FROM + 180.0))
                        .values(7.0)
                        .build(),
                )
                .next_token("more")
                .build()
        });
    let page2 = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|req| {
            req.next_token() == Some("more") && req.metric_data_queries().len() == 2
        })
        .then_output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(result("m0", &[(FROM + 120.0, 8.0)]))
                .metric_data_results(result("m1", &[(FROM + 240.0, 1.0)]))
                .build()
        });
    let cw = cloudwatch(RuleMode::Sequential, &[&list, &page1, &page2]);
    let latest = cw
        .latest(TASK_ID, LatencyMetric::Source, FROM, TO)
        .await
        .unwrap();
    assert_eq!(
        latest,
        Some(Datapoint {
            epoch: FROM + 240.0,
            value: 1.0
        })
    );
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
}

/// ListMetrics lists nothing for the task: `None`, without a GetMetricData
/// call. Listed metrics whose `MetricDataResult` has no `Timestamps` in the
/// window: `None` too.
#[tokio::test]
async fn no_metric_or_no_datapoint_is_none() {
    let nothing = list_metrics_answering(Vec::new());
    let get = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .then_output(|| GetMetricDataOutput::builder().build());
    let cw = cloudwatch(RuleMode::MatchAny, &[&nothing, &get]);
    let latest = cw
        .latest(TASK_ID, LatencyMetric::Source, FROM, TO)
        .await
        .unwrap();
    assert_eq!(latest, None);
    assert_eq!((nothing.num_calls(), get.num_calls()), (1, 0));

    let listed = list_metrics_answering(vec![dms_metric("CDCLatencySource", "instance-a")]);
    let empty = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_output(|| {
        GetMetricDataOutput::builder()
            .metric_data_results(result("m0", &[]))
            .build()
    });
    let cw = cloudwatch(RuleMode::Sequential, &[&listed, &empty]);
    let latest = cw
        .latest(TASK_ID, LatencyMetric::Source, FROM, TO)
        .await
        .unwrap();
    assert_eq!(latest, None);
    assert_eq!(empty.num_calls(), 1);
}

/// CloudWatch's throttling error (code `Throttling`, "Rate exceeded") on
/// either call is Transient and names the operation.
#[tokio::test]
async fn a_throttling_error_is_transient() {
    let throttling = || {
        ErrorMetadata::builder()
            .code("Throttling")
            .message("Rate exceeded")
            .build()
    };
    let list_throttled = mock!(aws_sdk_cloudwatch::Client::list_metrics)
        .then_error(move || ListMetricsError::generic(throttling()));
    let listed = list_metrics_answering(vec![dms_metric("CDCLatencySource", "instance-a")]);
    let get_throttled = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .then_error(move || GetMetricDataError::generic(throttling()));
    let cw = cloudwatch(
        RuleMode::Sequential,
        &[&list_throttled, &listed, &get_throttled],
    );
    let err = cw
        .latest(TASK_ID, LatencyMetric::Source, FROM, TO)
        .await
        .unwrap_err();
    assert_eq!(
        (err.operation, err.kind),
        ("ListMetrics", FailureKind::Transient)
    );
    // An unmodeled error displays as its code only (`classify`).
    assert!(err.message.contains("Throttling"), "{err}");
    let err = cw
        .latest(TASK_ID, LatencyMetric::Source, FROM, TO)
        .await
        .unwrap_err();
    assert_eq!(
        (err.operation, err.kind),
        ("GetMetricData", FailureKind::Transient)
    );
}

/// A `MetricDataResult` with `StatusCode` `InternalError` and no
/// `NextToken` to retry with may miss datapoints: Transient, not an answer.
#[tokio::test]
async fn an_internal_error_status_without_next_token_is_transient() {
    let listed = list_metrics_answering(vec![dms_metric("CDCLatencySource", "instance-a")]);
    let get = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_output(|| {
        GetMetricDataOutput::builder()
            .metric_data_results(
                MetricDataResult::builder()
                    .id("m0")
                    .status_code(StatusCode::InternalError)
                    .messages(
                        MessageData::builder()
                            .code("InternalError")
                            .value("try again")
                            .build(),
                    )
                    .timestamps(DateTime::from_secs_f64(FROM))
                    .values(0.0)
                    .build(),
            )
            .build()
    });
    let cw = cloudwatch(RuleMode::Sequential, &[&listed, &get]);
    let err = cw
        .latest(TASK_ID, LatencyMetric::Source, FROM, TO)
        .await
        .unwrap_err();
    assert_eq!(
        (err.operation, err.kind),
        ("GetMetricData", FailureKind::Transient)
    );
    assert!(err.message.contains("try again"), "{err}");
}

// ---------------------------------------------------------------------------
// DMS: DescribeReplicationTasks, DescribeTableStatistics
// ---------------------------------------------------------------------------

/// DescribeReplicationTasks filtered by `replication-task-arn`, with the
/// settings (`WithoutSettings` false), answering the task with
/// `ReplicationTaskSettings` `settings`.
fn task_with_settings(settings: Option<&'static str>) -> Rule {
    mock!(aws_sdk_databasemigration::Client::describe_replication_tasks)
        .match_requests(|req| {
            req.without_settings() == Some(false)
                && req.filters().iter().any(|f| {
                    f.name() == "replication-task-arn" && f.values() == [TASK_ARN.to_owned()]
                })
        })
        .then_output(move || {
            DescribeReplicationTasksOutput::builder()
                .replication_tasks(
                    ReplicationTask::builder()
                        .replication_task_arn(TASK_ARN)
                        .status("stopped")
                        .set_replication_task_settings(settings.map(str::to_owned))
                        .build(),
                )
                .build()
        })
}

const VALIDATING: &str = r#"{"TargetMetadata":{"TargetSchema":""},"ValidationSettings":{"EnableValidation":true,"ValidationMode":"ROW_LEVEL","ThreadCount":5,"FailureMaxCount":10000}}"#;
const NOT_VALIDATING: &str = r#"{"ValidationSettings":{"EnableValidation":false,"ThreadCount":5}}"#;

/// A `TableStatistics` entry: `SchemaName`, `TableName`, `ValidationState`
/// and the `Validation{Pending,Failed,Suspended}Records` counts.
fn table_stats(table: &str, state: &str, counts: (i64, i64, i64)) -> TableStatistics {
    TableStatistics::builder()
        .schema_name("app")
        .table_name(table)
        .table_state("Table completed")
        .full_load_rows(1000)
        .validation_state(state)
        .validation_pending_records(counts.0)
        .validation_failed_records(counts.1)
        .validation_suspended_records(counts.2)
        .build()
}

/// With `ValidationSettings.EnableValidation` true, DescribeTableStatistics
/// (`ReplicationTaskArn`, `MaxRecords` 500) maps each `TableStatistics`
/// entry: `schema.table`, `ValidationState` (empty is `unknown`),
/// `ValidationPendingRecords`, `ValidationFailedRecords`,
/// `ValidationSuspendedRecords`.
#[tokio::test]
async fn describe_table_statistics_fields_map() {
    let task = task_with_settings(Some(VALIDATING));
    let stats = mock!(aws_sdk_databasemigration::Client::describe_table_statistics)
        .match_requests(|req| {
            req.replication_task_arn() == Some(TASK_ARN)
                && req.max_records() == Some(500)
                && req.marker().is_none()
        })
        .then_output(|| {
            DescribeTableStatisticsOutput::builder()
                .replication_task_arn(TASK_ARN)
                .table_statistics(table_stats("orders", "Mismatched records", (3, 2, 1)))
                .table_statistics(table_stats("customers", "", (0, 0, 0)))
                .build()
        });
    let client = mock_client!(
        aws_sdk_databasemigration,
        RuleMode::Sequential,
        [&task, &stats]
    );
    let validation = DmsClient::new(client).validation(TASK_ARN).await.unwrap();
    assert_eq!(
        validation,
        TaskValidation {
            enabled: true,
            tables: vec![
                TableValidation {
                    table: "app.orders".into(),
                    state: "Mismatched records".into(),
                    pending_records: 3,
                    failed_records: 2,
                    suspended_records: 1,
                },
                TableValidation {
                    table: "app.customers".into(),
                    state: "unknown".into(),
                    pending_records: 0,
                    failed_records: 0,
                    suspended_records: 0,
                },
            ],
        }
    );
    assert_eq!(stats.num_calls(), 1);
}

/// DescribeTableStatistics pages by `Marker`: the second request carries the
/// first answer's marker, and the tables of both pages are kept.
#[tokio::test]
async fn describe_table_statistics_follows_the_marker() {
    let task = task_with_settings(Some(VALIDATING));
    let page1 = mock!(aws_sdk_databasemigration::Client::describe_table_statistics)
        .match_requests(|req| req.marker().is_none())
        .then_output(|| {
            DescribeTableStatisticsOutput::builder()
                .table_statistics(table_stats("orders", "Validated", (0, 0, 0)))
                .marker("after-orders")
                .build()
        });
    let page2 = mock!(aws_sdk_databasemigration::Client::describe_table_statistics)
        .match_requests(|req| {
            req.marker() == Some("after-orders") && req.replication_task_arn() == Some(TASK_ARN)
        })
        .then_output(|| {
            DescribeTableStatisticsOutput::builder()
                .table_statistics(table_stats("payments", "Pending records", (5, 0, 0)))
                .build()
        });
    let client = mock_client!(
        aws_sdk_databasemigration,
        RuleMode::Sequential,
        [&task, &page1, &page2]
    );
    let validation = DmsClient::new(client).validation(TASK_ARN).await.unwrap();
    let tables: Vec<_> = validation
        .tables
        .iter()
        .map(|t| (t.table.as_str(), t.state.as_str(), t.pending_records))
        .collect();
    assert_eq!(
        tables,
        [
            ("app.orders", "Validated", 0),
            ("app.payments", "Pending records", 5)
        ]
    );
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
}

/// `EnableValidation` false, or no `ReplicationTaskSettings` at all: off,
/// and DescribeTableStatistics is never called (its rule, always eligible
/// under `MatchAny`, counts no invocation).
#[tokio::test]
async fn validation_off_makes_no_describe_table_statistics_call() {
    for settings in [Some(NOT_VALIDATING), Some("{}"), None] {
        let task = task_with_settings(settings);
        let stats = mock!(aws_sdk_databasemigration::Client::describe_table_statistics)
            .then_output(|| {
                DescribeTableStatisticsOutput::builder()
                    .table_statistics(table_stats("orders", "Validated", (0, 0, 0)))
                    .build()
            });
        let client = mock_client!(
            aws_sdk_databasemigration,
            RuleMode::MatchAny,
            [&task, &stats]
        );
        let validation = DmsClient::new(client).validation(TASK_ARN).await.unwrap();
        assert_eq!(
            validation,
            TaskValidation {
                enabled: false,
                tables: Vec::new()
            },
            "{settings:?}"
        );
        assert_eq!(
            (task.num_calls(), stats.num_calls()),
            (1, 0),
            "{settings:?}"
        );
    }
}

/// `ReplicationTaskSettings` that is not JSON, or an `EnableValidation`
/// that is not a boolean, leaves validation unknown: Permanent, naming
/// the task.
#[tokio::test]
async fn unparsable_settings_are_permanent() {
    for settings in [
        r#"{"ValidationSettings":{"EnableValidation":tru"#,
        r#"{"ValidationSettings":{"EnableValidation":"yes"}}"#,
    ] {
        let task = task_with_settings(Some(settings));
        let client = mock_client!(aws_sdk_databasemigration, RuleMode::MatchAny, [&task]);
        let err = DmsClient::new(client)
            .validation(TASK_ARN)
            .await
            .unwrap_err();
        assert_eq!(err.kind, FailureKind::Permanent, "{err}");
        assert!(err.message.contains(TASK_ARN), "{err}");
    }
}

/// DescribeReplicationTasks answering `ResourceNotFoundFault` (what DMS
/// says when the filter matches no task), or a list without the task:
/// NotFound.
#[tokio::test]
async fn a_missing_task_is_not_found() {
    let fault =
        mock!(aws_sdk_databasemigration::Client::describe_replication_tasks).then_error(|| {
            DescribeReplicationTasksError::ResourceNotFoundFault(
                ResourceNotFoundFault::builder()
                    .message("No Tasks found matching provided filters")
                    .build(),
            )
        });
    let empty = mock!(aws_sdk_databasemigration::Client::describe_replication_tasks)
        .then_output(|| DescribeReplicationTasksOutput::builder().build());
    let client = mock_client!(
        aws_sdk_databasemigration,
        RuleMode::Sequential,
        [&fault, &empty]
    );
    let dms = DmsClient::new(client);
    for _ in 0..2 {
        let err = dms.validation(TASK_ARN).await.unwrap_err();
        assert_eq!(
            (err.operation, err.kind),
            ("DescribeReplicationTasks", FailureKind::NotFound)
        );
        assert!(err.message.contains(TASK_ARN), "{err}");
    }
}
