//! `dms-refresh suggest` against the real local MariaDB and PostgreSQL
//! (`bash scripts/ensure-databases.sh` starts them): the binary is run as an
//! operator would, and its exit status, findings, fragment and output are
//! checked.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::common::{
    Customer, Run, TestDb, base_url, create_schema, customers, dms_refresh, secrets,
};
use masking::Dialect;
use serde_json::{Value, json};

const ROWS: u32 = 20;

/// `(table, column, kind)` of every finding.
fn kinds(report: &Value) -> BTreeSet<(String, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (s("table"), s("column"), s("kind"))
        })
        .collect()
}

fn expected(columns: &[(&str, &str)]) -> BTreeSet<(String, String, String)> {
    columns
        .iter()
        .map(|(c, k)| ("customers".to_string(), c.to_string(), k.to_string()))
        .collect()
}

fn parse_json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", run.stdout))
}

/// The fragment must be accepted by the masking rules parser.
fn assert_fragment_parses(fragment: &str) -> masking::Rules {
    let src = format!("version = 1\n{fragment}");
    masking::Rules::parse(&src, "suggested.toml")
        .unwrap_or_else(|e| panic!("fragment rejected: {e}\n{fragment}"))
}

fn assert_no_value_printed(run: &Run, rows: &[Customer]) {
    for secret in secrets(rows) {
        assert!(
            !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
            "a sampled value was printed: {secret}\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
    }
}

fn write_file(db: &TestDb, name: &str, content: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{}_{name}", db.name));
    std::fs::write(&path, content).expect("writing a temp file");
    path
}

/// The rules-file key of `customers` for this engine: bare on MySQL,
/// qualified on PostgreSQL (the scanned schema is `crm`, not `public`).
fn customers_key(db: &TestDb) -> String {
    match db.d {
        Dialect::MySql => "customers".into(),
        Dialect::Postgres => format!("\"{}.customers\"", db.schema),
    }
}

fn all_personal() -> BTreeSet<(String, String, String)> {
    expected(&[
        ("email", "email"),
        ("phone", "phone"),
        ("card", "payment_card"),
        ("iban", "iban"),
        ("ip", "ip_address"),
        ("first_name", "first_name"),
        ("birth_date", "birth_date"),
    ])
}

fn json_without_rules(db: &TestDb, rows: &[Customer]) {
    let url = db.url();
    let run = dms_refresh(&["suggest", "--url", &url, "--schema", &db.schema, "--json"]);
    assert_eq!(run.code, 1, "findings exit 1\n{run:?}");
    assert_no_value_printed(&run, rows);
    let report = parse_json(&run);
    assert_eq!(report["schema"], db.schema.as_str());
    assert_eq!(kinds(&report), all_personal(), "{:#}", report["findings"]);
    let by_column = |c: &str| {
        report["findings"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["column"] == c))
            .cloned()
            .unwrap_or_else(|| panic!("no finding for {c}"))
    };
    assert_eq!(
        by_column("email")["suggested"],
        json!({"strategy": "email"})
    );
    assert_eq!(
        by_column("card")["suggested"],
        json!({"strategy": "partial", "keep_last": 4, "mask_char": "*"})
    );
    assert_eq!(
        by_column("iban")["suggested"],
        json!({"strategy": "hash", "length": 34})
    );
    assert_eq!(by_column("ip")["suggested"], json!({"strategy": "null"}));
    assert_eq!(
        by_column("birth_date")["suggested"],
        json!({"strategy": "date_shift", "max_days": 90})
    );
    assert_eq!(by_column("email")["confidence"], 1.0);
    assert!(
        by_column("card")["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("sampled values")
    );
    let fragment = report["fragment"].as_str().expect("fragment");
    let rules = assert_fragment_parses(fragment);
    assert_eq!(rules.tables.len(), 1);
    assert_eq!(rules.tables[0].columns.len(), 7);
    // The view and the column no rule can name are not findings; the
    // latter is reported on stderr.
    assert!(run.stderr.contains("misc.odd-col"), "{}", run.stderr);
    assert_eq!(report["skipped"][0]["column"], "odd-col");
}

fn text_without_rules(db: &TestDb, rows: &[Customer]) {
    let url = db.url();
    let run = dms_refresh(&["suggest", "--url", &url, "--schema", &db.schema]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_no_value_printed(&run, rows);
    let (table, fragment) = run
        .stdout
        .split_once("Rules fragment:\n\n")
        .unwrap_or_else(|| panic!("no fragment in:\n{}", run.stdout));
    assert!(
        table.contains("7 unmasked columns look personal"),
        "{table}"
    );
    assert!(table.contains("TABLE"), "{table}");
    let header = format!("[tables.{}.columns]", customers_key(db));
    assert!(fragment.contains(&header), "{fragment}");
    assert_eq!(assert_fragment_parses(fragment).tables[0].columns.len(), 7);
    for column in [
        "email",
        "phone",
        "card",
        "iban",
        "ip",
        "first_name",
        "birth_date",
    ] {
        let row = table
            .lines()
            .find(|l| l.starts_with("customers") && l.split_whitespace().nth(1) == Some(column));
        assert!(row.is_some(), "no row for {column} in:\n{table}");
    }
    assert!(
        !table.contains("notes") && !table.contains("status"),
        "{table}"
    );
    assert!(
        !table.contains("products") && !table.contains("v_contacts"),
        "{table}"
    );
}

fn with_partial_rules(db: &TestDb, rows: &[Customer]) {
    let rules = format!(
        "version = 1\n[tables.{}.columns]\n\
         email = {{ strategy = \"email\" }}\n\
         phone = {{ strategy = \"fake\", dictionary = \"phone\" }}\n\
         card = {{ strategy = \"partial\", keep_last = 4 }}\n\
         birth_date = {{ strategy = \"date_shift\", max_days = 30 }}\n",
        customers_key(db)
    );
    let path = write_file(db, "partial.toml", &rules);
    let (url, rules_path) = (db.url(), path.display().to_string());
    let args = [
        "suggest",
        "--url",
        &url,
        "--schema",
        &db.schema,
        "--rules",
        &rules_path,
        "--json",
    ];
    let run = dms_refresh(&args);
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 1, "{run:?}");
    assert_no_value_printed(&run, rows);
    let report = parse_json(&run);
    let want = expected(&[
        ("iban", "iban"),
        ("ip", "ip_address"),
        ("first_name", "first_name"),
    ]);
    assert_eq!(kinds(&report), want, "{:#}", report["findings"]);
    assert_eq!(report["columns_masked"], 4);
    let fragment = report["fragment"].as_str().expect("fragment");
    assert!(fragment.contains("already in the rules file"), "{fragment}");
    assert_fragment_parses(fragment);
}

fn with_complete_rules(db: &TestDb, rows: &[Customer]) {
    let rules = format!(
        "[tables.{}.columns]\n\
         email = {{ strategy = \"email\" }}\n\
         phone = {{ strategy = \"fake\", dictionary = \"phone\" }}\n\
         card = {{ strategy = \"partial\", keep_last = 4 }}\n\
         iban = {{ strategy = \"hash\", length = 34 }}\n\
         ip = {{ strategy = \"null\" }}\n\
         first_name = {{ strategy = \"fake\", dictionary = \"first_name\" }}\n\
         birth_date = {{ strategy = \"date_shift\", max_days = 30 }}\n",
        customers_key(db)
    );
    let path = write_file(db, "complete.toml", &rules);
    let (url, rules_path) = (db.url(), path.display().to_string());
    let run = dms_refresh(&[
        "suggest",
        "--url",
        &url,
        "--schema",
        &db.schema,
        "--rules",
        &rules_path,
    ]);
    let json_run = dms_refresh(&[
        "suggest",
        "--url",
        &url,
        "--schema",
        &db.schema,
        "--rules",
        &rules_path,
        "--json",
    ]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("no unmasked column looks personal"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Rules fragment"), "{}", run.stdout);
    assert_no_value_printed(&run, rows);
    assert_eq!(json_run.code, 0, "{json_run:?}");
    let report = parse_json(&json_run);
    assert_eq!(report["findings"], json!([]));
    assert_eq!(report["fragment"], "");
    assert_eq!(report["columns_masked"], 7);
}

fn with_secret_file(db: &TestDb, rows: &[Customer]) {
    let rest = base_url(db.d);
    let rest = rest
        .split_once("://")
        .map_or(rest.as_str(), |x| x.1)
        .to_string();
    let (auth, hostport) = rest.rsplit_once('@').unwrap_or(("root", &rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "0"));
    let engine = match db.d {
        Dialect::MySql => "mariadb",
        Dialect::Postgres => "postgres",
    };
    let secret = json!({
        "engine": engine, "host": host, "port": port, "username": user,
        "password": password, "dbname": db.name,
    });
    let path = write_file(db, "secret.json", &secret.to_string());
    let p = path.display().to_string();
    let run = dms_refresh(&[
        "suggest",
        "--secret-file",
        &p,
        "--tls",
        "disable",
        "--schema",
        &db.schema,
        "--json",
    ]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 1, "{run:?}");
    assert_no_value_printed(&run, rows);
    assert_eq!(kinds(&parse_json(&run)), all_personal());
}

fn unknown_schema(db: &TestDb) {
    let url = db.url();
    let run = dms_refresh(&["suggest", "--url", &url, "--schema", "no_such_schema_42"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("unknown schema `no_such_schema_42`"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

fn scenario(d: Dialect) {
    let db = TestDb::new(d);
    let rows = customers(ROWS);
    create_schema(&db, &rows);
    json_without_rules(&db, &rows);
    text_without_rules(&db, &rows);
    with_partial_rules(&db, &rows);
    with_complete_rules(&db, &rows);
    with_secret_file(&db, &rows);
    unknown_schema(&db);
}

#[test]
fn mariadb_suggest() {
    scenario(Dialect::MySql);
}

#[test]
fn postgres_suggest() {
    scenario(Dialect::Postgres);
}

#[test]
fn unreachable_servers_exit_2_without_the_password() {
    for url in [
        "mysql://root:pw-secret-4711@127.0.0.1:1/app",
        "postgres://postgres:pw-secret-4711@127.0.0.1:1/app",
    ] {
        let run = dms_refresh(&["suggest", "--url", url, "--schema", "app"]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("cannot connect to"), "{}", run.stderr);
        assert!(run.stderr.contains("127.0.0.1:1"), "{}", run.stderr);
        assert!(!run.stderr.contains("pw-secret-4711"), "{}", run.stderr);
        assert!(!run.stdout.contains("pw-secret-4711"), "{}", run.stdout);
    }
}

#[test]
fn a_bad_rules_file_exits_2() {
    let path = std::env::temp_dir().join(format!("dmsr_suggest_bad_{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[tables.customers.columns]\nemail = { strategy = \"hsah\" }\n",
    )
    .expect("writing rules");
    let p = path.display().to_string();
    let run = dms_refresh(&[
        "suggest",
        "--url",
        "mysql://root@127.0.0.1:1/app",
        "--rules",
        &p,
    ]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("bad rules file"), "{}", run.stderr);
    assert!(run.stderr.contains("hsah"), "{}", run.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let run = dms_refresh(&[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("usage: dms-refresh suggest"),
        "{}",
        run.stderr
    );
    let run = dms_refresh(&["suggest", "--url", "mysql://h/db", "--sample", "0"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--sample"), "{}", run.stderr);
    let help = dms_refresh(&["suggest", "--help"]);
    assert_eq!(help.code, 0, "{help:?}");
    assert!(help.stdout.contains("exit status"), "{}", help.stdout);
}
