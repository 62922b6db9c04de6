//! Helpers of the integration tests: a uniquely named database on the real
//! local servers (dropped at the end, also when a test panics), fake
//! customer data, and a way to run the real binary.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use masking::Dialect;
use sqlx::AssertSqlSafe;
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use tokio::runtime::Runtime;

/// Base URL of a server, without a database.
pub fn base_url(d: Dialect) -> String {
    match d {
        Dialect::MySql => std::env::var("DMSR_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into()),
        Dialect::Postgres => std::env::var("DMSR_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into()),
    }
}

fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Run SQL statements (one script) on `url`.
fn exec_at(rt: &Runtime, d: Dialect, url: &str, sql: &str) -> Result<(), String> {
    rt.block_on(async {
        match d {
            Dialect::MySql => {
                let pool = MySqlPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await
                    .map_err(|e| e.to_string())?;
                let r = sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(&pool)
                    .await;
                pool.close().await;
                r.map(|_| ()).map_err(|e| e.to_string())
            }
            Dialect::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await
                    .map_err(|e| e.to_string())?;
                let r = sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(&pool)
                    .await;
                pool.close().await;
                r.map(|_| ()).map_err(|e| e.to_string())
            }
        }
    })
}

/// The first column of every row of `sql`, run on `url`, as text.
fn query_text(rt: &Runtime, d: Dialect, url: &str, sql: &str) -> Result<Vec<String>, String> {
    rt.block_on(async {
        let text = |v: Option<String>| v.unwrap_or_else(|| "NULL".into());
        match d {
            Dialect::MySql => {
                let pool = MySqlPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await
                    .map_err(|e| e.to_string())?;
                let r = sqlx::query_scalar::<_, Option<String>>(AssertSqlSafe(sql.to_string()))
                    .fetch_all(&pool)
                    .await;
                pool.close().await;
                r.map(|v| v.into_iter().map(text).collect())
                    .map_err(|e| e.to_string())
            }
            Dialect::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await
                    .map_err(|e| e.to_string())?;
                let r = sqlx::query_scalar::<_, Option<String>>(AssertSqlSafe(sql.to_string()))
                    .fetch_all(&pool)
                    .await;
                pool.close().await;
                r.map(|v| v.into_iter().map(text).collect())
                    .map_err(|e| e.to_string())
            }
        }
    })
}

/// A fresh database: on MySQL the database is the scanned schema; on
/// PostgreSQL the schema `crm` inside it is.
#[derive(Debug)]
pub struct TestDb {
    pub d: Dialect,
    /// Database name.
    pub name: String,
    /// What `--schema` names.
    pub schema: String,
    rt_url: String,
}

impl TestDb {
    pub fn new(d: Dialect) -> TestDb {
        let name = unique("dmsr_cli");
        let rt = runtime();
        let (admin, create) = match d {
            Dialect::MySql => (
                base_url(d),
                format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
            ),
            Dialect::Postgres => (
                format!("{}/postgres", base_url(d)),
                format!("CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"),
            ),
        };
        if let Err(e) = exec_at(&rt, d, &admin, &create) {
            let engine = match d {
                Dialect::MySql => "MariaDB/MySQL",
                Dialect::Postgres => "PostgreSQL",
            };
            panic!(
                "{engine} unreachable or refusing CREATE DATABASE at {}: {e}; \
                 start the local servers with `bash scripts/ensure-databases.sh`",
                base_url(d)
            );
        }
        let schema = match d {
            Dialect::MySql => name.clone(),
            Dialect::Postgres => "crm".to_string(),
        };
        let db = TestDb {
            d,
            rt_url: format!("{}/{name}", base_url(d)),
            name,
            schema,
        };
        if d == Dialect::Postgres {
            db.exec("CREATE SCHEMA crm");
        }
        db
    }

    /// Connection URL of the test database.
    pub fn url(&self) -> String {
        self.rt_url.clone()
    }

    /// Run a script on the test database; panics with the error.
    pub fn exec(&self, sql: &str) {
        if let Err(e) = exec_at(&runtime(), self.d, &self.rt_url, sql) {
            panic!("{sql}: {e}");
        }
    }

    /// The first column of every row of `sql` as text (`NULL` for NULL);
    /// panics with the error.
    pub fn rows_text(&self, sql: &str) -> Vec<String> {
        match query_text(&runtime(), self.d, &self.rt_url, sql) {
            Ok(rows) => rows,
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// `schema.table`, quoted for the engine.
    pub fn table(&self, t: &str) -> String {
        match self.d {
            Dialect::MySql => format!("`{}`.`{t}`", self.schema),
            Dialect::Postgres => format!("\"{}\".\"{t}\"", self.schema),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, sql) = match self.d {
            Dialect::MySql => (
                base_url(self.d),
                format!("DROP DATABASE IF EXISTS {}", self.name),
            ),
            Dialect::Postgres => (
                format!("{}/postgres", base_url(self.d)),
                format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ),
        };
        // Best effort: a failed drop must not hide the test's own failure.
        let _ = exec_at(&runtime(), self.d, &admin, &sql);
    }
}

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `dms-refresh` with `args`.
pub fn dms_refresh(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_dms-refresh"))
        .args(args)
        .output()
        .expect("running dms-refresh");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

// ---------------------------------------------------------------------------
// fake data

fn luhn_check_digit(body: &str) -> u32 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

fn iban_check_digits(country: &str, bban: &str) -> u32 {
    let rearranged = format!("{bban}{country}00");
    let mut rem = 0u32;
    for c in rearranged.chars() {
        let v = c.to_digit(36).expect("alphanumeric");
        rem = (rem * if v >= 10 { 100 } else { 10 } + v) % 97;
    }
    98 - rem
}

const FIRST_NAMES: [&str; 10] = [
    "Aurelio",
    "Benedetta",
    "Cordelia",
    "Desmond",
    "Evangeline",
    "Florian",
    "Gwendolyn",
    "Horatio",
    "Isadora",
    "Jebediah",
];

/// One customer row of fake but realistic values.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: u32,
    pub email: String,
    pub phone: String,
    pub card: String,
    pub iban: String,
    pub ip: Option<String>,
    pub first_name: String,
    pub notes: String,
    pub birth_date: String,
    pub status: String,
}

pub fn customers(n: u32) -> Vec<Customer> {
    (1..=n)
        .map(|i| {
            let first = FIRST_NAMES[(i as usize) % FIRST_NAMES.len()];
            let card_body = format!("453912{:09}", u64::from(i) * 7_919_113 % 1_000_000_000);
            let bban = format!("NWBK601613{:08}", u64::from(i) * 31_337 % 100_000_000);
            let ip = match i % 5 {
                0 => None,
                1 | 3 => Some(format!("2001:db8:{:x}::{:x}", i, i * 3)),
                _ => Some(format!("198.51.100.{}", 10 + i)),
            };
            Customer {
                id: i,
                email: format!("{}.q{}@example.org", first.to_lowercase(), 1000 + i),
                phone: format!("+44 20 7946 {:04}", 3000 + i),
                card: format!("{card_body}{}", luhn_check_digit(&card_body)),
                iban: format!("GB{:02}{bban}", iban_check_digits("GB", &bban)),
                ip,
                first_name: first.to_string(),
                notes: format!("Asked for a callback about parcel number {}", 500 + i),
                birth_date: format!("19{}-{:02}-{:02}", 60 + i, 1 + i % 12, 1 + i % 28),
                status: if i % 3 == 0 { "st-closed" } else { "st-active" }.to_string(),
            }
        })
        .collect()
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Create `customers`, `products`, `misc` (a column no rule can name) and a
/// view, and fill them.
pub fn create_schema(db: &TestDb, rows: &[Customer]) {
    let (text, quote) = match db.d {
        Dialect::MySql => ("TEXT", '`'),
        Dialect::Postgres => ("TEXT", '"'),
    };
    db.exec(&format!(
        "CREATE TABLE {} (id INT PRIMARY KEY, email VARCHAR(255) NOT NULL, \
         phone VARCHAR(30) NOT NULL, card VARCHAR(19) NOT NULL, iban VARCHAR(34) NOT NULL, \
         ip VARCHAR(45) NULL, first_name VARCHAR(50) NOT NULL, notes {text} NOT NULL, \
         birth_date DATE NOT NULL, status VARCHAR(10) NOT NULL)",
        db.table("customers")
    ));
    db.exec(&format!(
        "CREATE TABLE {} (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, price DECIMAL(10,2) NOT NULL)",
        db.table("products")
    ));
    db.exec(&format!(
        "CREATE TABLE {} (id INT PRIMARY KEY, {quote}odd-col{quote} VARCHAR(20))",
        db.table("misc")
    ));
    db.exec(&format!(
        "CREATE VIEW {} AS SELECT id, email AS contact_email FROM {}",
        db.table("v_contacts"),
        db.table("customers")
    ));
    let values: Vec<String> = rows
        .iter()
        .map(|c| {
            format!(
                "({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                c.id,
                lit(&c.email),
                lit(&c.phone),
                lit(&c.card),
                lit(&c.iban),
                c.ip.as_deref().map_or("NULL".to_string(), lit),
                lit(&c.first_name),
                lit(&c.notes),
                lit(&c.birth_date),
                lit(&c.status)
            )
        })
        .collect();
    db.exec(&format!(
        "INSERT INTO {} VALUES {}",
        db.table("customers"),
        values.join(", ")
    ));
    db.exec(&format!(
        "INSERT INTO {} VALUES (1, 'Walnut desk', 129.00), (2, 'Oak shelf', 59.50)",
        db.table("products")
    ));
    db.exec(&format!("INSERT INTO {} VALUES (1, 'x')", db.table("misc")));
}

/// Every sampled value of the fake data that must never be printed.
pub fn secrets(rows: &[Customer]) -> Vec<String> {
    let mut out = Vec::new();
    for c in rows {
        out.extend([
            c.email.clone(),
            c.phone.clone(),
            c.card.clone(),
            c.iban.clone(),
            c.first_name.clone(),
            c.notes.clone(),
            c.birth_date.clone(),
            c.status.clone(),
        ]);
        out.extend(c.ip.clone());
    }
    out.extend(["Walnut desk".to_string(), "Oak shelf".to_string()]);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_cards_and_ibans_are_valid() {
        for c in super::customers(20) {
            assert_eq!(c.card.len(), 16);
            assert_eq!(
                super::luhn_check_digit(&c.card[..15]),
                u32::from(c.card.as_bytes()[15] - b'0')
            );
        }
    }
}
