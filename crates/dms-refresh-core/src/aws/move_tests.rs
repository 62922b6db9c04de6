//! The adapters of a `move` against `aws-smithy-mocks` clients answering
//! with the response shapes of the DMS and EventBridge API references.

use aws_sdk_databasemigration::operation::describe_replication_tasks::DescribeReplicationTasksOutput;
use aws_sdk_databasemigration::operation::move_replication_task::{
    MoveReplicationTaskError, MoveReplicationTaskOutput,
};
use aws_sdk_databasemigration::types::ReplicationTask;
use aws_sdk_databasemigration::types::error::{InvalidResourceStateFault, ResourceNotFoundFault};
use aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput;
use aws_sdk_eventbridge::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_eventbridge::operation::tag_resource::TagResourceOutput;
use aws_sdk_eventbridge::operation::untag_resource::UntagResourceOutput;
use aws_sdk_eventbridge::types::Tag;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::moves::MoveRecord;

const TASK: &str = "arn:aws:dms:eu-west-1:123456789012:task:TASK1";
const OLD: &str = "arn:aws:dms:eu-west-1:123456789012:rep:OLD";
const NEW: &str = "arn:aws:dms:eu-west-1:123456789012:rep:NEW";
const CHECKPOINT: &str = "checkpoint:V1#27#mysql-bin-changelog.157832:1975:-1:2002:677883278264080:mysql-bin-changelog.157832:1876#0#0#*#0#93";

/// MoveReplicationTask takes `ReplicationTaskArn` and
/// `TargetReplicationInstanceArn` and answers with the task, `Status`
/// `moving` (API reference, MoveReplicationTask).
#[tokio::test]
async fn move_sends_the_task_and_the_target_instance() {
    let rule = mock!(aws_sdk_databasemigration::Client::move_replication_task)
        .match_requests(|req| {
            req.replication_task_arn() == Some(TASK)
                && req.target_replication_instance_arn() == Some(NEW)
        })
        .then_output(|| {
            MoveReplicationTaskOutput::builder()
                .replication_task(
                    ReplicationTask::builder()
                        .replication_task_arn(TASK)
                        .status("moving")
                        .replication_instance_arn(OLD)
                        .target_replication_instance_arn(NEW)
                        .build(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_databasemigration, [&rule]);
    DmsClient::new(client).move_task(TASK, NEW).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

/// The faults MoveReplicationTask documents: `InvalidResourceStateFault`
/// (a running task) and `ResourceNotFoundFault` keep their kind.
#[tokio::test]
async fn move_faults_keep_their_kind() {
    let invalid =
        mock!(aws_sdk_databasemigration::Client::move_replication_task).then_error(|| {
            MoveReplicationTaskError::InvalidResourceStateFault(
                InvalidResourceStateFault::builder()
                    .message("Replication task is running")
                    .build(),
            )
        });
    let missing =
        mock!(aws_sdk_databasemigration::Client::move_replication_task).then_error(|| {
            MoveReplicationTaskError::ResourceNotFoundFault(
                ResourceNotFoundFault::builder()
                    .message("Replication instance not found")
                    .build(),
            )
        });
    let client = mock_client!(
        aws_sdk_databasemigration,
        RuleMode::Sequential,
        [&invalid, &missing]
    );
    let dms = DmsClient::new(client);
    let first = dms.move_task(TASK, NEW).await.unwrap_err();
    assert_eq!(first.kind, FailureKind::InvalidState);
    assert_eq!(first.operation, "MoveReplicationTask");
    let second = dms.move_task(TASK, NEW).await.unwrap_err();
    assert_eq!(second.kind, FailureKind::NotFound);
    assert!(second.message.contains("instance not found"), "{second}");
}

/// `ReplicationTask.RecoveryCheckpoint` and `ReplicationInstanceArn` are
/// read from DescribeReplicationTasks; an empty checkpoint is none.
#[tokio::test]
async fn describe_reads_the_instance_and_the_recovery_checkpoint() {
    let answer = |checkpoint: &'static str| {
        mock!(aws_sdk_databasemigration::Client::describe_replication_tasks).then_output(
            move || {
                DescribeReplicationTasksOutput::builder()
                    .replication_tasks(
                        ReplicationTask::builder()
                            .replication_task_arn(TASK)
                            .status("failed-move")
                            .replication_instance_arn(OLD)
                            .recovery_checkpoint(checkpoint)
                            .build(),
                    )
                    .build()
            },
        )
    };
    let (kept, empty) = (answer(CHECKPOINT), answer(" "));
    let client = mock_client!(
        aws_sdk_databasemigration,
        RuleMode::Sequential,
        [&kept, &empty]
    );
    let dms = DmsClient::new(client);
    let task = dms.describe_task(TASK).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::FailedMove);
    assert_eq!(task.replication_instance_arn.as_deref(), Some(OLD));
    assert_eq!(task.recovery_checkpoint.as_deref(), Some(CHECKPOINT));
    let task = dms.describe_task(TASK).await.unwrap().unwrap();
    assert_eq!(task.recovery_checkpoint, None);
}

/// The move record goes to the rule's tags (TagResource), a tag no longer
/// part of it is removed (UntagResource), and it reads back whole.
#[tokio::test]
async fn the_move_record_is_kept_in_the_rules_tags() {
    const RULE_ARN: &str = "arn:aws:events:eu-west-1:123456789012:rule/nightly";
    const STALE: &str = "dms-refresh:move-checkpoint:OTHER";
    let mut record = MoveRecord::new(NEW, true);
    record.keep_checkpoint(TASK, CHECKPOINT);
    let written = crate::moves::to_tags(&record);
    let describe = mock!(aws_sdk_eventbridge::Client::describe_rule).then_output(|| {
        DescribeRuleOutput::builder()
            .name("nightly")
            .arn(RULE_ARN)
            .build()
    });
    let expected = written.clone();
    let tag = mock!(aws_sdk_eventbridge::Client::tag_resource)
        .match_requests(move |req| {
            req.resource_arn() == Some(RULE_ARN)
                && req.tags().len() == expected.len()
                && expected
                    .iter()
                    .all(|(k, v)| req.tags().iter().any(|t| t.key() == k && t.value() == v))
        })
        .then_output(|| TagResourceOutput::builder().build());
    let untag = mock!(aws_sdk_eventbridge::Client::untag_resource)
        .match_requests(|req| req.tag_keys() == [STALE.to_owned()])
        .then_output(|| UntagResourceOutput::builder().build());
    let listed = written.clone();
    let list = mock!(aws_sdk_eventbridge::Client::list_tags_for_resource).then_output(move || {
        let mut out = ListTagsForResourceOutput::builder()
            .tags(Tag::builder().key(STALE).value("00").build().unwrap())
            .tags(Tag::builder().key("team").value("dba").build().unwrap());
        for (k, v) in &listed {
            out = out.tags(Tag::builder().key(k).value(v).build().unwrap());
        }
        out.build()
    });
    let client = mock_client!(
        aws_sdk_eventbridge,
        RuleMode::MatchAny,
        [&describe, &tag, &untag, &list]
    );
    let eb = EventBridgeClient::new(client);
    eb.set_move_record("nightly", Some(&record)).await.unwrap();
    assert_eq!((tag.num_calls(), untag.num_calls()), (1, 1));
    let back = eb.move_record("nightly").await.unwrap().unwrap();
    assert_eq!(back.checkpoint_of(TASK), Some(CHECKPOINT));
    assert_eq!(back.target_instance_arn, NEW);
    assert!(back.resume);
}
