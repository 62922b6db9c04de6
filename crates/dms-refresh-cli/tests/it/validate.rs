//! `dms-refresh validate` on both engines: a clean rules file, each kind of
//! problem, the errors, originals hidden or revealed, the key file giving
//! the run's values, and nothing written (table contents, schemas and
//! tables identical before and after, no control schema).

use std::path::PathBuf;

use masking::Dialect;
use masking::Salt;
use masking::keyed::keyed_hex_of;
use serde_json::Value;

use crate::common::{Customer, Run, TestDb, base_url, create_schema, customers, dms_refresh};

const ROWS: u32 = 12;
/// The masking key of the `--key-file` runs.
const KEY: &str = "validate-test-key-0123456789";

/// A complete strict rules file for `create_schema`'s tables, bare names
/// (`--schema` says where they are). `customers.card` has a unique index.
const CLEAN: &str = r#"version = 1

[settings]
coverage = "strict"

[tables.customers.columns]
id = { strategy = "keep", reason = "surrogate key" }
email = { strategy = "email" }
phone = { strategy = "fake", dictionary = "phone" }
card = { strategy = "hash", length = 19 }
iban = { strategy = "hash", length = 34 }
ip = { strategy = "null" }
first_name = { strategy = "fake", dictionary = "first_name" }
notes = { strategy = "fixed", value = "(redacted)" }
birth_date = { strategy = "date_shift", max_days = 30 }
status = { strategy = "keep" }

[tables.products.columns]
id = { strategy = "keep" }
name = { strategy = "keep" }
price = { strategy = "keep" }

[tables.misc]
truncate = true
"#;

struct Fixture {
    db: TestDb,
    rows: Vec<Customer>,
    files: Vec<PathBuf>,
}

impl Fixture {
    fn new(d: Dialect) -> Fixture {
        let db = TestDb::new(d);
        let rows = customers(ROWS);
        create_schema(&db, &rows);
        db.exec(&format!(
            "CREATE UNIQUE INDEX customers_card_uq ON {} (card)",
            db.table("customers")
        ));
        Fixture {
            db,
            rows,
            files: Vec::new(),
        }
    }

    fn file(&mut self, name: &str, content: &str) -> String {
        let path = std::env::temp_dir().join(format!("{}_{name}", self.db.name));
        std::fs::write(&path, content).expect("writing a temp file");
        let shown = path.display().to_string();
        self.files.push(path);
        shown
    }

    /// `validate --rules <rules> --url <db> --schema <schema> <extra>`.
    fn validate(&mut self, name: &str, rules: &str, extra: &[&str]) -> Run {
        let path = self.file(name, rules);
        let url = self.db.url();
        let mut args = vec![
            "validate",
            "--rules",
            &path,
            "--url",
            &url,
            "--schema",
            &self.db.schema,
        ];
        args.extend_from_slice(extra);
        dms_refresh(&args)
    }

    /// The original values of the masked columns: never printed unless
    /// revealed.
    fn originals(&self) -> Vec<String> {
        self.rows
            .iter()
            .flat_map(|c| {
                [
                    c.email.clone(),
                    c.phone.clone(),
                    c.card.clone(),
                    c.iban.clone(),
                    c.first_name.clone(),
                    c.notes.clone(),
                    c.birth_date.clone(),
                ]
                .into_iter()
                .chain(c.ip.clone())
            })
            .collect()
    }

    /// Every row of every table, the schemas and the tables: what validate
    /// must leave exactly as it found it.
    fn snapshot(&self) -> Vec<String> {
        let db = &self.db;
        let mut out = Vec::new();
        for t in ["customers", "products", "misc"] {
            let dump = match db.d {
                Dialect::Postgres => {
                    format!("SELECT CAST(t AS text) FROM {} t ORDER BY 1", db.table(t))
                }
                Dialect::MySql => {
                    let cols: Vec<String> = db
                        .rows_text(&format!(
                            "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS \
                             WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = '{t}' ORDER BY ORDINAL_POSITION",
                            db.schema
                        ))
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect();
                    format!(
                        "SELECT CAST(JSON_ARRAY({}) AS CHAR) FROM {} ORDER BY 1",
                        cols.join(", "),
                        db.table(t)
                    )
                }
            };
            let rows = db.rows_text(&dump);
            assert!(!rows.is_empty(), "{t} has rows");
            out.extend(rows.into_iter().map(|r| format!("{t}: {r}")));
        }
        let places = match db.d {
            Dialect::Postgres => "SELECT CAST(nspname AS text) FROM pg_namespace UNION ALL \
                 SELECT CAST(schemaname || '.' || tablename AS text) FROM pg_tables ORDER BY 1"
                .to_string(),
            Dialect::MySql => format!(
                "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA \
                 WHERE SCHEMA_NAME LIKE '{0}%' UNION ALL \
                 SELECT CAST(CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) AS CHAR) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA LIKE '{0}%' ORDER BY 1",
                db.name
            ),
        };
        out.extend(db.rows_text(&places));
        out
    }
}

impl Fixture {
    /// Whether the control schema exists: on PostgreSQL inside the test
    /// database, on MySQL on the server (shared with other tests' runs).
    fn control_exists(&self) -> bool {
        let q = match self.db.d {
            Dialect::Postgres => {
                "SELECT CAST(COUNT(*) AS text) FROM pg_namespace WHERE nspname = 'dms_refresh_control'"
            }
            Dialect::MySql => {
                "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.SCHEMATA \
                 WHERE SCHEMA_NAME = 'dms_refresh_control'"
            }
        };
        self.db.rows_text(q) != ["0"]
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{run:?}"))
}

fn assert_absent(run: &Run, values: &[String]) {
    for v in values {
        assert!(
            !run.stdout.contains(v.as_str()) && !run.stderr.contains(v.as_str()),
            "an original value was printed: {v}\n{run:?}"
        );
    }
}

/// A line of stdout holding every one of `parts`.
fn assert_line(run: &Run, parts: &[&str]) {
    assert!(
        run.stdout
            .lines()
            .any(|l| parts.iter().all(|p| l.contains(p))),
        "no line with {parts:?} in:\n{}\nstderr: {}",
        run.stdout,
        run.stderr
    );
}

fn cells<'a>(report: &'a Value, table: &str) -> Vec<&'a Value> {
    let sample = report["samples"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["table"] == table))
        .unwrap_or_else(|| panic!("no sample of {table}: {report:#}"));
    sample["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|r| r.as_array().expect("cells").iter())
        .collect()
}

fn clean_text(f: &mut Fixture) {
    let run = f.validate("clean.toml", CLEAN, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("No problem"), "{}", run.stdout);
    assert!(run.stdout.contains("Key: random"), "{}", run.stdout);
    let customers = format!("{}.customers", f.db.schema);
    assert!(
        run.stdout.contains(&format!("{customers} (ordered by id)")),
        "{}",
        run.stdout
    );
    assert_line(&run, &["email", "@example.invalid", "yes"]);
    assert_line(&run, &["notes", "(redacted)", "yes"]);
    assert!(!run.stdout.contains("ORIGINAL"), "{}", run.stdout);
    assert_absent(&run, &f.originals());
}

fn clean_json(f: &mut Fixture) {
    let run = f.validate("clean.toml", CLEAN, &["--json", "--sample", "5"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_absent(&run, &f.originals());
    let report = json(&run);
    assert_eq!(report["key"]["source"], "random");
    assert_eq!(report["problems"], Value::Array(Vec::new()));
    assert_eq!(report["coverage_mode"], "strict");
    assert_eq!(report["tables_planned"], 3);
    let customers = format!("{}.customers", f.db.schema);
    let sample = cells(&report, &customers);
    assert_eq!(sample.len(), 5 * 8, "5 rows of 8 masked columns");
    for c in &sample {
        assert!(c.get("original").is_none(), "{c}");
        if ["email", "card", "iban", "phone", "notes", "birth_date"]
            .contains(&c["column"].as_str().unwrap_or_default())
        {
            assert_eq!(c["changed"], true, "{c}");
        }
        if c["column"] == "ip" {
            assert_eq!(c["masked"], Value::Null, "{c}");
        }
    }
    let order = &report["samples"][0]["order_by"];
    assert_eq!(order, &serde_json::json!(["id"]));
}

fn key_file_gives_the_runs_values(f: &mut Fixture) {
    let key = f.file("key.txt", &format!("{KEY}\n"));
    let run = f.validate("clean.toml", CLEAN, &["--json", "--key-file", &key]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains(KEY), "the key is never printed");
    let report = json(&run);
    assert_eq!(report["key"]["source"], "file");
    let salt = Salt::new(KEY);
    assert_eq!(
        report["key"]["fingerprint"],
        masking::keyed::key_fingerprint(&salt)
    );
    let customers = format!("{}.customers", f.db.schema);
    let sample = cells(&report, &customers);
    let emails: Vec<&str> = sample
        .iter()
        .filter(|c| c["column"] == "email")
        .filter_map(|c| c["masked"].as_str())
        .collect();
    let expected: Vec<String> = f.rows[..3]
        .iter()
        .map(|c| {
            format!(
                "{}@example.invalid",
                &keyed_hex_of(&salt, "email", &c.email)[..32]
            )
        })
        .collect();
    assert_eq!(emails, expected, "the masked values are the run's");
    let cards: Vec<&str> = sample
        .iter()
        .filter(|c| c["column"] == "card")
        .filter_map(|c| c["masked"].as_str())
        .collect();
    assert_eq!(
        cards[0],
        &keyed_hex_of(&salt, "hash", &f.rows[0].card)[..19]
    );
}

fn originals_revealed(f: &mut Fixture) {
    let run = f.validate("clean.toml", CLEAN, &["--reveal-originals"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("ORIGINAL"), "{}", run.stdout);
    assert_line(
        &run,
        &["email", &f.rows[0].email, "@example.invalid", "yes"],
    );
    let json_run = f.validate("clean.toml", CLEAN, &["--reveal-originals", "--json"]);
    let report = json(&json_run);
    let customers = format!("{}.customers", f.db.schema);
    let first_email = cells(&report, &customers)
        .into_iter()
        .find(|c| c["column"] == "email")
        .cloned()
        .expect("an email cell");
    assert_eq!(first_email["original"], f.rows[0].email.as_str());
}

fn undeclared_column(f: &mut Fixture) {
    let rules = CLEAN.replace("status = { strategy = \"keep\" }\n", "");
    let run = f.validate("undeclared.toml", &rules, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_line(&run, &["coverage", "customers.status", "not declared"]);
    assert_absent(&run, &f.originals());
    // The same gap under report coverage is a warning: exit 0.
    let report_mode = rules.replace("coverage = \"strict\"", "coverage = \"report\"");
    let run = f.validate("undeclared-report.toml", &report_mode, &["--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = json(&run);
    assert_eq!(
        report["coverage_gaps"]["columns"],
        serde_json::json!([{"table": "customers", "column": "status"}])
    );
    assert_eq!(report["warnings"][0]["check"], "coverage", "{report:#}");
}

fn missing_column(f: &mut Fixture) {
    let rules = CLEAN.replace(
        "status = { strategy = \"keep\" }\n",
        "status = { strategy = \"keep\" }\nnickname = { strategy = \"null\" }\n",
    );
    let run = f.validate("missing.toml", &rules, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_line(
        &run,
        &[
            "plan",
            "tables.customers.columns.nickname",
            "column `nickname` does not exist",
        ],
    );
}

fn non_injective_on_unique(f: &mut Fixture) {
    let rules = CLEAN.replace(
        "card = { strategy = \"hash\", length = 19 }",
        "card = { strategy = \"partial\", keep_last = 4 }",
    );
    let run = f.validate("unique.toml", &rules, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_line(
        &run,
        &[
            "plan",
            "column `card`",
            "unique index `customers_card_uq`",
            "partial",
        ],
    );
}

fn broken_sql(f: &mut Fixture) {
    let rules = CLEAN.replace(
        "notes = { strategy = \"fixed\", value = \"(redacted)\" }",
        "notes = { strategy = \"sql\", expression = \"no_such_function({column})\" }",
    );
    let run = f.validate("broken.toml", &rules, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_line(
        &run,
        &[
            "preflight",
            "tables.customers.columns.notes",
            "rejected by the server",
            "no_such_function",
        ],
    );
}

/// Problems of several kinds in one file are all reported.
fn every_problem_at_once(f: &mut Fixture) {
    let rules = CLEAN
        .replace(
            "status = { strategy = \"keep\" }\n",
            "nickname = { strategy = \"null\" }\n",
        )
        .replace(
            "card = { strategy = \"hash\", length = 19 }",
            "card = { strategy = \"partial\", keep_last = 4 }",
        )
        .replace(
            "name = { strategy = \"keep\" }",
            "name = { strategy = \"sql\", expression = \"no_such_function({column})\" }",
        );
    let run = f.validate("all.toml", &rules, &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = json(&run);
    let lines: Vec<String> = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| format!("{} {}", p["check"], p["message"]))
        .collect();
    for expected in [
        "column `nickname` does not exist",
        "unique index `customers_card_uq`",
        "customers.status",
        "tables.products.columns.name",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "{expected} missing from {lines:#?}"
        );
    }
}

/// A CHECK constraint the masked values break is a problem (the run would
/// fail at its first write).
fn check_constraint_broken(f: &mut Fixture) {
    let customers = f.db.table("customers");
    f.db.exec(&format!(
        "ALTER TABLE {customers} ADD CONSTRAINT notes_not_redacted CHECK (notes <> '(redacted)')"
    ));
    let run = f.validate("check.toml", CLEAN, &[]);
    f.db.exec(&format!(
        "ALTER TABLE {customers} DROP CONSTRAINT notes_not_redacted"
    ));
    assert_eq!(run.code, 1, "{run:?}");
    assert_line(&run, &["constraint", "`notes_not_redacted`"]);
}

fn errors_exit_2(f: &mut Fixture) {
    let run = f.validate(
        "malformed.toml",
        "[tables.customers.columns]\nemail = { strategy = \"hsah\" }\n",
        &[],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("bad rules file"), "{}", run.stderr);
    assert!(run.stderr.contains("hsah"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    let path = f.file("clean.toml", CLEAN);
    let url = f.db.url();
    let run = dms_refresh(&[
        "validate",
        "--rules",
        &path,
        "--url",
        &url,
        "--schema",
        "no_such_schema_42",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("unknown schema `no_such_schema_42`"),
        "{}",
        run.stderr
    );

    let short_key = f.file("short.key", "too-short\n");
    let run = f.validate("clean.toml", CLEAN, &["--key-file", &short_key]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("at least 16"), "{}", run.stderr);
    assert!(!run.stderr.contains("too-short"), "{}", run.stderr);
}

fn with_secret_file(f: &mut Fixture) {
    let rest = base_url(f.db.d);
    let rest = rest
        .split_once("://")
        .map_or(rest.as_str(), |x| x.1)
        .to_string();
    let (auth, hostport) = rest.rsplit_once('@').unwrap_or(("root", &rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "0"));
    let engine = match f.db.d {
        Dialect::MySql => "mariadb",
        Dialect::Postgres => "postgres",
    };
    let secret = serde_json::json!({
        "engine": engine, "host": host, "port": port, "username": user,
        "password": password, "dbname": f.db.name,
    });
    let secret = f.file("secret.json", &secret.to_string());
    let rules = f.file("clean.toml", CLEAN);
    let run = dms_refresh(&[
        "validate",
        "--rules",
        &rules,
        "--secret-file",
        &secret,
        "--tls",
        "disable",
        "--schema",
        &f.db.schema,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
}

fn scenario(d: Dialect) {
    let mut f = Fixture::new(d);
    let before = f.snapshot();
    let control_before = f.control_exists();
    clean_text(&mut f);
    clean_json(&mut f);
    key_file_gives_the_runs_values(&mut f);
    originals_revealed(&mut f);
    undeclared_column(&mut f);
    missing_column(&mut f);
    non_injective_on_unique(&mut f);
    broken_sql(&mut f);
    every_problem_at_once(&mut f);
    check_constraint_broken(&mut f);
    errors_exit_2(&mut f);
    with_secret_file(&mut f);
    let after = f.snapshot();
    assert_eq!(before, after, "validate changed the database");
    // PostgreSQL: never there before. MySQL: a masking run of another test
    // on the same server may have created it; then only the above holds.
    if !control_before {
        assert!(!f.control_exists(), "validate created the control schema");
    }
}

#[test]
fn mariadb_validate() {
    scenario(Dialect::MySql);
}

#[test]
fn postgres_validate() {
    scenario(Dialect::Postgres);
}

#[test]
fn validate_unreachable_servers_exit_2_without_the_password() {
    let path =
        std::env::temp_dir().join(format!("dmsr_validate_rules_{}.toml", std::process::id()));
    std::fs::write(&path, CLEAN).expect("writing rules");
    let p = path.display().to_string();
    for url in [
        "mysql://root:pw-secret-4711@127.0.0.1:1/app",
        "postgres://postgres:pw-secret-4711@127.0.0.1:1/app",
    ] {
        let run = dms_refresh(&["validate", "--rules", &p, "--url", url]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("cannot connect to"), "{}", run.stderr);
        assert!(run.stderr.contains("127.0.0.1:1"), "{}", run.stderr);
        assert!(!run.stderr.contains("pw-secret-4711"), "{}", run.stderr);
        assert!(!run.stdout.contains("pw-secret-4711"), "{}", run.stdout);
    }
    let _ = std::fs::remove_file(&path);
}
