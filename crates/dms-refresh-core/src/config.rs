//! Typed configuration, read once at start-up from the environment that the SAM
//! template sets. Invalid values fail the Lambda's init, not each invocation.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Environment variable names, in one place so the template, the docs and the
/// code agree.
pub mod vars {
    pub const TASK_ARNS: &str = "DMS_TASK_ARNS";
    pub const RULE_NAME: &str = "SCHEDULE_RULE_NAME";
    pub const INDICATOR: &str = "REFRESH_INDICATOR";
    pub const REFRESH_TYPE: &str = "REFRESH_TYPE";
    pub const MODE: &str = "SCHEDULE_MODE";
    pub const TOPIC_ARN: &str = "NOTIFICATION_TOPIC_ARN";
    pub const CDC_STOP_POSITION: &str = "CDC_STOP_POSITION";
    pub const REENABLE_ON_FAILURE: &str = "REENABLE_RULE_ON_FAILURE";
    pub const LOCK_ALERT_AFTER: &str = "LOCK_ALERT_AFTER_MINUTES";
    pub const EVENT_SUBSCRIPTION: &str = "DMS_EVENT_SUBSCRIPTION_NAME";
    pub const MOVE_TARGETS: &str = "MOVE_TARGET_INSTANCE_ARNS";
    pub const RECORD_TRIGGERS: &str = "RECORD_TARGET_TRIGGERS";
}

/// How long the schedule rule may stay locked before the reconciler alerts,
/// by default.
pub const DEFAULT_LOCK_ALERT_AFTER_MINUTES: u64 = 6 * 60;

/// What kind of job the DMS task does for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshIndicator {
    DataRefresh,
    DataMigration,
}

/// The DMS migration type the task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshType {
    FullLoad,
    FullLoadAndCdc,
    Cdc,
}

/// Whether the refresh repeats on the schedule rule or runs once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleMode {
    Schedule,
    OneTime,
}

macro_rules! kebab_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every accepted spelling, for error messages.
            pub const VALUES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl FromStr for $ty {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($text => Ok(Self::$variant),)+ _ => Err(()) }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

kebab_enum!(RefreshIndicator { DataRefresh => "data-refresh", DataMigration => "data-migration" });
kebab_enum!(RefreshType { FullLoad => "full-load", FullLoadAndCdc => "full-load-and-cdc", Cdc => "cdc" });
kebab_enum!(ScheduleMode { Schedule => "schedule", OneTime => "one-time" });

impl RefreshType {
    /// Whether the task replicates ongoing changes (and so can resume).
    pub fn has_cdc(self) -> bool {
        matches!(self, Self::FullLoadAndCdc | Self::Cdc)
    }
}

/// The combinations the product supports (DESIGN.md, from the seed article).
pub const VALID_COMBINATIONS: &[(RefreshIndicator, RefreshType, ScheduleMode)] = &[
    (
        RefreshIndicator::DataRefresh,
        RefreshType::FullLoad,
        ScheduleMode::Schedule,
    ),
    (
        RefreshIndicator::DataRefresh,
        RefreshType::FullLoad,
        ScheduleMode::OneTime,
    ),
    (
        RefreshIndicator::DataMigration,
        RefreshType::FullLoad,
        ScheduleMode::Schedule,
    ),
    (
        RefreshIndicator::DataMigration,
        RefreshType::FullLoad,
        ScheduleMode::OneTime,
    ),
    (
        RefreshIndicator::DataMigration,
        RefreshType::FullLoadAndCdc,
        ScheduleMode::OneTime,
    ),
    (
        RefreshIndicator::DataMigration,
        RefreshType::Cdc,
        ScheduleMode::OneTime,
    ),
];

fn combinations_table() -> String {
    VALID_COMBINATIONS
        .iter()
        .map(|(i, t, m)| format!("{i}/{t}/{m}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A configuration problem; the message names the variable and what is valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {var} is required: {hint}")]
    Missing {
        var: &'static str,
        hint: &'static str,
    },
    #[error("environment variable {var} has an invalid value {value:?}: expected {expected}")]
    Invalid {
        var: &'static str,
        value: String,
        expected: String,
    },
    #[error(
        "unsupported combination {REFRESH_INDICATOR_VAR}={indicator}, {REFRESH_TYPE_VAR}={refresh_type}, \
         {MODE_VAR}={mode}; valid combinations (indicator/type/mode) are: {valid}"
    )]
    Combination {
        indicator: RefreshIndicator,
        refresh_type: RefreshType,
        mode: ScheduleMode,
        valid: String,
    },
}

const REFRESH_INDICATOR_VAR: &str = vars::INDICATOR;
const REFRESH_TYPE_VAR: &str = vars::REFRESH_TYPE;
const MODE_VAR: &str = vars::MODE;

/// The settings both functions share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The refresh group: every DMS task started together and awaited together.
    pub task_arns: Vec<String>,
    /// The EventBridge rule that schedules the starter; required in schedule mode.
    pub rule_name: Option<String>,
    pub indicator: RefreshIndicator,
    pub refresh_type: RefreshType,
    pub mode: ScheduleMode,
    pub notification_topic_arn: Option<String>,
    /// `CdcStopPosition` passed to StartReplicationTask (CDC types only).
    pub cdc_stop_position: Option<String>,
    /// Re-enable the schedule after a failed load (default: leave it disabled).
    pub reenable_rule_on_failure: bool,
    /// The reconciler alerts when the rule's lock is older than this.
    pub lock_alert_after_secs: u64,
    /// The DMS event subscription the reconciler checks (`no-permission`...).
    pub event_subscription_name: Option<String>,
    /// The replication instances a `move` request may move the group to
    /// (the IAM policy allows MoveReplicationTask to these only).
    pub move_targets: Vec<String>,
    /// Before a load starts, have the post-processor disable the target's
    /// enabled triggers and keep their names for the cutover
    /// (data-migration only).
    pub record_triggers_at_start: bool,
}

impl Config {
    /// Read the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read the configuration through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| {
            lookup(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let task_arns = parse_task_arns(get(vars::TASK_ARNS))?;
        let indicator = parse_enum::<RefreshIndicator>(
            vars::INDICATOR,
            get(vars::INDICATOR),
            RefreshIndicator::VALUES,
        )?;
        let refresh_type = parse_enum::<RefreshType>(
            vars::REFRESH_TYPE,
            get(vars::REFRESH_TYPE),
            RefreshType::VALUES,
        )?;
        let mode = parse_enum::<ScheduleMode>(vars::MODE, get(vars::MODE), ScheduleMode::VALUES)?;

        if !VALID_COMBINATIONS.contains(&(indicator, refresh_type, mode)) {
            return Err(ConfigError::Combination {
                indicator,
                refresh_type,
                mode,
                valid: combinations_table(),
            });
        }

        let rule_name = get(vars::RULE_NAME)
            .map(|name| validate_rule_name(&name).map(|()| name))
            .transpose()?;
        if mode == ScheduleMode::Schedule && rule_name.is_none() {
            return Err(ConfigError::Missing {
                var: vars::RULE_NAME,
                hint: "the EventBridge rule that schedules the refresh (schedule mode)",
            });
        }

        let notification_topic_arn = get(vars::TOPIC_ARN)
            .map(|arn| validate_arn(vars::TOPIC_ARN, &arn, "sns", None).map(|()| arn))
            .transpose()?;

        let cdc_stop_position = get(vars::CDC_STOP_POSITION)
            .map(|pos| validate_cdc_stop_position(&pos, refresh_type).map(|()| pos))
            .transpose()?;

        let reenable_rule_on_failure =
            parse_flag(vars::REENABLE_ON_FAILURE, get(vars::REENABLE_ON_FAILURE))?;
        let record_triggers_at_start =
            parse_flag(vars::RECORD_TRIGGERS, get(vars::RECORD_TRIGGERS))?;
        if record_triggers_at_start && indicator != RefreshIndicator::DataMigration {
            return Err(ConfigError::Invalid {
                var: vars::RECORD_TRIGGERS,
                value: "true".into(),
                expected: "false with data-refresh: the triggers of a masked copy are the \
                           hooks' (enable_triggers)"
                    .into(),
            });
        }

        let lock_alert_after_secs = parse_minutes(get(vars::LOCK_ALERT_AFTER))? * 60;
        let event_subscription_name = get(vars::EVENT_SUBSCRIPTION)
            .map(|name| validate_subscription_name(&name).map(|()| name))
            .transpose()?;
        let move_targets = parse_move_targets(get(vars::MOVE_TARGETS))?;

        Ok(Self {
            task_arns,
            rule_name,
            indicator,
            refresh_type,
            mode,
            notification_topic_arn,
            cdc_stop_position,
            reenable_rule_on_failure,
            lock_alert_after_secs,
            event_subscription_name,
            move_targets,
            record_triggers_at_start,
        })
    }

    /// Whether this configuration owns a schedule rule it must disable/re-enable.
    pub fn manages_rule(&self) -> Option<&str> {
        match self.mode {
            ScheduleMode::Schedule => self.rule_name.as_deref(),
            ScheduleMode::OneTime => None,
        }
    }
}

/// `true` or `false`; unset is `false`.
fn parse_flag(var: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ConfigError::Invalid {
            var,
            value: other.to_owned(),
            expected: "true or false".into(),
        }),
    }
}

fn parse_move_targets(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let mut arns = Vec::new();
    for arn in value.iter().flat_map(|v| v.split(',')).map(str::trim) {
        if arn.is_empty() {
            continue;
        }
        if !crate::moves::is_instance_arn(arn) {
            return Err(ConfigError::Invalid {
                var: vars::MOVE_TARGETS,
                value: arn.to_owned(),
                expected:
                    "replication instance ARNs (arn:<partition>:dms:<region>:<account>:rep:<id>), \
                           comma-separated"
                        .into(),
            });
        }
        arns.push(arn.to_owned());
    }
    Ok(arns)
}

fn parse_minutes(value: Option<String>) -> Result<u64, ConfigError> {
    let Some(text) = value else {
        return Ok(DEFAULT_LOCK_ALERT_AFTER_MINUTES);
    };
    text.parse::<u64>()
        .ok()
        .filter(|m| (15..=7 * 24 * 60).contains(m))
        .ok_or(ConfigError::Invalid {
            var: vars::LOCK_ALERT_AFTER,
            value: text,
            expected: "whole minutes from 15 to 10080 (a week)".into(),
        })
}

fn validate_subscription_name(name: &str) -> Result<(), ConfigError> {
    let ok = (1..=255).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var: vars::EVENT_SUBSCRIPTION,
            value: name.to_owned(),
            expected: "a DMS event subscription name: letters, digits and hyphens".into(),
        })
    }
}

fn parse_enum<T: FromStr>(
    var: &'static str,
    value: Option<String>,
    values: &[&str],
) -> Result<T, ConfigError> {
    let value = value.ok_or(ConfigError::Missing {
        var,
        hint: "see the README's configuration table",
    })?;
    value.parse().map_err(|_| ConfigError::Invalid {
        var,
        value,
        expected: format!("one of {}", values.join(", ")),
    })
}

fn parse_task_arns(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let value = value.ok_or(ConfigError::Missing {
        var: vars::TASK_ARNS,
        hint: "one or more DMS replication task ARNs, comma-separated",
    })?;
    let mut arns: Vec<String> = Vec::new();
    for arn in value.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        validate_arn(vars::TASK_ARNS, arn, "dms", Some("task:"))?;
        if arns.iter().any(|a| a == arn) {
            return Err(ConfigError::Invalid {
                var: vars::TASK_ARNS,
                value: arn.to_owned(),
                expected: "each task ARN listed once".into(),
            });
        }
        arns.push(arn.to_owned());
    }
    if arns.is_empty() {
        return Err(ConfigError::Missing {
            var: vars::TASK_ARNS,
            hint: "one or more DMS replication task ARNs, comma-separated",
        });
    }
    Ok(arns)
}

/// `arn:partition:service:region:account:resource`, with the service and
/// (optionally) the resource prefix we expect.
fn validate_arn(
    var: &'static str,
    arn: &str,
    service: &str,
    resource_prefix: Option<&str>,
) -> Result<(), ConfigError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == service
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && resource_prefix.is_none_or(|p| parts[5].len() > p.len() && parts[5].starts_with(p))
        && !arn.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        let resource = resource_prefix.map_or("name".to_owned(), |p| format!("{p}id"));
        Err(ConfigError::Invalid {
            var,
            value: arn.to_owned(),
            expected: format!("an ARN like arn:aws:{service}:us-east-1:123456789012:{resource}"),
        })
    }
}

fn validate_rule_name(name: &str) -> Result<(), ConfigError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var: vars::RULE_NAME,
            value: name.to_owned(),
            expected: "an EventBridge rule name: 1-64 characters of A-Z a-z 0-9 . - _".into(),
        })
    }
}

fn validate_cdc_stop_position(
    position: &str,
    refresh_type: RefreshType,
) -> Result<(), ConfigError> {
    if !refresh_type.has_cdc() {
        return Err(ConfigError::Invalid {
            var: vars::CDC_STOP_POSITION,
            value: position.to_owned(),
            expected: format!(
                "no value: a CDC stop position applies only to {} and {} tasks, not {refresh_type}",
                RefreshType::FullLoadAndCdc,
                RefreshType::Cdc
            ),
        });
    }
    let (kind, time) = position.split_once(':').unwrap_or(("", ""));
    let time_ok = time.len() >= 19 && time.as_bytes().get(10) == Some(&b'T');
    if matches!(kind, "commit_time" | "server_time") && time_ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var: vars::CDC_STOP_POSITION,
            value: position.to_owned(),
            expected: "commit_time:YYYY-MM-DDThh:mm:ss or server_time:YYYY-MM-DDThh:mm:ss".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const ARN: &str = "arn:aws:dms:eu-west-1:123456789012:task:ABCDEFG";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            (vars::TASK_ARNS, ARN),
            (vars::RULE_NAME, "dms-refresh-schedule"),
            (vars::INDICATOR, "data-refresh"),
            (vars::REFRESH_TYPE, "full-load"),
            (vars::MODE, "schedule"),
        ]
    }

    fn with(overrides: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut pairs = base();
        for (k, v) in overrides {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k, v));
        }
        Config::from_lookup(env(&pairs))
    }

    #[test]
    fn reads_a_complete_schedule_configuration() {
        let cfg = with(&[(vars::TOPIC_ARN, "arn:aws:sns:eu-west-1:123456789012:alerts")]).unwrap();
        assert_eq!(cfg.task_arns, vec![ARN.to_owned()]);
        assert_eq!(cfg.manages_rule(), Some("dms-refresh-schedule"));
        assert_eq!(cfg.indicator, RefreshIndicator::DataRefresh);
        assert_eq!(cfg.refresh_type, RefreshType::FullLoad);
        assert_eq!(cfg.mode, ScheduleMode::Schedule);
        assert!(cfg.notification_topic_arn.is_some());
        assert!(!cfg.reenable_rule_on_failure);
        assert_eq!(
            cfg.lock_alert_after_secs,
            DEFAULT_LOCK_ALERT_AFTER_MINUTES * 60
        );
        let cfg = with(&[
            (vars::LOCK_ALERT_AFTER, "90"),
            (vars::EVENT_SUBSCRIPTION, "stack-dms-events"),
        ])
        .unwrap();
        assert_eq!(cfg.lock_alert_after_secs, 90 * 60);
        assert_eq!(
            cfg.event_subscription_name.as_deref(),
            Some("stack-dms-events")
        );
    }

    /// The trigger record before a load is a data-migration setting; a
    /// data-refresh group is refused with the reason.
    #[test]
    fn the_trigger_record_is_for_data_migration_only() {
        assert!(!with(&[]).unwrap().record_triggers_at_start);
        let err = with(&[(vars::RECORD_TRIGGERS, "true")]).unwrap_err();
        assert!(err.to_string().contains("RECORD_TARGET_TRIGGERS"), "{err}");
        let migration = with(&[
            (vars::INDICATOR, "data-migration"),
            (vars::RECORD_TRIGGERS, "true"),
        ])
        .unwrap();
        assert!(migration.record_triggers_at_start);
        let bad = with(&[(vars::RECORD_TRIGGERS, "yes")]).unwrap_err();
        assert!(bad.to_string().contains("true or false"), "{bad}");
    }

    #[test]
    fn accepts_every_valid_combination_and_rejects_the_rest() {
        for indicator in RefreshIndicator::VALUES {
            for refresh_type in RefreshType::VALUES {
                for mode in ScheduleMode::VALUES {
                    let result = with(&[
                        (vars::INDICATOR, indicator),
                        (vars::REFRESH_TYPE, refresh_type),
                        (vars::MODE, mode),
                    ]);
                    let expected_ok = VALID_COMBINATIONS.iter().any(|(i, t, m)| {
                        i.as_str() == *indicator
                            && t.as_str() == *refresh_type
                            && m.as_str() == *mode
                    });
                    assert_eq!(
                        result.is_ok(),
                        expected_ok,
                        "{indicator}/{refresh_type}/{mode}: {result:?}"
                    );
                    if let Err(err) = result {
                        let text = err.to_string();
                        assert!(
                            text.contains(indicator)
                                && text.contains(refresh_type)
                                && text.contains(mode)
                        );
                        assert!(
                            text.contains("data-migration/cdc/one-time"),
                            "lists valid ones: {text}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_refresh_group_is_a_comma_separated_list() {
        let arns = format!("{ARN}, arn:aws:dms:eu-west-1:123456789012:task:SECOND");
        let cfg = Config::from_lookup(env(&[
            (vars::TASK_ARNS, &arns),
            (vars::RULE_NAME, "r"),
            (vars::INDICATOR, "data-refresh"),
            (vars::REFRESH_TYPE, "full-load"),
            (vars::MODE, "schedule"),
        ]))
        .unwrap();
        assert_eq!(cfg.task_arns.len(), 2);
        assert_eq!(
            cfg.task_arns[1],
            "arn:aws:dms:eu-west-1:123456789012:task:SECOND"
        );
    }

    #[test]
    fn move_targets_are_replication_instance_arns() {
        let base = [
            (vars::TASK_ARNS, ARN),
            (vars::RULE_NAME, "r"),
            (vars::INDICATOR, "data-refresh"),
            (vars::REFRESH_TYPE, "full-load"),
            (vars::MODE, "schedule"),
        ];
        let with = |targets: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push((vars::MOVE_TARGETS, targets));
            Config::from_lookup(env(&pairs))
        };
        assert!(
            Config::from_lookup(env(&base))
                .unwrap()
                .move_targets
                .is_empty()
        );
        let two = with("arn:aws:dms:eu-west-1:123456789012:rep:NEW-1, arn:aws:dms:eu-west-1:123456789012:rep:NEW2")
            .unwrap();
        assert_eq!(two.move_targets.len(), 2);
        for bad in [
            ARN,
            "arn:aws:dms:eu-west-1:1234:rep:X",
            "arn:aws:dms:eu-west-1:123456789012:rep:",
        ] {
            match with(bad) {
                Err(ConfigError::Invalid { var, .. }) => assert_eq!(var, vars::MOVE_TARGETS),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&'static str, &'static str)], &str)] = &[
            (&[(vars::TASK_ARNS, "")], vars::TASK_ARNS),
            (
                &[(vars::TASK_ARNS, "arn:aws:sns:eu-west-1:123456789012:x")],
                vars::TASK_ARNS,
            ),
            (&[(vars::TASK_ARNS, "not-an-arn")], vars::TASK_ARNS),
            (
                &[(
                    vars::TASK_ARNS,
                    "arn:aws:dms:eu-west-1:123456789012:task:A,arn:aws:dms:eu-west-1:123456789012:task:A",
                )],
                vars::TASK_ARNS,
            ),
            (&[(vars::INDICATOR, "refresh")], vars::INDICATOR),
            (&[(vars::REFRESH_TYPE, "")], vars::REFRESH_TYPE),
            (&[(vars::MODE, "daily")], vars::MODE),
            (&[(vars::RULE_NAME, "")], vars::RULE_NAME),
            (&[(vars::RULE_NAME, "bad name!")], vars::RULE_NAME),
            (
                &[(vars::TOPIC_ARN, "arn:aws:sqs:eu-west-1:123456789012:q")],
                vars::TOPIC_ARN,
            ),
            (
                &[(vars::CDC_STOP_POSITION, "commit_time:2026-11-21T00:00:00")],
                vars::CDC_STOP_POSITION,
            ),
            (
                &[(vars::REENABLE_ON_FAILURE, "yes")],
                vars::REENABLE_ON_FAILURE,
            ),
            (&[(vars::LOCK_ALERT_AFTER, "5")], vars::LOCK_ALERT_AFTER),
            (
                &[(vars::LOCK_ALERT_AFTER, "six hours")],
                vars::LOCK_ALERT_AFTER,
            ),
            (
                &[(vars::EVENT_SUBSCRIPTION, "bad name")],
                vars::EVENT_SUBSCRIPTION,
            ),
        ];
        for (overrides, var) in cases {
            let err = with(overrides).unwrap_err();
            assert!(err.to_string().contains(var), "{overrides:?} -> {err}");
        }
    }

    #[test]
    fn one_time_mode_needs_no_rule_and_cdc_accepts_a_stop_position() {
        let cfg = Config::from_lookup(env(&[
            (vars::TASK_ARNS, ARN),
            (vars::INDICATOR, "data-migration"),
            (vars::REFRESH_TYPE, "cdc"),
            (vars::MODE, "one-time"),
            (vars::CDC_STOP_POSITION, "commit_time:2026-11-21T00:00:00"),
        ]))
        .unwrap();
        assert_eq!(cfg.manages_rule(), None);
        assert_eq!(
            cfg.cdc_stop_position.as_deref(),
            Some("commit_time:2026-11-21T00:00:00")
        );

        let bad = Config::from_lookup(env(&[
            (vars::TASK_ARNS, ARN),
            (vars::INDICATOR, "data-migration"),
            (vars::REFRESH_TYPE, "cdc"),
            (vars::MODE, "one-time"),
            (vars::CDC_STOP_POSITION, "lsn:0/16B3748"),
        ]));
        assert!(matches!(
            bad,
            Err(ConfigError::Invalid {
                var: vars::CDC_STOP_POSITION,
                ..
            })
        ));
    }
}
