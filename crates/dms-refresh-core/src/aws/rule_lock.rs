//! The project's lock record on the schedule rule, kept as the rule's tags
//! (TagResource / UntagResource / ListTagsForResource on the rule's ARN), so
//! that it is visible in the console next to the rule's state.

use aws_sdk_eventbridge::types::Tag;

use super::classify;
use crate::ports::{FailureKind, PortError, RuleLock};

pub const OWNER: &str = "dms-refresh:lock-owner";
pub const SINCE: &str = "dms-refresh:lock-since";
pub const HANDLED_RUN: &str = "dms-refresh:handled-run";
pub const ALERTED: &str = "dms-refresh:lock-alerted";
const KEYS: [&str; 4] = [OWNER, SINCE, HANDLED_RUN, ALERTED];

/// The rule's ARN, which the tagging calls need.
pub async fn rule_arn(
    client: &aws_sdk_eventbridge::Client,
    rule_name: &str,
) -> Result<String, PortError> {
    let rule = client
        .describe_rule()
        .name(rule_name)
        .send()
        .await
        .map_err(|e| classify("DescribeRule", e))?;
    rule.arn().map(str::to_owned).ok_or_else(|| {
        PortError::new(
            "DescribeRule",
            FailureKind::Permanent,
            format!("rule {rule_name} has no ARN in the answer"),
        )
    })
}

/// Read the lock from the tags; `None` without an owner tag.
pub fn from_tags<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<RuleLock> {
    let mut lock = RuleLock {
        owner: String::new(),
        since_epoch: 0,
        handled_run: None,
        alerted: false,
    };
    for (key, value) in tags {
        match key {
            OWNER => value.clone_into(&mut lock.owner),
            SINCE => lock.since_epoch = value.parse().unwrap_or(0),
            HANDLED_RUN if !value.is_empty() => lock.handled_run = Some(value.to_owned()),
            ALERTED => lock.alerted = value == "true",
            _ => {}
        }
    }
    (!lock.owner.is_empty()).then_some(lock)
}

/// The tags that record `lock`, and the lock keys to remove.
pub fn to_tags(lock: &RuleLock) -> (Vec<(&'static str, String)>, Vec<&'static str>) {
    let mut set = vec![
        (OWNER, lock.owner.clone()),
        (SINCE, lock.since_epoch.to_string()),
    ];
    let mut unset = Vec::new();
    match &lock.handled_run {
        Some(run) => set.push((HANDLED_RUN, run.clone())),
        None => unset.push(HANDLED_RUN),
    }
    if lock.alerted {
        set.push((ALERTED, "true".to_owned()));
    } else {
        unset.push(ALERTED);
    }
    (set, unset)
}

pub async fn read(
    client: &aws_sdk_eventbridge::Client,
    rule_name: &str,
) -> Result<Option<RuleLock>, PortError> {
    let arn = rule_arn(client, rule_name).await?;
    let out = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(|e| classify("ListTagsForResource", e))?;
    Ok(from_tags(out.tags().iter().map(|t| (t.key(), t.value()))))
}

pub async fn write(
    client: &aws_sdk_eventbridge::Client,
    rule_name: &str,
    lock: &RuleLock,
) -> Result<(), PortError> {
    let arn = rule_arn(client, rule_name).await?;
    let (set, unset) = to_tags(lock);
    let tags = set
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PortError::new("TagResource", FailureKind::Permanent, e.to_string()))?;
    client
        .tag_resource()
        .resource_arn(&arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| classify("TagResource", e))?;
    untag(client, &arn, &unset).await
}

pub async fn clear(client: &aws_sdk_eventbridge::Client, rule_name: &str) -> Result<(), PortError> {
    let arn = rule_arn(client, rule_name).await?;
    untag(client, &arn, &KEYS).await
}

async fn untag(
    client: &aws_sdk_eventbridge::Client,
    arn: &str,
    keys: &[&str],
) -> Result<(), PortError> {
    if keys.is_empty() {
        return Ok(());
    }
    client
        .untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify("UntagResource", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_round_trips_through_tags() {
        let lock = RuleLock {
            owner: "schedule:9a1b".into(),
            since_epoch: 1_790_000_000,
            handled_run: Some("nightly@1790000000".into()),
            alerted: true,
        };
        let (set, unset) = to_tags(&lock);
        assert!(unset.is_empty());
        let back = from_tags(set.iter().map(|(k, v)| (*k, v.as_str())));
        assert_eq!(back, Some(lock));
        assert_eq!(from_tags([("other", "x")]), None, "no owner, no lock");
    }
}
