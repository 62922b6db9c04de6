//! Throw-away databases on the local MariaDB and PostgreSQL servers, filled
//! with the demo schema (customers, orders referencing customers, payments).

use sqlx::{AssertSqlSafe, Connection, MySqlConnection, PgConnection, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    MariaDb,
    Postgres,
}

fn mysql_url() -> String {
    std::env::var("DMSR_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

fn pg_url() -> String {
    std::env::var("DMSR_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A uniquely named database, dropped when the value is dropped (even when
/// the test panics).
pub struct DemoDb {
    pub engine: Engine,
    pub name: String,
    /// More MariaDB databases of the test (the publish model's places),
    /// dropped with this one.
    pub also_drop: Vec<String>,
}

impl DemoDb {
    pub async fn create(engine: Engine, customers: u32) -> Self {
        let name = format!(
            "dmsr_it_{}_{}",
            std::process::id(),
            crate::harness::unique("db")
                .rsplit('-')
                .next()
                .unwrap_or("0")
        );
        let db = Self {
            engine,
            name,
            also_drop: Vec::new(),
        };
        let mut admin = db.admin().await;
        admin.execute(&format!("CREATE DATABASE {}", db.name)).await;
        drop(admin);
        db.load_demo(customers).await;
        db
    }

    async fn admin(&self) -> AnyConn {
        match self.engine {
            Engine::MariaDb => AnyConn::My(
                MySqlConnection::connect(&mysql_url())
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "MariaDB is not reachable at {} ({e}); start it with \
                     `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd` \
                     or run `bash scripts/test.sh`",
                            mysql_url()
                        )
                    }),
            ),
            Engine::Postgres => AnyConn::Pg(
                PgConnection::connect(&format!("{}/postgres", pg_url()))
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "PostgreSQL is not reachable at {} ({e}); start it with \
                     `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                     or run `bash scripts/test.sh`",
                            pg_url()
                        )
                    }),
            ),
        }
    }

    pub async fn connect(&self) -> AnyConn {
        match self.engine {
            Engine::MariaDb => AnyConn::My(
                MySqlConnection::connect(&format!("{}/{}", mysql_url(), self.name))
                    .await
                    .expect("connect"),
            ),
            Engine::Postgres => AnyConn::Pg(
                PgConnection::connect(&format!("{}/{}", pg_url(), self.name))
                    .await
                    .expect("connect"),
            ),
        }
    }

    /// The RDS-format secret for this database.
    pub fn secret_json(&self) -> String {
        let (engine, user, port) = match self.engine {
            Engine::MariaDb => ("mariadb", "root", 3306),
            Engine::Postgres => ("postgres", "postgres", 5432),
        };
        serde_json::json!({
            "engine": engine, "host": "127.0.0.1", "port": port, "username": user,
            "password": "", "dbname": self.name,
        })
        .to_string()
    }

    pub fn dms_engine(&self) -> &'static str {
        match self.engine {
            Engine::MariaDb => "mariadb",
            Engine::Postgres => "postgres",
        }
    }

    pub fn port(&self) -> i32 {
        match self.engine {
            Engine::MariaDb => 3306,
            Engine::Postgres => 5432,
        }
    }

    pub async fn load_demo(&self, customers: u32) {
        let mut conn = self.connect().await;
        let n = customers;
        let (series, text) = match self.engine {
            Engine::MariaDb => (format!("(SELECT seq AS i FROM seq_1_to_{n}) s"), "CHAR"),
            Engine::Postgres => (format!("generate_series(1, {n}) AS s(i)"), "TEXT"),
        };
        let ddl = [
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE, \
             first_name VARCHAR(100), last_name VARCHAR(100), phone VARCHAR(40), city VARCHAR(100))"
                .to_owned(),
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), \
             customer_email VARCHAR(200) NOT NULL, amount DECIMAL(12,2) NOT NULL)"
                .to_owned(),
            format!(
                "INSERT INTO customers SELECT i, CONCAT('Person.', CAST(i AS {text}), '@Example.COM'), \
                 CONCAT('First', CAST(i AS {text})), CONCAT('Last', CAST(i AS {text})), \
                 CASE WHEN MOD(i, 10) = 0 THEN NULL ELSE CONCAT('+1-202-555-', CAST(1000 + MOD(i, 9000) AS {text})) END, \
                 'Springfield' FROM {series}"
            ),
            format!(
                "INSERT INTO orders SELECT i, i, CONCAT('Person.', CAST(i AS {text}), '@Example.COM'), \
                 10 + MOD(i, 90) FROM {series}"
            ),
        ];
        for statement in ddl {
            conn.execute(&statement).await;
        }
    }

    /// Drop the database now (also done on drop).
    fn drop_now(&self) {
        let status = match self.engine {
            // Sessions of a test that failed midway may still hold metadata
            // locks (this drop runs while their runtime is blocked): end them
            // first, and never wait long for a lock.
            Engine::MariaDb => std::process::Command::new("bash")
                .arg("-c")
                .arg(format!(
                    "m='mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -uroot'; \
                     $m -N -e \"SELECT CONCAT('KILL ', ID, ';') FROM information_schema.PROCESSLIST \
                     WHERE DB = '{0}' AND ID <> CONNECTION_ID()\" | $m -f 2>/dev/null; \
                     $m -e 'SET SESSION lock_wait_timeout = 20; DROP DATABASE IF EXISTS {0}'; \
                     for d in {1}; do $m -e \"DROP DATABASE IF EXISTS $d\"; done",
                    self.name,
                    self.also_drop.join(" ")
                ))
                .status(),
            Engine::Postgres => std::process::Command::new("psql")
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-c",
                ])
                .arg(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .status(),
        };
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

impl Drop for DemoDb {
    fn drop(&mut self) {
        self.drop_now();
    }
}

/// One connection to either engine, with the few calls the tests need.
pub enum AnyConn {
    My(MySqlConnection),
    Pg(PgConnection),
}

impl AnyConn {
    pub async fn execute(&mut self, sql: &str) {
        let result = match self {
            Self::My(c) => sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(c)
                .await
                .map(|_| ()),
            Self::Pg(c) => sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(c)
                .await
                .map(|_| ()),
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Every row of a text query, as strings (NULL as None).
    pub async fn strings(&mut self, sql: &str) -> Vec<Vec<Option<String>>> {
        let query = AssertSqlSafe(sql.to_owned());
        match self {
            Self::My(c) => text_rows(sqlx::query(query).fetch_all(c).await, sql),
            Self::Pg(c) => text_rows(sqlx::query(query).fetch_all(c).await, sql),
        }
    }
}

fn text_rows<R>(rows: Result<Vec<R>, sqlx::Error>, sql: &str) -> Vec<Vec<Option<String>>>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.try_get::<Option<String>, _>(i).expect("text column"))
                .collect()
        })
        .collect()
}
