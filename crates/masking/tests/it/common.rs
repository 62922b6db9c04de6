//! Shared helpers: per-test databases on the real servers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use masking::{
    Begin, DbCredentials, Dialect, Password, Places, Rules, RunReport, Salt, Target, TlsMode,
};
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row};

pub const SALT: &str = "it-salt-0123456789-abcdef";

pub fn salt() -> Salt {
    Salt::new(SALT)
}

pub const ENGINES: [Dialect; 2] = [Dialect::MySql, Dialect::Postgres];

fn url(d: Dialect) -> String {
    match d {
        Dialect::MySql => std::env::var("DMSR_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into()),
        Dialect::Postgres => std::env::var("DMSR_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into()),
    }
}

fn how_to_start(d: Dialect) -> &'static str {
    match d {
        Dialect::MySql => {
            "start MariaDB with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd (or set DMSR_TEST_MYSQL_URL)"
        }
        Dialect::Postgres => {
            "start PostgreSQL with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start (or set DMSR_TEST_PG_URL)"
        }
    }
}

/// (user, password, host, port) of a `scheme://user[:pass]@host:port[/db]` URL.
fn split_url(u: &str) -> (String, String, String, u16) {
    let rest = u.split_once("://").map(|x| x.1).unwrap_or(u);
    let rest = rest.split('/').next().unwrap_or(rest);
    let (auth, hostport) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let (user, pass) = auth.split_once(':').unwrap_or((auth, ""));
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, ""));
    (
        user.to_string(),
        pass.to_string(),
        host.to_string(),
        port.parse().unwrap_or(0),
    )
}

pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[derive(Clone, Debug)]
pub enum Pool {
    My(MySqlPool),
    Pg(PgPool),
}

/// A fresh database on one server, with a [`Target`] connected to it.
#[derive(Debug)]
pub struct TestDb {
    pub d: Dialect,
    pub name: String,
    pub control: String,
    admin: Pool,
    pub pool: Pool,
    pub target: Target,
    pub creds: DbCredentials,
    /// Server-wide objects created by the test (MySQL place databases,
    /// developer roles/users), dropped after the database.
    extra_drops: Vec<String>,
    /// Drops the databases if the test panics before `cleanup`.
    guard: DropGuard,
}

/// Drops the test databases from a helper thread when a test panics (an
/// async cleanup cannot run in `Drop`).
#[derive(Debug)]
struct DropGuard {
    d: Dialect,
    statements: Vec<String>,
    armed: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (d, stmts) = (self.d, std::mem::take(&mut self.statements));
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let base = url(d);
                match d {
                    Dialect::MySql => {
                        if let Ok(p) = MySqlPoolOptions::new()
                            .max_connections(1)
                            .connect(&base)
                            .await
                        {
                            for s in &stmts {
                                let _ = sqlx::raw_sql(AssertSqlSafe(s.clone())).execute(&p).await;
                            }
                        }
                    }
                    Dialect::Postgres => {
                        if let Ok(p) = PgPoolOptions::new()
                            .max_connections(1)
                            .connect(&format!("{base}/postgres"))
                            .await
                        {
                            for s in &stmts {
                                let _ = sqlx::raw_sql(AssertSqlSafe(s.clone())).execute(&p).await;
                            }
                        }
                    }
                }
            });
        })
        .join();
    }
}

fn drop_statements(d: Dialect, name: &str, control: &str) -> Vec<String> {
    match d {
        Dialect::MySql => vec![
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("DROP DATABASE IF EXISTS {control}"),
        ],
        Dialect::Postgres => vec![format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")],
    }
}

impl TestDb {
    pub async fn new(d: Dialect) -> TestDb {
        let base = url(d);
        let (user, pass, host, port) = split_url(&base);
        let name = unique("dmsr_mask");
        let control = match d {
            Dialect::MySql => unique("dmsr_ctl"),
            Dialect::Postgres => "dms_refresh_control".to_string(),
        };
        let admin = match d {
            Dialect::MySql => Pool::My(
                MySqlPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&base)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "MySQL/MariaDB unreachable at {base}: {e}; {}",
                            how_to_start(d)
                        )
                    }),
            ),
            Dialect::Postgres => Pool::Pg(
                PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&format!("{base}/postgres"))
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL unreachable at {base}: {e}; {}", how_to_start(d))
                    }),
            ),
        };
        let create = match d {
            Dialect::MySql => {
                format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            }
            Dialect::Postgres => {
                format!("CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
            }
        };
        exec_on(&admin, &create).await;
        let guard = DropGuard {
            d,
            statements: drop_statements(d, &name, &control),
            armed: true,
        };
        let creds = DbCredentials {
            engine: d,
            host,
            port,
            username: user,
            password: Password::new(pass),
            dbname: Some(name.clone()),
        };
        let pool = match d {
            Dialect::MySql => Pool::My(
                MySqlPoolOptions::new()
                    .max_connections(2)
                    .connect(&format!("{base}/{name}"))
                    .await
                    .unwrap(),
            ),
            Dialect::Postgres => Pool::Pg(
                PgPoolOptions::new()
                    .max_connections(2)
                    .connect(&format!("{base}/{name}"))
                    .await
                    .unwrap(),
            ),
        };
        let target = Target::connect(&creds, TlsMode::Disable)
            .await
            .unwrap()
            .with_control_schema(&control)
            .unwrap();
        TestDb {
            d,
            name,
            control,
            admin,
            pool,
            target,
            creds,
            extra_drops: Vec::new(),
            guard,
        }
    }

    /// Drop `stmt` at cleanup (and on panic), after the test database.
    pub fn also_drop(&mut self, stmt: String) {
        self.guard.statements.push(stmt.clone());
        self.extra_drops.push(stmt);
    }

    /// Four fresh place names `<prefix>`, `<prefix>_q`, `<prefix>_old`,
    /// `<prefix>_build`: PostgreSQL schemas of the test database, MySQL
    /// databases (unique on the server, dropped at cleanup).
    pub fn places(&mut self, prefix: &str) -> Places {
        match self.d {
            Dialect::Postgres => Places::new(
                prefix,
                &format!("{prefix}_q"),
                &format!("{prefix}_old"),
                &format!("{prefix}_build"),
            )
            .unwrap(),
            Dialect::MySql => {
                let base = unique(prefix);
                let names = ["", "_q", "_old", "_build"].map(|s| format!("{base}{s}"));
                for n in &names {
                    self.also_drop(format!("DROP DATABASE IF EXISTS {n}"));
                }
                Places::new(&names[0], &names[1], &names[2], &names[3]).unwrap()
            }
        }
    }

    /// A developer login with a password and no privileges yet; returns
    /// the grantee as configured (`role` or `'user'@'%'`).
    pub async fn developer(&mut self) -> Developer {
        let name = unique("dev");
        let password = "dev-pw-1234".to_string();
        let grantee = match self.d {
            Dialect::Postgres => {
                self.exec(&format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'"))
                    .await;
                self.also_drop(format!("DROP ROLE IF EXISTS {name}"));
                name.clone()
            }
            Dialect::MySql => {
                self.exec(&format!(
                    "CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"
                ))
                .await;
                self.also_drop(format!("DROP USER IF EXISTS '{name}'@'%'"));
                format!("'{name}'@'%'")
            }
        };
        let (_, _, host, port) = split_url(&url(self.d));
        let u = match self.d {
            Dialect::Postgres => {
                format!("postgres://{name}:{password}@{host}:{port}/{}", self.name)
            }
            Dialect::MySql => format!("mysql://{name}:{password}@{host}:{port}"),
        };
        let pool = match self.d {
            Dialect::MySql => Pool::My(
                MySqlPoolOptions::new()
                    .max_connections(1)
                    .connect(&u)
                    .await
                    .unwrap(),
            ),
            Dialect::Postgres => Pool::Pg(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&u)
                    .await
                    .unwrap(),
            ),
        };
        Developer { grantee, pool }
    }

    /// Another target on the same database (own pool).
    pub async fn other_target(&self) -> Target {
        Target::connect(&self.creds, TlsMode::Disable)
            .await
            .unwrap()
            .with_control_schema(&self.control)
            .unwrap()
    }

    pub async fn exec(&self, sql: &str) {
        exec_on(&self.pool, sql).await;
    }

    pub async fn try_exec(&self, sql: &str) -> Result<(), sqlx::Error> {
        match &self.pool {
            Pool::My(p) => sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .map(|_| ()),
            Pool::Pg(p) => sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .map(|_| ()),
        }
    }

    /// Rows of a query whose columns are all cast to text by the caller.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let query = AssertSqlSafe(sql.to_string());
        match &self.pool {
            Pool::My(p) => text_cells(sqlx::query(query).fetch_all(p).await, sql),
            Pool::Pg(p) => text_cells(sqlx::query(query).fetch_all(p).await, sql),
        }
    }

    /// One column of text.
    pub async fn col(&self, sql: &str) -> Vec<Option<String>> {
        self.rows(sql)
            .await
            .into_iter()
            .map(|mut r| r.remove(0))
            .collect()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.col(sql).await[0].as_deref().unwrap().parse().unwrap()
    }

    /// A control table, quoted for this dialect.
    pub fn control_table(&self, name: &str) -> String {
        match self.d {
            Dialect::MySql => format!("`{}`.`{name}`", self.control),
            Dialect::Postgres => format!("\"{}\".\"{name}\"", self.control),
        }
    }

    /// Text cast for this dialect.
    pub fn txt(&self, e: &str) -> String {
        match self.d {
            Dialect::MySql => format!("CAST({e} AS CHAR)"),
            Dialect::Postgres => format!("({e})::text"),
        }
    }

    /// begin + run with a generous deadline; panics if not New/Resumed.
    pub async fn mask(&self, run_id: &str, rules: &Rules) -> Result<RunReport, masking::MaskError> {
        self.begin(run_id).await;
        self.target.run(run_id, rules, &salt(), far()).await
    }

    pub async fn begin(&self, run_id: &str) {
        let b = self
            .target
            .begin(
                run_id,
                "tester",
                SystemTime::now() + Duration::from_secs(600),
            )
            .await
            .unwrap();
        assert!(matches!(b, Begin::New | Begin::Resumed), "{b:?}");
    }

    pub async fn cleanup(mut self) {
        self.target.close().await;
        match &self.pool {
            Pool::My(p) => p.close().await,
            Pool::Pg(p) => p.close().await,
        }
        for s in drop_statements(self.d, &self.name, &self.control) {
            exec_on(&self.admin, &s).await;
        }
        for s in &self.extra_drops {
            exec_on(&self.admin, s).await;
        }
        self.guard.armed = false;
    }
}

/// A developer login (its own one-connection pool).
#[derive(Debug)]
pub struct Developer {
    /// As written in the grants configuration.
    pub grantee: String,
    pub pool: Pool,
}

impl Developer {
    /// Rows of a query (cells cast to text by the caller), or the error.
    pub async fn try_rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
        let query = AssertSqlSafe(sql.to_string());
        match &self.pool {
            Pool::My(p) => sqlx::query(query)
                .fetch_all(p)
                .await
                .map(|v| text_cells(Ok(v), sql)),
            Pool::Pg(p) => sqlx::query(query)
                .fetch_all(p)
                .await
                .map(|v| text_cells(Ok(v), sql)),
        }
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::My(p) => p.close().await,
            Pool::Pg(p) => p.close().await,
        }
    }
}

/// Whether an error is "permission denied" (PostgreSQL 42501, MySQL
/// 1142/1143 "... denied to user ...", 1044 "Access denied for user ...
/// to database ...").
pub fn is_permission_denied(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("42501")
                || db.message().contains("denied to user")
                || db.message().starts_with("Access denied for user")
        }
        _ => false,
    }
}

async fn exec_on(p: &Pool, sql: &str) {
    let r = match p {
        Pool::My(p) => sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(p)
            .await
            .map(|_| ()),
        Pool::Pg(p) => sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(p)
            .await
            .map(|_| ()),
    };
    r.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub fn far() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

pub fn rules(src: &str) -> Rules {
    Rules::parse(src, "test-rules.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// Lower-case hex HMAC-SHA256 of `domain:value` under the test key,
/// computed in Rust with the `hmac` crate (test oracle, independent of the
/// engine's own construction).
pub fn oracle_hex(domain: &str, value: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(SALT.as_bytes()).expect("any key length");
    m.update(format!("{domain}:{value}").as_bytes());
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every cell as text: a text column, bytes that are UTF-8 (MySQL returns some
/// casts as binary), or an integer.
fn text_cells<R>(rows: Result<Vec<R>, sqlx::Error>, sql: &str) -> Vec<Vec<Option<String>>>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let rows = rows.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    r.try_get::<Option<String>, _>(i)
                        .or_else(|_| {
                            r.try_get::<Option<Vec<u8>>, _>(i)
                                .map(|o| o.map(|b| String::from_utf8(b).unwrap()))
                        })
                        .or_else(|_| {
                            r.try_get::<Option<i64>, _>(i)
                                .map(|o| o.map(|v| v.to_string()))
                        })
                        .unwrap_or_else(|e| panic!("{sql}: column {i}: {e}"))
                })
                .collect()
        })
        .collect()
}

/// The stored cursor of `step` (`last_key_text`).
pub async fn cursor_of(db: &TestDb, step: &str) -> String {
    let cursor = db
        .col(&format!(
            "SELECT last_key_text FROM {} WHERE step = '{step}'",
            db.control_table("table_progress")
        ))
        .await;
    cursor
        .first()
        .cloned()
        .flatten()
        .unwrap_or_else(|| panic!("no cursor for step {step}"))
}

/// The chunks of a page cursor: its pages, `per_chunk` at a time.
pub fn pages_chunks(cursor: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(cursor).unwrap();
    let field = |f: &str| {
        v["pages"][f]
            .as_u64()
            .unwrap_or_else(|| panic!("{f} in {cursor}"))
    };
    field("end").div_ceil(field("per_chunk"))
}
