//! Detectors: pure functions deciding whether a column looks personal, from
//! its name, its type and a sample of its values. Nothing here talks to a
//! database, and no value ever leaves this module: only counts.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

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

// ---------------------------------------------------------------------------
// values

/// `local@domain.tld`: one `@`, no blank, a dotted domain whose last label
/// is alphabetic.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.chars().all(|c| c.is_ascii_graphic() && c != '@');
    let labels: Vec<&str> = domain.split('.').collect();
    let labels_ok = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.chars().all(char::is_alphabetic));
    local_ok && labels_ok && tld_ok
}

/// 7 to 15 digits with an optional leading `+` and the usual separators
/// (blank, `-`, `.`, parentheses). Bare digit strings need 10 digits (so
/// small numbers and ids are not phones); dates and IPv4 addresses are not.
pub fn is_phone(s: &str) -> bool {
    let body = s.strip_prefix('+').unwrap_or(s);
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
    {
        return false;
    }
    let digits = body.chars().filter(char::is_ascii_digit).count();
    let separated = body.len() != digits;
    let dots = body.matches('.').count();
    (7..=15).contains(&digits)
        && (separated || digits >= 10 || s.starts_with('+'))
        && dots != 1
        && !looks_like_date(body)
        && body.parse::<std::net::Ipv4Addr>().is_err()
}

/// `dddd-dd-dd`, `dd/dd/dddd` and the like.
fn looks_like_date(s: &str) -> bool {
    let groups: Vec<&str> = s.split(['-', '/', '.']).collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()))
        && (lens == [4, 2, 2] || lens == [2, 2, 4])
}

/// Luhn check of a digit string (`false` for anything but ASCII digits).
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// 13 to 19 digits (blanks and dashes allowed between them), Luhn valid,
/// not one repeated digit.
pub fn is_card_number(s: &str) -> bool {
    if !s
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return false;
    }
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let repeated = digits
        .bytes()
        .all(|b| Some(&b) == digits.as_bytes().first());
    (13..=19).contains(&digits.len()) && !repeated && luhn_valid(&digits)
}

/// ISO 13616: country letters, two check digits, up to 30 letters/digits
/// (blanks allowed), and the whole number mod 97 == 1.
pub fn is_iban(s: &str) -> bool {
    let compact: String = s
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let b = compact.as_bytes();
    let shape = (15..=34).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b[4..].iter().all(u8::is_ascii_alphanumeric);
    shape && iban_mod97(&compact) == Some(1)
}

/// The IBAN remainder: first four characters moved to the end, letters as
/// 10..=35, the number mod 97.
pub fn iban_mod97(iban: &str) -> Option<u32> {
    let (head, tail) = iban.split_at_checked(4)?;
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = c.to_digit(36)?;
        let width = if v >= 10 { 100 } else { 10 };
        rem = (rem * width + v) % 97;
    }
    Some(rem)
}

/// US SSN `ddd-dd-dddd`: area not 000, 666 or 9xx, group not 00, serial
/// not 0000.
pub fn is_us_ssn(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [area, group, serial] = parts.as_slice() else {
        return false;
    };
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    digits(area, 3)
        && digits(group, 2)
        && digits(serial, 4)
        && !matches!(*area, "000" | "666")
        && !area.starts_with('9')
        && *group != "00"
        && *serial != "0000"
}

/// UK National Insurance number: two letters (with the excluded letters
/// and prefixes), six digits, a suffix A-D; blanks allowed.
pub fn is_uk_nino(s: &str) -> bool {
    let c: Vec<char> = s
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if c.len() != 9 {
        return false;
    }
    let prefix: String = c[..2].iter().collect();
    c[0].is_ascii_uppercase()
        && c[1].is_ascii_uppercase()
        && !"DFIQUV".contains(c[0])
        && !"DFIQUVO".contains(c[1])
        && !["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].contains(&prefix.as_str())
        && c[2..8].iter().all(char::is_ascii_digit)
        && ('A'..='D').contains(&c[8])
}

/// IPv4 or IPv6 address, as `std::net` reads them.
pub fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
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
    fn email_values() {
        for v in ["ada@example.com", "j.doe+news@mail.example.co.uk", "x@a.io"] {
            assert!(is_email(v), "{v}");
        }
        for v in [
            "ada@",
            "@example.com",
            "ada example.com",
            "a b@c.de",
            "a@b",
            "a@b.c1",
            "a@@b.com",
        ] {
            assert!(!is_email(v), "{v}");
        }
    }

    #[test]
    fn phone_values() {
        for v in [
            "+44 20 7946 0958",
            "(555) 123-4567",
            "555-0142",
            "0612345678",
            "+33612345678",
            "555.123.4567",
        ] {
            assert!(is_phone(v), "{v}");
        }
        for v in [
            "12345",
            "123456789",
            "2024-01-31",
            "31/01/2024",
            "192.168.1.10",
            "1234567.89",
            "abc-defg",
            "+",
            "1234567890123456",
        ] {
            assert!(!is_phone(v), "{v}");
        }
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4111-1111"));
    }

    #[test]
    fn card_values() {
        for v in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "378282246310005",
        ] {
            assert!(is_card_number(v), "{v}");
        }
        for v in [
            "4111111111111112",
            "0000000000000000",
            "411111111111",
            "4111a11111111111",
            "12345678901234567890",
        ] {
            assert!(!is_card_number(v), "{v}");
        }
    }

    #[test]
    fn iban_checksum() {
        assert_eq!(iban_mod97("GB82WEST12345698765432"), Some(1));
        assert_eq!(iban_mod97("GB83WEST12345698765432"), Some(2));
        assert_eq!(iban_mod97("GB"), None);
        for v in [
            "GB82 WEST 1234 5698 7654 32",
            "DE89370400440532013000",
            "fr1420041010050500013m02606",
        ] {
            assert!(is_iban(v), "{v}");
        }
        for v in [
            "GB83WEST12345698765432",
            "GB82WEST1234",
            "1282WEST12345698765432",
            "GB82-WEST-1234-5698-7654-32",
        ] {
            assert!(!is_iban(v), "{v}");
        }
    }

    #[test]
    fn national_ids() {
        for v in ["123-45-6789", "078-05-1120"] {
            assert!(is_us_ssn(v), "{v}");
        }
        for v in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
            "123456789",
            "12-345-6789",
        ] {
            assert!(!is_us_ssn(v), "{v}");
        }
        for v in ["AB123456C", "ab 12 34 56 d", "JG103759A"] {
            assert!(is_uk_nino(v), "{v}");
        }
        for v in [
            "DA123456C",
            "AO123456C",
            "GB123456A",
            "AB123456E",
            "AB12345C",
            "A1123456C",
        ] {
            assert!(!is_uk_nino(v), "{v}");
        }
    }

    #[test]
    fn ip_values() {
        for v in ["192.0.2.1", "10.0.0.255", "2001:db8::1", "::1"] {
            assert!(is_ip(v), "{v}");
        }
        for v in [
            "256.1.1.1",
            "1.2.3",
            "2001:db8:::1",
            "localhost",
            "192.0.2.1/24",
        ] {
            assert!(!is_ip(v), "{v}");
        }
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
