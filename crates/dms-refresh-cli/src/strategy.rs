//! Which masking strategy to suggest for a finding: one that the rules file
//! accepts today and that fits the column's type and length (the runner
//! refuses output longer than the column).

use masking::Dictionary;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::catalog::Column;
use crate::detect::{Kind, TypeClass};

/// The default domain of the `email` strategy.
const EMAIL_DOMAIN_LEN: u64 = "example.invalid".len() as u64;
/// Default and minimum `hex_length` of the `email` strategy.
const EMAIL_HEX: u64 = 32;
const EMAIL_MIN_HEX: u64 = 16;
/// Shortest column a `hash` is suggested for (shorter: `partial`).
const MIN_HASH_LEN: u64 = 16;
/// Longest `hash` output.
const MAX_HASH_LEN: u64 = 64;
/// A documentation address (RFC 5737) for NOT NULL `inet` columns.
const PLACEHOLDER_IP: &str = "192.0.2.1";

/// One option value of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// TOML integer.
    Int(u64),
    /// TOML string.
    Str(String),
}

/// A suggested column rule: `{ strategy = "...", <options> }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggested {
    /// Strategy name.
    pub strategy: &'static str,
    /// Options in the order they are printed.
    pub options: Vec<(&'static str, Value)>,
}

impl Suggested {
    fn bare(strategy: &'static str) -> Suggested {
        Suggested {
            strategy,
            options: Vec::new(),
        }
    }

    fn with(mut self, key: &'static str, value: Value) -> Suggested {
        self.options.push((key, value));
        self
    }

    /// The inline TOML table.
    pub fn to_toml(&self) -> String {
        let mut out = format!("{{ strategy = \"{}\"", self.strategy);
        for (key, value) in &self.options {
            let v = match value {
                Value::Int(n) => n.to_string(),
                Value::Str(s) => toml_string(s),
            };
            out.push_str(&format!(", {key} = {v}"));
        }
        out.push_str(" }");
        out
    }
}

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Serialize for Suggested {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1 + self.options.len()))?;
        map.serialize_entry("strategy", self.strategy)?;
        for (key, value) in &self.options {
            match value {
                Value::Int(n) => map.serialize_entry(key, n)?,
                Value::Str(s) => map.serialize_entry(key, s)?,
            }
        }
        map.end()
    }
}

/// The rule to suggest for a column found to hold `kind`.
pub fn suggest(kind: Kind, col: &Column) -> Suggested {
    match col.class {
        TypeClass::Text => for_text(kind, col),
        TypeClass::Date if kind == Kind::BirthDate => date_shift(),
        _ => for_other(kind, col),
    }
}

fn for_text(kind: Kind, col: &Column) -> Suggested {
    match kind {
        Kind::Email => email(col),
        Kind::Phone => fake(Dictionary::Phone, col),
        Kind::FirstName => fake(Dictionary::FirstName, col),
        Kind::LastName => fake(Dictionary::LastName, col),
        Kind::FullName => fake(Dictionary::FullName, col),
        Kind::City => fake(Dictionary::City, col),
        Kind::PaymentCard => partial("keep_last", 4),
        Kind::Postcode => partial("keep_first", 2),
        Kind::IpAddress if col.nullable => Suggested::bare("null"),
        Kind::Iban | Kind::NationalId | Kind::IpAddress | Kind::StreetAddress | Kind::BirthDate => {
            opaque(col)
        }
    }
}

/// Non-text columns: NULL when allowed, else a constant the type accepts.
fn for_other(kind: Kind, col: &Column) -> Suggested {
    if col.nullable {
        return Suggested::bare("null");
    }
    let value = match (col.class, kind) {
        (TypeClass::Inet, _) | (_, Kind::IpAddress) => PLACEHOLDER_IP,
        (TypeClass::Date, _) => return date_shift(),
        _ => "0",
    };
    Suggested::bare("fixed").with("value", Value::Str(value.into()))
}

fn fits(col: &Column, len: u64) -> bool {
    col.max_len.is_none_or(|max| max >= len)
}

fn email(col: &Column) -> Suggested {
    let room = |hex: u64| hex + 1 + EMAIL_DOMAIN_LEN;
    if fits(col, room(EMAIL_HEX)) {
        return Suggested::bare("email");
    }
    match col.max_len {
        Some(max) if max >= room(EMAIL_MIN_HEX) => {
            let hex = max - 1 - EMAIL_DOMAIN_LEN;
            Suggested::bare("email").with("hex_length", Value::Int(hex))
        }
        _ => opaque(col),
    }
}

fn fake(dictionary: Dictionary, col: &Column) -> Suggested {
    let longest = u64::try_from(dictionary.max_output_len()).unwrap_or(u64::MAX);
    if fits(col, longest) {
        Suggested::bare("fake").with("dictionary", Value::Str(dictionary.name().into()))
    } else {
        opaque(col)
    }
}

/// A keyed hash when the column has room for 16 characters, else every
/// character masked.
fn opaque(col: &Column) -> Suggested {
    if fits(col, MIN_HASH_LEN) {
        let length = col.max_len.map_or(MAX_HASH_LEN, |m| m.min(MAX_HASH_LEN));
        Suggested::bare("hash").with("length", Value::Int(length))
    } else {
        partial("keep_last", 0)
    }
}

fn partial(keep: &'static str, n: u64) -> Suggested {
    Suggested::bare("partial")
        .with(keep, Value::Int(n))
        .with("mask_char", Value::Str("*".into()))
}

fn date_shift() -> Suggested {
    Suggested::bare("date_shift").with("max_days", Value::Int(90))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::type_class;

    fn col(data_type: &str, max_len: Option<u64>, nullable: bool) -> Column {
        Column {
            table: "t".into(),
            name: "c".into(),
            data_type: data_type.into(),
            class: type_class(data_type),
            max_len,
            nullable,
        }
    }

    fn toml(kind: Kind, c: &Column) -> String {
        suggest(kind, c).to_toml()
    }

    #[test]
    fn email_shrinks_its_hash_to_fit() {
        let wide = col("varchar", Some(255), false);
        assert_eq!(toml(Kind::Email, &wide), r#"{ strategy = "email" }"#);
        let text = col("text", None, false);
        assert_eq!(toml(Kind::Email, &text), r#"{ strategy = "email" }"#);
        let narrow = col("varchar", Some(40), false);
        assert_eq!(
            toml(Kind::Email, &narrow),
            r#"{ strategy = "email", hex_length = 24 }"#
        );
        let tiny = col("varchar", Some(20), false);
        assert_eq!(
            toml(Kind::Email, &tiny),
            r#"{ strategy = "hash", length = 20 }"#
        );
    }

    #[test]
    fn identifiers_hash_or_mask() {
        let c = col("varchar", Some(34), false);
        assert_eq!(
            toml(Kind::Iban, &c),
            r#"{ strategy = "hash", length = 34 }"#
        );
        let c = col("text", None, false);
        assert_eq!(
            toml(Kind::NationalId, &c),
            r#"{ strategy = "hash", length = 64 }"#
        );
        let c = col("char", Some(11), false);
        assert_eq!(
            toml(Kind::NationalId, &c),
            r#"{ strategy = "partial", keep_last = 0, mask_char = "*" }"#
        );
    }

    #[test]
    fn cards_keep_the_last_four() {
        let c = col("varchar", Some(19), false);
        assert_eq!(
            toml(Kind::PaymentCard, &c),
            r#"{ strategy = "partial", keep_last = 4, mask_char = "*" }"#
        );
    }

    #[test]
    fn fakes_need_room_for_the_longest_entry() {
        let c = col("varchar", Some(50), false);
        assert_eq!(
            toml(Kind::Phone, &c),
            r#"{ strategy = "fake", dictionary = "phone" }"#
        );
        assert_eq!(
            toml(Kind::FullName, &c),
            r#"{ strategy = "fake", dictionary = "full_name" }"#
        );
        assert_eq!(
            toml(Kind::City, &c),
            r#"{ strategy = "fake", dictionary = "city" }"#
        );
        let short = col("varchar", Some(8), false);
        assert_eq!(
            toml(Kind::Phone, &short),
            r#"{ strategy = "partial", keep_last = 0, mask_char = "*" }"#
        );
    }

    #[test]
    fn ip_addresses() {
        assert_eq!(
            toml(Kind::IpAddress, &col("varchar", Some(45), true)),
            r#"{ strategy = "null" }"#
        );
        assert_eq!(
            toml(Kind::IpAddress, &col("varchar", Some(45), false)),
            r#"{ strategy = "hash", length = 45 }"#
        );
        assert_eq!(
            toml(Kind::IpAddress, &col("inet", None, false)),
            r#"{ strategy = "fixed", value = "192.0.2.1" }"#
        );
    }

    #[test]
    fn dates_shift_and_other_types_get_null_or_a_constant() {
        let d = col("date", None, false);
        assert_eq!(
            toml(Kind::BirthDate, &d),
            r#"{ strategy = "date_shift", max_days = 90 }"#
        );
        let n = col("bigint", None, true);
        assert_eq!(toml(Kind::Phone, &n), r#"{ strategy = "null" }"#);
        let n = col("bigint", None, false);
        assert_eq!(
            toml(Kind::Phone, &n),
            r#"{ strategy = "fixed", value = "0" }"#
        );
    }

    #[test]
    fn json_form() {
        let s = suggest(Kind::PaymentCard, &col("varchar", Some(19), false));
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"strategy": "partial", "keep_last": 4, "mask_char": "*"})
        );
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string("a\"b\\c\n"), r#""a\"b\\c\u000A""#);
    }
}
