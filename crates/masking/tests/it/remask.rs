//! Never masked twice, in place (issue 11 item 5): after a
//! `resume-processing` start the target was not reloaded, so yesterday's
//! masked rows are still there; masking them again would hash a hash and
//! shift shifted dates. The default refuses before any write.

use masking::{Dialect, LoadStart, MaskError, RunOptions, RunOutcome, RunReport};

use crate::common::*;

const RULES: &str = r#"
[tables.people.columns]
email = { strategy = "email" }
born = { strategy = "date_shift", max_days = 30 }
"#;

const ALLOW: &str = r#"
[settings]
remask = "allow"
[tables.people.columns]
email = { strategy = "email" }
born = { strategy = "date_shift", max_days = 30 }
"#;

async fn make_people(db: &TestDb) {
    db.exec("CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(100), born DATE)")
        .await;
    db.exec(
        "INSERT INTO people VALUES (1, 'ann@corp.com', '1980-04-01'), \
         (2, 'bob@corp.com', '1975-12-24'), (3, 'cy@corp.com', '2001-07-15')",
    )
    .await;
}

async fn dump(db: &TestDb) -> Vec<Vec<Option<String>>> {
    let sql = format!(
        "SELECT {}, {} FROM people ORDER BY id",
        db.txt("email"),
        db.txt("born")
    );
    db.rows(&sql).await
}

async fn run(
    db: &TestDb,
    run_id: &str,
    src: &str,
    start: LoadStart,
) -> Result<RunReport, MaskError> {
    db.begin(run_id).await;
    let opts = RunOptions {
        load_start: start,
        ..Default::default()
    };
    db.target
        .run_with(run_id, &rules(src), &salt(), far(), opts)
        .await
}

async fn progress_rows(db: &TestDb, run_id: &str) -> i64 {
    let t = db.control_table("table_progress");
    db.count(&format!(
        "SELECT COUNT(*) FROM {t} WHERE run_id = '{run_id}'"
    ))
    .await
}

/// Night 1 (reload) masks; night 2 is a resume-processing: refused before
/// any write, the rows keep night 1's masked values, no step ran.
async fn a_resumed_load_is_refused_by_default(d: Dialect) {
    let db = TestDb::new(d).await;
    make_people(&db).await;
    let night1 = run(&db, "night-1", RULES, LoadStart::Reloaded)
        .await
        .unwrap();
    assert_eq!(night1.outcome, RunOutcome::Complete);
    let masked_once = dump(&db).await;

    let e = run(&db, "night-2", RULES, LoadStart::Resumed)
        .await
        .unwrap_err();
    assert!(e.is_permanent(), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("resume-processing") && msg.contains("reload-target"),
        "{msg}"
    );
    assert_eq!(dump(&db).await, masked_once, "nothing masked a second time");
    assert_eq!(progress_rows(&db, "night-2").await, 0, "no step recorded");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_load_is_refused_by_default_mysql() {
    a_resumed_load_is_refused_by_default(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_load_is_refused_by_default_postgres() {
    a_resumed_load_is_refused_by_default(Dialect::Postgres).await;
}

/// `remask = "allow"` masks every row again, which is what the default
/// protects against (the e-mail is a digest of night 1's masked address, the
/// date moves again), and says so in the report.
async fn allow_masks_again_and_reports_it(d: Dialect) {
    let db = TestDb::new(d).await;
    make_people(&db).await;
    run(&db, "night-1", ALLOW, LoadStart::Reloaded)
        .await
        .unwrap();
    let masked_once = dump(&db).await;

    let night2 = run(&db, "night-2", ALLOW, LoadStart::Resumed)
        .await
        .unwrap();
    assert_eq!(night2.outcome, RunOutcome::Complete);
    assert!(
        night2.warnings.iter().any(|w| w.contains("masked again")),
        "{:?}",
        night2.warnings
    );
    let masked_twice = dump(&db).await;
    for (once, twice) in masked_once.iter().zip(&masked_twice) {
        assert_ne!(once[0], twice[0], "the e-mail was masked again");
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_masks_again_and_reports_it_mysql() {
    allow_masks_again_and_reports_it(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_masks_again_and_reports_it_postgres() {
    allow_masks_again_and_reports_it(Dialect::Postgres).await;
}
