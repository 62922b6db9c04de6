//! Verification that means something (issue 11 item 7): a sample of rows is
//! fingerprinted before masking and every masked value must differ from its
//! original afterwards, which catches a masking that did not reach the rows
//! even where no shape check can (`date_shift`).

use masking::{Dialect, MaskError, RunOptions, RunReport};

use crate::common::*;
use crate::places_fixture::*;

/// Four people; one birth date is the "no end" sentinel `date_shift` keeps
/// by design, one is NULL.
async fn make_people(db: &TestDb) {
    db.exec("CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(100), born DATE)")
        .await;
    db.exec(
        "INSERT INTO people VALUES (1, 'ann@corp.com', '1980-04-01'), (2, 'bob@corp.com', '1975-12-24'), \
         (3, 'cy@corp.com', '9999-12-31'), (4, 'di@corp.com', NULL)",
    )
    .await;
}

fn sample_check<'a>(rep: &'a RunReport, name: &str) -> &'a masking::VerificationCheck {
    let v = rep.verification.as_ref().expect("verified");
    v.checks
        .iter()
        .find(|c| c.check.starts_with(&format!("sample:{name}")))
        .unwrap_or_else(|| panic!("no sample check for {name}: {v:?}"))
}

/// A passing run compares the sampled values the strategy does not keep by
/// design: the sentinel date and the NULL are left out.
async fn the_sample_compares_every_value_not_kept_by_design(d: Dialect) {
    let db = TestDb::new(d).await;
    make_people(&db).await;
    let src = "[tables.people.columns]\nemail = { strategy = \"email\" }\nborn = { strategy = \"date_shift\", max_days = 30 }\n";
    let rep = db.mask("night-1", &rules(src)).await.unwrap();
    let born = sample_check(&rep, "born:date_shift");
    assert!(
        born.check.contains("(2 sampled values compared)"),
        "{born:?}"
    );
    assert_eq!(born.violations, 0);
    let email = sample_check(&rep, "email:email");
    assert!(
        email.check.contains("(4 sampled values compared)"),
        "{email:?}"
    );
    let stored = db
        .count(&format!(
            "SELECT COUNT(*) FROM {}",
            db.control_table("sample_prints")
        ))
        .await;
    assert_eq!(stored, 0, "a verified run's fingerprints are removed");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_compares_every_value_not_kept_by_design_mysql() {
    the_sample_compares_every_value_not_kept_by_design(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_compares_every_value_not_kept_by_design_postgres() {
    the_sample_compares_every_value_not_kept_by_design(Dialect::Postgres).await;
}

/// An `UPDATE` trigger silently puts the original birth dates back: the
/// `UPDATE` succeeds, `date_shift` has no shape to check, and only the
/// before/after sample sees that the dates are still readable.
async fn a_masking_that_did_not_reach_the_rows_fails_verification(d: Dialect) {
    let db = TestDb::new(d).await;
    make_people(&db).await;
    match d {
        Dialect::MySql => {
            db.exec(
                "CREATE TRIGGER keep_born BEFORE UPDATE ON people FOR EACH ROW SET NEW.born = OLD.born",
            )
            .await
        }
        Dialect::Postgres => {
            db.exec(
                "CREATE FUNCTION keep_born() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN NEW.born := OLD.born; RETURN NEW; END $$",
            )
            .await;
            db.exec(
                "CREATE TRIGGER keep_born BEFORE UPDATE ON people FOR EACH ROW EXECUTE FUNCTION keep_born()",
            )
            .await;
        }
    }
    // PostgreSQL fires user triggers only with disable_fk_checks = false;
    // MySQL fires them always and asks for the acknowledgement.
    let src = "[settings]\ndisable_fk_checks = false\n[tables.people]\nacknowledged_triggers = [\"keep_born\"]\n[tables.people.columns]\nborn = { strategy = \"date_shift\", max_days = 30 }\n";
    let e = db.mask("night-1", &rules(src)).await.unwrap_err();
    let MaskError::Verification { failures } = &e else {
        panic!("expected a verification failure, got {e}")
    };
    assert!(
        failures
            .iter()
            .any(|f| f.contains("sample:born:date_shift") && f.contains("2 offending")),
        "{failures:?}"
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masking_that_did_not_reach_the_rows_fails_verification_mysql() {
    a_masking_that_did_not_reach_the_rows_fails_verification(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masking_that_did_not_reach_the_rows_fails_verification_postgres() {
    a_masking_that_did_not_reach_the_rows_fails_verification(Dialect::Postgres).await;
}

/// A rewrite compares the build copy with quarantine: build rows that still
/// hold the original dates (here written back by hand between the copy and
/// verification) fail it, and nothing is published.
async fn a_build_row_left_unmasked_stops_the_publish(d: Dialect) {
    let mut db = TestDb::new(d).await;
    let places = db.places("ba");
    let p = publish(&places, "");
    load_quarantine(&db, &places, 8).await;
    let src =
        "[tables.customers.columns]\ncreated = { strategy = \"date_shift\", max_days = 30 }\n";
    let opts = RunOptions {
        stop_before_step: Some("verify".into()),
        ..Default::default()
    };
    rewrite_with(&db, "night-1", src, &p, opts).await.unwrap();
    let (b, q) = (&places.build, &places.quarantine);
    db.exec(&format!(
        "UPDATE {b}.customers SET created = (SELECT q.created FROM {q}.customers q WHERE q.id = {b}.customers.id) WHERE id <= 3"
    ))
    .await;
    let e = continue_rewrite(&db.target, "night-1", src, &p)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("sample:created:date_shift")
            && e.to_string().contains("3 offending"),
        "{e}"
    );
    assert!(
        dump_place(&db, &places.live).await.is_empty(),
        "nothing published"
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_row_left_unmasked_stops_the_publish_mysql() {
    a_build_row_left_unmasked_stops_the_publish(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_row_left_unmasked_stops_the_publish_postgres() {
    a_build_row_left_unmasked_stops_the_publish(Dialect::Postgres).await;
}

/// Verification is deadline-aware and resumable (issue 11 item 7): it stops
/// between units (a table, a foreign key), keeps what it verified, and the
/// next invocation verifies only the rest.
async fn verification_resumes_between_units(d: Dialect) {
    let db = TestDb::new(d).await;
    for t in ["a", "b", "c"] {
        db.exec(&format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, email VARCHAR(100))"
        ))
        .await;
        db.exec(&format!(
            "INSERT INTO {t} VALUES (1, 'x@corp.com'), (2, 'y@corp.com')"
        ))
        .await;
    }
    let src = "[tables.a.columns]\nemail = { strategy = \"email\" }\n[tables.b.columns]\nemail = { strategy = \"email\" }\n[tables.c.columns]\nemail = { strategy = \"email\" }\n";
    let r = rules(src);
    let units = || async {
        db.count(&format!(
            "SELECT COUNT(DISTINCT unit) FROM {}",
            db.control_table("verify_results")
        ))
        .await
    };
    let run = |stop: u64| {
        let r = &r;
        let db = &db;
        async move {
            let opts = RunOptions {
                stop_after_chunks: Some(stop),
                ..Default::default()
            };
            db.target
                .run_with("night-1", r, &salt(), far(), opts)
                .await
                .unwrap()
        }
    };
    db.begin("night-1").await;
    // Three one-statement mask steps, then one verification unit.
    let first = run(4).await;
    assert!(
        matches!(&first.outcome, masking::RunOutcome::Incomplete { next_step, .. } if next_step == "verify"),
        "{first:?}"
    );
    assert_eq!(units().await, 1);
    let second = run(1).await;
    assert!(
        matches!(second.outcome, masking::RunOutcome::Incomplete { .. }),
        "{second:?}"
    );
    assert_eq!(units().await, 2, "the first unit was not verified again");
    let done = run(100).await;
    assert_eq!(done.outcome, masking::RunOutcome::Complete);
    let v = done.verification.expect("verified");
    for t in ["a", "b", "c"] {
        assert!(
            v.checks
                .iter()
                .any(|c| c.table.ends_with(&format!(".{t}")) && c.check.starts_with("sample:email")),
            "{t}: {v:?}"
        );
    }
    assert_eq!(units().await, 0, "stored units are removed at the end");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_resumes_between_units_mysql() {
    verification_resumes_between_units(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_resumes_between_units_postgres() {
    verification_resumes_between_units(Dialect::Postgres).await;
}

/// Shape violations are counted inside each chunk's transaction and added
/// up by verification, with no second scan of the masked values: the
/// progress rows hold the per-chunk sums and the failure reports them.
async fn violations_are_counted_in_the_chunks(d: Dialect) {
    let db = TestDb::new(d).await;
    db.exec("CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(100))")
        .await;
    let rows: Vec<String> = (1..=40).map(|i| format!("({i}, 'note {i}')")).collect();
    db.exec(&format!("INSERT INTO notes VALUES {}", rows.join(", ")))
        .await;
    // Every fourth row gets a value its own check refuses.
    let src = "[settings]\nchunk_threshold = 5\nchunk_size = 7\n[tables.notes.columns]\nbody = { strategy = \"sql\", expression = \"CASE WHEN id % 4 = 0 THEN 'bad' ELSE left({hmac}, 8) END\", check = \"{column} <> 'bad'\" }\n";
    let e = db.mask("night-1", &rules(src)).await.unwrap_err();
    assert!(e.to_string().contains("body:sql: 10 offending"), "{e}");
    let stored = db
        .col(&format!(
            "SELECT violations FROM {} WHERE run_id = 'night-1' AND step = 'mask:{}.notes'",
            db.control_table("table_progress"),
            masking_schema(&db)
        ))
        .await;
    assert_eq!(stored, [Some("10".to_string())], "counted by the chunks");
    let chunks = db
        .count(&format!(
            "SELECT chunks FROM {} WHERE run_id = 'night-1' AND step LIKE 'mask:%'",
            db.control_table("table_progress")
        ))
        .await;
    assert!(chunks >= 6, "{chunks} chunks");

    // The rewrite counts in its copy chunks.
    let mut db = db;
    let places = db.places("cnt");
    let p = publish(&places, "");
    load_quarantine(&db, &places, 8).await;
    let src = "[settings]\nchunk_threshold = 3\nchunk_size = 3\n[tables.customers.columns]\nname = { strategy = \"sql\", expression = \"CASE WHEN id % 4 = 0 THEN 'bad' ELSE 'ok' END\", check = \"{column} <> 'bad'\" }\n";
    let e = rewrite(&db, "night-2", src, &p).await.unwrap_err();
    assert!(e.to_string().contains("name:sql: 2 offending"), "{e}");
    let stored = db
        .col(&format!(
            "SELECT violations FROM {} WHERE run_id = 'night-2' AND step LIKE 'copy:%customers'",
            db.control_table("table_progress")
        ))
        .await;
    assert_eq!(
        stored,
        [Some("2".to_string())],
        "counted by the copy chunks"
    );
    db.cleanup().await;
}

fn masking_schema(db: &TestDb) -> String {
    match db.d {
        Dialect::MySql => db.name.clone(),
        Dialect::Postgres => "public".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violations_are_counted_in_the_chunks_mysql() {
    violations_are_counted_in_the_chunks(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violations_are_counted_in_the_chunks_postgres() {
    violations_are_counted_in_the_chunks(Dialect::Postgres).await;
}
