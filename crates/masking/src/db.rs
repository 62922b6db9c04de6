//! Connection to the target database: credentials in the RDS secret format,
//! TLS modes, a tiny pool, and a dialect-neutral connection wrapper used by
//! the ledger and the runner.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::Value;
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlPool, MySqlSslMode};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgSslMode, Postgres};
use sqlx::{AssertSqlSafe, Row};

use crate::error::MaskError;
use crate::secret::Password;
use crate::sql::Dialect;

/// Default name of the control schema (PostgreSQL) / database (MySQL).
pub const DEFAULT_CONTROL_SCHEMA: &str = "dms_refresh_control";

/// Credentials of the target database, as stored in an RDS-format Secrets
/// Manager secret. `Debug` never shows the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbCredentials {
    /// Engine family.
    pub engine: Dialect,
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User name.
    pub username: String,
    /// Password (redacted in Debug/Display).
    pub password: Password,
    /// Database name (MySQL: default database; PostgreSQL: database to
    /// connect to, defaulting to the user name like libpq).
    pub dbname: Option<String>,
}

fn engine_from_str(engine: &str) -> Option<Dialect> {
    match engine.trim().to_ascii_lowercase().as_str() {
        "mysql" | "mariadb" | "aurora" | "aurora-mysql" => Some(Dialect::MySql),
        "postgres" | "postgresql" | "aurora-postgresql" => Some(Dialect::Postgres),
        _ => None,
    }
}

impl DbCredentials {
    /// Parse the RDS Secrets Manager JSON format: `username`, `password`,
    /// `host`, `port` (number or string), `dbname` (optional), `engine`
    /// (`mysql`, `mariadb`, `aurora`, `aurora-mysql`, `postgres`,
    /// `postgresql`, `aurora-postgresql`). Errors never quote the password.
    pub fn from_secret_json(json: &str) -> Result<Self, MaskError> {
        let v: Value = serde_json::from_str(json).map_err(|e| {
            // serde_json errors do not echo input, only line/column.
            MaskError::Config(format!(
                "database secret is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let obj = v
            .as_object()
            .ok_or_else(|| MaskError::Config("database secret must be a JSON object".into()))?;
        let text = |k: &str| -> Result<String, MaskError> {
            match obj.get(k) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                Some(_) => Err(MaskError::Config(format!(
                    "database secret: `{k}` must be a non-empty string"
                ))),
                None => Err(MaskError::Config(format!("database secret: missing `{k}`"))),
            }
        };
        let engine_raw = text("engine")?;
        let engine = engine_from_str(&engine_raw).ok_or_else(|| {
            MaskError::Config(format!(
                "database secret: unsupported engine `{engine_raw}` (expected mysql, mariadb, aurora-mysql, postgres or aurora-postgresql)"
            ))
        })?;
        let port = match obj.get("port") {
            Some(Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
            Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
            None => Some(match engine {
                Dialect::MySql => 3306,
                Dialect::Postgres => 5432,
            }),
            _ => None,
        }
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            MaskError::Config("database secret: `port` must be a number 1..65535".into())
        })?;
        let password = match obj.get("password") {
            Some(Value::String(s)) => Password::new(s.clone()),
            Some(_) => {
                return Err(MaskError::Config(
                    "database secret: `password` must be a string".into(),
                ));
            }
            None => {
                return Err(MaskError::Config(
                    "database secret: missing `password`".into(),
                ));
            }
        };
        let dbname = match obj.get("dbname") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_)) | Some(Value::Null) | None => None,
            Some(_) => {
                return Err(MaskError::Config(
                    "database secret: `dbname` must be a string".into(),
                ));
            }
        };
        Ok(DbCredentials {
            engine,
            host: text("host")?,
            port,
            username: text("username")?,
            password,
            dbname,
        })
    }
}

impl TlsMode {
    /// A TLS setting as the functions' environment gives it: `require` (also
    /// when unset), `disable`, or `verify-full` against the CA bundle
    /// `ca_pem_path` gives; `None` for any other value.
    pub fn from_setting(mode: Option<&str>, ca_pem_path: impl FnOnce() -> PathBuf) -> Option<Self> {
        match mode {
            None | Some("require") => Some(Self::Require),
            Some("disable") => Some(Self::Disable),
            Some("verify-full") => Some(Self::VerifyFull {
                ca_pem_path: ca_pem_path(),
            }),
            Some(_) => None,
        }
    }
}

impl DbCredentials {
    /// PostgreSQL driver options for these credentials over `tls`, naming
    /// the connection `application_name` on the server.
    pub fn pg_options(&self, tls: &TlsMode, application_name: &str) -> PgConnectOptions {
        let mut o = PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.username)
            .application_name(application_name);
        if !self.password.expose().is_empty() {
            o = o.password(self.password.expose());
        }
        if let Some(db) = &self.dbname {
            o = o.database(db);
        }
        match tls {
            TlsMode::Disable => o.ssl_mode(PgSslMode::Disable),
            TlsMode::Require => o.ssl_mode(PgSslMode::Require),
            TlsMode::VerifyFull { ca_pem_path } => {
                o.ssl_mode(PgSslMode::VerifyFull).ssl_root_cert(ca_pem_path)
            }
        }
    }
}

/// Transport security to the database.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain TCP (local tests only).
    Disable,
    /// Encrypted, server certificate not verified (the default).
    #[default]
    Require,
    /// Encrypted and the server certificate verified against a CA bundle
    /// (e.g. the RDS global bundle) including the host name.
    VerifyFull {
        /// PEM file with the CA certificates.
        ca_pem_path: PathBuf,
    },
}

/// Driver options of either engine, for [`Target::connect_with`].
#[derive(Debug, Clone)]
pub enum ConnectOptions {
    /// MySQL / MariaDB.
    MySql(MySqlConnectOptions),
    /// PostgreSQL.
    Postgres(PgConnectOptions),
}

#[derive(Debug, Clone)]
pub(crate) enum Pools {
    My(MySqlPool),
    Pg(PgPool),
}

/// A connected target database. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Target {
    pub(crate) pools: Pools,
    pub(crate) dialect: Dialect,
    host: String,
    port: u16,
    dbname: Option<String>,
    pub(crate) control_schema: String,
    pub(crate) control_ready: Arc<AtomicBool>,
}

/// Maximum pool size: one connection for the runner, one for the ledger.
pub const POOL_SIZE: u32 = 2;

/// The pool settings both engines share: small, and quick to give up.
fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(POOL_SIZE)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .idle_timeout(Duration::from_secs(300))
}

impl Target {
    /// Connect with a pool of at most [`POOL_SIZE`] connections. The error
    /// names `host:port` and the database, never the password.
    pub async fn connect(creds: &DbCredentials, tls: TlsMode) -> Result<Target, MaskError> {
        let connect_err = |source: sqlx::Error| MaskError::Connect {
            engine: match creds.engine {
                Dialect::MySql => "MySQL",
                Dialect::Postgres => "PostgreSQL",
            },
            host: creds.host.clone(),
            port: creds.port,
            dbname: creds.dbname.clone().unwrap_or_else(|| "(default)".into()),
            source,
        };
        if let TlsMode::VerifyFull { ca_pem_path } = &tls
            && !ca_pem_path.is_file()
        {
            return Err(MaskError::Config(format!(
                "TLS CA bundle {} not found",
                ca_pem_path.display()
            )));
        }
        let pools = match creds.engine {
            Dialect::MySql => {
                let mut o = MySqlConnectOptions::new()
                    .host(&creds.host)
                    .port(creds.port)
                    .username(&creds.username)
                    .charset("utf8mb4");
                if !creds.password.expose().is_empty() {
                    o = o.password(creds.password.expose());
                }
                if let Some(db) = &creds.dbname {
                    o = o.database(db);
                }
                o = match &tls {
                    TlsMode::Disable => o.ssl_mode(MySqlSslMode::Disabled),
                    TlsMode::Require => o.ssl_mode(MySqlSslMode::Required),
                    TlsMode::VerifyFull { ca_pem_path } => {
                        o.ssl_mode(MySqlSslMode::VerifyIdentity).ssl_ca(ca_pem_path)
                    }
                };
                let pool = pool_options::<MySql>()
                    .connect_with(o)
                    .await
                    .map_err(connect_err)?;
                Pools::My(pool)
            }
            Dialect::Postgres => {
                let o = creds.pg_options(&tls, "dms-refresh-masking");
                let pool = pool_options::<Postgres>()
                    .connect_with(o)
                    .await
                    .map_err(connect_err)?;
                Pools::Pg(pool)
            }
        };
        Ok(Target {
            pools,
            dialect: creds.engine,
            host: creds.host.clone(),
            port: creds.port,
            dbname: creds.dbname.clone(),
            control_schema: DEFAULT_CONTROL_SCHEMA.to_string(),
            control_ready: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Connect with driver options the caller built itself (the operator
    /// command line, from a URL or with its own TLS choice), with the same
    /// pool as [`Target::connect`]. MySQL connections always use `utf8mb4`.
    /// The error names `host:port` and the database, never the password.
    pub async fn connect_with(options: ConnectOptions) -> Result<Target, MaskError> {
        let (dialect, host, port, dbname) = match &options {
            ConnectOptions::MySql(o) => (
                Dialect::MySql,
                o.get_host().to_string(),
                o.get_port(),
                o.get_database().map(str::to_string),
            ),
            ConnectOptions::Postgres(o) => (
                Dialect::Postgres,
                o.get_host().to_string(),
                o.get_port(),
                o.get_database().map(str::to_string),
            ),
        };
        let connect_err = |source: sqlx::Error| MaskError::Connect {
            engine: match dialect {
                Dialect::MySql => "MySQL",
                Dialect::Postgres => "PostgreSQL",
            },
            host: host.clone(),
            port,
            dbname: dbname.clone().unwrap_or_else(|| "(default)".into()),
            source,
        };
        let pools = match options {
            ConnectOptions::MySql(o) => Pools::My(
                pool_options::<MySql>()
                    .connect_with(o.charset("utf8mb4"))
                    .await
                    .map_err(connect_err)?,
            ),
            ConnectOptions::Postgres(o) => Pools::Pg(
                pool_options::<Postgres>()
                    .connect_with(o)
                    .await
                    .map_err(connect_err)?,
            ),
        };
        Ok(Target {
            pools,
            dialect,
            host,
            port,
            dbname,
            control_schema: DEFAULT_CONTROL_SCHEMA.to_string(),
            control_ready: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Use another control schema/database name (tests, or several
    /// independent ledgers on one MySQL server).
    pub fn with_control_schema(mut self, name: &str) -> Result<Self, MaskError> {
        if !crate::rules::is_valid_identifier(name) {
            return Err(MaskError::Config(format!(
                "invalid control schema name `{name}`"
            )));
        }
        self.control_schema = name.to_string();
        self.control_ready = Arc::new(AtomicBool::new(false));
        Ok(self)
    }

    /// `(host, port, dbname)` as configured, for the caller's guard.
    pub fn identity(&self) -> (String, u16, Option<String>) {
        (self.host.clone(), self.port, self.dbname.clone())
    }

    /// The database the connection is actually using, as reported by the
    /// server (`SELECT DATABASE()` / `SELECT current_database()`), for the
    /// caller's guard when the secret has no `dbname`.
    pub async fn live_database(&self) -> Result<Option<String>, MaskError> {
        let mut conn = self.acquire().await?;
        let sql = match self.dialect {
            Dialect::MySql => "SELECT DATABASE()",
            Dialect::Postgres => "SELECT current_database()::text",
        };
        let rows = conn
            .rows(sql, &[])
            .await
            .map_err(MaskError::db("reading the current database"))?;
        Ok(rows.first().and_then(|r| r.first()).and_then(Val::text))
    }

    /// The dialect of the target.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Name of the control schema (PostgreSQL) / database (MySQL).
    pub fn control_schema(&self) -> &str {
        &self.control_schema
    }

    /// Close the pool.
    pub async fn close(&self) {
        match &self.pools {
            Pools::My(p) => p.close().await,
            Pools::Pg(p) => p.close().await,
        }
    }

    pub(crate) async fn acquire(&self) -> Result<Conn, MaskError> {
        match &self.pools {
            Pools::My(p) => p.acquire().await.map(Conn::My),
            Pools::Pg(p) => p.acquire().await.map(Conn::Pg),
        }
        .map_err(MaskError::db("acquiring a connection"))
    }
}

/// A bind value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    Str(&'a str),
    I64(i64),
    OptI64(Option<i64>),
    OptStr(Option<&'a str>),
}

/// A decoded cell. Queries cast their results to BIGINT or text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Null,
    Int(i64),
    Text(String),
}

impl Val {
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Text(t) => t.trim().parse().ok(),
            Val::Null => None,
        }
    }

    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Val::Int(i) => Some(i.to_string()),
            Val::Text(t) => Some(t.clone()),
            Val::Null => None,
        }
    }
}

/// One pooled connection of either engine.
pub(crate) enum Conn {
    My(PoolConnection<MySql>),
    Pg(PoolConnection<Postgres>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::My(_) => "Conn::My",
            Conn::Pg(_) => "Conn::Pg",
        })
    }
}

macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match *b {
                Bind::Str(s) => q.bind(s),
                Bind::I64(i) => q.bind(i),
                Bind::OptI64(i) => q.bind(i),
                Bind::OptStr(s) => q.bind(s),
            };
        }
        q
    }};
}

fn decode_my(row: &sqlx::mysql::MySqlRow, i: usize) -> Val {
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map(Val::Int).unwrap_or(Val::Null);
    }
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v.map(Val::Text).unwrap_or(Val::Null);
    }
    if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
        return v
            .map(|b| Val::Text(String::from_utf8_lossy(&b).into_owned()))
            .unwrap_or(Val::Null);
    }
    if let Ok(v) = row.try_get::<Option<u64>, _>(i) {
        return v
            .map(|u| Val::Int(i64::try_from(u).unwrap_or(i64::MAX)))
            .unwrap_or(Val::Null);
    }
    Val::Null
}

fn decode_pg(row: &sqlx::postgres::PgRow, i: usize) -> Val {
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map(Val::Int).unwrap_or(Val::Null);
    }
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v.map(Val::Text).unwrap_or(Val::Null);
    }
    if let Ok(v) = row.try_get::<Option<i32>, _>(i) {
        return v.map(|x| Val::Int(i64::from(x))).unwrap_or(Val::Null);
    }
    Val::Null
}

impl Conn {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Conn::My(_) => Dialect::MySql,
            Conn::Pg(_) => Dialect::Postgres,
        }
    }

    /// Prepared statement; returns rows affected (matched rows on MySQL).
    pub(crate) async fn execute(
        &mut self,
        sql: &str,
        binds: &[Bind<'_>],
    ) -> Result<u64, sqlx::Error> {
        match self {
            Conn::My(c) => {
                let q = bind_all!(sqlx::query::<MySql>(AssertSqlSafe(sql.to_string())), binds);
                Ok(q.execute(&mut **c).await?.rows_affected())
            }
            Conn::Pg(c) => {
                let q = bind_all!(
                    sqlx::query::<Postgres>(AssertSqlSafe(sql.to_string())),
                    binds
                );
                Ok(q.execute(&mut **c).await?.rows_affected())
            }
        }
    }

    /// Simple-protocol statement(s) without binds (DDL, hooks, BEGIN...).
    pub(crate) async fn raw(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        match self {
            Conn::My(c) => Ok(sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(&mut **c)
                .await?
                .rows_affected()),
            Conn::Pg(c) => Ok(sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(&mut **c)
                .await?
                .rows_affected()),
        }
    }

    pub(crate) async fn rows(
        &mut self,
        sql: &str,
        binds: &[Bind<'_>],
    ) -> Result<Vec<Vec<Val>>, sqlx::Error> {
        match self {
            Conn::My(c) => {
                let q = bind_all!(sqlx::query::<MySql>(AssertSqlSafe(sql.to_string())), binds);
                let rows = q.fetch_all(&mut **c).await?;
                Ok(rows
                    .iter()
                    .map(|r| (0..r.len()).map(|i| decode_my(r, i)).collect())
                    .collect())
            }
            Conn::Pg(c) => {
                let q = bind_all!(
                    sqlx::query::<Postgres>(AssertSqlSafe(sql.to_string())),
                    binds
                );
                let rows = q.fetch_all(&mut **c).await?;
                Ok(rows
                    .iter()
                    .map(|r| (0..r.len()).map(|i| decode_pg(r, i)).collect())
                    .collect())
            }
        }
    }

    /// First column of the first row, as an integer (None if no row or NULL).
    pub(crate) async fn scalar_i64(
        &mut self,
        sql: &str,
        binds: &[Bind<'_>],
    ) -> Result<Option<i64>, sqlx::Error> {
        let rows = self.rows(sql, binds).await?;
        Ok(rows.first().and_then(|r| r.first()).and_then(Val::int))
    }

    pub(crate) async fn begin(&mut self) -> Result<(), sqlx::Error> {
        self.raw("BEGIN").await.map(|_| ())
    }

    pub(crate) async fn commit(&mut self) -> Result<(), sqlx::Error> {
        self.raw("COMMIT").await.map(|_| ())
    }

    /// Roll back; if even that fails the connection is dropped from the pool.
    pub(crate) async fn rollback(&mut self) {
        if self.raw("ROLLBACK").await.is_err() {
            self.close_on_drop();
        }
    }

    pub(crate) fn close_on_drop(&mut self) {
        match self {
            Conn::My(c) => c.close_on_drop(),
            Conn::Pg(c) => c.close_on_drop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rds_secret() {
        let c = DbCredentials::from_secret_json(
            r#"{"username":"admin","password":"p@ss\"w","host":"db.example","port":"3307","dbname":"shop","engine":"aurora-mysql"}"#,
        )
        .unwrap();
        assert_eq!(c.engine, Dialect::MySql);
        assert_eq!(c.port, 3307);
        assert_eq!(c.dbname.as_deref(), Some("shop"));
        assert!(!format!("{c:?}").contains("p@ss"));
        let c = DbCredentials::from_secret_json(
            r#"{"username":"u","password":"x","host":"h","port":5432,"engine":"aurora-postgresql"}"#,
        )
        .unwrap();
        assert_eq!(c.engine, Dialect::Postgres);
        assert_eq!(c.dbname, None);
    }

    #[test]
    fn rejects_bad_secrets_without_echoing_password() {
        let e = DbCredentials::from_secret_json(
            r#"{"username":"u","password":"sekret","host":"h","port":5432,"engine":"oracle-ee"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unsupported engine"), "{e}");
        assert!(!e.to_string().contains("sekret"));
        let e = DbCredentials::from_secret_json(
            r#"{"username":"u","password":"sekret","host":"h","port":"abc","engine":"mysql"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("port"), "{e}");
        let e = DbCredentials::from_secret_json(r#"{"username":"u","password":"sekret" "host"}"#)
            .unwrap_err();
        assert!(!e.to_string().contains("sekret"));
        let e = DbCredentials::from_secret_json(r#"{"password":"x","host":"h","engine":"mysql"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("username"), "{e}");
    }
}
