//! Detectors: pure functions deciding whether a column looks personal, from
//! its name, its type and a sample of its values. Nothing here talks to a
//! database, and no value ever leaves this module: only counts.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::value_shapes::{
    is_card_number, is_email, is_iban, is_ip, is_phone, is_uk_nino, is_us_ssn,
};

/// Share of sampled non-empty values that must match for a value detector
/// to fire.
pub const VALUE_THRESHOLD: f64 = 0.6;
/// Findings below this confidence are not reported.
pub const REPORT_THRESHOLD: f64 = 0.5;
/// Below this many non-empty values, value evidence counts a little less.
const SMALL_SAMPLE: usize = 5;

/// What a column seems to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// E-mail address.
    Email,
    /// IBAN.
    Iban,
    /// Payment card number (Luhn valid).
    PaymentCard,
    /// US SSN, UK NINO or another national identifier.
    NationalId,
    /// IPv4 or IPv6 address.
    IpAddress,
    /// Telephone number.
    Phone,
    /// Date of birth.
    BirthDate,
    /// Given name.
    FirstName,
    /// Family name.
    LastName,
    /// Full or display name of a person.
    FullName,
    /// Street address.
    StreetAddress,
    /// Postal code.
    Postcode,
    /// City or town.
    City,
}

/// Kinds with a value detector, most specific first (a value may match
/// several: an SSN also has the shape of a phone number).
pub const VALUE_KINDS: [Kind; 6] = [
    Kind::Email,
    Kind::Iban,
    Kind::PaymentCard,
    Kind::NationalId,
    Kind::IpAddress,
    Kind::Phone,
];

impl Kind {
    /// Stable identifier (JSON `kind`).
    pub fn id(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Iban => "iban",
            Kind::PaymentCard => "payment_card",
            Kind::NationalId => "national_id",
            Kind::IpAddress => "ip_address",
            Kind::Phone => "phone",
            Kind::BirthDate => "birth_date",
            Kind::FirstName => "first_name",
            Kind::LastName => "last_name",
            Kind::FullName => "full_name",
            Kind::StreetAddress => "street_address",
            Kind::Postcode => "postcode",
            Kind::City => "city",
        }
    }

    /// Plural noun for reasons ("e-mail addresses").
    fn plural(self) -> &'static str {
        match self {
            Kind::Email => "e-mail addresses",
            Kind::Iban => "IBANs",
            Kind::PaymentCard => "card numbers (Luhn valid)",
            Kind::NationalId => "national ids (SSN/NINO)",
            Kind::IpAddress => "IP addresses",
            Kind::Phone => "phone numbers",
            Kind::BirthDate => "birth dates",
            Kind::FirstName => "first names",
            Kind::LastName => "last names",
            Kind::FullName => "person names",
            Kind::StreetAddress => "street addresses",
            Kind::Postcode => "postcodes",
            Kind::City => "cities",
        }
    }

    /// Whether values of this kind can be recognised by shape.
    fn has_value_detector(self) -> bool {
        VALUE_KINDS.contains(&self)
    }
}

/// Broad family of a column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeClass {
    /// char, varchar, text...
    Text,
    /// date, datetime, timestamp.
    Date,
    /// Integer, decimal, float.
    Numeric,
    /// PostgreSQL `inet`/`cidr`.
    Inet,
    /// Anything else (json, uuid, binary, ...).
    Other,
}

/// Classify an `information_schema.columns.data_type` (either engine).
pub fn type_class(data_type: &str) -> TypeClass {
    let t = data_type.trim().to_ascii_lowercase();
    match t.as_str() {
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "character"
        | "character varying" | "citext" => TypeClass::Text,
        "date" | "datetime" | "timestamp" => TypeClass::Date,
        "inet" | "cidr" => TypeClass::Inet,
        // tinyint/smallint are too small for any identifier (and are booleans).
        "mediumint" | "int" | "integer" | "bigint" | "decimal" | "numeric" | "float" | "double"
        | "real" | "double precision" => TypeClass::Numeric,
        _ if t.starts_with("timestamp") => TypeClass::Date,
        _ => TypeClass::Other,
    }
}

/// A column as the detectors see it.
#[derive(Debug, Clone, Copy)]
pub struct ColumnView<'a> {
    /// Table name.
    pub table: &'a str,
    /// Column name.
    pub column: &'a str,
    /// Type family.
    pub class: TypeClass,
}

/// One conclusion about a column.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// What it seems to hold.
    pub kind: Kind,
    /// 0..=1, two decimals.
    pub confidence: f64,
    /// Why, in words; never quotes a value.
    pub reason: String,
}

// ---------------------------------------------------------------------------
// names

/// Lower-case words of an identifier: separators, camelCase and digits split
/// it (`customerIPAddress2` -> `customer`, `ip`, `address`, `2`).
pub fn name_tokens(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut tokens = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            push_token(&mut tokens, &mut cur);
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|p| chars.get(p))
            && starts_word(prev, c, chars.get(i + 1).copied())
        {
            push_token(&mut tokens, &mut cur);
        }
        cur.extend(c.to_lowercase());
    }
    push_token(&mut tokens, &mut cur);
    tokens
}

fn push_token(tokens: &mut Vec<String>, cur: &mut String) {
    if !cur.is_empty() {
        tokens.push(std::mem::take(cur));
    }
}

/// Whether `c` (after `prev`, before `next`) begins a new word.
fn starts_word(prev: char, c: char, next: Option<char>) -> bool {
    let lower_to_upper = (prev.is_lowercase() || prev.is_ascii_digit()) && c.is_uppercase();
    let acronym_end =
        prev.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase);
    let digit_edge = prev.is_ascii_digit() != c.is_ascii_digit() && prev.is_alphanumeric();
    lower_to_upper || acronym_end || digit_edge
}

/// A column name, normalised two ways.
struct Name {
    tokens: Vec<String>,
    /// Tokens concatenated without separators (`dateofbirth`).
    compact: String,
}

impl Name {
    fn new(raw: &str) -> Name {
        let tokens = name_tokens(raw);
        let compact = tokens.concat();
        Name { tokens, compact }
    }

    fn has_token(&self, words: &[&str]) -> bool {
        self.tokens.iter().any(|t| words.contains(&t.as_str()))
    }

    fn contains(&self, parts: &[&str]) -> bool {
        parts.iter().any(|p| self.compact.contains(p))
    }

    fn is_one_of(&self, names: &[&str]) -> bool {
        names.contains(&self.compact.as_str())
    }
}

const STRONG: f64 = 0.7;
const MEDIUM: f64 = 0.6;
const WEAK: f64 = 0.5;

/// Words of table names that hold people.
const PERSON_TABLES: &[&str] = &[
    "customer",
    "user",
    "person",
    "people",
    "employee",
    "contact",
    "member",
    "client",
    "patient",
    "student",
    "staff",
    "owner",
    "author",
    "recipient",
    "applicant",
    "guest",
    "passenger",
    "subscriber",
    "lead",
    "account",
    "holder",
    "beneficiary",
];

/// Prefixes of `<who>name` columns that name a person.
const PERSON_PREFIXES: &[&str] = &[
    "full",
    "customer",
    "contact",
    "person",
    "holder",
    "cardholder",
    "accountholder",
    "employee",
    "patient",
    "member",
    "client",
    "recipient",
    "sender",
    "owner",
    "display",
    "legal",
    "beneficiary",
    "billing",
    "shipping",
];

fn is_person_table(table: &str) -> bool {
    name_tokens(table).iter().any(|t| {
        let singular = t.strip_suffix('s').unwrap_or(t);
        PERSON_TABLES.contains(&t.as_str()) || PERSON_TABLES.contains(&singular)
    })
}

/// What the column name alone suggests, with a confidence.
pub fn name_kind(table: &str, column: &str) -> Option<(Kind, f64)> {
    let n = Name::new(column);
    if is_metadata(&n) {
        return None;
    }
    identifiers_by_name(&n)
        .or_else(|| people_by_name(&n, table))
        .or_else(|| places_by_name(&n))
}

/// Names about a personal value rather than holding it: `email_verified`,
/// `phone_type`, `is_email_confirmed`, `card_count`, `sms_opt_in`.
fn is_metadata(n: &Name) -> bool {
    const LAST: &[&str] = &[
        "count",
        "type",
        "kind",
        "verified",
        "confirmed",
        "flag",
        "enabled",
        "status",
        "format",
        "length",
        "len",
        "valid",
        "sent",
    ];
    const FIRST: &[&str] = &["is", "has", "num", "count"];
    let last = n.tokens.last().is_some_and(|t| LAST.contains(&t.as_str()));
    let first = n
        .tokens
        .first()
        .is_some_and(|t| FIRST.contains(&t.as_str()));
    last || first || n.has_token(&["opt", "consent"])
}

fn identifiers_by_name(n: &Name) -> Option<(Kind, f64)> {
    if n.contains(&["email"]) || n.has_token(&["mail"]) {
        return Some((Kind::Email, STRONG));
    }
    if n.has_token(&["ip", "ipv4", "ipv6", "ipaddr", "ipaddress"])
        || n.is_one_of(&["remoteaddr", "clientaddr", "remoteaddress"])
    {
        return Some((Kind::IpAddress, STRONG));
    }
    if n.contains(&[
        "cardnumber",
        "cardno",
        "cardnum",
        "creditcard",
        "ccnumber",
        "ccnum",
    ]) || n.has_token(&["pan"])
    {
        return Some((Kind::PaymentCard, STRONG));
    }
    if n.has_token(&["iban"]) {
        return Some((Kind::Iban, STRONG));
    }
    if n.contains(&["bankaccount", "accountnumber", "accountno"]) {
        return Some((Kind::Iban, WEAK));
    }
    if n.has_token(&["ssn", "nino", "nin", "passport"])
        || n.contains(&[
            "socialsecurity",
            "nationalid",
            "nationalinsurance",
            "taxid",
            "taxpayerid",
            "driverslicen",
            "driverlicen",
            "idcardnumber",
        ])
    {
        return Some((Kind::NationalId, STRONG));
    }
    if n.contains(&["phone", "msisdn"]) || n.has_token(&["tel", "mobile", "fax"]) {
        return Some((Kind::Phone, STRONG));
    }
    None
}

fn people_by_name(n: &Name, table: &str) -> Option<(Kind, f64)> {
    if n.contains(&["birthdate", "dateofbirth", "birthday", "birthdt", "bornon"])
        || n.has_token(&["dob"])
    {
        return Some((Kind::BirthDate, STRONG));
    }
    let first = [
        "firstname",
        "givenname",
        "forename",
        "middlename",
        "christianname",
    ];
    if first.iter().any(|f| n.compact.ends_with(f)) || n.is_one_of(&["fname"]) {
        return Some((Kind::FirstName, STRONG));
    }
    if n.contains(&["lastname", "surname", "familyname", "maidenname"]) || n.is_one_of(&["lname"]) {
        return Some((Kind::LastName, STRONG));
    }
    full_name_by_name(n, table)
}

fn full_name_by_name(n: &Name, table: &str) -> Option<(Kind, f64)> {
    let prefix = n.compact.strip_suffix("name")?;
    if PERSON_PREFIXES.contains(&prefix) {
        return Some((Kind::FullName, STRONG));
    }
    if prefix.is_empty() {
        // A bare `name` is a person's only in a table of people.
        let score = if is_person_table(table) { MEDIUM } else { 0.3 };
        return Some((Kind::FullName, score));
    }
    None
}

fn places_by_name(n: &Name) -> Option<(Kind, f64)> {
    if n.has_token(&["city", "town"]) {
        return Some((Kind::City, MEDIUM));
    }
    if n.contains(&["postcode", "postalcode", "zipcode"]) || n.has_token(&["zip"]) {
        return Some((Kind::Postcode, MEDIUM));
    }
    let not_street = ["mac", "web", "url", "wallet", "ethernet", "memory"];
    if (n.has_token(&["address", "street", "addr"]) || n.contains(&["addressline"]))
        && !n.has_token(&not_street)
    {
        return Some((Kind::StreetAddress, MEDIUM));
    }
    None
}

/// Whether one value matches the value detector of `kind`.
pub fn value_matches(kind: Kind, v: &str) -> bool {
    match kind {
        Kind::Email => is_email(v),
        Kind::Iban => is_iban(v),
        Kind::PaymentCard => is_card_number(v),
        Kind::NationalId => is_us_ssn(v) || is_uk_nino(v),
        Kind::IpAddress => is_ip(v),
        Kind::Phone => is_phone(v),
        _ => false,
    }
}

/// How many sampled values matched each value detector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueCounts {
    /// Non-empty values looked at (after trimming).
    pub non_empty: usize,
    /// Matches per kind.
    pub hits: BTreeMap<Kind, usize>,
}

impl ValueCounts {
    /// Count the matches of every value detector over `values`.
    pub fn of<S: AsRef<str>>(values: &[S]) -> ValueCounts {
        let mut counts = ValueCounts::default();
        for v in values
            .iter()
            .map(|v| v.as_ref().trim())
            .filter(|v| !v.is_empty())
        {
            counts.non_empty += 1;
            for kind in VALUE_KINDS {
                if value_matches(kind, v) {
                    *counts.hits.entry(kind).or_default() += 1;
                }
            }
        }
        counts
    }

    /// Share of non-empty values that matched `kind` (0 when none).
    pub fn ratio(&self, kind: Kind) -> f64 {
        if self.non_empty == 0 {
            return 0.0;
        }
        let hits = self.hits.get(&kind).copied().unwrap_or(0);
        hits as f64 / self.non_empty as f64
    }

    /// The most specific kind whose ratio reaches [`VALUE_THRESHOLD`].
    pub fn dominant(&self) -> Option<(Kind, f64)> {
        VALUE_KINDS
            .into_iter()
            .map(|k| (k, self.ratio(k)))
            .find(|(_, r)| *r >= VALUE_THRESHOLD)
    }
}

// ---------------------------------------------------------------------------
// verdict

/// Whether a column of this type can hold `kind` at all (`email_verified_at`
/// is a timestamp, not an address; a boolean holds no phone number).
pub fn fits_type(kind: Kind, class: TypeClass) -> bool {
    match class {
        TypeClass::Text => true,
        TypeClass::Date => kind == Kind::BirthDate,
        TypeClass::Numeric => matches!(
            kind,
            Kind::Phone | Kind::PaymentCard | Kind::NationalId | Kind::Postcode | Kind::Iban
        ),
        TypeClass::Inet => kind == Kind::IpAddress,
        TypeClass::Other => false,
    }
}

fn round2(x: f64) -> f64 {
    (x.clamp(0.0, 1.0) * 100.0).round() / 100.0
}

fn percent(r: f64) -> String {
    format!("{:.0}%", r * 100.0)
}

/// Decide about one column from its name, type and (for text columns) the
/// counts over its sampled values. `None`: nothing worth reporting.
pub fn classify(col: ColumnView<'_>, counts: Option<&ValueCounts>) -> Option<Detection> {
    let by_name = name_kind(col.table, col.column).filter(|(k, _)| fits_type(*k, col.class));
    let by_value = counts.and_then(|c| c.dominant().map(|d| (c, d)));
    let detection = match (by_name, by_value) {
        (_, Some((c, (kind, ratio)))) => from_values(kind, ratio, c, by_name),
        (Some((kind, score)), None) => from_name(kind, score, counts),
        (None, None) => from_type(col.class)?,
    };
    (detection.confidence >= REPORT_THRESHOLD).then_some(detection)
}

fn from_values(
    kind: Kind,
    ratio: f64,
    counts: &ValueCounts,
    by_name: Option<(Kind, f64)>,
) -> Detection {
    let mut confidence = 0.5 + 0.4 * ratio;
    if counts.non_empty < SMALL_SAMPLE {
        confidence -= 0.1;
    }
    let n = counts.non_empty;
    let plural = if n == 1 { "" } else { "s" };
    let share = format!("{} of {n} sampled value{plural}", percent(ratio));
    let reason = match by_name {
        Some((k, _)) if k == kind => {
            confidence += 0.1;
            format!("name and {share} point to {}", kind.plural())
        }
        _ => format!("{share} look like {}", kind.plural()),
    };
    Detection {
        kind,
        confidence: round2(confidence),
        reason,
    }
}

fn from_name(kind: Kind, score: f64, counts: Option<&ValueCounts>) -> Detection {
    let mut confidence = score;
    let mut reason = format!("name suggests {}", kind.plural());
    if let Some(c) = counts
        && kind.has_value_detector()
        && c.non_empty >= SMALL_SAMPLE
    {
        let ratio = c.ratio(kind);
        if ratio < 0.2 {
            confidence -= 0.2;
        }
        reason.push_str(&format!(
            "; {} of {} sampled values have that shape",
            percent(ratio),
            c.non_empty
        ));
    }
    Detection {
        kind,
        confidence: round2(confidence),
        reason,
    }
}

fn from_type(class: TypeClass) -> Option<Detection> {
    (class == TypeClass::Inet).then(|| Detection {
        kind: Kind::IpAddress,
        confidence: MEDIUM,
        reason: "column type holds IP addresses".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(table: &'a str, column: &'a str, class: TypeClass) -> ColumnView<'a> {
        ColumnView {
            table,
            column,
            class,
        }
    }

    #[test]
    fn tokens_split_case_separators_and_digits() {
        assert_eq!(name_tokens("firstName"), ["first", "name"]);
        assert_eq!(name_tokens("FIRST_NAME"), ["first", "name"]);
        assert_eq!(
            name_tokens("customerIPAddress2"),
            ["customer", "ip", "address", "2"]
        );
        assert_eq!(name_tokens("date-of birth"), ["date", "of", "birth"]);
        assert_eq!(name_tokens("address_line1"), ["address", "line", "1"]);
        assert_eq!(name_tokens("E_Mail"), ["e", "mail"]);
        assert!(name_tokens("__").is_empty());
    }

    #[test]
    fn names_map_to_kinds() {
        let cases = [
            ("email", Kind::Email),
            ("contactEmail", Kind::Email),
            ("E_MAIL", Kind::Email),
            ("last_login_ip", Kind::IpAddress),
            ("ipAddress", Kind::IpAddress),
            ("card_number", Kind::PaymentCard),
            ("CreditCardNo", Kind::PaymentCard),
            ("iban", Kind::Iban),
            ("ssn", Kind::NationalId),
            ("SocialSecurityNumber", Kind::NationalId),
            ("national_insurance_no", Kind::NationalId),
            ("mobilePhone", Kind::Phone),
            ("tel", Kind::Phone),
            ("phone_number", Kind::Phone),
            ("DOB", Kind::BirthDate),
            ("dateOfBirth", Kind::BirthDate),
            ("birth_date", Kind::BirthDate),
            ("FirstName", Kind::FirstName),
            ("given_name", Kind::FirstName),
            ("surname", Kind::LastName),
            ("last_name", Kind::LastName),
            ("fullName", Kind::FullName),
            ("cardholder_name", Kind::FullName),
            ("city", Kind::City),
            ("zip_code", Kind::Postcode),
            ("postcode", Kind::Postcode),
            ("street_address", Kind::StreetAddress),
            ("addressLine1", Kind::StreetAddress),
        ];
        for (column, want) in cases {
            let got = name_kind("customers", column).map(|(k, _)| k);
            assert_eq!(got, Some(want), "{column}");
        }
    }

    #[test]
    fn innocent_names_are_not_personal() {
        for column in [
            "id",
            "amount",
            "created_at",
            "status",
            "product_name",
            "file_name",
            "mac_address",
            "zipped",
            "description",
            "shipping_method",
            "telemetry",
            "pancake",
            "email_verified",
            "phone_type",
            "is_email_confirmed",
            "card_count",
            "sms_opt_in",
            "cell_count",
        ] {
            assert_eq!(name_kind("customers", column), None, "{column}");
        }
    }

    #[test]
    fn bare_name_counts_only_in_a_table_of_people() {
        assert_eq!(
            name_kind("customers", "name"),
            Some((Kind::FullName, MEDIUM))
        );
        assert_eq!(
            name_kind("app_users", "Name"),
            Some((Kind::FullName, MEDIUM))
        );
        let product = classify(view("products", "name", TypeClass::Text), None);
        assert_eq!(product, None);
    }

    #[test]
    fn counts_and_threshold() {
        let values = [
            "a@example.com",
            "b@example.org",
            "c@example.net",
            "not an address",
            "  ",
            "",
        ];
        let c = ValueCounts::of(&values);
        assert_eq!(c.non_empty, 4);
        assert_eq!(c.hits.get(&Kind::Email), Some(&3));
        assert_eq!(c.dominant(), Some((Kind::Email, 0.75)));
        let c = ValueCounts::of(&["a@example.com", "x", "y"]);
        assert_eq!(c.dominant(), None, "33% is under the threshold");
        assert_eq!(ValueCounts::of::<&str>(&[]).ratio(Kind::Email), 0.0);
    }

    #[test]
    fn most_specific_value_kind_wins() {
        // SSNs also have the shape of phone numbers.
        let c = ValueCounts::of(&[
            "123-45-6789",
            "078-05-1120",
            "234-56-7890",
            "345-67-8901",
            "456-78-9012",
        ]);
        assert_eq!(c.ratio(Kind::Phone), 1.0);
        assert_eq!(c.dominant().map(|d| d.0), Some(Kind::NationalId));
    }

    #[test]
    fn values_fire_without_a_telling_name() {
        let values = [
            "4111111111111111",
            "5500000000000004",
            "340000000000009",
            "4012888888881881",
            "6011111111111117",
        ];
        let c = ValueCounts::of(&values);
        let d = classify(view("orders", "notes2", TypeClass::Text), Some(&c)).unwrap();
        assert_eq!(d.kind, Kind::PaymentCard);
        assert_eq!(d.confidence, 0.9);
        assert!(
            d.reason.contains("100% of 5 sampled values"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn name_and_values_together_score_highest() {
        let c = ValueCounts::of(&["a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com"]);
        let d = classify(view("customers", "email", TypeClass::Text), Some(&c)).unwrap();
        assert_eq!((d.kind, d.confidence), (Kind::Email, 1.0));
        assert_eq!(
            d.reason,
            "name and 100% of 5 sampled values point to e-mail addresses"
        );
    }

    #[test]
    fn values_contradicting_the_name_lower_confidence() {
        let c = ValueCounts::of(&["yes", "no", "yes", "no", "maybe"]);
        let d = classify(view("t", "fax", TypeClass::Text), Some(&c)).unwrap();
        assert_eq!((d.kind, d.confidence), (Kind::Phone, 0.5));
        assert!(d.reason.contains("0% of 5"), "{}", d.reason);
        // A weaker name under contradicting values is dropped.
        let d = classify(view("t", "bank_account", TypeClass::Text), Some(&c));
        assert_eq!(d, None);
    }

    #[test]
    fn non_personal_columns_give_nothing() {
        let c = ValueCounts::of(&["red", "green", "blue", "red", "green"]);
        assert_eq!(
            classify(view("t", "colour", TypeClass::Text), Some(&c)),
            None
        );
        assert_eq!(
            classify(view("t", "amount", TypeClass::Numeric), None),
            None
        );
    }

    #[test]
    fn names_must_fit_the_type() {
        assert_eq!(
            classify(view("t", "email_verified_at", TypeClass::Date), None),
            None
        );
        assert_eq!(classify(view("t", "phone", TypeClass::Other), None), None);
        assert_eq!(
            classify(view("t", "first_name", TypeClass::Numeric), None),
            None
        );
        let d = classify(view("t", "birth_date", TypeClass::Date), None).unwrap();
        assert_eq!((d.kind, d.confidence), (Kind::BirthDate, STRONG));
        let d = classify(view("t", "phone", TypeClass::Numeric), None).unwrap();
        assert_eq!(d.kind, Kind::Phone);
        assert_eq!(type_class("tinyint"), TypeClass::Other);
    }

    #[test]
    fn inet_type_is_an_ip_address() {
        let d = classify(view("t", "source", TypeClass::Inet), None).unwrap();
        assert_eq!(d.kind, Kind::IpAddress);
    }

    #[test]
    fn reasons_never_quote_values() {
        let c = ValueCounts::of(&["ada@example.com"; 5]);
        let d = classify(view("t", "contact", TypeClass::Text), Some(&c)).unwrap();
        assert!(!d.reason.contains("ada"), "{}", d.reason);
        let one = ValueCounts::of(&["ada@example.com"]);
        let d = classify(view("t", "contact", TypeClass::Text), Some(&one)).unwrap();
        assert_eq!(
            d.reason,
            "100% of 1 sampled value look like e-mail addresses"
        );
        assert_eq!(d.confidence, 0.8, "a tiny sample counts less");
    }

    #[test]
    fn type_classes() {
        assert_eq!(type_class("varchar"), TypeClass::Text);
        assert_eq!(type_class("character varying"), TypeClass::Text);
        assert_eq!(type_class("timestamp without time zone"), TypeClass::Date);
        assert_eq!(type_class("date"), TypeClass::Date);
        assert_eq!(type_class("bigint"), TypeClass::Numeric);
        assert_eq!(type_class("inet"), TypeClass::Inet);
        assert_eq!(type_class("jsonb"), TypeClass::Other);
    }
}
