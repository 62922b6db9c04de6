//! Connecting from `--url` or `--secret-file`: one read-only connection for
//! `suggest`, a masking [`Target`] for `validate`. Error messages name the
//! engine, host, port and database, never the password.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use masking::{ConnectOptions, DbCredentials, Dialect, Target};
use sqlx::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};

use crate::args::{ConnArgs, Source, Tls};

/// Longest a sampling or catalog query may run on PostgreSQL.
const STATEMENT_TIMEOUT: &str = "60s";
/// Longest wait for the server to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A read-only connection: the command reads one thing at a time.
#[derive(Debug)]
pub enum Conn {
    /// MySQL / MariaDB.
    My(MySqlConnection),
    /// PostgreSQL.
    Pg(PgConnection),
}

impl Conn {
    /// The engine.
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::My(_) => Dialect::MySql,
            Conn::Pg(_) => Dialect::Postgres,
        }
    }

    /// Say goodbye to the server (errors do not matter any more).
    pub async fn close(self) {
        let _ = match self {
            Conn::My(c) => c.close().await,
            Conn::Pg(c) => c.close().await,
        };
    }
}

enum Options {
    My(MySqlConnectOptions),
    Pg(PgConnectOptions),
}

/// Connect as the arguments say.
pub async fn connect(args: &ConnArgs) -> Result<Conn, String> {
    open(options(args)?).await
}

/// A masking [`Target`] as the arguments say (`validate`: the masking crate
/// runs its checks on its own connection). Nothing is set read-only here:
/// the masking crate keeps its reads in a read-only transaction and compiles
/// the run's statements in rolled-back ones.
pub async fn target(args: &ConnArgs) -> Result<Target, String> {
    let (options, place) = match options(args)? {
        Options::My(o) => {
            let place = describe(Dialect::MySql, o.get_host(), o.get_port(), o.get_database());
            (ConnectOptions::MySql(o), place)
        }
        Options::Pg(o) => {
            let place = describe(
                Dialect::Postgres,
                o.get_host(),
                o.get_port(),
                o.get_database(),
            );
            let o = o.application_name("dms-refresh-validate");
            (ConnectOptions::Postgres(o), place)
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, Target::connect_with(options)).await {
        // The error names host, port and database, never the password.
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "cannot connect to {place}: no answer within {} seconds",
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

fn options(args: &ConnArgs) -> Result<Options, String> {
    Ok(match &args.source {
        Source::Url(url) => from_url(url, args.engine, args.tls)?,
        Source::SecretFile(path) => {
            let json = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --secret-file {}: {e}", path.display()))?;
            let creds = DbCredentials::from_secret_json(&json)
                .map_err(|e| format!("--secret-file {}: {e}", path.display()))?;
            from_credentials(&creds, args.engine, args.tls.unwrap_or(Tls::Require))?
        }
    })
}

fn engine_of_url(url: &str) -> Result<Dialect, String> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("mysql" | "mariadb") => Ok(Dialect::MySql),
        Some("postgres" | "postgresql") => Ok(Dialect::Postgres),
        _ => Err("--url must start with mysql:// or postgres://".into()),
    }
}

fn check_engine(given: Option<Dialect>, actual: Dialect) -> Result<(), String> {
    match given {
        Some(g) if g != actual => Err(format!(
            "--engine {} does not match the connection, which is {}",
            engine_name(g),
            engine_name(actual)
        )),
        _ => Ok(()),
    }
}

fn from_url(url: &str, engine: Option<Dialect>, tls: Option<Tls>) -> Result<Options, String> {
    let dialect = engine_of_url(url)?;
    check_engine(engine, dialect)?;
    // The URL itself is never echoed: it may hold a password.
    let bad = |e: sqlx::Error| format!("invalid --url: {e}");
    Ok(match dialect {
        Dialect::MySql => {
            let normalised = url.replacen("mariadb://", "mysql://", 1);
            let o = MySqlConnectOptions::from_str(&normalised).map_err(bad)?;
            Options::My(match tls {
                Some(t) => o.ssl_mode(mysql_tls(t)),
                None => o,
            })
        }
        Dialect::Postgres => {
            let o = PgConnectOptions::from_str(url).map_err(bad)?;
            Options::Pg(match tls {
                Some(t) => o.ssl_mode(pg_tls(t)),
                None => o,
            })
        }
    })
}

fn from_credentials(
    creds: &DbCredentials,
    engine: Option<Dialect>,
    tls: Tls,
) -> Result<Options, String> {
    check_engine(engine, creds.engine)?;
    let password = creds.password.expose();
    Ok(match creds.engine {
        Dialect::MySql => {
            let mut o = MySqlConnectOptions::new()
                .host(&creds.host)
                .port(creds.port)
                .username(&creds.username)
                .ssl_mode(mysql_tls(tls));
            if !password.is_empty() {
                o = o.password(password);
            }
            if let Some(db) = &creds.dbname {
                o = o.database(db);
            }
            Options::My(o)
        }
        Dialect::Postgres => {
            let mut o = PgConnectOptions::new()
                .host(&creds.host)
                .port(creds.port)
                .username(&creds.username)
                .ssl_mode(pg_tls(tls));
            if !password.is_empty() {
                o = o.password(password);
            }
            if let Some(db) = &creds.dbname {
                o = o.database(db);
            }
            Options::Pg(o)
        }
    })
}

fn mysql_tls(t: Tls) -> MySqlSslMode {
    match t {
        Tls::Disable => MySqlSslMode::Disabled,
        Tls::Prefer => MySqlSslMode::Preferred,
        Tls::Require => MySqlSslMode::Required,
    }
}

fn pg_tls(t: Tls) -> PgSslMode {
    match t {
        Tls::Disable => PgSslMode::Disable,
        Tls::Prefer => PgSslMode::Prefer,
        Tls::Require => PgSslMode::Require,
    }
}

/// Human name of an engine.
pub fn engine_name(d: Dialect) -> &'static str {
    match d {
        Dialect::MySql => "MySQL",
        Dialect::Postgres => "PostgreSQL",
    }
}

async fn open(options: Options) -> Result<Conn, String> {
    match options {
        Options::My(o) => {
            let place = describe(Dialect::MySql, o.get_host(), o.get_port(), o.get_database());
            let o = o.charset("utf8mb4");
            let fail = |e: String| format!("cannot connect to {place}: {e}");
            let mut conn = within(MySqlConnection::connect_with(&o))
                .await
                .map_err(fail)?;
            let read_only = sqlx::query("SET SESSION TRANSACTION READ ONLY").execute(&mut conn);
            within(read_only).await.map_err(fail)?;
            Ok(Conn::My(conn))
        }
        Options::Pg(o) => {
            let place = describe(
                Dialect::Postgres,
                o.get_host(),
                o.get_port(),
                o.get_database(),
            );
            let o = o.application_name("dms-refresh-suggest").options([
                ("default_transaction_read_only", "on"),
                ("statement_timeout", STATEMENT_TIMEOUT),
            ]);
            let conn = within(PgConnection::connect_with(&o))
                .await
                .map_err(|e| format!("cannot connect to {place}: {e}"))?;
            Ok(Conn::Pg(conn))
        }
    }
}

/// Run a connection step, giving up after [`CONNECT_TIMEOUT`].
async fn within<T>(step: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, step).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "no answer within {} seconds",
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

fn describe(d: Dialect, host: &str, port: u16, db: Option<&str>) -> String {
    let db = db.map(|d| format!(", database {d}")).unwrap_or_default();
    format!("{} at {host}:{port}{db}", engine_name(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_comes_from_the_url_scheme() {
        assert_eq!(engine_of_url("mysql://root@h/db"), Ok(Dialect::MySql));
        assert_eq!(engine_of_url("MariaDB://root@h"), Ok(Dialect::MySql));
        assert_eq!(engine_of_url("postgresql://u@h/db"), Ok(Dialect::Postgres));
        assert!(engine_of_url("oracle://u@h").is_err());
        assert!(engine_of_url("h:3306").is_err());
    }

    #[test]
    fn a_contradicting_engine_is_refused() {
        let e = from_url("postgres://u:pw@h/db", Some(Dialect::MySql), None)
            .err()
            .unwrap();
        assert!(e.contains("does not match"), "{e}");
        assert!(!e.contains("pw"), "{e}");
    }

    #[test]
    fn tls_override_applies_to_the_url() {
        let Ok(Options::Pg(o)) = from_url("postgres://u@h/db", None, Some(Tls::Disable)) else {
            panic!("expected PostgreSQL options");
        };
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Disable));
        let Ok(Options::My(o)) = from_url("mysql://u@h/db", None, Some(Tls::Require)) else {
            panic!("expected MySQL options");
        };
        assert!(matches!(o.get_ssl_mode(), MySqlSslMode::Required));
    }

    #[test]
    fn secret_defaults_to_required_tls() {
        let json = r#"{"engine":"postgres","host":"db","port":5432,"username":"u","password":"s3cret","dbname":"app"}"#;
        let creds = DbCredentials::from_secret_json(json).unwrap();
        let Ok(Options::Pg(o)) = from_credentials(&creds, None, Tls::Require) else {
            panic!("expected PostgreSQL options");
        };
        assert_eq!(o.get_host(), "db");
        assert_eq!(o.get_database(), Some("app"));
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Require));
    }

    #[test]
    fn places_name_no_password() {
        let d = describe(Dialect::MySql, "h", 3306, Some("app"));
        assert_eq!(d, "MySQL at h:3306, database app");
    }
}
