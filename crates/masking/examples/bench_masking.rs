//! Benchmark: the chunked masking runner versus one hand-written `UPDATE`
//! doing the same expressions, on a fresh N-row table per engine.
//!
//! Usage: `cargo run --release -p masking --example bench_masking -- [--rows N] [--engine mysql|postgres|both] [--chunk-size N]`
//! Servers: `DMSR_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`) and
//! `DMSR_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432`).

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant, SystemTime};

use masking::sql::{TableRef, column_expr, quote_ident, quote_literal, update_all_sql};
use masking::{
    Begin, DbCredentials, Dialect, MaskError, Password, Rules, RunOutcome, Salt, Target, TlsMode,
};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Executor};

const SALT: &str = "bench-salt-0123456789abcdef";

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

struct Row {
    engine: &'static str,
    rows: u64,
    runner_s: f64,
    mask_only_s: f64,
    verify_s: f64,
    single_s: f64,
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

async fn create_table(a: &Admin, d: Dialect, name: &str, rows: u64) -> Result<(), BoxErr> {
    a.exec(&format!(
        "CREATE TABLE {name} (id BIGINT PRIMARY KEY, email VARCHAR(100) NOT NULL, full_name VARCHAR(60), phone VARCHAR(20))"
    ))
    .await?;
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
    if d == Dialect::Postgres {
        a.exec(&format!("VACUUM ANALYZE {name}")).await?;
    } else {
        a.exec(&format!("ANALYZE TABLE {name}")).await?;
    }
    Ok(())
}

const RULES: &str = r#"
[settings]
chunk_threshold = 50000
chunk_size = CHUNK
[tables.bench_runner.columns]
email = { strategy = "email" }
full_name = { strategy = "fake", dictionary = "full_name" }
phone = { strategy = "fake", dictionary = "phone" }
"#;

async fn bench_engine(d: Dialect, rows: u64, chunk: u64) -> Result<Row, BoxErr> {
    let base = url(d);
    let (user, pass, host, port) = split_url(&base);
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
    // Each table is created right before it is masked, so both start with
    // the same cache state (two 1M-row tables do not fit default buffers).
    eprintln!("[{d:?}] creating {rows} rows for the runner...");
    create_table(&a, d, "bench_runner", rows).await?;

    // Runner (what the post-processor does), including verification.
    let creds = DbCredentials {
        engine: d,
        host,
        port,
        username: user,
        password: Password::new(pass),
        dbname: Some(db.clone()),
    };
    let target = Target::connect(&creds, TlsMode::Disable).await?;
    let rules = Rules::parse(
        &RULES.replace("CHUNK", &chunk.to_string()),
        "bench-rules.toml",
    )?;
    let run_id = format!("bench-{}", std::process::id());
    match target
        .begin(
            &run_id,
            "bench",
            SystemTime::now() + Duration::from_secs(3600),
        )
        .await?
    {
        Begin::New | Begin::Resumed => {}
        other => return Err(format!("unexpected begin result {other:?}").into()),
    }
    eprintln!("[{d:?}] runner...");
    let t0 = Instant::now();
    let report = target
        .run(
            &run_id,
            &rules,
            &Salt::new(SALT),
            Instant::now() + Duration::from_secs(3600),
        )
        .await?;
    let runner_s = t0.elapsed().as_secs_f64();
    if report.outcome != RunOutcome::Complete || report.rows_masked() != rows {
        return Err(format!("runner did not complete: {report:?}").into());
    }
    let mask_only_s = report.timings.mask_seconds;
    let verify_s = report.timings.verify_seconds;
    target.close().await;

    eprintln!("[{d:?}] creating {rows} rows for the single UPDATE...");
    create_table(&a, d, "bench_single", rows).await?;

    // Hand-written single UPDATE with the same expressions (salt inlined).
    let salt_lit = match d {
        Dialect::MySql => format!("CAST({} AS BINARY)", quote_literal(d, SALT)),
        Dialect::Postgres => format!("{}::text", quote_literal(d, SALT)),
    };
    let schema = match d {
        Dialect::MySql => db.clone(),
        Dialect::Postgres => "public".to_string(),
    };
    let t = TableRef {
        schema,
        table: "bench_single".into(),
    };
    let sets: Vec<(String, String)> = rules.tables[0]
        .columns
        .iter()
        .map(|c| {
            let q = quote_ident(d, &c.column);
            (q.clone(), column_expr(d, &c.strategy, &q, &salt_lit))
        })
        .collect();
    let update = update_all_sql(d, &t, &sets);
    eprintln!("[{d:?}] single UPDATE...");
    let t0 = Instant::now();
    a.exec(&update).await?;
    let single_s = t0.elapsed().as_secs_f64();

    // Same result?
    let same = "SELECT COUNT(*) FROM bench_runner r JOIN bench_single s ON s.id = r.id \
                WHERE r.email = s.email AND r.full_name = s.full_name AND r.phone = s.phone"
        .to_string();
    let matching: i64 = match &a {
        Admin::My(p) => sqlx::query_scalar(AssertSqlSafe(same)).fetch_one(p).await?,
        Admin::Pg(p) => sqlx::query_scalar(AssertSqlSafe(same)).fetch_one(p).await?,
    };
    if u64::try_from(matching).unwrap_or(0) != rows {
        return Err(
            format!("runner and single UPDATE disagree: {matching} of {rows} rows match").into(),
        );
    }
    a.close().await;
    root.exec(&format!("DROP DATABASE IF EXISTS {db}")).await?;
    root.close().await;
    Ok(Row {
        engine: match d {
            Dialect::MySql => "MySQL/MariaDB",
            Dialect::Postgres => "PostgreSQL",
        },
        rows,
        runner_s,
        mask_only_s,
        verify_s,
        single_s,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxErr> {
    let mut rows: u64 = 1_000_000;
    let mut chunk: u64 = masking::rules::DEFAULT_CHUNK_SIZE;
    let mut engines = vec![Dialect::MySql, Dialect::Postgres];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rows" => {
                rows = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--rows needs a number")?
            }
            "--chunk-size" => {
                chunk = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--chunk-size needs a number")?
            }
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
    let mut results = Vec::new();
    for d in engines {
        results.push(bench_engine(d, rows, chunk).await.map_err(|e| -> BoxErr {
            match e.downcast::<MaskError>() {
                Ok(m) => format!("{d:?}: {m}").into(),
                Err(e) => format!("{d:?}: {e}").into(),
            }
        })?);
    }
    let rss = peak_rss_kib();
    println!();
    println!(
        "| engine | rows | runner s (total) | runner rows/s | of which masking s | of which verification s | single UPDATE s | single rows/s | ratio (runner/single rows/s) | ratio masking only | runner peak RSS |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &results {
        let rr = r.rows as f64 / r.runner_s;
        let sr = r.rows as f64 / r.single_s;
        println!(
            "| {} | {} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.1} MiB |",
            r.engine,
            r.rows,
            r.runner_s,
            rr,
            r.mask_only_s,
            r.verify_s,
            r.single_s,
            sr,
            rr / sr,
            r.single_s / r.mask_only_s,
            rss as f64 / 1024.0
        );
    }
    println!();
    println!(
        "ratio target >= 0.8; peak RSS target < 64 MiB (VmHWM of this process, which ran the runner)"
    );
    Ok(())
}
