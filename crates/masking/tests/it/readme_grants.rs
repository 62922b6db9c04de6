//! The README's `GRANT` statements for the post-processor's database user
//! (section "The database user of the post-processor"), read from README.md
//! at test time so the two cannot drift apart, and given to a login that
//! holds nothing else: a rewrite-mode run made the way
//! `crates/post-processor/src/target` makes it (ledger, copy, mask, verify,
//! publish, purge, outbox) succeeds, twice, so that retired exists and is
//! replaced; with one of the privileges revoked the run fails for lack of it.

use std::time::{Duration, SystemTime};

use masking::{
    Begin, DbCredentials, DeveloperGrant, Dialect, LedgerOutcome, MaskError, OutboxMessage, Places,
    Publish, RunOptions, RunReport, RunState, Target, TlsMode,
};

use crate::common::*;
use crate::places_fixture::*;

const README_SECTION: &str = "#### The database user of the post-processor";

/// One statement of the README's block.
#[derive(Debug)]
struct Statement {
    sql: String,
    /// After the README's `-- only if a schema `app` exists before the
    /// first publish` comment.
    only_if_live_exists: bool,
}

/// The README's block for `d`, statement by statement, comments removed:
/// the lines after `-- PostgreSQL` or `-- MySQL` up to the next of them.
/// (No `--` in a statement's text: everything after it is a comment.)
fn readme_statements(d: Dialect) -> Vec<Statement> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let section = readme
        .split_once(README_SECTION)
        .unwrap_or_else(|| panic!("README.md has no {README_SECTION:?}"))
        .1;
    let block = section
        .split_once("```sql\n")
        .and_then(|(_, b)| b.split_once("```"))
        .expect("a ```sql block in the README's section")
        .0;
    let mut part = None;
    let (mut out, mut stmt, mut optional) = (Vec::new(), String::new(), false);
    for line in block.lines() {
        let (code, comment) = line
            .split_once("--")
            .map_or((line, ""), |(c, rest)| (c, rest.trim()));
        if code.trim().is_empty() {
            if comment.starts_with("PostgreSQL") {
                (part, optional) = (Some(Dialect::Postgres), false);
            } else if comment.starts_with("MySQL") {
                (part, optional) = (Some(Dialect::MySql), false);
            } else if comment.starts_with("only if") {
                optional = true;
            }
            continue;
        }
        let dialect = part
            .unwrap_or_else(|| panic!("README: statement before -- PostgreSQL/-- MySQL: {line}"));
        if dialect != d {
            continue;
        }
        stmt.push_str(code.trim());
        stmt.push('\n');
        // A `;` inside a `$$` body (the DO block) ends nothing.
        if code.trim_end().ends_with(';') && stmt.matches("$$").count() % 2 == 0 {
            out.push(Statement {
                sql: stmt.trim().trim_end_matches(';').to_string(),
                only_if_live_exists: optional,
            });
            stmt.clear();
        }
    }
    assert!(stmt.is_empty(), "README: statement without `;`: {stmt}");
    assert!(!out.is_empty(), "README: no {d:?} statements");
    out
}

/// The README's block splits into statements the way this test reads it:
/// SQL keywords first, the optional PostgreSQL ones last, none on MySQL.
#[test]
fn readme_grants_block_parses() {
    for d in ENGINES {
        let stmts = readme_statements(d);
        for s in &stmts {
            assert!(
                ["GRANT ", "ALTER ", "DO "]
                    .iter()
                    .any(|k| s.sql.starts_with(k)),
                "{d:?}: {:?}",
                s.sql
            );
        }
        let optional = stmts.iter().filter(|s| s.only_if_live_exists).count();
        let first_optional = stmts.iter().position(|s| s.only_if_live_exists);
        match d {
            Dialect::MySql => assert_eq!(optional, 0),
            Dialect::Postgres => {
                assert!(optional > 0);
                assert_eq!(first_optional, Some(stmts.len() - optional), "{stmts:#?}");
            }
        }
    }
}

/// `sql` with every whole word (letters, digits, `_` and `\`, so the
/// escaped `app\_build` is one word) that is a key of `names` replaced;
/// counts the replacements in `used`.
fn substitute(sql: &str, names: &[(&str, String)], used: &mut [usize]) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let mut flush = |word: &mut String, out: &mut String| {
        match names.iter().position(|(k, _)| *k == word.as_str()) {
            Some(i) => {
                used[i] += 1;
                out.push_str(&names[i].1);
            }
            None => out.push_str(word),
        }
        word.clear();
    };
    for c in sql.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '\\' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The test's users and places.
struct Setup {
    masker: String,
    dms_user: String,
    places: Places,
}

impl Setup {
    /// The README's statements for `d` with the example names replaced by
    /// the test's, each used at least once (so a renamed example in the
    /// README fails here rather than granting to nobody).
    fn grants(&self, db: &TestDb) -> Vec<Statement> {
        let p = &self.places;
        let names: Vec<(&str, String)> = match db.d {
            // `app` is both the database (`ON DATABASE app`) and the live
            // schema: the test's live schema is named after its database.
            Dialect::Postgres => vec![
                ("app", db.name.clone()),
                ("app_quarantine", p.quarantine.clone()),
                ("masker", self.masker.clone()),
                ("dms_user", self.dms_user.clone()),
            ],
            // Database names in GRANT are patterns: the test's names have
            // `_`, escaped as the README says. The `'masker'@'%'` host is
            // kept as it is: the test connects over TCP, which `%` matches
            // (an anonymous ''@'localhost' account would shadow it; the
            // test servers have none).
            Dialect::MySql => {
                let esc = |s: &str| s.replace('_', "\\_");
                vec![
                    ("app", esc(&p.live)),
                    ("app\\_quarantine", esc(&p.quarantine)),
                    ("app\\_build", esc(&p.build)),
                    ("app\\_retired", esc(&p.retired)),
                    ("dms\\_refresh\\_control", esc(&db.control)),
                    ("masker", self.masker.clone()),
                ]
            }
        };
        let mut used = vec![0; names.len()];
        let out = readme_statements(db.d)
            .into_iter()
            .map(|s| Statement {
                sql: substitute(&s.sql, &names, &mut used),
                ..s
            })
            .collect();
        for ((name, _), n) in names.iter().zip(&used) {
            assert!(*n > 0, "README's {:?} grants never name `{name}`", db.d);
        }
        out
    }

    /// The ledger id, as the post-processor's `ledger_id`: the secret's
    /// `dbname` (on MySQL the live database), then the run id.
    fn ledger_id(&self, run_id: &str) -> String {
        format!("{}/{run_id}", self.places.live)
    }
}

/// Connect as the masker, as the post-processor does: on MySQL in the
/// rewrite mode without a default database (live may not exist yet).
async fn connect_as_masker(db: &TestDb, s: &Setup) -> Target {
    let creds = DbCredentials {
        username: s.masker.clone(),
        password: masking::Password::new(MASKER_PASSWORD),
        dbname: match db.d {
            Dialect::Postgres => Some(db.name.clone()),
            Dialect::MySql => None,
        },
        ..db.creds.clone()
    };
    let target = Target::connect(&creds, TlsMode::Disable)
        .await
        .unwrap_or_else(|e| panic!("connect as {}: {e}", s.masker));
    match db.d {
        // The default `dms_refresh_control`, in the test's own database.
        Dialect::Postgres => target,
        // A control database of the test's own (the server's is shared).
        Dialect::MySql => target.with_control_schema(&db.control).unwrap(),
    }
}

const MASKER_PASSWORD: &str = "masker-pw-1234";

/// One refresh's database work as the post-processor makes it, on a fresh
/// connection as the masker: begin, run_rewrite, finish, the outbox, and
/// the rollback dry run's place check. The run's result; everything else
/// must succeed even when the run fails.
async fn post_process(
    db: &TestDb,
    s: &Setup,
    publish: &Publish,
    run_id: &str,
) -> Result<RunReport, MaskError> {
    let target = connect_as_masker(db, s).await;
    let (id, owner) = (s.ledger_id(run_id), "post-processor");
    let lease = SystemTime::now() + Duration::from_secs(600);
    let begin = target.begin(&id, owner, lease).await.unwrap();
    assert!(matches!(begin, Begin::New), "{begin:?}");
    let report = target
        .run_rewrite(
            &id,
            &rules(RULES),
            &salt(),
            publish,
            far(),
            RunOptions::default(),
        )
        .await;
    let (outcome, state) = match &report {
        Ok(r) => {
            assert_complete(r);
            let rows = r.rows_masked();
            (LedgerOutcome::Done { rows }, RunState::Done)
        }
        Err(e) => (
            LedgerOutcome::Failed {
                error: e.to_string(),
            },
            RunState::Failed,
        ),
    };
    target.finish(&id, owner, outcome).await.unwrap();
    let status = target.status(&id).await.unwrap().unwrap();
    assert_eq!(status.state, state);
    let message = OutboxMessage {
        run_id: id.clone(),
        key: "outcome".into(),
        subject: format!("{run_id} finished"),
        body: "body".into(),
    };
    assert!(target.enqueue(&message).await.unwrap());
    let prefix = id.strip_suffix(run_id).unwrap();
    let claimed = target
        .claim_unsent(prefix, owner, SystemTime::now() + Duration::from_secs(60))
        .await
        .unwrap();
    assert!(claimed.iter().any(|m| m.run_id == id), "{claimed:?}");
    target.mark_sent(&id, "outcome").await.unwrap();
    if report.is_ok() {
        target.check_places(publish).await.unwrap();
    }
    target.close().await;
    report
}

/// Create users and the quarantine, an old live the developer reads if
/// `live_exists`, apply the README's grants.
async fn prepare(db: &mut TestDb, live_exists: bool, dev: &Developer) -> Setup {
    let (masker, dms_user) = (unique("masker"), unique("dms_user"));
    let places = match db.d {
        Dialect::Postgres => {
            let live = db.name.clone();
            Places::new(
                &live,
                &format!("{live}_quarantine"),
                &format!("{live}_retired"),
                &format!("{live}_build"),
            )
            .unwrap()
        }
        Dialect::MySql => {
            let live = unique("grl");
            let names = ["", "_quarantine", "_retired", "_build"].map(|s| format!("{live}{s}"));
            for n in &names {
                db.also_drop(format!("DROP DATABASE IF EXISTS {n}"));
            }
            Places::new(&names[0], &names[1], &names[2], &names[3]).unwrap()
        }
    };
    let s = Setup {
        masker,
        dms_user,
        places,
    };
    let (m, q) = (&s.masker, &s.places.quarantine);
    match db.d {
        Dialect::Postgres => {
            // The roles own nothing outside the test database, so dropping
            // them after it (at cleanup) needs no REASSIGN/DROP OWNED.
            db.exec(&format!(
                "CREATE ROLE {} NOLOGIN; CREATE ROLE {m} LOGIN PASSWORD '{MASKER_PASSWORD}'",
                s.dms_user
            ))
            .await;
            db.also_drop(format!("DROP ROLE IF EXISTS {m}"));
            db.also_drop(format!("DROP ROLE IF EXISTS {}", s.dms_user));
            // Nothing through PUBLIC either: CONNECT and TEMPORARY on the
            // database come from the README's grants only.
            db.exec(&format!(
                "REVOKE ALL ON DATABASE {} FROM PUBLIC; REVOKE ALL ON SCHEMA public FROM PUBLIC",
                db.name
            ))
            .await;
            db.exec(&format!("CREATE SCHEMA {q} AUTHORIZATION {}", s.dms_user))
                .await;
        }
        Dialect::MySql => {
            db.exec(&format!(
                "CREATE USER '{m}'@'%' IDENTIFIED BY '{MASKER_PASSWORD}'"
            ))
            .await;
            db.also_drop(format!("DROP USER IF EXISTS '{m}'@'%'"));
            db.exec(&format!("CREATE DATABASE {q}")).await;
        }
    }
    // DMS's first load, before the grants (GRANT ... ON ALL TABLES covers
    // these tables; the default privileges cover the next loads').
    load_as_dms(db, &s, 20).await;
    if live_exists {
        old_live(db, &s.places.live, &dev.grantee).await;
    }
    for g in s.grants(db) {
        // PostgreSQL: the README's `ALTER SCHEMA app OWNER` and the grant on
        // its tables are for a live schema that exists before the first
        // publish; without one they cannot run (no such schema), and the
        // masker creates live itself.
        if g.only_if_live_exists && !live_exists {
            continue;
        }
        db.exec(&g.sql).await;
    }
    s
}

/// A live place from before the dms-refresh, made by the admin, which the
/// developer reads: on PostgreSQL with a serial, a view and a sequence, each
/// of which the publish must be able to take the developer's grants back from.
async fn old_live(db: &TestDb, live: &str, dev: &str) {
    match db.d {
        Dialect::Postgres => {
            db.exec(&format!(
                "CREATE SCHEMA {live}; \
                 CREATE TABLE {live}.legacy (id SERIAL PRIMARY KEY); INSERT INTO {live}.legacy DEFAULT VALUES; \
                 CREATE VIEW {live}.legacy_v AS SELECT id FROM {live}.legacy; \
                 CREATE SEQUENCE {live}.legacy_seq; \
                 GRANT USAGE ON SCHEMA {live} TO {dev}; \
                 GRANT SELECT ON ALL TABLES IN SCHEMA {live} TO {dev}; \
                 GRANT USAGE ON ALL SEQUENCES IN SCHEMA {live} TO {dev}"
            ))
            .await;
        }
        Dialect::MySql => {
            for sql in [
                format!("CREATE DATABASE {live}"),
                format!("CREATE TABLE {live}.legacy (id INT AUTO_INCREMENT PRIMARY KEY)"),
                format!("INSERT INTO {live}.legacy () VALUES ()"),
                format!("GRANT SELECT ON `{}`.* TO {dev}", live.replace('_', "\\_")),
            ] {
                db.exec(&sql).await;
            }
        }
    }
}

/// A DMS full load of `n` customers into the quarantine: on PostgreSQL the
/// tables are dropped and created by the DMS user (so the README's default
/// privileges are what lets the masker read them); MySQL has no owners.
async fn load_as_dms(db: &TestDb, s: &Setup, n: i64) {
    let q = &s.places.quarantine;
    match db.d {
        Dialect::Postgres => {
            let mut sql = vec![
                format!("SET ROLE {}", s.dms_user),
                format!("DROP TABLE IF EXISTS {q}.orders, {q}.customers, {q}.countries"),
            ];
            sql.extend(tables_sql(q, n));
            sql.push("RESET ROLE".into());
            db.exec(&sql.join(";\n")).await;
        }
        Dialect::MySql => {
            for t in ["orders", "customers", "countries"] {
                db.exec(&format!("DROP TABLE IF EXISTS {q}.{t}")).await;
            }
            load_tables(db, q, n).await;
        }
    }
}

/// Live holds `n` masked customers the developer can read, and the
/// quarantine was purged.
async fn assert_published(db: &TestDb, s: &Setup, dev: &Developer, n: usize, stage: &str) {
    let (live, q) = (&s.places.live, &s.places.quarantine);
    let emails = dev
        .try_rows(&format!("SELECT email FROM {live}.customers"))
        .await
        .unwrap_or_else(|e| panic!("{stage}: developer reads live: {e}"));
    assert_eq!(emails.len(), n, "{stage}");
    assert!(
        emails.iter().all(|r| r[0]
            .as_deref()
            .is_some_and(|e| e.ends_with("@example.invalid"))),
        "{stage}: unmasked email in live: {emails:?}"
    );
    assert_eq!(count_of(db, live, "orders").await, 2 * n as i64, "{stage}");
    for t in ["customers", "orders", "countries"] {
        assert_eq!(count_of(db, q, t).await, 0, "{stage}: {q}.{t} not purged");
    }
}

/// Whether the run failed on a statement the server refused for lack of a
/// privilege.
fn denied(e: &MaskError) -> bool {
    matches!(e, MaskError::Database { source, .. } if is_permission_denied(source))
}

async fn readme_grants_suffice(d: Dialect, live_exists: bool) {
    let mut db = TestDb::new(d).await;
    // Before `prepare` takes CONNECT away from PUBLIC on PostgreSQL.
    let dev = db.developer().await;
    let s = prepare(&mut db, live_exists, &dev).await;
    if d == Dialect::Postgres {
        // The developer's own access to the database (PUBLIC has none now).
        db.exec(&format!(
            "GRANT CONNECT ON DATABASE {} TO {}",
            db.name, dev.grantee
        ))
        .await;
    }
    let publish = Publish {
        places: s.places.clone(),
        grants: DeveloperGrant::parse_list(&format!("{}=SELECT", dev.grantee)).unwrap(),
        purge_quarantine: true,
    };
    let (live, retired) = (&s.places.live, &s.places.retired);

    post_process(&db, &s, &publish, "run-1")
        .await
        .unwrap_or_else(|e| panic!("run-1 as the README's user: {e}"));
    assert_published(&db, &s, &dev, 20, "run-1").await;
    if live_exists {
        // The old live is retired, and its grants did not go with it.
        assert_eq!(count_of(&db, retired, "legacy").await, 1);
        let e = dev
            .try_rows(&format!("SELECT id FROM {retired}.legacy"))
            .await
            .expect_err("the developer reads the retired old live");
        assert!(is_permission_denied(&e), "{e}");
    }
    let first = dump_place(&db, live).await;

    load_as_dms(&db, &s, 25).await;
    post_process(&db, &s, &publish, "run-2")
        .await
        .unwrap_or_else(|e| panic!("run-2 as the README's user: {e}"));
    assert_published(&db, &s, &dev, 25, "run-2").await;
    assert_eq!(
        dump_place(&db, retired).await,
        first,
        "retired is run-1's copy"
    );
    let second = dump_place(&db, live).await;

    // The test can fail: without one of the README's privileges the next
    // run is refused by the server, and live keeps run-2's copy. PostgreSQL:
    // TEMPORARY (the copy's staging table); MySQL: CREATE on build. (Not
    // CREATE on the PostgreSQL database: the ledger's `CREATE SCHEMA IF NOT
    // EXISTS` needs it at every begin, before the run. Not SELECT on the
    // quarantine: the engine refuses that run itself, before any statement,
    // as the catalog hides the columns the rules name.)
    load_as_dms(&db, &s, 30).await;
    let m = &s.masker;
    db.exec(&match d {
        Dialect::Postgres => format!("REVOKE TEMPORARY ON DATABASE {} FROM {m}", db.name),
        Dialect::MySql => format!(
            "REVOKE CREATE ON `{}`.* FROM '{m}'@'%'",
            s.places.build.replace('_', "\\_")
        ),
    })
    .await;
    let e = post_process(&db, &s, &publish, "run-3")
        .await
        .expect_err("run-3 without TEMPORARY / CREATE on build");
    assert!(denied(&e), "not a permission error: {e:?}");
    assert_eq!(
        dump_place(&db, live).await,
        second,
        "live changed by a failed run"
    );

    dev.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_grants_suffice_for_rewrite_postgres() {
    readme_grants_suffice(Dialect::Postgres, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_grants_suffice_for_rewrite_mysql() {
    readme_grants_suffice(Dialect::MySql, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_grants_suffice_over_an_existing_live_postgres() {
    readme_grants_suffice(Dialect::Postgres, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_grants_suffice_over_an_existing_live_mysql() {
    readme_grants_suffice(Dialect::MySql, true).await;
}
