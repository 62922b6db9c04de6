use std::collections::HashSet;

use masking::dict::{CITIES, FIRST_NAMES, LAST_NAMES};
use masking::{Dialect, RunOutcome};

use crate::common::*;

pub const PEOPLE_DDL: &str = "CREATE TABLE people (\
    id INT PRIMARY KEY, email VARCHAR(100) UNIQUE, fname VARCHAR(40), lname VARCHAR(40), \
    full_name VARCHAR(60), city VARCHAR(40), phone VARCHAR(20), card VARCHAR(30), note VARCHAR(50), \
    secret VARCHAR(50), birth DATE, amount DECIMAL(12,2), token VARCHAR(64), raw VARCHAR(60))";

pub const PEOPLE_ROWS: &str = "INSERT INTO people VALUES \
    (1, 'alice@corp.com', 'Alice', 'Smith', 'Alice Smith', 'Paris', '+33 1 23 45 67 89', '4111111111111111', 'vip', 's1', '1980-05-17', 1000.00, 'tok1', 'r1'), \
    (2, 'bob@corp.com', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), \
    (3, 'o''neil+zoë@corp.com', 'Zoë', 'O''Neil', 'Zoë O''Neil', 'Zürich', '555 1234', '12', 'x', 's3', '2000-02-29', 0.01, 'tok3', 'ünï'), \
    (4, NULL, 'Chen', 'Li', 'Chen Li', 'Beijing', '010-1234', '378282246310005', 'y', 's4', '1999-12-31', 123456.78, 'tok4', 'abc'), \
    (5, 'eve@corp.com', 'Eve', 'Smith', 'Eve Smith', 'Paris', '0612345678', '5500000000000004', 'z', 's5', '1970-01-01', -50.00, 'tok5', 'def')";

pub const PEOPLE_RULES: &str = r#"
[tables.people.columns]
email = { strategy = "email" }
fname = { strategy = "fake", dictionary = "first_name" }
lname = { strategy = "fake", dictionary = "last_name" }
full_name = { strategy = "fake", dictionary = "full_name" }
city = { strategy = "fake", dictionary = "city" }
phone = { strategy = "fake", dictionary = "phone" }
card = { strategy = "partial", keep_last = 4 }
note = { strategy = "fixed", value = "it's \\redacted" }
secret = { strategy = "null" }
birth = { strategy = "date_shift", max_days = 30 }
amount = { strategy = "noise", percent = 10 }
token = { strategy = "hash", length = 16 }
raw = { strategy = "sql", expression = "UPPER({column})", check = "{column} = UPPER({column})" }
"#;

fn n32(hex: &str, off: usize) -> u64 {
    u64::from_str_radix(&hex[off..off + 8], 16).unwrap()
}

/// Expected outputs computed in Rust from the documented formulas.
pub fn expect_email(v: &str) -> String {
    format!("{}@example.invalid", &oracle_hex("email", v)[..32])
}
pub fn expect_pick(list: &[&str], v: &str, off: usize) -> String {
    list[(n32(&oracle_hex("fake", v), off) % list.len() as u64) as usize].to_string()
}
pub fn expect_phone(v: &str) -> String {
    let d = format!("{:06}", n32(&oracle_hex("fake", v), 0) % 1_000_000);
    format!("555-01{}-{}", &d[..2], &d[2..])
}

async fn all_strategies(d: Dialect) {
    let db = TestDb::new(d).await;
    db.exec(PEOPLE_DDL).await;
    db.exec(PEOPLE_ROWS).await;
    db.exec("CREATE TABLE people_orig AS SELECT * FROM people")
        .await;
    let cols = "id, email, fname, lname, full_name, city, phone, card, note, secret, token, raw";
    let q = |t: &str| {
        format!(
            "SELECT {} FROM {t} ORDER BY id",
            cols.split(", ")
                .map(|c| db.txt(c))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let before = db.rows(&q("people")).await;

    let report = db
        .mask("run-strategies", &rules(PEOPLE_RULES))
        .await
        .unwrap();
    assert_eq!(report.outcome, RunOutcome::Complete);
    assert_eq!(report.tables[0].rows_masked, 5);
    let v = report.verification.as_ref().unwrap();
    assert!(v.passed, "{v:?}");
    assert!(v.checks.len() >= 11, "{v:?}");
    assert_eq!(v.unverifiable.len(), 2, "{v:?}");
    // The report must not contain the salt or row data.
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(SALT) && !json.contains("alice"), "{json}");

    let after = db.rows(&q("people")).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a[0], b[0]);
        let id = b[0].clone().unwrap();
        let m = |i: usize, f: &dyn Fn(&str) -> String| b[i].as_deref().map(f);
        assert_eq!(a[1], m(1, &expect_email), "email of {id}");
        assert_eq!(
            a[2],
            m(2, &|v| expect_pick(FIRST_NAMES, v, 0)),
            "fname of {id}"
        );
        assert_eq!(
            a[3],
            m(3, &|v| expect_pick(LAST_NAMES, v, 0)),
            "lname of {id}"
        );
        assert_eq!(
            a[4],
            m(4, &|v| format!(
                "{} {}",
                expect_pick(FIRST_NAMES, v, 0),
                expect_pick(LAST_NAMES, v, 8)
            )),
            "full_name of {id}"
        );
        assert_eq!(a[5], m(5, &|v| expect_pick(CITIES, v, 0)), "city of {id}");
        assert_eq!(a[6], m(6, &expect_phone), "phone of {id}");
        assert_eq!(
            a[7],
            m(7, &|v| {
                let n = v.chars().count();
                if n <= 4 {
                    "*".repeat(n)
                } else {
                    format!("{}{}", "*".repeat(n - 4), &v[v.len() - 4..])
                }
            }),
            "card of {id}"
        );
        assert_eq!(
            a[8],
            m(8, &|_| "it's \\redacted".to_string()),
            "note of {id}"
        );
        assert_eq!(a[9], None, "secret of {id}");
        assert_eq!(
            a[10],
            m(10, &|v| oracle_hex("hash", v)[..16].to_string()),
            "token of {id}"
        );
        assert_eq!(a[11], m(11, &|v| v.to_uppercase()), "raw of {id}");
    }
    // date_shift within ±30 days and never 0; noise within ±10 %; NULL kept.
    let (diff, ratio) = match d {
        Dialect::MySql => (
            "DATEDIFF(p.birth, o.birth)",
            "CAST(p.amount / o.amount AS CHAR)",
        ),
        Dialect::Postgres => ("(p.birth - o.birth)", "(p.amount / o.amount)::text"),
    };
    let rows = db
        .rows(&format!(
            "SELECT {}, {}, {ratio}, {} FROM people p JOIN people_orig o ON o.id = p.id ORDER BY p.id",
            db.txt("p.id"),
            db.txt(diff),
            db.txt("p.birth")
        ))
        .await;
    for r in rows {
        match r[1].as_deref() {
            None => assert_eq!(r[3], None),
            Some(days) => {
                let days: i64 = days.parse().unwrap();
                assert!((1..=30).contains(&days.abs()), "shift {days}");
            }
        }
        if let Some(ratio) = r[2].as_deref() {
            let ratio: f64 = ratio.parse().unwrap();
            assert!((0.899..=1.101).contains(&ratio), "noise ratio {ratio}");
        }
    }
    // unique emails stay unique
    let emails: Vec<_> = after.iter().filter_map(|r| r[1].clone()).collect();
    assert_eq!(emails.iter().collect::<HashSet<_>>().len(), emails.len());
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_strategies_mysql() {
    all_strategies(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_strategies_postgres() {
    all_strategies(Dialect::Postgres).await;
}

/// Same input + same salt => same output on both engines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_engine_outputs_identical() {
    let mut outputs = Vec::new();
    for d in ENGINES {
        let db = TestDb::new(d).await;
        db.exec(PEOPLE_DDL).await;
        db.exec(PEOPLE_ROWS).await;
        db.mask("run-cross", &rules(PEOPLE_RULES)).await.unwrap();
        let cols = [
            "id",
            "email",
            "fname",
            "lname",
            "full_name",
            "city",
            "phone",
            "card",
            "token",
        ];
        let sql = format!(
            "SELECT {} FROM people ORDER BY id",
            cols.iter()
                .map(|c| db.txt(c))
                .collect::<Vec<_>>()
                .join(", ")
        );
        outputs.push(db.rows(&sql).await);
        db.cleanup().await;
    }
    assert_eq!(outputs[0].len(), 5);
    assert_eq!(outputs[0], outputs[1], "MySQL and PostgreSQL disagree");
}

/// customers.email and orders.customer_email both masked with `email`, with a
/// declared FK between them: the join still matches and the FK still resolves.
async fn fk_between_masked_columns(d: Dialect) {
    let db = TestDb::new(d).await;
    db.exec("CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(120) NOT NULL UNIQUE, name VARCHAR(40))").await;
    db.exec(
        "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT REFERENCES customers(id), \
         customer_email VARCHAR(120) REFERENCES customers(email), amount DECIMAL(10,2))",
    )
    .await;
    if d == Dialect::MySql {
        // MariaDB ignores inline REFERENCES: declare the FKs explicitly.
        db.exec("ALTER TABLE orders ADD CONSTRAINT fk_cust FOREIGN KEY (customer_id) REFERENCES customers(id)").await;
        db.exec("ALTER TABLE orders ADD CONSTRAINT fk_email FOREIGN KEY (customer_email) REFERENCES customers(email)").await;
    }
    let mut vals = Vec::new();
    for i in 1..=200 {
        vals.push(format!("({i}, 'user{i}@corp.com', 'n{i}')"));
    }
    db.exec(&format!("INSERT INTO customers VALUES {}", vals.join(", ")))
        .await;
    let mut vals = Vec::new();
    for i in 1..=600 {
        let c = (i % 200) + 1;
        let email = if i % 50 == 0 {
            "NULL".to_string()
        } else {
            format!("'user{c}@corp.com'")
        };
        vals.push(format!("({i}, {c}, {email}, {i}.5)"));
    }
    db.exec(&format!("INSERT INTO orders VALUES {}", vals.join(", ")))
        .await;
    let join = "SELECT COUNT(*) FROM orders o JOIN customers c ON c.email = o.customer_email";
    let joined_before = db.count(join).await;
    let r = rules(
        r#"
[settings]
chunk_threshold = 50
chunk_size = 64
[tables.customers.columns]
email = { strategy = "email" }
[tables.orders.columns]
customer_email = { strategy = "email" }
"#,
    );
    let report = db.mask("run-fk", &r).await.unwrap();
    assert_eq!(report.outcome, RunOutcome::Complete);
    let orders = report
        .tables
        .iter()
        .find(|t| t.table.ends_with(".orders"))
        .unwrap();
    assert_eq!(orders.rows_masked, 600);
    assert!(orders.chunks >= 10, "{orders:?}");
    let v = report.verification.unwrap();
    assert!(v.checks.iter().any(|c| c.check.starts_with("fk:")), "{v:?}");
    assert_eq!(db.count(join).await, joined_before);
    assert_eq!(joined_before, 588);
    assert_eq!(
        db.count("SELECT COUNT(DISTINCT email) FROM customers")
            .await,
        200
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM orders WHERE customer_email IS NULL")
            .await,
        12
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM customers WHERE email LIKE '%@corp.com'")
            .await,
        0
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fk_between_masked_columns_mysql() {
    fk_between_masked_columns(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fk_between_masked_columns_postgres() {
    fk_between_masked_columns(Dialect::Postgres).await;
}

/// Table actions: delete_where and truncate.
async fn table_actions(d: Dialect) {
    let db = TestDb::new(d).await;
    db.exec("CREATE TABLE events (id INT PRIMARY KEY, kind VARCHAR(10), payload VARCHAR(40))")
        .await;
    db.exec("CREATE TABLE audit (id INT PRIMARY KEY, msg VARCHAR(40))")
        .await;
    db.exec(
        "INSERT INTO events VALUES (1,'keep','a'),(2,'drop','b'),(3,'keep','c'),(4,'drop','d')",
    )
    .await;
    db.exec("INSERT INTO audit VALUES (1,'x'),(2,'y')").await;
    let r = rules(
        r#"
[tables.events]
delete_where = "kind = 'drop'"
columns.payload = { strategy = "hash", length = 8 }
[tables.audit]
truncate = true
"#,
    );
    let report = db.mask("run-actions", &r).await.unwrap();
    let ev = report
        .tables
        .iter()
        .find(|t| t.table.ends_with(".events"))
        .unwrap();
    assert_eq!(ev.rows_deleted, Some(2));
    assert_eq!(ev.rows_masked, 2);
    assert_eq!(db.count("SELECT COUNT(*) FROM events").await, 2);
    assert_eq!(db.count("SELECT COUNT(*) FROM audit").await, 0);
    assert_eq!(
        db.col("SELECT payload FROM events ORDER BY id").await,
        vec![
            Some(oracle_hex("hash", "a")[..8].to_string()),
            Some(oracle_hex("hash", "c")[..8].to_string())
        ]
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_actions_mysql() {
    table_actions(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_actions_postgres() {
    table_actions(Dialect::Postgres).await;
}

/// Non-UTF-8 MySQL columns (latin1, common in old schemas) hash the UTF-8
/// form of the value, so the output still matches PostgreSQL and the oracle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_latin1_columns_hash_like_utf8() {
    let db = TestDb::new(Dialect::MySql).await;
    db.exec("CREATE TABLE l1 (id INT PRIMARY KEY, name VARCHAR(80) CHARACTER SET latin1, email VARCHAR(80) CHARACTER SET latin1) DEFAULT CHARSET=latin1")
        .await;
    db.exec("INSERT INTO l1 VALUES (1, 'Zoë Müller', 'zoë@corp.com')")
        .await;
    let r = rules(
        "[tables.l1.columns]\nname = { strategy = \"hash\" }\nemail = { strategy = \"email\" }\n",
    );
    db.mask("latin1", &r).await.unwrap();
    let row = &db.rows("SELECT name, email FROM l1").await[0];
    assert_eq!(
        row[0].as_deref(),
        Some(oracle_hex("hash", "Zoë Müller").as_str())
    );
    assert_eq!(
        row[1].as_deref(),
        Some(expect_email("zoë@corp.com").as_str())
    );
    db.cleanup().await;
}
