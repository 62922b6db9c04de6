//! When the schedule rule fires next, from its EventBridge schedule
//! expression, for the success notification.
//!
//! EventBridge cron expressions have six fields (minutes, hours, day of
//! month, month, day of week, year), count the days of the week from 1 for
//! Sunday as Quartz does, and allow `?`, `L`, `W` and `#`; all in UTC.
//! `croner` evaluates that syntax once a seconds field of `0` is put in
//! front. A rate expression fires at intervals counted from when the rule
//! was enabled, which the rule does not tell: only the interval is known.

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds, Year};

/// The next run as far as the expression tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextRun {
    /// A cron expression's next fire time.
    At(DateTime<Utc>),
    /// A rate expression's interval, e.g. `1 day`.
    Every(String),
    /// Not an expression this module understands (nor, perhaps, EventBridge).
    Unknown,
}

/// The next time `expression` fires after `after_epoch` (seconds).
pub fn next_run(expression: &str, after_epoch: i64) -> NextRun {
    let expression = expression.trim();
    if let Some(fields) = inner(expression, "cron") {
        return next_cron(fields, after_epoch).map_or(NextRun::Unknown, NextRun::At);
    }
    match inner(expression, "rate") {
        Some(interval) if !interval.is_empty() => NextRun::Every(interval.to_owned()),
        _ => NextRun::Unknown,
    }
}

/// The text of `expression` between `kind(` and `)`.
fn inner<'a>(expression: &'a str, kind: &str) -> Option<&'a str> {
    expression
        .strip_prefix(kind)?
        .strip_prefix('(')?
        .strip_suffix(')')
        .map(str::trim)
}

fn next_cron(fields: &str, after_epoch: i64) -> Option<DateTime<Utc>> {
    if fields.split_whitespace().count() != 6 {
        return None;
    }
    let parser = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build();
    let cron = parser.parse(&format!("0 {fields}")).ok()?;
    let after = DateTime::<Utc>::from_timestamp(after_epoch, 0)?;
    cron.find_next_occurrence(&after, false).ok()
}

/// One line for people: when, and the expression it comes from.
pub fn describe(expression: &str, after_epoch: i64) -> String {
    match next_run(expression, after_epoch) {
        NextRun::At(at) => format!("{} ({expression})", at.format("%Y-%m-%d %H:%M UTC")),
        NextRun::Every(interval) => {
            format!("every {interval}, counted from when the rule was enabled ({expression})")
        }
        NextRun::Unknown => format!("see the schedule {expression}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-21 (a Saturday) 13:14:15 UTC.
    const SATURDAY: i64 = 1_795_266_855;

    fn at(text: &str) -> NextRun {
        NextRun::At(
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc),
        )
    }

    #[test]
    fn a_daily_cron_fires_next_midnight() {
        assert_eq!(
            next_run("cron(0 0 * * ? *)", SATURDAY),
            at("2026-11-22T00:00:00Z")
        );
        assert_eq!(
            next_run("cron(30 1 * * ? *)", SATURDAY),
            at("2026-11-22T01:30:00Z")
        );
    }

    #[test]
    fn days_of_the_week_count_from_sunday_as_eventbridge_does() {
        // 2 is Monday in EventBridge (1 is Sunday).
        assert_eq!(
            next_run("cron(0 3 ? * 2 *)", SATURDAY),
            at("2026-11-23T03:00:00Z")
        );
        assert_eq!(
            next_run("cron(0 3 ? * MON-FRI *)", SATURDAY),
            at("2026-11-23T03:00:00Z")
        );
        // The last day of the month, and a step written from a start.
        assert_eq!(
            next_run("cron(0 22 L * ? *)", SATURDAY),
            at("2026-11-30T22:00:00Z")
        );
        assert_eq!(
            next_run("cron(0/20 * * * ? *)", SATURDAY),
            at("2026-11-21T13:20:00Z")
        );
    }

    #[test]
    fn a_year_field_in_the_past_never_fires_again() {
        assert_eq!(next_run("cron(0 0 1 1 ? 2020)", SATURDAY), NextRun::Unknown);
    }

    #[test]
    fn a_rate_is_known_only_as_its_interval() {
        assert_eq!(
            next_run("rate(1 day)", SATURDAY),
            NextRun::Every("1 day".into())
        );
        assert!(describe("rate(12 hours)", SATURDAY).starts_with("every 12 hours"));
    }

    #[test]
    fn what_is_not_an_expression_is_said_so() {
        for bad in [
            "",
            "cron(0 0 * * ?)",
            "cron(x y z a b c)",
            "daily",
            "rate()",
        ] {
            assert_eq!(next_run(bad, SATURDAY), NextRun::Unknown, "{bad}");
        }
        assert_eq!(
            describe("cron(0 0 * * ? *)", SATURDAY),
            "2026-11-22 00:00 UTC (cron(0 0 * * ? *))"
        );
    }
}
