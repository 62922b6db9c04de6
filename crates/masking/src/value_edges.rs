//! Edges of the value domain, where a plain formula would fail a whole run or
//! silently change nothing.
//!
//! * `date_shift`: MySQL/MariaDB reject a date shifted past the type's range
//!   (in strict mode the whole `UPDATE` fails, e.g. ERROR 1441), and
//!   production tables are full of "no end" sentinels such as `9999-12-31`.
//!   Sentinel dates (configurable per column, `keep_dates`) stay as they are,
//!   PostgreSQL `infinity`/`-infinity` too, and a shift that would leave the
//!   column type's range stops at its limit.
//! * `noise` on an integer column: a small value times `1 ± a few percent`
//!   rounds back to itself. Integer columns move by at least one unit, in the
//!   direction of the keyed noise (towards zero never below it on an
//!   unsigned column).

use crate::sql::Dialect;

/// Dates kept unchanged by `date_shift` when the rules do not say otherwise.
pub const DEFAULT_KEEP_DATES: [&str; 3] = ["9999-12-31", "1900-01-01", "0001-01-01"];

/// What the plan knows of a masked column's type (information_schema
/// `DATA_TYPE`, lower case, and whether it is unsigned).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnKind {
    /// `DATA_TYPE`.
    pub data_type: String,
    /// MySQL `... UNSIGNED`.
    pub unsigned: bool,
}

/// Date literals of validated `YYYY-MM-DD` strings.
fn quote_date_list(d: Dialect, dates: &[String]) -> String {
    dates
        .iter()
        .map(|v| match d {
            Dialect::MySql => format!("'{v}'"),
            Dialect::Postgres => format!("DATE '{v}'"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `s` is a `YYYY-MM-DD` date (digits and dashes only; the server
/// judges the calendar).
pub fn is_plain_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// MySQL/MariaDB range of a date/time type, as literals.
fn mysql_range(data_type: &str) -> (&'static str, &'static str) {
    match data_type {
        "date" => ("'1000-01-01'", "'9999-12-31'"),
        // TIMESTAMP is stored in UTC; a day of margin covers any session zone.
        "timestamp" => ("'1970-01-02 00:00:00'", "'2038-01-18 00:00:00'"),
        _ => ("'1000-01-01 00:00:00'", "'9999-12-31 23:59:59'"),
    }
}

/// The `date_shift` expression: `col` moved by the integer expression `off`
/// days, sentinels and infinities kept, clamped to the type's range (MySQL).
pub fn date_shift_expr(
    d: Dialect,
    col: &str,
    off: &str,
    keep_dates: &[String],
    kind: Option<&ColumnKind>,
) -> String {
    let keep = if keep_dates.is_empty() {
        String::new()
    } else {
        let cast = match d {
            Dialect::MySql => format!("CAST({col} AS DATE)"),
            Dialect::Postgres => format!("{col}::date"),
        };
        format!(
            " WHEN {cast} IN ({}) THEN {col}",
            quote_date_list(d, keep_dates)
        )
    };
    match d {
        Dialect::MySql => {
            let (lo, hi) = mysql_range(kind.map_or("datetime", |k| k.data_type.as_str()));
            format!(
                "CASE WHEN {col} IS NULL THEN NULL{keep} \
                 WHEN {off} > 0 AND {col} > DATE_SUB({hi}, INTERVAL {off} DAY) THEN {hi} \
                 WHEN {off} < 0 AND {col} < DATE_ADD({lo}, INTERVAL -({off}) DAY) THEN {lo} \
                 ELSE DATE_ADD({col}, INTERVAL {off} DAY) END"
            )
        }
        Dialect::Postgres => format!(
            "CASE WHEN {col} IS NULL THEN NULL WHEN NOT isfinite({col}) THEN {col}{keep} \
             ELSE ({col} + make_interval(days => ({off})::int)) END"
        ),
    }
}

/// The `noise` expression: `col * (1 + k * percent / 1e6)`, `k` the keyed
/// integer in -10000..=10000; on integer columns a step of at least one.
pub fn noise_expr(
    d: Dialect,
    col: &str,
    k: &str,
    percent: &str,
    kind: Option<&ColumnKind>,
) -> String {
    let k_num = match d {
        Dialect::MySql => k.to_string(),
        Dialect::Postgres => format!("{k}::numeric"),
    };
    let integer = kind.is_some_and(|k| crate::sql::is_integer_type(d, &k.data_type));
    if !integer {
        return format!("({col} * (1 + {k_num} * {percent} * 0.000001))");
    }
    let delta = format!("ROUND({col} * {k_num} * {percent} * 0.000001)");
    let step = format!("(CASE WHEN {delta} <> 0 THEN {delta} WHEN {k} < 0 THEN -1 ELSE 1 END)");
    if kind.is_some_and(|k| k.unsigned) {
        // Never below zero: a step down that would cross it goes up instead.
        format!("CASE WHEN {col} + {step} < 0 THEN {col} - {step} ELSE {col} + {step} END")
    } else {
        format!("({col} + {step})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(t: &str, unsigned: bool) -> ColumnKind {
        ColumnKind {
            data_type: t.into(),
            unsigned,
        }
    }

    #[test]
    fn mysql_date_shift_keeps_sentinels_and_clamps_to_the_type() {
        let keep = vec!["9999-12-31".to_string()];
        let e = date_shift_expr(
            Dialect::MySql,
            "`d`",
            "(o)",
            &keep,
            Some(&kind("date", false)),
        );
        assert!(
            e.contains("WHEN CAST(`d` AS DATE) IN ('9999-12-31') THEN `d`"),
            "{e}"
        );
        assert!(
            e.contains("DATE_SUB('9999-12-31', INTERVAL (o) DAY) THEN '9999-12-31'"),
            "{e}"
        );
        assert!(e.contains("THEN '1000-01-01'"), "{e}");
        let ts = date_shift_expr(
            Dialect::MySql,
            "`d`",
            "(o)",
            &[],
            Some(&kind("timestamp", false)),
        );
        assert!(
            ts.contains("'2038-01-18 00:00:00'") && !ts.contains(" IN ("),
            "{ts}"
        );
    }

    #[test]
    fn postgres_date_shift_keeps_infinity_and_sentinels() {
        let keep = vec!["9999-12-31".to_string(), "1900-01-01".to_string()];
        let e = date_shift_expr(Dialect::Postgres, "\"d\"", "(o)", &keep, None);
        assert!(e.contains("WHEN NOT isfinite(\"d\") THEN \"d\""), "{e}");
        assert!(
            e.contains("\"d\"::date IN (DATE '9999-12-31', DATE '1900-01-01')"),
            "{e}"
        );
    }

    #[test]
    fn integer_noise_moves_at_least_one_unit() {
        let e = noise_expr(
            Dialect::Postgres,
            "n",
            "(k)",
            "5",
            Some(&kind("integer", false)),
        );
        assert!(
            e.starts_with("(n + (CASE WHEN ROUND(n * (k)::numeric"),
            "{e}"
        );
        let u = noise_expr(Dialect::MySql, "n", "(k)", "5", Some(&kind("int", true)));
        assert!(u.starts_with("CASE WHEN n + (CASE"), "{u}");
        let dec = noise_expr(
            Dialect::MySql,
            "n",
            "(k)",
            "5",
            Some(&kind("decimal", false)),
        );
        assert_eq!(dec, "(n * (1 + (k) * 5 * 0.000001))");
    }
}
