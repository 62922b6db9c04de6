//! Keep the masking key out of the logs the database server writes.
//!
//! The key blocks reach the server once per connection, as bind parameters
//! ([`crate::session::bind_key`]). What could still write them down:
//!
//! * PostgreSQL logs the values of bind parameters next to every statement it
//!   logs (`log_statement = 'all'`, `log_min_duration_statement = 0`), unless
//!   `log_parameter_max_length = 0`. The session sets that where the user may
//!   (it needs superuser or a grant of `SET` on it); where it may not and
//!   statements would be logged, the run is refused.
//! * MySQL/MariaDB write the statements that use a user variable into a
//!   statement-based binary log together with the variable's value, and the
//!   general query log has every statement with its values. The session asks
//!   for row-based binary logging and `sql_log_off`; where it is not allowed
//!   and the server would log, the run is refused. The slow query log is kept
//!   off the one statement that sets the key (`long_query_time` is a session
//!   setting any user may change).

use crate::db::{Conn, Val};
use crate::error::MaskError;
use crate::sql::Dialect;

/// PostgreSQL logging settings that decide whether a statement's bind
/// parameters are written to the server log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgLogging {
    /// `log_statement`.
    pub log_statement: String,
    /// `log_min_duration_statement` in milliseconds (-1 = off).
    pub log_min_duration_ms: i64,
    /// `log_parameter_max_length` (-1 = whole value, 0 = none); `None` before
    /// PostgreSQL 13, where parameters are always logged with the statement.
    pub parameter_max_length: Option<i64>,
}

/// Whether the key would be written into the PostgreSQL log. A statement as
/// short as setting two values is logged by duration only at a threshold of 0.
pub fn pg_would_log_key(l: &PgLogging) -> bool {
    let logged = l.log_statement.eq_ignore_ascii_case("all") || l.log_min_duration_ms == 0;
    logged && l.parameter_max_length != Some(0)
}

/// MySQL/MariaDB logging state, after the session tried to turn its own
/// logging off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyLogging {
    /// `@@log_bin`.
    pub binlog_on: bool,
    /// `@@SESSION.binlog_format`.
    pub binlog_format: String,
    /// `@@general_log`.
    pub general_log_on: bool,
    /// `@@SESSION.sql_log_off`.
    pub sql_log_off: bool,
}

/// Why the key would reach a MySQL log, if it would.
pub fn my_key_log_problem(l: &MyLogging) -> Option<String> {
    if l.binlog_on && !l.binlog_format.eq_ignore_ascii_case("ROW") {
        return Some(format!(
            "the server writes a {} binary log, which would record the masking key with every statement that uses it, and this user may not switch its session to binlog_format = ROW: set binlog_format = ROW (on RDS: in the DB parameter group) or grant the masking user the privilege to set it",
            l.binlog_format
        ));
    }
    if l.general_log_on && !l.sql_log_off {
        return Some(
            "the general query log is on and would record the masking key, and this user may not set sql_log_off for its session: turn general_log off during the refresh or grant the masking user the privilege to set sql_log_off"
                .into(),
        );
    }
    None
}

/// Make sure the statement that binds the key is not logged; refuse
/// ([`MaskError::Config`]) when the server would log it anyway.
pub(crate) async fn keep_key_out_of_logs(conn: &mut Conn) -> Result<(), MaskError> {
    match conn.dialect() {
        Dialect::Postgres => postgres(conn).await,
        Dialect::MySql => mysql(conn).await,
    }
}

async fn postgres(conn: &mut Conn) -> Result<(), MaskError> {
    // Needs superuser or `GRANT SET ON PARAMETER`; unknown before 13.
    let _ = conn.raw("SET log_parameter_max_length = 0").await;
    let rows = conn
        .rows(
            "SELECT current_setting('log_statement'), \
             current_setting('log_min_duration_statement', true), \
             current_setting('log_parameter_max_length', true)",
            &[],
        )
        .await
        .map_err(MaskError::db("reading the logging settings"))?;
    let cell = |i: usize| rows.first().and_then(|r| r.get(i)).and_then(Val::text);
    let l = PgLogging {
        log_statement: cell(0).unwrap_or_default(),
        log_min_duration_ms: cell(1).and_then(|v| duration_ms(&v)).unwrap_or(-1),
        parameter_max_length: cell(2).and_then(|v| v.trim().parse().ok()),
    };
    if pg_would_log_key(&l) {
        return Err(MaskError::Config(format!(
            "the server would write the masking key into its log (log_statement = {}, log_min_duration_statement = {} ms, log_parameter_max_length = {}) and this user may not set log_parameter_max_length = 0: grant it (PostgreSQL 15+: GRANT SET ON PARAMETER log_parameter_max_length TO <user>) or lower the logging for the masking user",
            l.log_statement,
            l.log_min_duration_ms,
            l.parameter_max_length
                .map_or_else(|| "unsupported".to_string(), |v| v.to_string()),
        )));
    }
    Ok(())
}

/// `log_min_duration_statement` as shown (`-1`, `0`, `250ms`, `1s`...) in ms.
fn duration_ms(shown: &str) -> Option<i64> {
    let s = shown.trim();
    let digits_end = s
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && *c == '-')))
        .map_or(s.len(), |(i, _)| i);
    let n: i64 = s[..digits_end].parse().ok()?;
    let scale = match s[digits_end..].trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(if n < 0 { n } else { n.saturating_mul(scale) })
}

async fn mysql(conn: &mut Conn) -> Result<(), MaskError> {
    let flags = conn
        .rows(
            "SELECT @@log_bin, CAST(@@SESSION.binlog_format AS CHAR), @@general_log",
            &[],
        )
        .await
        .map_err(MaskError::db("reading the logging settings"))?;
    let cell = |i: usize| flags.first().and_then(|r| r.get(i)).cloned();
    let binlog_on = cell(0).and_then(|v| v.int()).unwrap_or(0) != 0;
    let general_on = cell(2).and_then(|v| v.int()).unwrap_or(0) != 0;
    if binlog_on {
        let _ = conn.raw("SET SESSION binlog_format = 'ROW'").await;
    }
    if general_on {
        let _ = conn.raw("SET SESSION sql_log_off = 1").await;
    }
    // Any user may raise its own threshold; the slow log then skips the
    // statement that binds the key (the runs' own statements are not slowed
    // from the log: see `restore_slow_log`).
    let _ = conn
        .raw("SET @dmsr_lqt = @@SESSION.long_query_time, SESSION long_query_time = 31536000")
        .await;
    let now = conn
        .rows(
            "SELECT CAST(@@SESSION.binlog_format AS CHAR), @@SESSION.sql_log_off",
            &[],
        )
        .await
        .map_err(MaskError::db("reading the logging settings"))?;
    let at = |i: usize| now.first().and_then(|r| r.get(i)).cloned();
    let l = MyLogging {
        binlog_on,
        binlog_format: at(0).and_then(|v| v.text()).unwrap_or_default(),
        general_log_on: general_on,
        sql_log_off: at(1).and_then(|v| v.int()).unwrap_or(0) != 0,
    };
    match my_key_log_problem(&l) {
        Some(p) => Err(MaskError::Config(p)),
        None => Ok(()),
    }
}

/// MySQL: give the session back the slow-log threshold it had before the key
/// was bound (best effort).
pub(crate) async fn restore_slow_log(conn: &mut Conn) {
    if conn.dialect() == Dialect::MySql {
        let _ = conn
            .raw("SET SESSION long_query_time = COALESCE(@dmsr_lqt, @@GLOBAL.long_query_time)")
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(stmt: &str, min: i64, max_len: Option<i64>) -> PgLogging {
        PgLogging {
            log_statement: stmt.into(),
            log_min_duration_ms: min,
            parameter_max_length: max_len,
        }
    }

    #[test]
    fn postgres_logs_parameters_of_logged_statements_unless_length_is_zero() {
        assert!(pg_would_log_key(&pg("all", -1, Some(-1))));
        assert!(pg_would_log_key(&pg("none", 0, Some(64))));
        assert!(pg_would_log_key(&pg("all", -1, None)), "before 13");
        assert!(!pg_would_log_key(&pg("all", 0, Some(0))));
        assert!(!pg_would_log_key(&pg("ddl", -1, Some(-1))));
        assert!(!pg_would_log_key(&pg("mod", 250, Some(-1))));
    }

    #[test]
    fn postgres_durations_are_read_with_their_unit() {
        assert_eq!(duration_ms("-1"), Some(-1));
        assert_eq!(duration_ms("0"), Some(0));
        assert_eq!(duration_ms("250ms"), Some(250));
        assert_eq!(duration_ms("2s"), Some(2000));
        assert_eq!(duration_ms("1min"), Some(60_000));
        assert_eq!(duration_ms("x"), None);
    }

    fn my(binlog: bool, fmt: &str, general: bool, off: bool) -> MyLogging {
        MyLogging {
            binlog_on: binlog,
            binlog_format: fmt.into(),
            general_log_on: general,
            sql_log_off: off,
        }
    }

    #[test]
    fn mysql_refuses_statement_binlogs_and_an_unavoidable_general_log() {
        assert_eq!(my_key_log_problem(&my(false, "MIXED", false, false)), None);
        assert_eq!(my_key_log_problem(&my(true, "ROW", false, false)), None);
        assert_eq!(my_key_log_problem(&my(true, "ROW", true, true)), None);
        let p = my_key_log_problem(&my(true, "MIXED", false, false)).unwrap_or_default();
        assert!(p.contains("MIXED binary log"), "{p}");
        assert!(my_key_log_problem(&my(true, "STATEMENT", false, false)).is_some());
        let p = my_key_log_problem(&my(false, "ROW", true, false)).unwrap_or_default();
        assert!(p.contains("general query log"), "{p}");
    }
}
