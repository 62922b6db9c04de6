//! The ready-to-paste rules fragment: one `[tables.<t>.columns]` block per
//! table, one line per finding with its reason as a comment.

use std::collections::{BTreeMap, BTreeSet};

use masking::Dialect;

use crate::connect::engine_name;
use crate::report::Finding;
use crate::strategy::toml_string;

/// Where the fragment is meant to go.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Engine of the scanned database.
    pub dialect: Dialect,
    /// Scanned schema or MySQL database.
    pub schema: &'a str,
    /// Tables (as named in the fragment's keys) that already have a block in
    /// the rules file given with `--rules`.
    pub existing: &'a BTreeSet<String>,
}

/// The rules-file key of a table: bare on MySQL (the rules' bare names mean
/// the connection's database) and for PostgreSQL's `public`, else
/// `schema.table`; quoted when TOML needs it.
pub fn table_key(d: Dialect, schema: &str, table: &str) -> String {
    let name = match d {
        Dialect::Postgres if schema != "public" => format!("{schema}.{table}"),
        _ => table.to_string(),
    };
    toml_key(&name)
}

/// A bare TOML key when possible, else a quoted one.
fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        name.to_string()
    } else {
        toml_string(name)
    }
}

/// One line of comment: no line break can escape it.
fn comment(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Render the fragment; empty when there is no finding.
pub fn render(target: Target<'_>, findings: &[Finding]) -> String {
    if findings.is_empty() {
        return String::new();
    }
    let mut by_table: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        by_table.entry(f.table.as_str()).or_default().push(f);
    }
    let mut out = header(target, findings.len());
    for (table, rows) in by_table {
        out.push('\n');
        out.push_str(&block(target, table, &rows));
    }
    out
}

fn header(target: Target<'_>, n: usize) -> String {
    let plural = if n == 1 { "" } else { "s" };
    format!(
        "# Suggested by `dms-refresh suggest` for {} ({}): {n} column{plural}.\n\
         # Suggestions only: review every line before adding it to the rules file.\n",
        comment(target.schema),
        engine_name(target.dialect),
    )
}

fn block(target: Target<'_>, table: &str, rows: &[&Finding]) -> String {
    let key = table_key(target.dialect, target.schema, table);
    let mut out = format!("[tables.{key}.columns]\n");
    if target.existing.contains(table) {
        out.push_str(&format!(
            "# `{}` is already in the rules file: merge these lines into its columns\n",
            comment(table)
        ));
    }
    for f in rows {
        out.push_str(&format!(
            "{} = {} # {}, confidence {:.2}: {}\n",
            toml_key(&f.column),
            f.suggested.to_toml(),
            f.kind.id(),
            f.confidence,
            comment(&f.reason)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Column;
    use crate::detect::{Detection, Kind, type_class};

    fn finding(
        table: &str,
        column: &str,
        data_type: &str,
        max: Option<u64>,
        kind: Kind,
    ) -> Finding {
        let col = Column {
            table: table.into(),
            name: column.into(),
            data_type: data_type.into(),
            class: type_class(data_type),
            max_len: max,
            nullable: true,
        };
        let d = Detection {
            kind,
            confidence: 0.9,
            reason: "name suggests it;\nsecond line".into(),
        };
        Finding::new(&col, d)
    }

    fn every_kind() -> Vec<Finding> {
        vec![
            finding("customers", "email", "varchar", Some(255), Kind::Email),
            finding("customers", "short_mail", "varchar", Some(40), Kind::Email),
            finding("customers", "phone", "varchar", Some(30), Kind::Phone),
            finding("customers", "card", "varchar", Some(19), Kind::PaymentCard),
            finding("customers", "iban", "varchar", Some(34), Kind::Iban),
            finding("customers", "ssn", "char", Some(11), Kind::NationalId),
            finding("customers", "ip", "varchar", Some(45), Kind::IpAddress),
            finding(
                "customers",
                "first_name",
                "varchar",
                Some(50),
                Kind::FirstName,
            ),
            finding("customers", "last_name", "text", None, Kind::LastName),
            finding(
                "customers",
                "full_name",
                "varchar",
                Some(100),
                Kind::FullName,
            ),
            finding("customers", "birth_date", "date", None, Kind::BirthDate),
            finding(
                "customers",
                "street",
                "varchar",
                Some(200),
                Kind::StreetAddress,
            ),
            finding("customers", "zip", "varchar", Some(10), Kind::Postcode),
            finding("customers", "city", "varchar", Some(60), Kind::City),
            finding("orders", "ship$phone", "bigint", None, Kind::Phone),
        ]
    }

    fn parse(fragment: &str) -> masking::Rules {
        let src = format!("version = 1\n{fragment}");
        match masking::Rules::parse(&src, "fragment.toml") {
            Ok(r) => r,
            Err(e) => panic!("fragment rejected: {e}\n{fragment}"),
        }
    }

    #[test]
    fn fragment_with_every_kind_parses() {
        let existing = BTreeSet::new();
        let target = Target {
            dialect: Dialect::MySql,
            schema: "app",
            existing: &existing,
        };
        let fragment = render(target, &every_kind());
        let rules = parse(&fragment);
        let names: Vec<&str> = rules.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["customers", "orders"]);
        assert_eq!(rules.tables[0].columns.len(), 14);
        let ship = &rules.tables[1].columns[0];
        assert_eq!(
            (ship.column.as_str(), ship.strategy.name()),
            ("ship$phone", "null")
        );
        assert!(
            fragment.contains("[tables.customers.columns]\n"),
            "{fragment}"
        );
        assert!(
            fragment.contains("card = { strategy = \"partial\", keep_last = 4, mask_char = \"*\" } # payment_card, confidence 0.90: name suggests it; second line\n"),
            "{fragment}"
        );
    }

    #[test]
    fn postgres_schemas_other_than_public_are_qualified() {
        let existing = BTreeSet::from(["customers".to_string()]);
        let target = Target {
            dialect: Dialect::Postgres,
            schema: "sales",
            existing: &existing,
        };
        let fragment = render(target, &every_kind()[..1]);
        assert!(
            fragment.contains("[tables.\"sales.customers\".columns]"),
            "{fragment}"
        );
        assert!(fragment.contains("already in the rules file"), "{fragment}");
        assert_eq!(parse(&fragment).tables[0].name, "sales.customers");
        assert_eq!(table_key(Dialect::Postgres, "public", "t"), "t");
        assert_eq!(table_key(Dialect::MySql, "app", "t"), "t");
    }

    #[test]
    fn nothing_found_renders_nothing() {
        let existing = BTreeSet::new();
        let target = Target {
            dialect: Dialect::MySql,
            schema: "app",
            existing: &existing,
        };
        assert_eq!(render(target, &[]), "");
    }
}
