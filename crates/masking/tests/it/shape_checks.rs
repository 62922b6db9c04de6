//! The verification predicates (`sql::violation_predicate`) on the real
//! engines: each flags exactly the values that do not have its strategy's
//! shape. Masked outputs computed by the Rust oracle pass; near misses
//! (a character more or less, a wrong case, a letter for a digit, a name
//! outside the dictionary, a third word, a final newline, which MySQL's
//! regex `$` lets through) are flagged on both engines alike, in a
//! `VARCHAR` column and in a wider `CHAR` one, whose padding is not part of
//! the value (there a masked value followed by spaces is the masked value).

use masking::Dialect;
use masking::rules::{Dictionary, Strategy};
use masking::sql::violation_predicate;

use crate::common::*;
use crate::strategies::{expect_email, expect_phone, expect_pick};

use masking::dict::{FIRST_NAMES, LAST_NAMES};

/// One strategy, values of its shape, and near misses.
struct Case {
    name: &'static str,
    strategy: Strategy,
    good: Vec<String>,
    bad: Vec<&'static str>,
}

fn cases() -> Vec<Case> {
    let full_name = |v: &str| {
        format!(
            "{} {}",
            expect_pick(FIRST_NAMES, v, 0),
            expect_pick(LAST_NAMES, v, 8)
        )
    };
    vec![
        Case {
            name: "phone",
            strategy: Strategy::Fake {
                dictionary: Dictionary::Phone,
            },
            good: vec![
                expect_phone("alice"),
                expect_phone("bob"),
                "555-0100-0000".into(),
                "555-0199-9999".into(),
            ],
            bad: vec![
                "555-0142-123",
                "555-0142-12345",
                "555-01a2-1234",
                "555-0142-12x4",
                "555-0142+1234",
                "555-1142-1234",
                "555-0100-0000 ",
                " 555-0142-123",
                "555-01４2-1234",
                "+33 1 23 45 67 89",
                "555-0142-1234\n",
            ],
        },
        Case {
            name: "full_name",
            strategy: Strategy::Fake {
                dictionary: Dictionary::FullName,
            },
            good: vec![full_name("alice"), full_name("bob"), "Aaron Abbott".into()],
            bad: vec![
                "Aaron  Abbott",
                "Aaron Abbott Baker",
                "aaron Abbott",
                "Aaron abbott",
                "Aaron",
                "Aaron ",
                "Aaron Abbott ",
                " Aaron Abbott",
                "Abbott Aaron",
                "Aaron-Abbott",
                "Zoë Smith",
                "Aaron Abbott\n",
            ],
        },
        Case {
            name: "hash",
            strategy: Strategy::Hash { length: 16 },
            good: vec![
                oracle_hex("hash", "alice")[..16].to_string(),
                "0123456789abcdef".into(),
            ],
            bad: vec![
                "0123456789ABCDEF",
                "0123456789abcde",
                "0123456789abcdef0",
                "0123456789abcdeg",
                "0123456789 abcde",
                "tok1",
                "0123456789abcdef\n",
            ],
        },
        Case {
            name: "email",
            strategy: Strategy::Email {
                domain: "example.invalid".into(),
                hex_length: 32,
            },
            good: vec![expect_email("alice@corp.com"), expect_email("bob")],
            bad: vec![
                "0123456789ABCDEF0123456789abcdef@example.invalid",
                "0123456789abcdef0123456789abcde@example.invalid",
                "0123456789abcdef0123456789abcdef0@example.invalid",
                "0123456789abcdef0123456789abcdef@exampleXinvalid",
                "0123456789abcdef0123456789abcdef@example.invalidx",
                "0123456789abcdef012345678-abcdef@example.invalid",
                "alice@corp.com",
                "0123456789abcdef0123456789abcdef@example.invalid\n",
            ],
        },
    ]
}

async fn each_predicate_flags_exactly_the_near_misses(d: Dialect) {
    let db = TestDb::new(d).await;
    db.exec("CREATE TABLE vals (id INT PRIMARY KEY, kind VARCHAR(20), v VARCHAR(100), c CHAR(60))")
        .await;
    for case in cases() {
        let values: Vec<(String, bool)> = case
            .good
            .iter()
            .map(|g| (g.clone(), false))
            .chain(case.bad.iter().map(|b| (b.to_string(), true)))
            .collect();
        db.exec("DELETE FROM vals").await;
        for (i, (v, _)) in values.iter().enumerate() {
            let v = v.replace('\'', "''");
            db.exec(&format!(
                "INSERT INTO vals VALUES ({i}, '{}', '{v}', '{v}')",
                case.name
            ))
            .await;
        }
        for (col, padded) in [("v", false), ("c", true)] {
            let pred = violation_predicate(d, &case.strategy, col).unwrap();
            let flagged: Vec<String> = db
                .col(&format!("SELECT v FROM vals WHERE {pred} ORDER BY id"))
                .await
                .into_iter()
                .flatten()
                .collect();
            let expected: Vec<String> = values
                .iter()
                .filter(|(v, bad)| {
                    *bad && !(padded && case.good.contains(&v.trim_end_matches(' ').to_string()))
                })
                .map(|(v, _)| v.clone())
                .collect();
            assert_eq!(
                flagged, expected,
                "{d:?} {} in {col}: the predicate {pred} flags the wrong values",
                case.name
            );
        }
        let pred = violation_predicate(d, &case.strategy, "v").unwrap();
        let nulls = db
            .count(&format!(
                "SELECT COUNT(*) FROM (SELECT NULL AS v) n WHERE {pred}"
            ))
            .await;
        assert_eq!(nulls, 0, "{d:?} {}: NULL is left to keep_null", case.name);
    }
    db.cleanup().await;
}

#[tokio::test]
async fn each_predicate_flags_exactly_the_near_misses_mysql() {
    each_predicate_flags_exactly_the_near_misses(Dialect::MySql).await;
}

#[tokio::test]
async fn each_predicate_flags_exactly_the_near_misses_postgres() {
    each_predicate_flags_exactly_the_near_misses(Dialect::Postgres).await;
}
