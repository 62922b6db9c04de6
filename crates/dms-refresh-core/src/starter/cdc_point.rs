//! Before a CDC start from a native point: is the position of a shape the
//! source engine knows, and, for a PostgreSQL source whose secret is
//! configured, does the task's replication slot still hold it (seed 003)?

use serde::Serialize;

use super::StarterError;
use crate::cdc_start::{CdcStart, PositionShape, SlotVerdict, SlotView, classify, judge_slot};
use crate::config::Config;
use crate::ports::{Endpoints, ReplicationSlots, ReplicationTasks};
use crate::task::TaskInfo;

/// What was checked for one task of the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceCheck {
    pub task_id: String,
    pub source_engine: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<PositionShape>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<SlotCheck>,
}

/// The replication slot, as read and judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotCheck {
    pub slot_name: String,
    #[serde(flatten)]
    pub verdict: SlotVerdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<SlotView>,
}

/// The source side of a CDC start, reported in the starter's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CdcStartCheck {
    pub start: CdcStart,
    /// Per task; empty for a `CdcStartTime`, which needs no source check.
    pub tasks: Vec<SourceCheck>,
    /// Why the slot was not read, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot_not_checked: Option<String>,
}

impl CdcStartCheck {
    /// The first reason not to start, if any.
    fn refusal(&self) -> Option<String> {
        self.tasks
            .iter()
            .find_map(|t| match t.slot.as_ref()?.verdict {
                SlotVerdict::Available => None,
                SlotVerdict::NextAvailable { lsn } => Some(format!(
                    "{}: the replication slot {} no longer holds the requested LSN; the first \
                 change it holds after it is at {lsn}. Send the request again with \
                 \"cdc_start_position\": \"{lsn}\" to start there",
                    t.task_id,
                    t.slot.as_ref().map_or("", |s| s.slot_name.as_str())
                )),
                SlotVerdict::Refused { ref reason } => Some(format!("{}: {reason}", t.task_id)),
            })
    }
}

/// Check `start` against every task's source. A refusal is an error that
/// carries the whole check.
pub async fn check_source<D, S>(
    config: &Config,
    dms: &D,
    slots: Option<&S>,
    start: &CdcStart,
) -> Result<CdcStartCheck, StarterError>
where
    D: ReplicationTasks + Endpoints,
    S: ReplicationSlots,
{
    let mut check = CdcStartCheck {
        start: start.clone(),
        tasks: Vec::new(),
        slot_not_checked: None,
    };
    let CdcStart::Position(position) = start else {
        return Ok(check);
    };
    for arn in &config.task_arns {
        let task = dms
            .describe_task(arn)
            .await?
            .ok_or_else(|| StarterError::TaskNotFound(arn.clone()))?;
        let source = check_task(dms, slots, &task, position, &mut check).await?;
        check.tasks.push(source);
    }
    match check.refusal() {
        Some(reason) => Err(refused(&check, reason)),
        None => Ok(check),
    }
}

/// The position's shape for the task's source engine, and the slot when
/// the source is PostgreSQL.
async fn check_task<D, S>(
    dms: &D,
    slots: Option<&S>,
    task: &TaskInfo,
    position: &str,
    check: &mut CdcStartCheck,
) -> Result<SourceCheck, StarterError>
where
    D: Endpoints,
    S: ReplicationSlots,
{
    let source_arn = task.source_endpoint_arn.as_deref().unwrap_or_default();
    let Some(endpoint) = dms.describe_endpoint(source_arn).await? else {
        return Err(refused(
            check,
            format!(
                "{}: its source endpoint {source_arn:?} was not found, so the position cannot \
                 be checked",
                task.identifier
            ),
        ));
    };
    let shape = classify(position, &endpoint.engine)
        .map_err(|e| refused(check, format!("{}: {e}", task.identifier)))?;
    let slot = match shape {
        PositionShape::PostgresLsn(lsn) => {
            read_slot(slots, endpoint.slot_name.clone(), lsn, check).await?
        }
        _ => None,
    };
    Ok(SourceCheck {
        task_id: task.identifier.clone(),
        source_engine: endpoint.engine,
        shape: Some(shape),
        slot,
    })
}

fn refused(check: &CdcStartCheck, reason: String) -> StarterError {
    StarterError::CdcStartRefused {
        reason,
        check: Box::new(check.clone()),
    }
}

/// Read and judge the slot; the API reference asks for a logical slot
/// associated with the source endpoint (`slotName`) when a PostgreSQL source
/// starts from a `CdcStartPosition`.
async fn read_slot<S: ReplicationSlots>(
    slots: Option<&S>,
    slot_name: Option<String>,
    lsn: crate::cdc_start::Lsn,
    check: &mut CdcStartCheck,
) -> Result<Option<SlotCheck>, StarterError> {
    let Some(slot_name) = slot_name else {
        return Err(refused(
            check,
            "the PostgreSQL source endpoint names no replication slot \
             (PostgreSQLSettings.SlotName); DMS needs one to start from an LSN"
                .into(),
        ));
    };
    let Some(slots) = slots else {
        check.slot_not_checked = Some(
            "no source secret is configured (SOURCE_DB_SECRET_ARN): the slot was not read".into(),
        );
        return Ok(None);
    };
    let view = slots.slot(&slot_name, lsn).await?;
    let verdict = judge_slot(lsn, &slot_name, view.as_ref());
    Ok(Some(SlotCheck {
        slot_name,
        verdict,
        view,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{StartSummary, StarterPorts, TaskAction, Trigger, start_checked};
    use super::*;
    use crate::config::vars;
    use crate::fakes::{FakeDms, FakeNotifier, FakeRules, FakeSlots, task};
    use crate::guard::EndpointInfo;
    use crate::ports::RuleState;
    use crate::task::{StartType, TaskStatus};

    const A: &str = "arn:aws:dms:eu-west-1:123456789012:task:A";
    const SOURCE: &str = "arn:aws:dms:eu-west-1:123456789012:endpoint:SOURCE";

    fn config() -> Config {
        crate::fakes::config(&[
            (vars::TASK_ARNS, A),
            (vars::RULE_NAME, "nightly"),
            (vars::INDICATOR, "data-migration"),
            (vars::REFRESH_TYPE, "cdc"),
            (vars::MODE, "one-time"),
            (vars::TOPIC_ARN, "arn:aws:sns:eu-west-1:123456789012:alerts"),
        ])
    }

    fn world(engine: &str, slot_name: Option<&str>) -> (FakeDms, FakeRules) {
        let mut t = task(A, TaskStatus::Stopped);
        t.migration_type = Some(crate::config::RefreshType::Cdc);
        let dms = FakeDms::with_tasks([t]);
        dms.endpoints.lock().unwrap().insert(
            SOURCE.into(),
            EndpointInfo {
                arn: SOURCE.into(),
                identifier: "prod-source".into(),
                endpoint_type: "source".into(),
                engine: engine.into(),
                server_name: Some("prod.example.internal".into()),
                port: Some(5432),
                database_name: Some("app".into()),
                single_database: None,
                slot_name: slot_name.map(str::to_owned),
            },
        );
        (dms, FakeRules::with_rule("nightly", RuleState::Enabled))
    }

    fn slots(first: &str) -> FakeSlots {
        FakeSlots::holding("dms_slot", "1/87F75000", first)
    }

    fn request(position: &str, dry_run: bool) -> Trigger {
        Trigger::Operator {
            dry_run,
            start_type: Some(StartType::StartReplication),
            allow_partial: false,
            force: false,
            cdc_start: Some(CdcStart::Position(position.into())),
        }
    }

    async fn run(
        dms: &FakeDms,
        rules: &FakeRules,
        slots: Option<&FakeSlots>,
        trigger: Trigger,
    ) -> Result<StartSummary, StarterError> {
        run_with(dms, rules, slots, trigger, &FakeNotifier::default()).await
    }

    async fn run_with(
        dms: &FakeDms,
        rules: &FakeRules,
        slots: Option<&FakeSlots>,
        trigger: Trigger,
        notifier: &FakeNotifier,
    ) -> Result<StartSummary, StarterError> {
        let ports = StarterPorts {
            dms,
            rules,
            notifier,
            before_load: None,
        };
        start_checked(&config(), &ports, slots, trigger, "req-1").await
    }

    #[tokio::test]
    async fn a_dry_run_reads_the_slot_and_starts_nothing() {
        let (dms, rules) = world("postgres", Some("dms_slot"));
        let slots = slots("1/87F75B28");
        let summary = run(&dms, &rules, Some(&slots), request("1/87F75B28", true))
            .await
            .unwrap();
        assert_eq!(summary.tasks[0].action, TaskAction::WouldStart);
        let check = summary.cdc_start_check.unwrap();
        assert_eq!(
            check.tasks[0].slot.as_ref().map(|s| &s.verdict),
            Some(&SlotVerdict::Available)
        );
        assert_eq!(*slots.reads.lock().unwrap(), 1);
        assert!(dms.starts().is_empty());
    }

    #[tokio::test]
    async fn an_lsn_the_slot_holds_starts_cdc_there() {
        let (dms, rules) = world("aurora-postgresql", Some("dms_slot"));
        let slots = slots("1/87F75B28");
        let notifier = FakeNotifier::default();
        let summary = run_with(
            &dms,
            &rules,
            Some(&slots),
            request("1/87F75B28", false),
            &notifier,
        )
        .await
        .unwrap();
        assert_eq!(summary.tasks[0].action, TaskAction::Started);
        let messages = notifier.messages();
        assert_eq!(messages.len(), 1, "the start is on record: {messages:?}");
        assert!(
            messages[0].2.contains("starts from 1/87F75B28"),
            "{messages:?}"
        );
        let starts = dms.starts();
        assert_eq!(
            starts[0].cdc_start,
            Some(CdcStart::Position("1/87F75B28".into()))
        );
        // StartReplicationTaskType: a CDC-only task starting from a position
        // uses start-replication, although this one ran before (it is stopped).
        assert_eq!(starts[0].start_type, StartType::StartReplication);
    }

    /// Seed 003: the captured LSN is gone from the slot; the first change
    /// after it is proposed, and nothing starts until the operator asks again.
    #[tokio::test]
    async fn an_lsn_the_slot_no_longer_holds_is_refused_with_the_next_one() {
        let (dms, rules) = world("postgres", Some("dms_slot"));
        let slots = slots("1/87F75B28");
        let err = run(&dms, &rules, Some(&slots), request("1/87F75990", false))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "CdcStartRefused");
        assert!(
            err.to_string()
                .contains("\"cdc_start_position\": \"1/87F75B28\""),
            "{err}"
        );
        assert!(dms.starts().is_empty());
        assert!(rules.changes().is_empty());
    }

    #[tokio::test]
    async fn refusals_name_the_cause() {
        let cases: [(&str, Option<&str>, &str, &str); 3] = [
            ("mysql", None, "1/87F75B28", "binary log position"),
            ("postgres", None, "1/87F75B28", "SlotName"),
            (
                "postgres",
                Some("gone_slot"),
                "1/87F75B28",
                "no replication slot",
            ),
        ];
        for (engine, slot_name, position, expected) in cases {
            let (dms, rules) = world(engine, slot_name);
            let slots = slots("1/87F75B28");
            let err = run(&dms, &rules, Some(&slots), request(position, false))
                .await
                .unwrap_err();
            assert!(err.to_string().contains(expected), "{engine}: {err}");
            assert!(dms.starts().is_empty());
        }
    }

    #[tokio::test]
    async fn without_a_source_secret_the_slot_is_not_read_and_the_answer_says_so() {
        let (dms, rules) = world("postgres", Some("dms_slot"));
        let summary = run(
            &dms,
            &rules,
            None::<&FakeSlots>,
            request("1/87F75B28", false),
        )
        .await
        .unwrap();
        assert_eq!(summary.tasks[0].action, TaskAction::Started);
        let check = summary.cdc_start_check.unwrap();
        assert!(
            check
                .slot_not_checked
                .unwrap()
                .contains("SOURCE_DB_SECRET_ARN")
        );
    }

    #[tokio::test]
    async fn a_full_load_and_cdc_task_does_not_start_from_a_cdc_point() {
        let (dms, rules) = world("postgres", Some("dms_slot"));
        dms.update(A, |t| {
            t.migration_type = Some(crate::config::RefreshType::FullLoadAndCdc);
        });
        let time = Trigger::Operator {
            dry_run: false,
            start_type: Some(StartType::StartReplication),
            allow_partial: false,
            force: false,
            cdc_start: Some(CdcStart::Time(1_795_219_200)),
        };
        let summary = run(&dms, &rules, None::<&FakeSlots>, time).await.unwrap();
        assert_eq!(summary.tasks[0].action, TaskAction::Skipped);
        assert!(
            summary.tasks[0]
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains("CDC-only")
        );
        assert!(dms.starts().is_empty());
    }
}
