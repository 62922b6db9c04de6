//! Edges of the value domain on the real engines: dates next to the type's
//! limits never fail the run nor become NULL, sentinels and infinities stay,
//! and noise moves small integers.

use masking::{Dialect, RunOutcome};

use crate::common::*;

const RULES: &str = r#"
[tables.spans.columns]
ends = { strategy = "date_shift", max_days = 30 }
qty = { strategy = "noise", percent = 5 }
"#;

async fn dates_near_the_limits_and_small_integers(d: Dialect) {
    let db = TestDb::new(d).await;
    db.exec("CREATE TABLE spans (id INT PRIMARY KEY, ends DATE, qty INT)")
        .await;
    let mut rows: Vec<String> = (0..20)
        .map(|i| format!("({i}, '9999-12-{:02}', {})", 10 + i / 2, i % 4))
        .collect();
    rows.extend((20..40).map(|i| format!("({i}, '1000-01-{:02}', {})", 2 + (i - 20), i % 3)));
    rows.push("(40, '9999-12-31', 1)".into());
    rows.push("(41, '1900-01-01', 2)".into());
    rows.push("(42, NULL, NULL)".into());
    db.exec(&format!("INSERT INTO spans VALUES {}", rows.join(", ")))
        .await;
    if d == Dialect::Postgres {
        db.exec("INSERT INTO spans VALUES (43, 'infinity', 3), (44, '-infinity', 3)")
            .await;
    }
    let before = db
        .rows(&format!(
            "SELECT {}, {} FROM spans ORDER BY id",
            db.txt("ends"),
            db.txt("qty")
        ))
        .await;

    let r = db.mask("edges", &rules(RULES)).await.unwrap();
    assert_eq!(r.outcome, RunOutcome::Complete, "{r:?}");
    let after = db
        .rows(&format!(
            "SELECT {}, {} FROM spans ORDER BY id",
            db.txt("ends"),
            db.txt("qty")
        ))
        .await;
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        let kept = matches!(
            b[0].as_deref(),
            Some("9999-12-31" | "1900-01-01" | "infinity" | "-infinity") | None
        );
        if kept {
            assert_eq!(a[0], b[0], "row {i}: sentinel, infinity or NULL kept");
        } else {
            assert_ne!(a[0], b[0], "row {i}: date shifted");
            assert!(a[0].is_some(), "row {i}: never NULL");
            // MySQL stops at its DATE range; PostgreSQL's is far wider.
            let v = a[0].as_deref().unwrap_or_default();
            if d == Dialect::MySql {
                assert!(
                    ("1000-01-01".."9999-12-32").contains(&v),
                    "row {i}: {v} in range"
                );
            }
        }
        match (&b[1], &a[1]) {
            (None, None) => {}
            (Some(x), Some(y)) => {
                assert_ne!(x, y, "row {i}: integer noise moved {x}");
                let (x, y): (i64, i64) = (x.parse().unwrap(), y.parse().unwrap());
                assert!((x - y).abs() <= 1, "row {i}: small values move by one unit");
            }
            other => panic!("row {i}: {other:?}"),
        }
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_near_the_limits_and_small_integers_mysql() {
    dates_near_the_limits_and_small_integers(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_near_the_limits_and_small_integers_postgres() {
    dates_near_the_limits_and_small_integers(Dialect::Postgres).await;
}
