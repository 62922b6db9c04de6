//! Benchmark, per engine and key shape on fresh N-row tables (a primary key
//! of the shape, unique email, full_name, phone, token, salary; email, fake
//! full_name, fake phone, hash token and noise salary masked: six
//! HMAC-SHA256 per row):
//!
//! * rewrite: `run_rewrite` from a quarantine table to live (copy, keys,
//!   verification, publish);
//! * in place: the chunked `run` (UPDATEs, verification);
//! * one hand-written `UPDATE` with the same expressions (baseline).
//!
//! Key shapes: `int` (`id BIGINT`), `uuid` (PostgreSQL `uuid`, MySQL
//! `BINARY(16)`, values from an MD5 of the row number, so not in insertion
//! order) and `composite` (`(region VARCHAR, n BIGINT)`). Checks that the
//! masked values of the rewrite and the in-place runner equal the single
//! UPDATE's, joined on the key, and prints a Markdown table of rows/s, the
//! ratios to the UPDATE and the peak RSS of this process, then the time
//! breakdown of each measurement and the goals.
//!
//! Usage: `cargo run --release -p masking --example bench_masking -- [--rows N] [--engine mysql|postgres|both] [--keys int,uuid,composite] [--chunk-size N] [--only in-place|rewrite]`
//! Servers (sqlx connection URLs): `DMSR_TEST_MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306`) and `DMSR_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432`).

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant, SystemTime};

use masking::keyed::session_blocks_hex;
use masking::sql::{TableRef, column_expr, quote_ident, update_all_sql};
use masking::{
    Begin, ConnectOptions, Dialect, MaskError, Places, Publish, Rules, RunOptions, RunOutcome,
    Salt, Target,
};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{AssertSqlSafe, Executor};

const SALT: &str = "bench-salt-0123456789abcdef";

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

/// The primary key of the benchmark table.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Int,
    Uuid,
    Composite,
}

impl Shape {
    const ALL: [Shape; 3] = [Shape::Int, Shape::Uuid, Shape::Composite];

    fn name(self) -> &'static str {
        match self {
            Shape::Int => "int",
            Shape::Uuid => "uuid",
            Shape::Composite => "composite",
        }
    }

    fn key_columns(self) -> &'static [&'static str] {
        match self {
            Shape::Composite => &["region", "n"],
            _ => &["id"],
        }
    }

    /// Column definitions of the key and their values from the row number `g`.
    fn key_sql(self, d: Dialect) -> (&'static str, &'static str) {
        match (self, d) {
            (Shape::Int, _) => ("id BIGINT NOT NULL", "g"),
            (Shape::Uuid, Dialect::MySql) => {
                ("id BINARY(16) NOT NULL", "UNHEX(MD5(CONCAT('u', g)))")
            }
            (Shape::Uuid, Dialect::Postgres) => ("id uuid NOT NULL", "md5('u' || g)::uuid"),
            (Shape::Composite, _) => (
                "region VARCHAR(16) NOT NULL, n BIGINT NOT NULL",
                "concat('region-', g % 13), g",
            ),
        }
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    hwm.and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The server's connect options from its URL, on database `db` (`None`:
/// the URL's own, or the driver's default).
fn options(d: Dialect, db: Option<&str>) -> Result<ConnectOptions, BoxErr> {
    let url = |var, default: &str| std::env::var(var).unwrap_or_else(|_| default.into());
    Ok(match d {
        Dialect::MySql => {
            let o: MySqlConnectOptions =
                url("DMSR_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306").parse()?;
            ConnectOptions::MySql(match db {
                Some(db) => o.database(db),
                None => o,
            })
        }
        Dialect::Postgres => {
            let o: PgConnectOptions =
                url("DMSR_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432").parse()?;
            ConnectOptions::Postgres(match db {
                Some(db) => o.database(db),
                None => o,
            })
        }
    })
}

/// Runs SQL on the benchmark database through a plain sqlx pool.
enum Admin {
    My(sqlx::MySqlPool),
    Pg(sqlx::PgPool),
}

impl Admin {
    async fn connect(d: Dialect, db: Option<&str>) -> Result<Admin, BoxErr> {
        Ok(match options(d, db)? {
            ConnectOptions::MySql(o) => Admin::My(
                MySqlPoolOptions::new()
                    .max_connections(1)
                    .connect_with(o)
                    .await?,
            ),
            ConnectOptions::Postgres(o) => Admin::Pg(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(o)
                    .await?,
            ),
        })
    }

    async fn exec(&self, sql: &str) -> Result<(), BoxErr> {
        let sql = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
        match self {
            Admin::My(p) => p.execute(sql).await.map(|_| ())?,
            Admin::Pg(p) => p.execute(sql).await.map(|_| ())?,
        }
        Ok(())
    }

    async fn count(&self, sql: &str) -> Result<u64, BoxErr> {
        let sql = AssertSqlSafe(sql.to_string());
        let n: i64 = match self {
            Admin::My(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
            Admin::Pg(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
        };
        Ok(u64::try_from(n)?)
    }

    async fn close(&self) {
        match self {
            Admin::My(p) => p.close().await,
            Admin::Pg(p) => p.close().await,
        }
    }
}

const COLUMNS: &str = "email VARCHAR(100) NOT NULL UNIQUE, full_name VARCHAR(60), phone VARCHAR(20), \
                       token VARCHAR(64), salary DECIMAL(12,2)";

const RULES: &str = r#"
[settings]
chunk_threshold = 50000
chunk_size = CHUNK
[tables.TABLE.columns]
email = { strategy = "email" }
full_name = { strategy = "fake", dictionary = "full_name" }
phone = { strategy = "fake", dictionary = "phone" }
token = { strategy = "hash" }
salary = { strategy = "noise", percent = 10 }
"#;

const MASKED: [&str; 5] = ["email", "full_name", "phone", "token", "salary"];

/// Longer than any run of the benchmark: the lease and the deadline.
const LONG: Duration = Duration::from_secs(6 * 3600);

fn rules_for(table: &str, chunk: u64) -> Result<Rules, MaskError> {
    Rules::parse(
        &RULES
            .replace("CHUNK", &chunk.to_string())
            .replace("TABLE", table),
        "bench-rules.toml",
    )
}

/// One engine's and key shape's benchmark database, pools and names.
struct Bench {
    d: Dialect,
    shape: Shape,
    rows: u64,
    chunk: u64,
    db: String,
    /// Schemas of the bench database (PostgreSQL) or databases next to it
    /// (MySQL).
    places: Places,
    root: Admin,
    a: Admin,
    target: Target,
}

impl Bench {
    async fn new(d: Dialect, shape: Shape, rows: u64, chunk: u64) -> Result<Bench, BoxErr> {
        let db = format!("dmsr_bench_{}_{}", std::process::id(), shape.name());
        let p = |s: &str| match d {
            Dialect::Postgres => format!("bench_{s}"),
            Dialect::MySql => format!("{db}_{s}"),
        };
        let places = Places::new(&p("live"), &p("q"), &p("old"), &p("build"))?;
        let root = Admin::connect(d, (d == Dialect::Postgres).then_some("postgres")).await?;
        root.exec(&format!("DROP DATABASE IF EXISTS {db}")).await?;
        root.exec(&format!("CREATE DATABASE {db}")).await?;
        let a = Admin::connect(d, Some(&db)).await?;
        if d == Dialect::MySql {
            a.exec(
                "CREATE TABLE dmsr_digits (d INT PRIMARY KEY); \
                 INSERT INTO dmsr_digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)",
            )
            .await?;
        }
        // TLS off, as `Target::connect` with `TlsMode::Disable` (sqlx has no
        // getter for the URL's password to fill a `DbCredentials`).
        let target = Target::connect_with(match options(d, Some(&db))? {
            ConnectOptions::MySql(o) => ConnectOptions::MySql(o.ssl_mode(MySqlSslMode::Disabled)),
            ConnectOptions::Postgres(o) => ConnectOptions::Postgres(o.ssl_mode(PgSslMode::Disable)),
        })
        .await?;
        Ok(Bench {
            d,
            shape,
            rows,
            chunk,
            db,
            places,
            root,
            a,
            target,
        })
    }

    /// `name` (maybe qualified) with `rows` rows. MySQL inserts in key order
    /// (its table is the clustered key); PostgreSQL in row-number order, so
    /// a uuid or composite key is scattered over the heap.
    async fn create_table(&self, name: &str) -> Result<(), BoxErr> {
        let (d, rows) = (self.d, self.rows);
        let (key_defs, key_values) = self.shape.key_sql(d);
        let keys = self.shape.key_columns().join(", ");
        self.a
            .exec(&format!(
                "CREATE TABLE {name} ({key_defs}, {COLUMNS}, PRIMARY KEY ({keys}))"
            ))
            .await?;
        let (from, analyze) = match d {
            Dialect::MySql => (
                format!(
                    "(SELECT a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d + 100000*g.d + 1000000*h.d + 1 AS g \
                     FROM dmsr_digits a, dmsr_digits b, dmsr_digits c, dmsr_digits e, dmsr_digits f, dmsr_digits g, dmsr_digits h) s \
                     WHERE g <= {rows} ORDER BY {key_values}"
                ),
                "ANALYZE TABLE",
            ),
            Dialect::Postgres => (format!("generate_series(1, {rows}) g"), "VACUUM ANALYZE"),
        };
        self.a
            .exec(&format!(
                "INSERT INTO {name} ({keys}, email, full_name, phone, token, salary) \
                 SELECT {key_values}, concat('user', g, '@corp.example.com'), concat('Person ', g), concat('+1-202-', g), \
                 concat('tok-', g), (g % 100000) * 1.25 FROM {from}"
            ))
            .await?;
        self.a.exec(&format!("{analyze} {name}")).await
    }

    /// Claims the run `bench-{what}-{db}` in the ledger; returns its id.
    async fn claim(&self, what: &str) -> Result<String, BoxErr> {
        let run_id = format!("bench-{what}-{}", self.db);
        let lease = SystemTime::now() + LONG;
        match self.target.begin(&run_id, "bench", lease).await? {
            Begin::New | Begin::Resumed => Ok(run_id),
            other => Err(format!("unexpected begin result {other:?}").into()),
        }
    }

    /// Quarantine table → live with `run_rewrite`. Returns seconds and the
    /// breakdown.
    async fn rewrite(&self) -> Result<(f64, String), BoxErr> {
        // A schema on PostgreSQL; a database on MySQL, where SCHEMA is a
        // synonym of DATABASE.
        let q = quote_ident(self.d, &self.places.quarantine);
        self.a.exec(&format!("CREATE SCHEMA {q}")).await?;
        self.say("creating the quarantine table");
        self.create_table(&format!("{q}.bench")).await?;
        let publish = Publish {
            places: self.places.clone(),
            grants: Vec::new(),
            purge_quarantine: false,
        };
        let run_id = self.claim("rewrite").await?;
        self.say("rewrite");
        let t0 = Instant::now();
        let far = t0 + LONG;
        let rules = rules_for("bench", self.chunk)?;
        let salt = Salt::new(SALT);
        let report = self
            .target
            .run_rewrite(&run_id, &rules, &salt, &publish, far, RunOptions::default())
            .await?;
        let spent = t0.elapsed().as_secs_f64();
        if report.outcome != RunOutcome::Complete || report.rows_masked() != self.rows {
            return Err(format!("rewrite did not complete: {report:?}").into());
        }
        let t = &report.timings;
        let parts = format!(
            "rewrite {spent:.2} s (copy {:.2} s, keys+indexes {:.2} s, verify {:.2} s, publish {:.2} s)",
            t.mask_seconds, t.build_seconds, t.verify_seconds, t.publish_seconds
        );
        self.done(&parts);
        Ok((spent, parts))
    }

    /// The chunked in-place runner (verification included). Returns seconds
    /// and the breakdown.
    async fn in_place(&self) -> Result<(f64, String), BoxErr> {
        self.say("creating the in-place table");
        self.create_table("bench_runner").await?;
        let run_id = self.claim("in-place").await?;
        self.say("in-place runner");
        let t0 = Instant::now();
        let rules = rules_for("bench_runner", self.chunk)?;
        let report = self
            .target
            .run(&run_id, &rules, &Salt::new(SALT), t0 + LONG)
            .await?;
        if report.outcome != RunOutcome::Complete || report.rows_masked() != self.rows {
            return Err(format!("runner did not complete: {report:?}").into());
        }
        let spent = t0.elapsed().as_secs_f64();
        let t = &report.timings;
        let parts = format!(
            "in place {spent:.2} s (UPDATEs {:.2} s, verify {:.2} s)",
            t.mask_seconds, t.verify_seconds
        );
        self.done(&parts);
        Ok((spent, parts))
    }

    /// One hand-written UPDATE with the same expressions (the key blocks put
    /// in the session of the benchmark's single connection first).
    async fn single_update(&self) -> Result<f64, BoxErr> {
        let d = self.d;
        self.say("creating the single UPDATE's table");
        self.create_table("bench_single").await?;
        let (ki, ko) = session_blocks_hex(&Salt::new(SALT));
        self.a
            .exec(&match d {
                Dialect::MySql => format!("SET @dmsr_ki = UNHEX('{ki}'), @dmsr_ko = UNHEX('{ko}')"),
                Dialect::Postgres => format!(
                    "SELECT set_config('dmsr.ki', '{ki}', false), set_config('dmsr.ko', '{ko}', false)"
                ),
            })
            .await?;
        let t = TableRef {
            schema: match d {
                Dialect::MySql => self.db.clone(),
                Dialect::Postgres => "public".to_string(),
            },
            table: "bench_single".into(),
        };
        let sets: Vec<(String, String)> = rules_for("bench_single", self.chunk)?.tables[0]
            .columns
            .iter()
            .map(|c| {
                let q = quote_ident(d, &c.column);
                (q.clone(), column_expr(d, &c.strategy, &q))
            })
            .collect();
        self.say("single UPDATE");
        let t0 = Instant::now();
        self.a.exec(&update_all_sql(d, &t, &sets)).await?;
        let spent = t0.elapsed().as_secs_f64();
        self.done(&format!("single UPDATE {spent:.2} s"));
        Ok(spent)
    }

    /// Rows of `table` whose masked values equal the single UPDATE's, joined
    /// on the key.
    async fn matching(&self, table: &str) -> Result<u64, BoxErr> {
        let on = |cols: &[&str]| {
            cols.iter()
                .map(|c| format!("r.{c} = s.{c}"))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        self.a
            .count(&format!(
                "SELECT COUNT(*) FROM {table} r JOIN bench_single s ON {} WHERE {}",
                on(self.shape.key_columns()),
                on(&MASKED)
            ))
            .await
    }

    fn say(&self, what: &str) {
        eprintln!("[{:?} {}] {what}...", self.d, self.shape.name());
    }

    /// A measurement's seconds as soon as it ends, so a run stopped later
    /// still shows them.
    fn done(&self, parts: &str) {
        eprintln!("[{:?} {}] {parts}", self.d, self.shape.name());
    }

    async fn drop_all(&self) -> Result<(), BoxErr> {
        self.target.close().await;
        self.a.close().await;
        if self.d == Dialect::MySql {
            let p = &self.places;
            for db in [&p.live, &p.quarantine, &p.retired, &p.build] {
                self.root
                    .exec(&format!("DROP DATABASE IF EXISTS {db}"))
                    .await?;
            }
        }
        self.root
            .exec(&format!("DROP DATABASE IF EXISTS {}", self.db))
            .await?;
        self.root.close().await;
        Ok(())
    }
}

/// The table row and the time breakdown of one engine and key shape.
async fn bench_one(
    d: Dialect,
    shape: Shape,
    rows: u64,
    chunk: u64,
    only: Only,
) -> Result<(String, String), BoxErr> {
    let b = Bench::new(d, shape, rows, chunk).await?;
    let rewrite = match only {
        Only::InPlace => None,
        _ => Some(b.rewrite().await?),
    };
    let runner = match only {
        Only::Rewrite => None,
        _ => Some(b.in_place().await?),
    };
    let single_s = b.single_update().await?;
    let live = format!("{}.bench", quote_ident(d, &b.places.live));
    let compared = [
        rewrite.as_ref().map(|_| live.as_str()),
        runner.as_ref().map(|_| "bench_runner"),
    ];
    for table in compared.into_iter().flatten() {
        let n = b.matching(table).await?;
        if n != rows {
            return Err(format!(
                "{table} and the single UPDATE disagree: {n} of {rows} rows match"
            )
            .into());
        }
    }
    b.drop_all().await?;
    let engine = match d {
        Dialect::MySql => "MySQL/MariaDB",
        Dialect::Postgres => "PostgreSQL",
    };
    let key = shape.name();
    let per_s = |s: f64| rows as f64 / s;
    // A measurement left out by --only is shown as a dash.
    let or_dash = |m: &Option<(f64, String)>, f: &dyn Fn(f64) -> String| {
        m.as_ref().map_or("—".to_string(), |(s, _)| f(*s))
    };
    let line = format!(
        "| {engine} | {key} | {rows} | {} | {} | {:.0} | {} | {} | {:.1} MiB |",
        or_dash(&rewrite, &|s| format!("{:.0}", per_s(s))),
        or_dash(&runner, &|s| format!("{:.0}", per_s(s))),
        per_s(single_s),
        or_dash(&runner, &|s| format!("{:.2}", single_s / s)),
        or_dash(&rewrite, &|s| format!("{:.2}", single_s / s)),
        peak_rss_kib() as f64 / 1024.0,
    );
    let parts: Vec<&str> = [&rewrite, &runner]
        .into_iter()
        .flatten()
        .map(|(_, p)| p.as_str())
        .collect();
    let parts = format!(
        "{engine} {key}: {}; single UPDATE {single_s:.2} s",
        parts.join("; ")
    );
    Ok((line, parts))
}

/// Which of the two runners to measure (the single UPDATE always is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Only {
    Both,
    InPlace,
    Rewrite,
}

const HEADER: &str = "| engine | key | rows | rewrite rows/s | in-place rows/s | single UPDATE rows/s | in-place/UPDATE | rewrite/UPDATE | peak RSS |\n|---|---|---:|---:|---:|---:|---:|---:|---:|";

/// What the command line asks for.
struct Args {
    rows: u64,
    chunk: u64,
    engines: Vec<Dialect>,
    shapes: Vec<Shape>,
    only: Only,
}

fn parse_args() -> Result<Args, BoxErr> {
    let (mut rows, mut chunk) = (1_000_000, masking::rules::DEFAULT_CHUNK_SIZE);
    let mut only = Only::Both;
    let mut engines = vec![Dialect::MySql, Dialect::Postgres];
    let mut shapes = Shape::ALL.to_vec();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        let number = || value.parse().map_err(|_| format!("{flag} needs a number"));
        match flag.as_str() {
            "--rows" => rows = number()?,
            "--chunk-size" => chunk = number()?,
            "--engine" => {
                engines = match value.as_str() {
                    "mysql" => vec![Dialect::MySql],
                    "postgres" => vec![Dialect::Postgres],
                    "both" => vec![Dialect::MySql, Dialect::Postgres],
                    _ => return Err("--engine mysql|postgres|both".into()),
                }
            }
            "--keys" => {
                shapes = value
                    .split(',')
                    .map(|k| Shape::ALL.into_iter().find(|s| s.name() == k))
                    .collect::<Option<_>>()
                    .ok_or("--keys takes a list of int, uuid, composite")?
            }
            "--only" => {
                only = match value.as_str() {
                    "in-place" => Only::InPlace,
                    "rewrite" => Only::Rewrite,
                    _ => return Err("--only in-place|rewrite".into()),
                }
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if !(1..=10_000_000).contains(&rows) {
        return Err("--rows must be 1..=10000000".into());
    }
    Ok(Args {
        rows,
        chunk,
        engines,
        shapes,
        only,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxErr> {
    let Args {
        rows,
        chunk,
        engines,
        shapes,
        only,
    } = parse_args()?;
    let mut results = Vec::new();
    for d in engines {
        for &shape in &shapes {
            let (line, parts) = bench_one(d, shape, rows, chunk, only)
                .await
                .map_err(|e| format!("{d:?} {}: {e}", shape.name()))?;
            eprintln!("{line}");
            results.push((line, parts));
        }
    }
    println!("\n{HEADER}");
    for (line, _) in &results {
        println!("{line}");
    }
    println!();
    for (_, parts) in &results {
        println!("{parts}");
    }
    println!(
        "goals: in-place/UPDATE >= 0.8 and rewrite/UPDATE >= 0.8 for every engine and key; \
         peak RSS < 64 MiB at 10M rows (VmHWM of this process, so far in the run)"
    );
    Ok(())
}
