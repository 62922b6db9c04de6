//! Benchmark, per engine on fresh N-row tables (id PK, unique email,
//! full_name, phone; email + fake full_name + fake phone masked):
//!
//! * rewrite: `run_rewrite` from a quarantine table to live (copy, keys,
//!   verification, publish);
//! * in place: the chunked `run` (UPDATEs, verification);
//! * one hand-written `UPDATE` with the same expressions (baseline);
//! * a plain unmasked `INSERT ... SELECT *` into a table with the same keys
//!   (PostgreSQL: keys added after the data, as the rewrite does).
//!
//! Checks that all masked copies are identical, prints rows/s, the ratios
//! rewrite/UPDATE and rewrite/plain copy, and the peak RSS of this process.
//!
//! Usage: `cargo run --release -p masking --example bench_masking -- [--rows N] [--engine mysql|postgres|both] [--chunk-size N]`
//! Servers: `DMSR_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`) and
//! `DMSR_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432`).

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant, SystemTime};

use masking::keyed::session_blocks_hex;
use masking::sql::{TableRef, column_expr, quote_ident, update_all_sql};
use masking::{
    Begin, DbCredentials, Dialect, MaskError, Password, Places, Publish, Rules, RunOptions,
    RunOutcome, Salt, Target, TlsMode,
};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Executor};

const SALT: &str = "bench-salt-0123456789abcdef";

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

/// Seconds of each measurement on one engine.
struct Row {
    engine: &'static str,
    rows: u64,
    rewrite_s: f64,
    rewrite_parts: String,
    runner_s: f64,
    single_s: f64,
    plain_s: f64,
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn url(d: Dialect) -> String {
    match d {
        Dialect::MySql => std::env::var("DMSR_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into()),
        Dialect::Postgres => std::env::var("DMSR_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into()),
    }
}

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

/// Runs SQL on the benchmark database through a plain sqlx pool.
enum Admin {
    My(sqlx::MySqlPool),
    Pg(sqlx::PgPool),
}

impl Admin {
    async fn exec(&self, sql: &str) -> Result<(), BoxErr> {
        match self {
            Admin::My(p) => p
                .execute(sqlx::raw_sql(AssertSqlSafe(sql.to_string())))
                .await
                .map(|_| ())?,
            Admin::Pg(p) => p
                .execute(sqlx::raw_sql(AssertSqlSafe(sql.to_string())))
                .await
                .map(|_| ())?,
        }
        Ok(())
    }

    async fn count(&self, sql: &str) -> Result<u64, BoxErr> {
        let n: i64 = match self {
            Admin::My(p) => {
                sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
                    .fetch_one(p)
                    .await?
            }
            Admin::Pg(p) => {
                sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
                    .fetch_one(p)
                    .await?
            }
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn close(&self) {
        match self {
            Admin::My(p) => p.close().await,
            Admin::Pg(p) => p.close().await,
        }
    }
}

async fn connect_admin(d: Dialect, db: &str) -> Result<Admin, BoxErr> {
    let base = url(d);
    Ok(match d {
        Dialect::MySql => Admin::My(
            MySqlPoolOptions::new()
                .max_connections(1)
                .connect(&format!("{base}/{db}"))
                .await?,
        ),
        Dialect::Postgres => Admin::Pg(
            PgPoolOptions::new()
                .max_connections(1)
                .connect(&format!("{base}/{db}"))
                .await?,
        ),
    })
}

const COLUMNS: &str = "id BIGINT PRIMARY KEY, email VARCHAR(100) NOT NULL UNIQUE, full_name VARCHAR(60), phone VARCHAR(20)";

/// `name` (maybe qualified) with `rows` rows.
async fn create_table(a: &Admin, d: Dialect, name: &str, rows: u64) -> Result<(), BoxErr> {
    a.exec(&format!("CREATE TABLE {name} ({COLUMNS})")).await?;
    let (cat, gen_rows) = match d {
        Dialect::MySql => (
            "CONCAT",
            "(SELECT a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d + 100000*g.d + 1000000*h.d + 1 AS n \
             FROM dmsr_digits a, dmsr_digits b, dmsr_digits c, dmsr_digits e, dmsr_digits f, dmsr_digits g, dmsr_digits h) s",
        ),
        Dialect::Postgres => ("concat", "(SELECT generate_series(1, 10000000) AS n) s"),
    };
    a.exec(&format!(
        "INSERT INTO {name} (id, email, full_name, phone) SELECT n, {cat}('user', n, '@corp.example.com'), {cat}('Person ', n), {cat}('+1-202-', n) \
         FROM {gen_rows} WHERE n <= {rows}"
    ))
    .await?;
    match d {
        Dialect::Postgres => a.exec(&format!("VACUUM ANALYZE {name}")).await,
        Dialect::MySql => a.exec(&format!("ANALYZE TABLE {name}")).await,
    }
}

const RULES: &str = r#"
[settings]
chunk_threshold = 50000
chunk_size = CHUNK
[tables.TABLE.columns]
email = { strategy = "email" }
full_name = { strategy = "fake", dictionary = "full_name" }
phone = { strategy = "fake", dictionary = "phone" }
"#;

fn rules_for(table: &str, chunk: u64) -> Result<Rules, MaskError> {
    Rules::parse(
        &RULES
            .replace("CHUNK", &chunk.to_string())
            .replace("TABLE", table),
        "bench-rules.toml",
    )
}

/// One engine's benchmark database, pools and names.
struct Bench {
    d: Dialect,
    rows: u64,
    chunk: u64,
    db: String,
    root: Admin,
    a: Admin,
    target: Target,
}

impl Bench {
    async fn new(d: Dialect, rows: u64, chunk: u64) -> Result<Bench, BoxErr> {
        let (user, pass, host, port) = split_url(&url(d));
        let db = format!("dmsr_bench_{}", std::process::id());
        let root = connect_admin(
            d,
            if d == Dialect::Postgres {
                "postgres"
            } else {
                ""
            },
        )
        .await?;
        root.exec(&format!("DROP DATABASE IF EXISTS {db}")).await?;
        root.exec(&format!("CREATE DATABASE {db}")).await?;
        let a = connect_admin(d, &db).await?;
        if d == Dialect::MySql {
            a.exec("CREATE TABLE dmsr_digits (d INT PRIMARY KEY)")
                .await?;
            a.exec("INSERT INTO dmsr_digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)")
                .await?;
        }
        let creds = DbCredentials {
            engine: d,
            host,
            port,
            username: user,
            password: Password::new(pass),
            dbname: Some(db.clone()),
        };
        let target = Target::connect(&creds, TlsMode::Disable).await?;
        Ok(Bench {
            d,
            rows,
            chunk,
            db,
            root,
            a,
            target,
        })
    }

    /// Place names: schemas of the bench database (PostgreSQL) or
    /// databases next to it (MySQL).
    fn places(&self) -> Result<Places, MaskError> {
        let p = |s: &str| match self.d {
            Dialect::Postgres => format!("bench_{s}"),
            Dialect::MySql => format!("{}_{s}", self.db),
        };
        Places::new(&p("live"), &p("q"), &p("old"), &p("build"))
    }

    async fn claim(&self, run_id: &str) -> Result<(), BoxErr> {
        let lease = SystemTime::now() + Duration::from_secs(3600);
        match self.target.begin(run_id, "bench", lease).await? {
            Begin::New | Begin::Resumed => Ok(()),
            other => Err(format!("unexpected begin result {other:?}").into()),
        }
    }

    /// Quarantine table → live with `run_rewrite`. Returns seconds and the
    /// breakdown.
    async fn rewrite(&self, places: &Places) -> Result<(f64, String), BoxErr> {
        let q = quote_ident(self.d, &places.quarantine);
        match self.d {
            Dialect::Postgres => self.a.exec(&format!("CREATE SCHEMA {q}")).await?,
            Dialect::MySql => self.a.exec(&format!("CREATE DATABASE {q}")).await?,
        }
        eprintln!(
            "[{:?}] creating {} rows in quarantine...",
            self.d, self.rows
        );
        create_table(&self.a, self.d, &format!("{q}.bench"), self.rows).await?;
        let publish = Publish {
            places: places.clone(),
            grants: Vec::new(),
            purge_quarantine: false,
        };
        let run_id = format!("bench-rewrite-{}", std::process::id());
        self.claim(&run_id).await?;
        eprintln!("[{:?}] rewrite...", self.d);
        let t0 = Instant::now();
        let far = Instant::now() + Duration::from_secs(3600);
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
            "copy {:.2} s, keys+indexes {:.2} s, verify {:.2} s, publish {:.2} s",
            t.mask_seconds, t.build_seconds, t.verify_seconds, t.publish_seconds
        );
        Ok((spent, parts))
    }

    /// Unmasked `INSERT ... SELECT *` from quarantine into a table with the
    /// same keys.
    async fn plain_copy(&self, places: &Places) -> Result<f64, BoxErr> {
        let src = format!("{}.bench", quote_ident(self.d, &places.quarantine));
        eprintln!("[{:?}] plain copy...", self.d);
        let t0 = Instant::now();
        match self.d {
            Dialect::MySql => {
                self.a
                    .exec(&format!("CREATE TABLE bench_plain LIKE {src}"))
                    .await?;
                self.a
                    .exec(&format!("INSERT INTO bench_plain SELECT * FROM {src}"))
                    .await?;
            }
            Dialect::Postgres => {
                self.a
                    .exec(&format!(
                        "CREATE TABLE bench_plain (LIKE {src} INCLUDING ALL EXCLUDING INDEXES)"
                    ))
                    .await?;
                self.a
                    .exec(&format!("INSERT INTO bench_plain SELECT * FROM {src}"))
                    .await?;
                self.a
                    .exec("ALTER TABLE bench_plain ADD PRIMARY KEY (id), ADD UNIQUE (email)")
                    .await?;
            }
        }
        Ok(t0.elapsed().as_secs_f64())
    }

    /// The chunked in-place runner (verification included).
    async fn in_place(&self) -> Result<f64, BoxErr> {
        eprintln!(
            "[{:?}] creating {} rows for the in-place runner...",
            self.d, self.rows
        );
        create_table(&self.a, self.d, "bench_runner", self.rows).await?;
        let run_id = format!("bench-{}", std::process::id());
        self.claim(&run_id).await?;
        eprintln!("[{:?}] in-place runner...", self.d);
        let t0 = Instant::now();
        let far = Instant::now() + Duration::from_secs(3600);
        let rules = rules_for("bench_runner", self.chunk)?;
        let report = self
            .target
            .run(&run_id, &rules, &Salt::new(SALT), far)
            .await?;
        if report.outcome != RunOutcome::Complete || report.rows_masked() != self.rows {
            return Err(format!("runner did not complete: {report:?}").into());
        }
        Ok(t0.elapsed().as_secs_f64())
    }

    /// One hand-written UPDATE with the same expressions (the key blocks put
    /// in the session of the benchmark's single connection first).
    async fn single_update(&self) -> Result<f64, BoxErr> {
        let d = self.d;
        eprintln!(
            "[{d:?}] creating {} rows for the single UPDATE...",
            self.rows
        );
        create_table(&self.a, d, "bench_single", self.rows).await?;
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
        eprintln!("[{d:?}] single UPDATE...");
        let t0 = Instant::now();
        self.a.exec(&update_all_sql(d, &t, &sets)).await?;
        Ok(t0.elapsed().as_secs_f64())
    }

    /// Rows of `table` identical to the single UPDATE's output.
    async fn matching(&self, table: &str) -> Result<u64, BoxErr> {
        self.a
            .count(&format!(
                "SELECT COUNT(*) FROM {table} r JOIN bench_single s ON s.id = r.id \
                 WHERE r.email = s.email AND r.full_name = s.full_name AND r.phone = s.phone"
            ))
            .await
    }

    async fn drop_all(&self, places: &Places) -> Result<(), BoxErr> {
        self.target.close().await;
        self.a.close().await;
        for p in [
            &places.live,
            &places.quarantine,
            &places.retired,
            &places.build,
        ] {
            if self.d == Dialect::MySql {
                self.root
                    .exec(&format!("DROP DATABASE IF EXISTS {p}"))
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

async fn bench_engine(d: Dialect, rows: u64, chunk: u64) -> Result<Row, BoxErr> {
    let b = Bench::new(d, rows, chunk).await?;
    let places = b.places()?;
    let (rewrite_s, rewrite_parts) = b.rewrite(&places).await?;
    let plain_s = b.plain_copy(&places).await?;
    let runner_s = b.in_place().await?;
    let single_s = b.single_update().await?;
    let live = format!("{}.bench", quote_ident(d, &places.live));
    for table in [live.as_str(), "bench_runner"] {
        let n = b.matching(table).await?;
        if n != rows {
            return Err(format!(
                "{table} and the single UPDATE disagree: {n} of {rows} rows match"
            )
            .into());
        }
    }
    b.drop_all(&places).await?;
    Ok(Row {
        engine: match d {
            Dialect::MySql => "MySQL/MariaDB",
            Dialect::Postgres => "PostgreSQL",
        },
        rows,
        rewrite_s,
        rewrite_parts,
        runner_s,
        single_s,
        plain_s,
    })
}

fn parse_args() -> Result<(u64, u64, Vec<Dialect>), BoxErr> {
    let mut rows: u64 = 1_000_000;
    let mut chunk: u64 = masking::rules::DEFAULT_CHUNK_SIZE;
    let mut engines = vec![Dialect::MySql, Dialect::Postgres];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |what: &str| -> Result<u64, BoxErr> {
            Ok(args
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{what} needs a number"))?)
        };
        match a.as_str() {
            "--rows" => rows = number("--rows")?,
            "--chunk-size" => chunk = number("--chunk-size")?,
            "--engine" => {
                engines = match args.next().as_deref() {
                    Some("mysql") => vec![Dialect::MySql],
                    Some("postgres") => vec![Dialect::Postgres],
                    Some("both") => vec![Dialect::MySql, Dialect::Postgres],
                    _ => return Err("--engine mysql|postgres|both".into()),
                }
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if rows == 0 || rows > 10_000_000 {
        return Err("--rows must be 1..=10000000".into());
    }
    Ok((rows, chunk, engines))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxErr> {
    let (rows, chunk, engines) = parse_args()?;
    let mut results = Vec::new();
    for d in engines {
        results.push(bench_engine(d, rows, chunk).await.map_err(|e| -> BoxErr {
            match e.downcast::<MaskError>() {
                Ok(m) => format!("{d:?}: {m}").into(),
                Err(e) => format!("{d:?}: {e}").into(),
            }
        })?);
    }
    let rss = peak_rss_kib() as f64 / 1024.0;
    println!();
    println!(
        "| engine | rows | rewrite s | rewrite rows/s | in-place rows/s | single UPDATE rows/s | plain copy rows/s | rewrite/UPDATE | rewrite/plain copy | peak RSS |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &results {
        let per_s = |s: f64| r.rows as f64 / s;
        println!(
            "| {} | {} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {rss:.1} MiB |",
            r.engine,
            r.rows,
            r.rewrite_s,
            per_s(r.rewrite_s),
            per_s(r.runner_s),
            per_s(r.single_s),
            per_s(r.plain_s),
            r.single_s / r.rewrite_s,
            r.plain_s / r.rewrite_s,
        );
    }
    println!();
    for r in &results {
        println!("{} rewrite: {}", r.engine, r.rewrite_parts);
    }
    println!(
        "goals: rewrite/UPDATE >= 2, rewrite/plain copy >= 0.7; peak RSS is this process's VmHWM (all measurements)"
    );
    Ok(())
}
