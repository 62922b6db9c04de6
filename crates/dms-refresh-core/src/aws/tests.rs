//! The adapters against `aws-smithy-mocks` clients answering with the
//! response shapes of the AWS API references.

use super::*;
use aws_sdk_databasemigration::operation::describe_replication_tasks::{
    DescribeReplicationTasksError, DescribeReplicationTasksOutput,
};
use aws_sdk_databasemigration::operation::start_replication_task::{
    StartReplicationTaskError, StartReplicationTaskOutput,
};
use aws_sdk_databasemigration::types::error::{InvalidResourceStateFault, ResourceNotFoundFault};
use aws_sdk_databasemigration::types::{ReplicationTask, ReplicationTaskStats};
use aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

const ARN: &str = "arn:aws:dms:eu-west-1:123456789012:task:TASK1";

fn sdk_task(status: &str) -> ReplicationTask {
    ReplicationTask::builder()
        .replication_task_arn(ARN)
        .replication_task_identifier("nightly-refresh")
        .status(status)
        .migration_type(MigrationTypeValue::FullLoad)
        .stop_reason("Stop Reason FULL_LOAD_ONLY_FINISHED")
        .target_endpoint_arn("arn:aws:dms:eu-west-1:123456789012:endpoint:TGT")
        .replication_task_start_date(aws_smithy_types::DateTime::from_secs(1_790_000_000))
        .replication_task_stats(
            ReplicationTaskStats::builder()
                .full_load_progress_percent(100)
                .start_date(aws_smithy_types::DateTime::from_secs(1_790_000_100))
                .build(),
        )
        .build()
}

#[tokio::test]
async fn describe_filters_by_arn_and_maps_every_field() {
    let rule = mock!(aws_sdk_databasemigration::Client::describe_replication_tasks)
        .match_requests(|req| {
            req.filters().len() == 1
                && req.filters()[0].name() == "replication-task-arn"
                && req.filters()[0].values() == [ARN]
                && req.without_settings() == Some(true)
        })
        .then_output(|| {
            DescribeReplicationTasksOutput::builder()
                .replication_tasks(sdk_task("stopped"))
                .build()
        });
    let client = mock_client!(aws_sdk_databasemigration, [&rule]);
    let task = DmsClient::new(client)
        .describe_task(ARN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
    assert_eq!(task.identifier, "nightly-refresh");
    assert_eq!(task.status, TaskStatus::Stopped);
    assert_eq!(task.migration_type, Some(RefreshType::FullLoad));
    assert_eq!(
        task.stop_reason.as_deref(),
        Some("Stop Reason FULL_LOAD_ONLY_FINISHED")
    );
    assert_eq!(
        task.start_date_epoch,
        Some(1_790_000_100.0),
        "the latest start date names the run"
    );
    assert_eq!(task.full_load_progress_percent, Some(100));
}

/// Two nights of DescribeReplicationTasks answers for the same task.
fn night(stats_start: i64, fresh_start: i64, stop: i64) -> ReplicationTask {
    ReplicationTask::builder()
        .replication_task_arn(ARN)
        .replication_task_identifier("nightly-refresh")
        .status("stopped")
        .migration_type(MigrationTypeValue::FullLoad)
        .replication_task_stats(
            ReplicationTaskStats::builder()
                .full_load_progress_percent(100)
                .start_date(aws_smithy_types::DateTime::from_secs(stats_start))
                .fresh_start_date(aws_smithy_types::DateTime::from_secs(fresh_start))
                .stop_date(aws_smithy_types::DateTime::from_secs(stop))
                .build(),
        )
        .build()
}

async fn described(tasks: [ReplicationTask; 2]) -> [TaskInfo; 2] {
    let [first, second] = tasks;
    let one = mock!(aws_sdk_databasemigration::Client::describe_replication_tasks).then_output(
        move || {
            DescribeReplicationTasksOutput::builder()
                .replication_tasks(first.clone())
                .build()
        },
    );
    let two = mock!(aws_sdk_databasemigration::Client::describe_replication_tasks).then_output(
        move || {
            DescribeReplicationTasksOutput::builder()
                .replication_tasks(second.clone())
                .build()
        },
    );
    let client = mock_client!(
        aws_sdk_databasemigration,
        RuleMode::Sequential,
        [&one, &two]
    );
    let dms = DmsClient::new(client);
    let a = dms.describe_task(ARN).await.unwrap().unwrap();
    let b = dms.describe_task(ARN).await.unwrap().unwrap();
    [a, b]
}

/// Issue 9 item 1. The DMS API reference: `ReplicationTaskStats.StartDate`
/// is "the date the replication task was started either with a fresh
/// start or a resume"; `ReplicationTaskStats.FreshStartDate` is "the date
/// the replication task was started either with a fresh start or a target
/// reload". The nightly reload-target moves only FreshStartDate; a
/// resume-processing moves only StartDate; each must name a new run.
#[tokio::test]
async fn every_start_type_gives_a_new_run_id() {
    use crate::runs::run_id;
    let night1 = (1_790_000_000, 1_790_000_000, 1_790_003_600);
    // reload-target: only FreshStartDate moves.
    let [a, b] = described([
        night(night1.0, night1.1, night1.2),
        night(night1.0, 1_790_086_400, 1_790_090_000),
    ])
    .await;
    assert_ne!(
        run_id(std::slice::from_ref(&a)),
        run_id(std::slice::from_ref(&b))
    );
    assert_eq!(b.start_date_epoch, Some(1_790_086_400.0));
    // resume-processing: only StartDate moves.
    let [a, b] = described([
        night(night1.0, night1.1, night1.2),
        night(1_790_086_400, night1.1, 1_790_090_000),
    ])
    .await;
    assert_ne!(run_id(&[a]), run_id(&[b]));
    // Neither moves: the same identity; the later StopDate is what the
    // post-processor uses to refuse it (post::tests::
    // a_later_stop_with_the_same_start_dates_is_refused_not_ignored).
    let [a, b] = described([
        night(night1.0, night1.1, night1.2),
        night(night1.0, night1.1, 1_790_090_000),
    ])
    .await;
    assert_eq!(
        run_id(std::slice::from_ref(&a)),
        run_id(std::slice::from_ref(&b))
    );
    assert_eq!(
        (a.stop_date_epoch, b.stop_date_epoch),
        (Some(1_790_003_600.0), Some(1_790_090_000.0))
    );
}

/// Issue 11 item 5: an in-place run must know whether the target was
/// reloaded. From the same two fields of `ReplicationTaskStats`: a
/// resume-processing moves `StartDate` ("a fresh start or a resume") past
/// `FreshStartDate` ("a fresh start or a target reload"); a reload-target
/// moves `FreshStartDate`; a first start-replication sets both.
#[tokio::test]
async fn a_resume_is_told_from_a_reload_by_start_date_and_fresh_start_date() {
    let night1 = (1_790_000_000, 1_790_000_000, 1_790_003_600);
    let [first, reloaded] = described([
        night(night1.0, night1.1, night1.2),
        night(night1.0, 1_790_086_400, 1_790_090_000),
    ])
    .await;
    assert!(
        !first.resumed_without_reload,
        "start-replication sets both dates"
    );
    assert!(!reloaded.resumed_without_reload, "reload-target");
    let [_, resumed] = described([
        night(night1.0, night1.1, night1.2),
        night(1_790_086_400, night1.1, 1_790_090_000),
    ])
    .await;
    assert!(resumed.resumed_without_reload, "resume-processing");
}

#[tokio::test]
async fn the_cdc_stop_position_is_read_from_the_task() {
    let rule =
        mock!(aws_sdk_databasemigration::Client::describe_replication_tasks).then_output(|| {
            let task = ReplicationTask::builder()
                .replication_task_arn(ARN)
                .status("stopped")
                .migration_type(MigrationTypeValue::Cdc)
                .stop_reason("STOPPED_AT_COMMIT_TIME")
                .cdc_stop_position("commit_time:2026-11-21T00:00:00")
                .build();
            DescribeReplicationTasksOutput::builder()
                .replication_tasks(task)
                .build()
        });
    let client = mock_client!(aws_sdk_databasemigration, [&rule]);
    let task = DmsClient::new(client)
        .describe_task(ARN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        task.cdc_stop_position.as_deref(),
        Some("commit_time:2026-11-21T00:00:00")
    );
    assert_eq!(task.migration_type, Some(RefreshType::Cdc));
}

#[tokio::test]
async fn the_rule_lock_is_kept_in_the_rules_tags() {
    use aws_sdk_eventbridge::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_eventbridge::operation::tag_resource::TagResourceOutput;
    use aws_sdk_eventbridge::operation::untag_resource::UntagResourceOutput;
    use aws_sdk_eventbridge::types::Tag;
    const RULE_ARN: &str = "arn:aws:events:eu-west-1:123456789012:rule/nightly";
    let describe = mock!(aws_sdk_eventbridge::Client::describe_rule).then_output(|| {
        DescribeRuleOutput::builder()
            .name("nightly")
            .arn(RULE_ARN)
            .build()
    });
    let tag = mock!(aws_sdk_eventbridge::Client::tag_resource)
        .match_requests(|req| {
            req.resource_arn() == Some(RULE_ARN)
                && req
                    .tags()
                    .iter()
                    .any(|t| t.key() == rule_lock::OWNER && t.value() == "schedule:e1")
                && req
                    .tags()
                    .iter()
                    .any(|t| t.key() == rule_lock::SINCE && t.value() == "1790000000")
        })
        .then_output(|| TagResourceOutput::builder().build());
    let untag = mock!(aws_sdk_eventbridge::Client::untag_resource)
        .match_requests(|req| {
            req.resource_arn() == Some(RULE_ARN)
                && req.tag_keys().contains(&rule_lock::HANDLED_RUN.to_owned())
        })
        .then_output(|| UntagResourceOutput::builder().build());
    let list = mock!(aws_sdk_eventbridge::Client::list_tags_for_resource)
        .match_requests(|req| req.resource_arn() == Some(RULE_ARN))
        .then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(
                    Tag::builder()
                        .key(rule_lock::OWNER)
                        .value("schedule:e1")
                        .build()
                        .unwrap(),
                )
                .tags(
                    Tag::builder()
                        .key(rule_lock::SINCE)
                        .value("1790000000")
                        .build()
                        .unwrap(),
                )
                .tags(Tag::builder().key("team").value("dba").build().unwrap())
                .build()
        });
    let client = mock_client!(
        aws_sdk_eventbridge,
        RuleMode::MatchAny,
        [&describe, &tag, &untag, &list]
    );
    let eb = EventBridgeClient::new(client);
    let lock = RuleLock::taken("schedule:e1", 1_790_000_000, false);
    eb.set_lock("nightly", &lock).await.unwrap();
    assert_eq!(eb.lock("nightly").await.unwrap(), Some(lock));
    eb.clear_lock("nightly").await.unwrap();
    assert_eq!(
        (tag.num_calls(), untag.num_calls(), list.num_calls()),
        (1, 2, 1)
    );
}

#[tokio::test]
async fn an_event_subscriptions_status_is_read_by_name() {
    use aws_sdk_databasemigration::operation::describe_event_subscriptions::DescribeEventSubscriptionsOutput;
    use aws_sdk_databasemigration::types::EventSubscription;
    let rule = mock!(aws_sdk_databasemigration::Client::describe_event_subscriptions)
        .match_requests(|req| req.subscription_name() == Some("stack-dms-events"))
        .then_output(|| {
            DescribeEventSubscriptionsOutput::builder()
                .event_subscriptions_list(
                    EventSubscription::builder()
                        .cust_subscription_id("stack-dms-events")
                        .status("no-permission")
                        .build(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_databasemigration, [&rule]);
    let status = DmsClient::new(client)
        .event_subscription_status("stack-dms-events")
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("no-permission"));
}

/// The publish guard reads the table mappings of every task writing to
/// the target endpoint: DescribeReplicationTasks filtered by
/// `endpoint-arn` (which matches source and target endpoints alike),
/// with settings, across pages (`Marker`).
#[tokio::test]
async fn tasks_writing_to_an_endpoint_are_read_with_their_mappings_across_pages() {
    const EP: &str = "arn:aws:dms:eu-west-1:123456789012:endpoint:TGT";
    let task = |id: &str, target: &str| {
        ReplicationTask::builder()
            .replication_task_arn(format!("arn:aws:dms:eu-west-1:123456789012:task:{id}"))
            .replication_task_identifier(id)
            .target_endpoint_arn(target)
            .table_mappings(format!(r#"{{"rules":[],"id":"{id}"}}"#))
            .build()
    };
    let first = mock!(aws_sdk_databasemigration::Client::describe_replication_tasks)
        .match_requests(|req| {
            req.filters()[0].name() == "endpoint-arn"
                && req.filters()[0].values() == [EP]
                && req.without_settings() == Some(false)
                && req.marker().is_none()
        })
        .then_output(move || {
            DescribeReplicationTasksOutput::builder()
                .replication_tasks(task("nightly", EP))
                .replication_tasks(task(
                    "reverse",
                    "arn:aws:dms:eu-west-1:123456789012:endpoint:OTHER",
                ))
                .marker("page-2")
                .build()
        });
    let second = mock!(aws_sdk_databasemigration::Client::describe_replication_tasks)
        .match_requests(|req| req.marker() == Some("page-2"))
        .then_output(move || {
            DescribeReplicationTasksOutput::builder()
                .replication_tasks(task("legacy", EP))
                .build()
        });
    let client = mock_client!(
        aws_sdk_databasemigration,
        RuleMode::MatchAny,
        [&first, &second]
    );
    let tasks = DmsClient::new(client).tasks_writing_to(EP).await.unwrap();
    let ids: Vec<&str> = tasks.iter().map(|t| t.identifier.as_str()).collect();
    assert_eq!(ids, ["nightly", "legacy"]);
    assert!(
        tasks[0]
            .table_mappings
            .as_deref()
            .unwrap_or_default()
            .contains("nightly")
    );
}

/// `MySqlSettings.TargetDbType` `specific-database` sends every table
/// into the endpoint's database.
#[tokio::test]
async fn a_mysql_single_database_endpoint_names_its_database() {
    use aws_sdk_databasemigration::operation::describe_endpoints::DescribeEndpointsOutput;
    use aws_sdk_databasemigration::types::{
        Endpoint, MySqlSettings, ReplicationEndpointTypeValue, TargetDbType,
    };
    const EP: &str = "arn:aws:dms:eu-west-1:123456789012:endpoint:TGT";
    let rule = mock!(aws_sdk_databasemigration::Client::describe_endpoints).then_output(|| {
        DescribeEndpointsOutput::builder()
            .endpoints(
                Endpoint::builder()
                    .endpoint_arn(EP)
                    .endpoint_type(ReplicationEndpointTypeValue::Target)
                    .engine_name("aurora")
                    .database_name("shop_quarantine")
                    .my_sql_settings(
                        MySqlSettings::builder()
                            .target_db_type(TargetDbType::SpecificDatabase)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let client = mock_client!(aws_sdk_databasemigration, [&rule]);
    let endpoint = DmsClient::new(client)
        .describe_endpoint(EP)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(endpoint.single_database.as_deref(), Some("shop_quarantine"));
}

#[tokio::test]
async fn describe_maps_not_found_and_empty_answers_to_none() {
    let not_found = mock!(aws_sdk_databasemigration::Client::describe_replication_tasks)
        .then_error(|| {
            DescribeReplicationTasksError::ResourceNotFoundFault(
                ResourceNotFoundFault::builder()
                    .message("No Tasks found")
                    .build(),
            )
        });
    let empty = mock!(aws_sdk_databasemigration::Client::describe_replication_tasks)
        .then_output(|| DescribeReplicationTasksOutput::builder().build());
    let client = mock_client!(
        aws_sdk_databasemigration,
        RuleMode::Sequential,
        [&not_found, &empty]
    );
    let dms = DmsClient::new(client);
    assert_eq!(dms.describe_task(ARN).await.unwrap(), None);
    assert_eq!(dms.describe_task(ARN).await.unwrap(), None);
}

#[tokio::test]
async fn start_sends_arn_start_type_and_cdc_stop_position() {
    let rule = mock!(aws_sdk_databasemigration::Client::start_replication_task)
        .match_requests(|req| {
            req.replication_task_arn() == Some(ARN)
                && req.start_replication_task_type()
                    == Some(&StartReplicationTaskTypeValue::ResumeProcessing)
                && req.cdc_stop_position() == Some("commit_time:2026-11-21T00:00:00")
        })
        .then_output(|| StartReplicationTaskOutput::builder().build());
    let plain = mock!(aws_sdk_databasemigration::Client::start_replication_task)
        .match_requests(|req| {
            req.start_replication_task_type() == Some(&StartReplicationTaskTypeValue::ReloadTarget)
                && req.cdc_stop_position().is_none()
        })
        .then_output(|| StartReplicationTaskOutput::builder().build());
    let client = mock_client!(
        aws_sdk_databasemigration,
        RuleMode::MatchAny,
        [&rule, &plain]
    );
    let dms = DmsClient::new(client);
    dms.start_task(&StartRequest {
        task_arn: ARN.into(),
        start_type: StartType::ResumeProcessing,
        cdc_stop_position: Some("commit_time:2026-11-21T00:00:00".into()),
        cdc_start: None,
    })
    .await
    .unwrap();
    dms.start_task(&StartRequest {
        task_arn: ARN.into(),
        start_type: StartType::ReloadTarget,
        cdc_stop_position: None,
        cdc_start: None,
    })
    .await
    .unwrap();
    assert_eq!((rule.num_calls(), plain.num_calls()), (1, 1));
}

/// StartReplicationTask's `CdcStartPosition` and `CdcStartTime` (API
/// reference: "Use either CdcStartPosition or CdcStartTime ... Specifying
/// both values results in an error"): a position is sent alone, a time alone,
/// as a timestamp.
#[tokio::test]
async fn start_sends_cdc_start_position_or_cdc_start_time_never_both() {
    use crate::cdc_start::CdcStart;
    let position = mock!(aws_sdk_databasemigration::Client::start_replication_task)
        .match_requests(|req| {
            req.start_replication_task_type()
                == Some(&StartReplicationTaskTypeValue::StartReplication)
                && req.cdc_start_position() == Some("1/87F75B28")
                && req.cdc_start_time().is_none()
        })
        .then_output(|| StartReplicationTaskOutput::builder().build());
    let time = mock!(aws_sdk_databasemigration::Client::start_replication_task)
        .match_requests(|req| {
            req.start_replication_task_type()
                == Some(&StartReplicationTaskTypeValue::ResumeProcessing)
                && req.cdc_start_position().is_none()
                && req.cdc_start_time().map(aws_smithy_types::DateTime::secs) == Some(1_795_219_200)
        })
        .then_output(|| StartReplicationTaskOutput::builder().build());
    let client = mock_client!(
        aws_sdk_databasemigration,
        RuleMode::MatchAny,
        [&position, &time]
    );
    let dms = DmsClient::new(client);
    for (start_type, cdc_start) in [
        (
            StartType::StartReplication,
            CdcStart::Position("1/87F75B28".into()),
        ),
        (StartType::ResumeProcessing, CdcStart::Time(1_795_219_200)),
    ] {
        dms.start_task(&StartRequest {
            task_arn: ARN.into(),
            start_type,
            cdc_stop_position: None,
            cdc_start: Some(cdc_start),
        })
        .await
        .unwrap();
    }
    assert_eq!((position.num_calls(), time.num_calls()), (1, 1));
}

/// StopReplicationTask names the task; `InvalidResourceStateFault` (the
/// task is not running) is told apart for the stop-at to look again.
#[tokio::test]
async fn stop_sends_the_arn_and_maps_invalid_state_fault() {
    use aws_sdk_databasemigration::operation::stop_replication_task::{
        StopReplicationTaskError, StopReplicationTaskOutput,
    };
    let ok = mock!(aws_sdk_databasemigration::Client::stop_replication_task)
        .match_requests(|req| req.replication_task_arn() == Some(ARN))
        .then_output(|| StopReplicationTaskOutput::builder().build());
    let client = mock_client!(aws_sdk_databasemigration, [&ok]);
    DmsClient::new(client).stop_task(ARN).await.unwrap();
    assert_eq!(ok.num_calls(), 1);
    let refused =
        mock!(aws_sdk_databasemigration::Client::stop_replication_task).then_error(|| {
            StopReplicationTaskError::InvalidResourceStateFault(
                InvalidResourceStateFault::builder()
                    .message("Replication task is not running")
                    .build(),
            )
        });
    let client = mock_client!(aws_sdk_databasemigration, [&refused]);
    let err = DmsClient::new(client).stop_task(ARN).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::InvalidState);
    assert!(err.message.contains("not running"), "{err}");
}

#[tokio::test]
async fn start_maps_invalid_state_fault() {
    let rule = mock!(aws_sdk_databasemigration::Client::start_replication_task).then_error(|| {
        StartReplicationTaskError::InvalidResourceStateFault(
            InvalidResourceStateFault::builder()
                .message("Task is currently being started")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_databasemigration, [&rule]);
    let err = DmsClient::new(client)
        .start_task(&StartRequest {
            task_arn: ARN.into(),
            start_type: StartType::ReloadTarget,
            cdc_stop_position: None,
            cdc_start: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::InvalidState);
    assert!(err.message.contains("being started"), "{err}");
}

#[tokio::test]
async fn rule_state_and_toggles() {
    use aws_sdk_eventbridge::types::RuleState as Sdk;
    let describe = mock!(aws_sdk_eventbridge::Client::describe_rule)
        .match_requests(|req| req.name() == Some("nightly"))
        .then_output(|| {
            DescribeRuleOutput::builder()
                .name("nightly")
                .state(Sdk::Enabled)
                .build()
        });
    let disable = mock!(aws_sdk_eventbridge::Client::disable_rule)
        .match_requests(|req| req.name() == Some("nightly"))
        .then_output(|| {
            aws_sdk_eventbridge::operation::disable_rule::DisableRuleOutput::builder().build()
        });
    let client = mock_client!(
        aws_sdk_eventbridge,
        RuleMode::MatchAny,
        [&describe, &disable]
    );
    let eb = EventBridgeClient::new(client);
    assert_eq!(
        eb.rule_state("nightly").await.unwrap(),
        Some(RuleState::Enabled)
    );
    eb.set_rule_state("nightly", RuleState::Disabled)
        .await
        .unwrap();
    assert_eq!(disable.num_calls(), 1);
}

#[tokio::test]
async fn the_schedule_expression_is_read_from_the_rule() {
    let describe = mock!(aws_sdk_eventbridge::Client::describe_rule)
        .match_requests(|req| req.name() == Some("nightly"))
        .then_output(|| {
            DescribeRuleOutput::builder()
                .name("nightly")
                .schedule_expression("cron(30 1 * * ? *)")
                .build()
        });
    let missing = mock!(aws_sdk_eventbridge::Client::describe_rule)
        .match_requests(|req| req.name() == Some("gone"))
        .then_error(|| {
            aws_sdk_eventbridge::operation::describe_rule::DescribeRuleError::ResourceNotFoundException(
                aws_sdk_eventbridge::types::error::ResourceNotFoundException::builder().build(),
            )
        });
    let client = mock_client!(
        aws_sdk_eventbridge,
        RuleMode::MatchAny,
        [&describe, &missing]
    );
    let eb = EventBridgeClient::new(client);
    assert_eq!(
        eb.schedule_expression("nightly").await.unwrap().as_deref(),
        Some("cron(30 1 * * ? *)")
    );
    assert_eq!(eb.schedule_expression("gone").await.unwrap(), None);
}

#[tokio::test]
async fn publish_sends_topic_subject_and_body() {
    let rule = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|req| {
            req.topic_arn() == Some("arn:aws:sns:eu-west-1:123456789012:alerts")
                && req.subject() == Some("subject")
                && req.message() == Some("{}")
        })
        .then_output(|| aws_sdk_sns::operation::publish::PublishOutput::builder().build());
    let client = mock_client!(aws_sdk_sns, [&rule]);
    SnsClient::new(client)
        .publish("arn:aws:sns:eu-west-1:123456789012:alerts", "subject", "{}")
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn describe_endpoint_filters_by_arn_and_maps_the_location() {
    use aws_sdk_databasemigration::operation::describe_endpoints::DescribeEndpointsOutput;
    use aws_sdk_databasemigration::types::{Endpoint, ReplicationEndpointTypeValue};
    const EP: &str = "arn:aws:dms:eu-west-1:123456789012:endpoint:TGT";
    let rule = mock!(aws_sdk_databasemigration::Client::describe_endpoints)
        .match_requests(|req| {
            req.filters()[0].name() == "endpoint-arn" && req.filters()[0].values() == [EP]
        })
        .then_output(|| {
            DescribeEndpointsOutput::builder()
                .endpoints(
                    Endpoint::builder()
                        .endpoint_arn(EP)
                        .endpoint_identifier("dev-target")
                        .endpoint_type(ReplicationEndpointTypeValue::Target)
                        .engine_name("aurora-postgresql")
                        .server_name("dev.cluster.example")
                        .port(5432)
                        .database_name("app")
                        .build(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_databasemigration, [&rule]);
    let endpoint = DmsClient::new(client)
        .describe_endpoint(EP)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(endpoint.endpoint_type, "target");
    assert_eq!(endpoint.server_name.as_deref(), Some("dev.cluster.example"));
    assert_eq!(endpoint.port, Some(5432));
    assert_eq!(endpoint.database_name.as_deref(), Some("app"));
}

#[tokio::test]
async fn secrets_are_read_by_arn() {
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    const ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:salt-AbCdEf";
    let rule = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|req| req.secret_id() == Some(ARN))
        .then_output(|| {
            GetSecretValueOutput::builder()
                .secret_string("s3cr3t")
                .build()
        });
    let empty = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .then_output(|| GetSecretValueOutput::builder().build());
    let client = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::Sequential,
        [&rule, &empty]
    );
    let secrets = SecretsClient::new(client);
    assert_eq!(secrets.secret_string(ARN).await.unwrap(), "s3cr3t");
    let err = secrets.secret_string(ARN).await.unwrap_err();
    assert!(err.message.contains("no string value") && !err.message.contains("s3cr3t"));
}
