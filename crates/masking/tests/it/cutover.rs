//! The target-database steps of a cutover: triggers recorded at a load
//! start and put back at cutover, sequences carried over from the source
//! (never moved back) or set to max+1, and foreign keys checked.

use masking::Dialect;
use masking::cutover::{SequenceReport, SequenceValue, TriggerReport};

use crate::common::*;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn value(schema: &str, name: &str, next_value: i64) -> SequenceValue {
    SequenceValue {
        schema: schema.into(),
        name: name.into(),
        next_value,
    }
}

/// `table.trigger=mode` of every user trigger of the database.
async fn trigger_modes(db: &TestDb) -> Vec<String> {
    db.col(
        "SELECT n.nspname || '.' || c.relname || '.' || t.tgname || '=' || t.tgenabled::text \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal ORDER BY 1",
    )
    .await
    .into_iter()
    .map(Option::unwrap)
    .collect()
}

/// The internal (foreign-key) triggers' modes: never touched.
async fn internal_modes(db: &TestDb) -> Vec<Option<String>> {
    db.col("SELECT DISTINCT tgenabled::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgisinternal AND c.relname IN ('a', 'b')")
        .await
}

async fn recorded_rows(db: &TestDb) -> i64 {
    db.count(&format!(
        "SELECT count(*) FROM {}",
        db.control_table("recorded_triggers")
    ))
    .await
}

/// Schema `app`: `a` with an ALWAYS trigger, `b` with an enabled trigger
/// and one disabled by design, a foreign key b -> a (internal triggers),
/// and a trigger on a control-schema table (never touched).
async fn trigger_fixture(db: &TestDb) {
    db.exec(&format!(
        "CREATE SCHEMA app; \
         CREATE TABLE app.a (id INT PRIMARY KEY); \
         CREATE TABLE app.b (id INT PRIMARY KEY, a_id INT REFERENCES app.a(id)); \
         CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; \
         CREATE TRIGGER a_ins BEFORE INSERT ON app.a FOR EACH ROW EXECUTE FUNCTION app.touch(); \
         ALTER TABLE app.a ENABLE ALWAYS TRIGGER a_ins; \
         CREATE TRIGGER b_ins BEFORE INSERT ON app.b FOR EACH ROW EXECUTE FUNCTION app.touch(); \
         CREATE TRIGGER b_off BEFORE UPDATE ON app.b FOR EACH ROW EXECUTE FUNCTION app.touch(); \
         ALTER TABLE app.b DISABLE TRIGGER b_off; \
         CREATE SCHEMA {ctl}; \
         CREATE TABLE {ctl}.probe (id INT); \
         CREATE TRIGGER c_ins BEFORE INSERT ON {ctl}.probe FOR EACH ROW EXECUTE FUNCTION app.touch()",
        ctl = db.control
    ))
    .await;
}

/// The enabled triggers are recorded and disabled; a second start adds
/// nothing and keeps the record; the cutover puts exactly those back in
/// their mode (ALWAYS stays ALWAYS), the one disabled by design stays
/// disabled, and a second cutover does nothing.
#[tokio::test]
async fn postgres_triggers_are_recorded_disabled_and_restored() {
    let db = TestDb::new(Dialect::Postgres).await;
    trigger_fixture(&db).await;
    let ctl = db.control.clone();
    let t = db.target.clone();
    // Spawned: the futures must be Send for the Lambda handlers.
    let first = tokio::spawn(async move { t.record_and_disable_triggers().await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.triggers, strings(&["app.a.a_ins", "app.b.b_ins"]));
    assert_eq!(first.note, None);
    let disabled = [
        "app.a.a_ins=D".to_string(),
        "app.b.b_ins=D".into(),
        "app.b.b_off=D".into(),
        format!("{ctl}.probe.c_ins=O"),
    ];
    assert_eq!(trigger_modes(&db).await, disabled);
    assert_eq!(internal_modes(&db).await, [Some("O".to_string())]);
    assert_eq!(recorded_rows(&db).await, 2);

    let second = db.target.record_and_disable_triggers().await.unwrap();
    assert_eq!(second, TriggerReport::default(), "nothing enabled any more");
    assert_eq!(recorded_rows(&db).await, 2, "the first record is kept");

    let dry = db.target.recorded_triggers().await.unwrap();
    assert_eq!(dry.triggers, strings(&["app.a.a_ins", "app.b.b_ins"]));
    assert_eq!(dry.left_disabled, strings(&["app.b.b_off"]));
    assert_eq!(
        trigger_modes(&db).await,
        disabled,
        "a dry run changes nothing"
    );

    let t = db.target.clone();
    let enabled = tokio::spawn(async move { t.enable_recorded_triggers().await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(enabled.triggers, strings(&["app.a.a_ins", "app.b.b_ins"]));
    assert_eq!(enabled.missing, Vec::<String>::new());
    assert_eq!(enabled.left_disabled, strings(&["app.b.b_off"]));
    assert_eq!(
        trigger_modes(&db).await,
        [
            "app.a.a_ins=A".to_string(),
            "app.b.b_ins=O".into(),
            "app.b.b_off=D".into(),
            format!("{ctl}.probe.c_ins=O"),
        ]
    );
    assert_eq!(internal_modes(&db).await, [Some("O".to_string())]);
    assert_eq!(recorded_rows(&db).await, 0);

    let again = db.target.enable_recorded_triggers().await.unwrap();
    assert_eq!(again.triggers, Vec::<String>::new(), "the record is empty");
    assert_eq!(again.left_disabled, strings(&["app.b.b_off"]));
    db.cleanup().await;
}

/// A recorded trigger dropped before the cutover is listed as missing; the
/// others are still put back. Before any load start there is no record
/// and a cutover only reports what is disabled.
#[tokio::test]
async fn postgres_dropped_trigger_is_listed_missing() {
    let db = TestDb::new(Dialect::Postgres).await;
    trigger_fixture(&db).await;
    let none = db.target.enable_recorded_triggers().await.unwrap();
    assert_eq!(none.triggers, Vec::<String>::new());
    assert_eq!(none.left_disabled, strings(&["app.b.b_off"]));
    db.target.record_and_disable_triggers().await.unwrap();
    db.exec("DROP TRIGGER b_ins ON app.b").await;
    let dry = db.target.recorded_triggers().await.unwrap();
    assert_eq!(dry.triggers, strings(&["app.a.a_ins"]));
    assert_eq!(dry.missing, strings(&["app.b.b_ins"]));
    let enabled = db.target.enable_recorded_triggers().await.unwrap();
    assert_eq!(enabled.triggers, strings(&["app.a.a_ins"]));
    assert_eq!(enabled.missing, strings(&["app.b.b_ins"]));
    assert_eq!(recorded_rows(&db).await, 0);
    db.cleanup().await;
}

async fn nextval(db: &TestDb, seq: &str) -> i64 {
    db.count(&format!("SELECT nextval('{seq}')")).await
}

/// A source value above the target's next is set, one below is kept, an
/// unknown sequence is listed; a second cutover after the application
/// used the sequence never moves it back.
#[tokio::test]
async fn postgres_sequences_from_the_source_never_go_back() {
    let db = TestDb::new(Dialect::Postgres).await;
    db.exec(
        "CREATE SCHEMA app; \
         CREATE TABLE app.t (id BIGSERIAL PRIMARY KEY, v INT); \
         INSERT INTO app.t (v) VALUES (1), (2), (3); \
         CREATE SEQUENCE app.low; SELECT setval('app.low', 100)",
    )
    .await;
    let values = [
        value("app", "t_id_seq", 50),
        value("app", "low", 20),
        value("app", "nope", 5),
    ];
    let r = db.target.set_sequences_from(&values).await.unwrap();
    let expected = SequenceReport {
        set: strings(&["app.t_id_seq=50"]),
        kept: strings(&["app.low=20 (target next 101)"]),
        missing: strings(&["app.nope"]),
        method: "from the source".into(),
    };
    assert_eq!(r, expected);
    assert_eq!(nextval(&db, "app.t_id_seq").await, 50);
    assert_eq!(nextval(&db, "app.low").await, 101);

    let again = db.target.set_sequences_from(&values[..1]).await.unwrap();
    assert_eq!(again.set, Vec::<String>::new());
    assert_eq!(again.kept, strings(&["app.t_id_seq=50 (target next 51)"]));
    assert_eq!(nextval(&db, "app.t_id_seq").await, 51);
    db.cleanup().await;
}

/// Without a source, owned sequences go to max+1, the control schema's
/// are left alone.
#[tokio::test]
async fn postgres_sequences_to_max_plus_one() {
    let db = TestDb::new(Dialect::Postgres).await;
    db.exec(&format!(
        "CREATE SCHEMA app; \
         CREATE TABLE app.t (id BIGSERIAL PRIMARY KEY); \
         INSERT INTO app.t (id) VALUES (1), (500); \
         CREATE SCHEMA {ctl}; CREATE TABLE {ctl}.probe (id SERIAL PRIMARY KEY); \
         INSERT INTO {ctl}.probe (id) VALUES (900)",
        ctl = db.control
    ))
    .await;
    let r = db.target.set_sequences_to_max_plus_one().await.unwrap();
    assert_eq!(r.set, strings(&["app.t_id_seq=501"]));
    assert_eq!(r.method, "max+1");
    assert_eq!(nextval(&db, "app.t_id_seq").await, 501);
    let ctl_seq = format!("{}.probe_id_seq", db.control);
    assert_eq!(nextval(&db, &ctl_seq).await, 1, "control schema untouched");
    // Sent again after ids above max were handed out (and their rows
    // deleted): the sequence is not moved back onto them.
    for _ in 0..5 {
        nextval(&db, "app.t_id_seq").await;
    }
    let again = db.target.set_sequences_to_max_plus_one().await.unwrap();
    assert_eq!(again.set, strings(&["app.t_id_seq=507"]));
    assert_eq!(nextval(&db, "app.t_id_seq").await, 507);
    db.cleanup().await;
}

/// Whether the control schema/database exists.
async fn control_exists(db: &TestDb) -> bool {
    let sql = match db.d {
        Dialect::Postgres => format!(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = '{}'",
            db.control
        ),
        Dialect::MySql => format!(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{}'",
            db.control
        ),
    };
    db.count(&sql).await > 0
}

/// PostgreSQL: only called sequences, with the value `nextval` would give.
#[tokio::test]
async fn postgres_source_sequences() {
    let db = TestDb::new(Dialect::Postgres).await;
    db.exec(
        "CREATE SCHEMA src; \
         CREATE SEQUENCE src.called START 10 INCREMENT BY 5; \
         SELECT nextval('src.called'); SELECT nextval('src.called'); \
         CREATE SEQUENCE src.uncalled",
    )
    .await;
    let values = db.target.source_sequences().await.unwrap();
    assert_eq!(values, [value("src", "called", 20)]);
    assert!(!control_exists(&db).await, "a source is never written to");
    db.cleanup().await;
}

/// MariaDB: the AUTO_INCREMENT of the connection's database's tables.
#[tokio::test]
async fn mysql_source_sequences() {
    let db = TestDb::new(Dialect::MySql).await;
    db.exec(
        "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT); \
         INSERT INTO t (v) VALUES (1); INSERT INTO t (v) VALUES (2); INSERT INTO t (v) VALUES (3); \
         CREATE TABLE plain (id INT PRIMARY KEY)",
    )
    .await;
    let values = db.target.source_sequences().await.unwrap();
    assert_eq!(values, [value(&db.name, "t", 4)]);
    assert!(!control_exists(&db).await, "a source is never written to");
    db.cleanup().await;
}

/// MariaDB: AUTO_INCREMENT is raised, never lowered; tables the target
/// lacks (or without AUTO_INCREMENT) are listed; triggers and max+1 are
/// no-ops with a note.
#[tokio::test]
async fn mysql_auto_increment_and_trigger_notes() {
    let db = TestDb::new(Dialect::MySql).await;
    db.exec(
        "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT); \
         INSERT INTO t (v) VALUES (1); \
         CREATE TABLE high (id INT AUTO_INCREMENT PRIMARY KEY) AUTO_INCREMENT = 51; \
         CREATE TABLE plain (id INT PRIMARY KEY); \
         CREATE TRIGGER t_ins BEFORE INSERT ON t FOR EACH ROW SET NEW.v = NEW.v",
    )
    .await;
    let n = &db.name;
    let values = [
        value(n, "t", 100),
        value(n, "high", 10),
        value(n, "nope", 5),
        value(n, "plain", 7),
    ];
    let r = db.target.set_sequences_from(&values).await.unwrap();
    assert_eq!(r.set, [format!("{n}.t=100")]);
    assert_eq!(r.kept, [format!("{n}.high=10 (target next 51)")]);
    assert_eq!(r.missing, [format!("{n}.nope"), format!("{n}.plain")]);
    db.exec("INSERT INTO t (v) VALUES (2)").await;
    assert_eq!(db.count("SELECT MAX(id) FROM t").await, 100);

    let max = db.target.set_sequences_to_max_plus_one().await.unwrap();
    assert!(max.method.contains("no-op"), "{max:?}");
    assert_eq!(max.set, Vec::<String>::new());
    for report in [
        db.target.record_and_disable_triggers().await.unwrap(),
        db.target.recorded_triggers().await.unwrap(),
        db.target.enable_recorded_triggers().await.unwrap(),
    ] {
        let note = report.note.as_deref().unwrap_or_default();
        assert!(note.contains("cannot be disabled"), "{report:?}");
        assert_eq!(report.triggers, Vec::<String>::new());
    }
    db.exec("INSERT INTO t (v) VALUES (3)").await;
    assert_eq!(db.count("SELECT MAX(id) FROM t").await, 101);
    // The source's database may be named otherwise: the target's tables
    // are those of the connection's database.
    let renamed = db
        .target
        .set_sequences_from(&[value("shop_source", "t", 200)])
        .await
        .unwrap();
    assert_eq!(renamed.set, [format!("{n}.t=200")]);
    db.exec("INSERT INTO t (v) VALUES (4)").await;
    assert_eq!(db.count("SELECT MAX(id) FROM t").await, 200);
    db.cleanup().await;
}

/// Clean data passes (PostgreSQL also validates a NOT VALID foreign key);
/// orphans loaded without checks are listed, the control schema's are
/// not looked at.
async fn foreign_keys_are_checked(d: Dialect) {
    let db = TestDb::new(d).await;
    db.exec(
        "CREATE TABLE parent (id INT PRIMARY KEY); \
         CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, \
           CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent(id)); \
         CREATE TABLE other (id INT PRIMARY KEY, parent_id INT); \
         INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1); INSERT INTO other VALUES (1, 1)",
    )
    .await;
    let schema = match d {
        Dialect::Postgres => {
            db.exec(&format!(
                "ALTER TABLE other ADD CONSTRAINT other_parent_fk FOREIGN KEY (parent_id) \
                   REFERENCES parent(id) NOT VALID; \
                 CREATE SCHEMA {ctl}; CREATE TABLE {ctl}.p (id INT PRIMARY KEY); \
                 CREATE TABLE {ctl}.c (id INT REFERENCES {ctl}.p(id)); \
                 SET session_replication_role = replica; INSERT INTO {ctl}.c VALUES (7); \
                 RESET session_replication_role",
                ctl = db.control
            ))
            .await;
            "public".to_string()
        }
        Dialect::MySql => {
            db.exec("ALTER TABLE other ADD CONSTRAINT other_parent_fk FOREIGN KEY (parent_id) REFERENCES parent(id)")
                .await;
            db.name.clone()
        }
    };
    let clean = db.target.validate_foreign_keys().await.unwrap();
    let note = clean.unwrap_or_else(|orphans| panic!("{orphans:?}"));
    assert!(note.contains("2 foreign key(s) resolve"), "{note}");
    if d == Dialect::Postgres {
        assert!(note.starts_with("1 constraint(s) validated"), "{note}");
        let valid = db
            .col("SELECT convalidated::text FROM pg_constraint WHERE conname = 'other_parent_fk'")
            .await;
        assert_eq!(valid, [Some("true".to_string())]);
    }
    let orphans = match d {
        Dialect::Postgres => {
            "SET session_replication_role = replica; INSERT INTO child VALUES (2, 42), (3, 43); \
             RESET session_replication_role"
        }
        Dialect::MySql => {
            "SET FOREIGN_KEY_CHECKS = 0; INSERT INTO child VALUES (2, 42), (3, 43); \
             SET FOREIGN_KEY_CHECKS = 1"
        }
    };
    db.exec(orphans).await;
    let found = db.target.validate_foreign_keys().await.unwrap();
    assert_eq!(
        found,
        Err(vec![format!(
            "{schema}.child child_parent_fk: 2 orphan row(s)"
        )])
    );
    db.cleanup().await;
}

#[tokio::test]
async fn mysql_foreign_keys_are_checked() {
    foreign_keys_are_checked(Dialect::MySql).await;
}

#[tokio::test]
async fn postgres_foreign_keys_are_checked() {
    foreign_keys_are_checked(Dialect::Postgres).await;
}
