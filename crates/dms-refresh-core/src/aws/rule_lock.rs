//! The project's lock record on the schedule rule, kept as the rule's tags
//! (TagResource / UntagResource / ListTagsForResource on the rule's ARN), so
//! that it is visible in the console next to the rule's state.

use aws_sdk_eventbridge::types::Tag;

use super::classify;
use crate::moves::{self, MoveRecord};
use crate::ports::{FailureKind, LockUpdate, PortError, RuleLock};

pub const OWNER: &str = "dms-refresh:lock-owner";
pub const SINCE: &str = "dms-refresh:lock-since";
pub const HANDLED_RUN: &str = "dms-refresh:handled-run";
pub const ALERTED: &str = "dms-refresh:lock-alerted";
pub const DISABLED_RULE: &str = "dms-refresh:lock-disabled-rule";
pub const LAST_ALERT: &str = "dms-refresh:last-alert";
/// The stop position of an operator's `stop-at`; not part of the lock.
pub const STOP_AT: &str = "dms-refresh:stop-at";
const KEYS: [&str; 6] = [
    OWNER,
    SINCE,
    HANDLED_RUN,
    ALERTED,
    DISABLED_RULE,
    LAST_ALERT,
];

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
    let mut lock = RuleLock::taken("", 0, false);
    for (key, value) in tags {
        match key {
            OWNER => value.clone_into(&mut lock.owner),
            SINCE => lock.since_epoch = value.parse().unwrap_or(0),
            HANDLED_RUN if !value.is_empty() => lock.handled_run = Some(value.to_owned()),
            ALERTED => lock.alerted = value == "true",
            DISABLED_RULE => lock.disabled_rule = value == "true",
            LAST_ALERT if !value.is_empty() => lock.last_alert = Some(value.to_owned()),
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
    for (key, on) in [(ALERTED, lock.alerted), (DISABLED_RULE, lock.disabled_rule)] {
        if on {
            set.push((key, "true".to_owned()));
        } else {
            unset.push(key);
        }
    }
    match &lock.last_alert {
        Some(key) => set.push((LAST_ALERT, key.clone())),
        None => unset.push(LAST_ALERT),
    }
    (set, unset)
}

/// The one tag a [`LockUpdate`] writes.
pub fn update_tag(update: &LockUpdate) -> (&'static str, String) {
    match update {
        LockUpdate::Handled(run) => (HANDLED_RUN, run.clone()),
        LockUpdate::Alerted => (ALERTED, "true".to_owned()),
        LockUpdate::LastAlert(key) => (LAST_ALERT, key.clone()),
    }
}

async fn tags(
    client: &aws_sdk_eventbridge::Client,
    rule_name: &str,
) -> Result<Vec<Tag>, PortError> {
    let arn = rule_arn(client, rule_name).await?;
    tags_of(client, &arn).await
}

async fn tags_of(client: &aws_sdk_eventbridge::Client, arn: &str) -> Result<Vec<Tag>, PortError> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| classify("ListTagsForResource", e))?;
    Ok(out.tags().to_vec())
}

pub async fn read(
    client: &aws_sdk_eventbridge::Client,
    rule_name: &str,
) -> Result<Option<RuleLock>, PortError> {
    let tags = tags(client, rule_name).await?;
    Ok(from_tags(tags.iter().map(|t| (t.key(), t.value()))))
}

pub async fn read_stop_at(
    client: &aws_sdk_eventbridge::Client,
    rule_name: &str,
) -> Result<Option<String>, PortError> {
    let tags = tags(client, rule_name).await?;
    Ok(tags
        .iter()
        .find(|t| t.key() == STOP_AT && !t.value().is_empty())
        .map(|t| t.value().to_owned()))
}

pub async fn write_stop_at(
    client: &aws_sdk_eventbridge::Client,
    rule_name: &str,
    position: Option<&str>,
) -> Result<(), PortError> {
    let arn = rule_arn(client, rule_name).await?;
    match position {
        Some(p) => tag(client, &arn, vec![(STOP_AT, p.to_owned())]).await,
        None => untag(client, &arn, &[STOP_AT]).await,
    }
}

pub async fn read_move(
    client: &aws_sdk_eventbridge::Client,
    rule_name: &str,
) -> Result<Option<MoveRecord>, PortError> {
    let tags = tags(client, rule_name).await?;
    Ok(moves::record_from_tags(
        tags.iter().map(|t| (t.key(), t.value())),
    ))
}

/// Replace the move record (its tags no longer part of it are removed, so
/// that a checkpoint split over fewer tags reads back whole), or remove it.
pub async fn write_move(
    client: &aws_sdk_eventbridge::Client,
    rule_name: &str,
    record: Option<&MoveRecord>,
) -> Result<(), PortError> {
    let arn = rule_arn(client, rule_name).await?;
    let set = record.map(moves::to_tags).unwrap_or_default();
    let old: Vec<String> = tags_of(client, &arn)
        .await?
        .iter()
        .map(|t| t.key().to_owned())
        .filter(|k| k.starts_with(moves::TAG_PREFIX) && !set.iter().any(|(s, _)| s == k))
        .collect();
    if !set.is_empty() {
        tag_owned(client, &arn, set).await?;
    }
    let old: Vec<&str> = old.iter().map(String::as_str).collect();
    untag(client, &arn, &old).await
}

pub async fn write(
    client: &aws_sdk_eventbridge::Client,
    rule_name: &str,
    lock: &RuleLock,
) -> Result<(), PortError> {
    let arn = rule_arn(client, rule_name).await?;
    let (set, unset) = to_tags(lock);
    tag(client, &arn, set).await?;
    untag(client, &arn, &unset).await
}

/// Write one field only.
pub async fn update(
    client: &aws_sdk_eventbridge::Client,
    rule_name: &str,
    update: &LockUpdate,
) -> Result<(), PortError> {
    let arn = rule_arn(client, rule_name).await?;
    tag(client, &arn, vec![update_tag(update)]).await
}

async fn tag(
    client: &aws_sdk_eventbridge::Client,
    arn: &str,
    set: Vec<(&'static str, String)>,
) -> Result<(), PortError> {
    let set = set.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    tag_owned(client, arn, set).await
}

async fn tag_owned(
    client: &aws_sdk_eventbridge::Client,
    arn: &str,
    set: Vec<(String, String)>,
) -> Result<(), PortError> {
    let tags = set
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PortError::new("TagResource", FailureKind::Permanent, e.to_string()))?;
    client
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify("TagResource", e))
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
            disabled_rule: true,
            last_alert: Some("failed:0123456789abcdef".into()),
        };
        let (set, unset) = to_tags(&lock);
        assert!(unset.is_empty());
        let back = from_tags(set.iter().map(|(k, v)| (*k, v.as_str())));
        assert_eq!(back, Some(lock));
        assert_eq!(from_tags([("other", "x")]), None, "no owner, no lock");
    }
}
