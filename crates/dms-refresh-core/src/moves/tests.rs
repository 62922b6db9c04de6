//! The plan of a move and how far it has got.

use super::*;
use crate::fakes::{NEW_INSTANCE, OLD_INSTANCE, task};

const A: &str = "arn:aws:dms:eu-west-1:123456789012:task:A";
const B: &str = "arn:aws:dms:eu-west-1:123456789012:task:B";

fn on(instance: &str, arn: &str, status: TaskStatus) -> TaskInfo {
    let mut t = task(arn, status);
    t.replication_instance_arn = Some(instance.to_owned());
    t
}

#[test]
fn each_status_has_its_step_and_the_rest_are_refused() {
    use TaskStatus::*;
    let cases = [
        (OLD_INSTANCE, Running, Ok(MoveStep::Stop)),
        (OLD_INSTANCE, Stopping, Ok(MoveStep::Stopping)),
        (OLD_INSTANCE, Stopped, Ok(MoveStep::Move)),
        (OLD_INSTANCE, Failed, Ok(MoveStep::Move)),
        (OLD_INSTANCE, Ready, Ok(MoveStep::Move)),
        // "A replication task can be started, modified, moved, or deleted"
        // in failed-move (seed 000).
        (OLD_INSTANCE, FailedMove, Ok(MoveStep::Move)),
        (OLD_INSTANCE, Moving, Ok(MoveStep::Moving)),
        (NEW_INSTANCE, Stopped, Ok(MoveStep::Moved)),
        (NEW_INSTANCE, Running, Ok(MoveStep::Moved)),
        (NEW_INSTANCE, FailedMove, Ok(MoveStep::Move)),
    ];
    for (instance, status, want) in cases {
        let t = on(instance, A, status.clone());
        assert_eq!(step_for(&t, NEW_INSTANCE), want, "{status:?} on {instance}");
    }
    for status in [Creating, Starting, Modifying, Deleting, Testing] {
        let t = on(OLD_INSTANCE, A, status.clone());
        let err = step_for(&t, NEW_INSTANCE).unwrap_err();
        assert!(err.contains(status.as_str()), "{err}");
    }
    let err = plan(
        &[on(OLD_INSTANCE, A, Running), on(OLD_INSTANCE, B, Creating)],
        NEW_INSTANCE,
    )
    .unwrap_err();
    assert!(err.starts_with("B is creating"), "{err}");
}

#[test]
fn a_move_is_done_only_when_every_task_has_stopped_on_the_target() {
    let record = MoveRecord::new(NEW_INSTANCE, false);
    let under_way = progress(
        &[
            on(NEW_INSTANCE, A, TaskStatus::Stopped),
            on(OLD_INSTANCE, B, TaskStatus::Moving),
        ],
        &record,
    );
    assert_eq!(under_way, MoveProgress::UnderWay(vec!["B (moving)".into()]));
    let stopping = progress(&[on(NEW_INSTANCE, A, TaskStatus::Stopping)], &record);
    assert!(
        matches!(stopping, MoveProgress::UnderWay(_)),
        "{stopping:?}"
    );
    let done = progress(
        &[
            on(NEW_INSTANCE, A, TaskStatus::Stopped),
            on(NEW_INSTANCE, B, TaskStatus::Running),
        ],
        &record,
    );
    assert_eq!(done, MoveProgress::Done);
    let mut failed = on(OLD_INSTANCE, B, TaskStatus::FailedMove);
    failed.last_failure_message = Some("not enough storage".into());
    assert_eq!(
        progress(&[on(OLD_INSTANCE, A, TaskStatus::Moving), failed], &record),
        MoveProgress::Failed(vec!["B: not enough storage".into()])
    );
}

#[test]
fn instance_arns_are_told_from_other_arns() {
    assert!(is_instance_arn(NEW_INSTANCE));
    assert!(is_instance_arn(
        "arn:aws-cn:dms:cn-north-1:123456789012:rep:ABC-1"
    ));
    for bad in [
        A,
        "NEWINSTANCE",
        "arn:aws:dms:eu-west-1:123456789012:rep:",
        "arn:aws:dms:eu-west-1:12345:rep:X",
        "arn:aws:rds:eu-west-1:123456789012:rep:X",
        "arn:aws:dms:eu-west-1:123456789012:rep:X;drop",
    ] {
        assert!(!is_instance_arn(bad), "{bad}");
    }
}
