//! The rules file: TOML, parsed with `toml` + serde, then validated into
//! plain types. Every error names the file, the line (when known) and the
//! dotted key path. See the crate README for the full reference.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::MaskError;
pub use crate::normalize::Normalize;
use crate::raw_sql::check_fragment;
use crate::value_edges::{DEFAULT_KEEP_DATES, is_plain_date};

/// Where a rule came from, for error messages: `file:line` and key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// File name as given to the loader.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key path.
    pub key: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{} ({})", self.file, l, self.key),
            None => write!(f, "{} ({})", self.file, self.key),
        }
    }
}

/// Which end of a value `partial` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Keep the first N characters.
    First,
    /// Keep the last N characters.
    Last,
}

/// Built-in dictionaries of the `fake` strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dictionary {
    /// [`crate::dict::FIRST_NAMES`]
    FirstName,
    /// [`crate::dict::LAST_NAMES`]
    LastName,
    /// first name, one space, last name
    FullName,
    /// [`crate::dict::CITIES`]
    City,
    /// `555-01DD-DDDD`
    Phone,
}

impl Dictionary {
    /// Name as written in the rules file.
    pub fn name(self) -> &'static str {
        match self {
            Dictionary::FirstName => "first_name",
            Dictionary::LastName => "last_name",
            Dictionary::FullName => "full_name",
            Dictionary::City => "city",
            Dictionary::Phone => "phone",
        }
    }

    /// Longest output in characters.
    pub fn max_output_len(self) -> usize {
        use crate::dict::*;
        match self {
            Dictionary::FirstName => max_len(FIRST_NAMES),
            Dictionary::LastName => max_len(LAST_NAMES),
            Dictionary::FullName => max_len(FIRST_NAMES) + 1 + max_len(LAST_NAMES),
            Dictionary::City => max_len(CITIES),
            Dictionary::Phone => PHONE_LEN,
        }
    }
}

/// A validated masking strategy. The exact SQL of each is in [`crate::sql`].
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Lower-case hex SHA-256 of `salt || ':' || value`, first `length` chars.
    Hash {
        /// 1..=64
        length: u8,
    },
    /// `<first hex_length hex chars of the keyed hash>@<domain>`.
    Email {
        /// Reserved domain.
        domain: String,
        /// 16..=64, default 32.
        hex_length: u8,
    },
    /// Deterministic pick from a built-in dictionary.
    Fake {
        /// Which dictionary.
        dictionary: Dictionary,
    },
    /// Keep N characters at one end, replace the others with `mask_char`.
    Partial {
        /// Which end is kept.
        keep: Keep,
        /// How many characters are kept.
        count: u32,
        /// Replacement character (ASCII).
        mask_char: char,
    },
    /// A literal.
    Fixed {
        /// The literal (always sent as an escaped SQL string literal).
        value: String,
        /// NULL stays NULL (default true).
        keep_null: bool,
    },
    /// Set the column to NULL.
    Null,
    /// Shift a date/time by ±1..=max_days days (never 0).
    DateShift {
        /// 1..=36500
        max_days: u32,
        /// Dates (`YYYY-MM-DD`) kept unchanged: "no end" sentinels.
        keep_dates: Vec<String>,
    },
    /// Multiply a number by `1 + k * percent / 1_000_000`, k in -10000..=10000.
    Noise {
        /// Decimal rendering of the percentage, in (0, 100].
        percent: String,
    },
    /// RAW SQL expression (unsafe escape hatch: copied verbatim).
    Sql {
        /// Expression; `{column}` (the quoted column) and `{hmac}` (the keyed
        /// hex digest of the column, domain `sql`) are substituted.
        expression: String,
        /// NULL stays NULL (default true).
        keep_null: bool,
        /// Optional raw SQL predicate every non-NULL masked value must satisfy.
        check: Option<String>,
    },
}

impl Strategy {
    /// Name as written in the rules file.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Hash { .. } => "hash",
            Strategy::Email { .. } => "email",
            Strategy::Fake { .. } => "fake",
            Strategy::Partial { .. } => "partial",
            Strategy::Fixed { .. } => "fixed",
            Strategy::Null => "null",
            Strategy::DateShift { .. } => "date_shift",
            Strategy::Noise { .. } => "noise",
            Strategy::Sql { .. } => "sql",
        }
    }

    /// Whether the generated SQL references the salt.
    pub fn uses_salt(&self) -> bool {
        match self {
            Strategy::Hash { .. }
            | Strategy::Email { .. }
            | Strategy::Fake { .. }
            | Strategy::DateShift { .. }
            | Strategy::Noise { .. } => true,
            Strategy::Sql { expression, .. } => expression.contains("{hmac}"),
            _ => false,
        }
    }
}

/// One column rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnRule {
    /// Column name.
    pub column: String,
    /// What to do with it.
    pub strategy: Strategy,
    /// Keyed strategies: normalise the value before hashing it.
    pub normalize: Option<Normalize>,
    /// Where it was declared.
    pub origin: Origin,
}

/// Rules for one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRules {
    /// Table as written: `table`, `schema.table` (PostgreSQL) or `db.table` (MySQL).
    pub name: String,
    /// `TRUNCATE` the table (before masking).
    pub truncate: bool,
    /// `DELETE FROM table WHERE <condition>` (raw SQL condition).
    pub delete_where: Option<String>,
    /// Rows per chunk for this table (overrides `settings.chunk_size`).
    pub chunk_size: Option<u64>,
    /// Column rules, in the order of the file's keys (sorted by name).
    pub columns: Vec<ColumnRule>,
    /// Columns declared `keep`: copied as they are, on purpose.
    pub kept: Vec<KeptColumn>,
    /// MySQL `UPDATE` triggers of the table the in-place run may fire
    /// (MySQL cannot disable them); any other one refuses the run.
    pub acknowledged_triggers: Vec<String>,
    /// Where it was declared.
    pub origin: Origin,
}

/// A column declared `strategy = "keep"`: not personal, copied unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptColumn {
    /// Column name.
    pub column: String,
    /// Why it is kept (optional, for reviewers).
    pub reason: Option<String>,
    /// Where it was declared.
    pub origin: Origin,
}

/// What a run does about columns and tables the rules file does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Every column of every table of the masked schema must be declared (a
    /// strategy or `keep`), and every declared one must exist: otherwise the
    /// run fails before any write, listing what to add or remove.
    Strict,
    /// The same gaps are listed in the run report (and so the notification)
    /// and the run goes on; undeclared columns are copied unmasked. The
    /// default of a file without `settings.coverage`.
    #[default]
    Report,
}

/// What an in-place run does when the load it masks did not reload the
/// target (a `resume-processing` start): the rows masked by the previous run
/// are still there, and masking them again would hash a hash and shift
/// shifted dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Remask {
    /// Fail before any write, naming the start type to use instead
    /// (`reload-target`). The default.
    #[default]
    Refuse,
    /// Mask every row again, previously masked ones included; the report
    /// says so.
    Allow,
}

impl TableRules {
    /// Whether the table has a truncate or delete action.
    pub fn has_actions(&self) -> bool {
        self.truncate || self.delete_where.is_some()
    }
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before table actions and masking.
    Before,
    /// After masking, before verification.
    After,
}

/// What a hook does.
#[derive(Debug, Clone, PartialEq)]
pub enum HookKind {
    /// Raw SQL statements, run in order.
    Sql {
        /// The statements.
        statements: Vec<String>,
    },
    /// PostgreSQL: set every sequence owned by a column to max(column)+1.
    SyncSequences {
        /// Restrict to these tables (default: all user tables).
        tables: Option<Vec<String>>,
    },
    /// PostgreSQL: `ALTER TABLE ... ENABLE TRIGGER ALL`; MySQL: no-op.
    EnableTriggers {
        /// Restrict to these tables (default: all tables with a disabled trigger).
        tables: Option<Vec<String>>,
    },
    /// Validate NOT VALID constraints (PostgreSQL) and check that every
    /// foreign key resolves (both engines).
    EnableForeignKeys {
        /// Restrict to these tables (default: all user tables).
        tables: Option<Vec<String>>,
    },
}

impl HookKind {
    /// Name as written in the rules file.
    pub fn name(&self) -> &'static str {
        match self {
            HookKind::Sql { .. } => "sql",
            HookKind::SyncSequences { .. } => "sync_sequences",
            HookKind::EnableTriggers { .. } => "enable_triggers",
            HookKind::EnableForeignKeys { .. } => "enable_foreign_keys",
        }
    }
}

/// One hook.
#[derive(Debug, Clone, PartialEq)]
pub struct HookRule {
    /// What it does.
    pub kind: HookKind,
    /// When it runs.
    pub phase: Phase,
    /// Where it was declared (`hooks[i]`).
    pub origin: Origin,
}

/// Global settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Tables with more rows than this are masked in primary-key chunks.
    pub chunk_threshold: u64,
    /// Default rows per chunk.
    pub chunk_size: u64,
    /// Disable foreign-key checks (and, on PostgreSQL, user triggers) in the
    /// masking transactions, so parent and child keys can be masked one table
    /// at a time and `ON UPDATE CASCADE` does not double-mask children.
    pub disable_fk_checks: bool,
    /// Undeclared columns and tables: fail (`strict`) or report.
    pub coverage: Coverage,
    /// In place, after a start that did not reload the target.
    pub remask: Remask,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            chunk_threshold: DEFAULT_CHUNK_THRESHOLD,
            chunk_size: DEFAULT_CHUNK_SIZE,
            disable_fk_checks: true,
            coverage: Coverage::Report,
            remask: Remask::Refuse,
        }
    }
}

/// Default of `settings.chunk_threshold`.
pub const DEFAULT_CHUNK_THRESHOLD: u64 = 50_000;
/// Default of `settings.chunk_size`.
pub const DEFAULT_CHUNK_SIZE: u64 = 25_000;
/// Default of `email.domain`.
pub const DEFAULT_EMAIL_DOMAIN: &str = "example.invalid";
/// Default of `email.hex_length`.
pub const DEFAULT_EMAIL_HEX: u8 = 32;

/// A validated rules file.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// File name as given to the loader.
    pub file: String,
    /// Global settings.
    pub settings: Settings,
    /// Tables, sorted by key.
    pub tables: Vec<TableRules>,
    /// Hooks in file order.
    pub hooks: Vec<HookRule>,
    /// FNV-1a 64 of the file content (hex); a run refuses to resume with
    /// different rules.
    pub fingerprint: String,
}

// ---------------------------------------------------------------------------
// raw (serde) layer

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    version: Option<Spanned<i64>>,
    #[serde(default)]
    settings: Option<Spanned<RawSettings>>,
    #[serde(default)]
    tables: BTreeMap<String, Spanned<RawTable>>,
    #[serde(default)]
    hooks: Vec<Spanned<RawHook>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    chunk_threshold: Option<Spanned<i64>>,
    chunk_size: Option<Spanned<i64>>,
    disable_fk_checks: Option<bool>,
    coverage: Option<Spanned<String>>,
    remask: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    chunk_size: Option<Spanned<i64>>,
    truncate: Option<bool>,
    delete_where: Option<Spanned<String>>,
    #[serde(default)]
    acknowledged_triggers: Vec<String>,
    #[serde(default)]
    columns: BTreeMap<String, Spanned<RawColumn>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawScalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl RawScalar {
    fn render(&self) -> String {
        match self {
            RawScalar::Str(s) => s.clone(),
            RawScalar::Int(i) => i.to_string(),
            RawScalar::Float(f) => f.to_string(),
            RawScalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    strategy: Spanned<String>,
    length: Option<Spanned<i64>>,
    domain: Option<Spanned<String>>,
    hex_length: Option<Spanned<i64>>,
    dictionary: Option<Spanned<String>>,
    keep_first: Option<Spanned<i64>>,
    keep_last: Option<Spanned<i64>>,
    mask_char: Option<Spanned<String>>,
    value: Option<Spanned<RawScalar>>,
    keep_null: Option<Spanned<bool>>,
    max_days: Option<Spanned<i64>>,
    percent: Option<Spanned<RawScalar>>,
    expression: Option<Spanned<String>>,
    check: Option<Spanned<String>>,
    reason: Option<Spanned<String>>,
    keep_dates: Option<Spanned<Vec<String>>>,
    normalize: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    kind: Spanned<String>,
    phase: Option<Spanned<String>>,
    statements: Option<Spanned<Vec<String>>>,
    tables: Option<Spanned<Vec<String>>>,
}

// ---------------------------------------------------------------------------
// validation

/// 1-based line of a byte offset.
fn line_of(src: &str, offset: usize) -> usize {
    let end = offset.min(src.len());
    src.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
}

impl Ctx<'_> {
    fn origin(&self, span: std::ops::Range<usize>, key: &str) -> Origin {
        Origin {
            file: self.file.to_string(),
            line: Some(line_of(self.src, span.start)),
            key: key.to_string(),
        }
    }

    fn err(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> MaskError {
        MaskError::Rules {
            file: self.file.to_string(),
            line: Some(line_of(self.src, span.start)),
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// Whether `s` is an identifier the engine accepts without surprises:
/// `[A-Za-z_][A-Za-z0-9_$]*`, at most 63 bytes. Identifiers are also quoted
/// in generated SQL; this pattern is a second line of defence.
pub fn is_valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    s.len() <= 63 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// Whether `s` is `table` or `schema.table` with valid identifiers.
pub fn is_valid_table_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    matches!(parts.len(), 1 | 2) && parts.iter().all(|p| is_valid_identifier(p))
}

/// Whether `domain` is a reserved domain that can never receive mail:
/// ends with `.invalid`, `.example` or `.test` (or is that TLD), or is
/// `example.com`/`example.net`/`example.org` or a subdomain of them.
pub fn is_reserved_domain(domain: &str) -> bool {
    let labels_ok = !domain.is_empty()
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !labels_ok {
        return false;
    }
    let d = format!(".{domain}");
    [
        ".invalid",
        ".example",
        ".test",
        ".example.com",
        ".example.net",
        ".example.org",
    ]
    .iter()
    .any(|suffix| d.ends_with(suffix))
}

pub(crate) fn fnv1a64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Rules {
    /// Read and validate a rules file.
    pub fn load(path: &Path) -> Result<Rules, MaskError> {
        let name = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| MaskError::Rules {
            file: name.clone(),
            line: None,
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        })?;
        Rules::parse(&src, &name)
    }

    /// Validate rules from a string; `file` is used in error messages.
    pub fn parse(src: &str, file: &str) -> Result<Rules, MaskError> {
        let cx = Ctx { file, src };
        let de = toml::Deserializer::parse(src).map_err(|e| MaskError::Rules {
            file: file.to_string(),
            line: e.span().map(|s| line_of(src, s.start)),
            key: "(syntax)".into(),
            message: e.message().trim().to_string(),
        })?;
        let raw: RawRules = serde_path_to_error::deserialize(de).map_err(|e| {
            // Spanned<T> shows up as a private field in the path: drop it.
            let path = e
                .path()
                .iter()
                .filter_map(|seg| match seg {
                    serde_path_to_error::Segment::Map { key }
                        if key.starts_with("$__serde_spanned") =>
                    {
                        None
                    }
                    serde_path_to_error::Segment::Seq { index } => Some(format!("[{index}]")),
                    other => Some(format!(".{other}")),
                })
                .collect::<String>()
                .trim_start_matches('.')
                .to_string();
            let inner = e.into_inner();
            MaskError::Rules {
                file: file.to_string(),
                line: inner.span().map(|s| line_of(src, s.start)),
                key: if path.is_empty() || path == "." {
                    "(root)".into()
                } else {
                    path
                },
                message: inner.message().trim().to_string(),
            }
        })?;

        if let Some(v) = &raw.version
            && *v.get_ref() != 1
        {
            return Err(cx.err(v.span(), "version", "unsupported version: only 1 is known"));
        }

        let mut settings = Settings::default();
        if let Some(s) = &raw.settings {
            let s = s.get_ref();
            if let Some(v) = &s.chunk_threshold {
                settings.chunk_threshold =
                    positive(&cx, v, "settings.chunk_threshold", 0, i64::MAX)?;
            }
            if let Some(v) = &s.chunk_size {
                settings.chunk_size = positive(&cx, v, "settings.chunk_size", 1, 100_000_000)?;
            }
            if let Some(b) = s.disable_fk_checks {
                settings.disable_fk_checks = b;
            }
            if let Some(c) = &s.coverage {
                settings.coverage = one_of(
                    &cx,
                    c,
                    "settings.coverage",
                    &[("strict", Coverage::Strict), ("report", Coverage::Report)],
                )?;
            }
            if let Some(c) = &s.remask {
                settings.remask = one_of(
                    &cx,
                    c,
                    "settings.remask",
                    &[("refuse", Remask::Refuse), ("allow", Remask::Allow)],
                )?;
            }
        }

        let mut tables = Vec::new();
        for (name, table) in &raw.tables {
            tables.push(validate_table(&cx, name, table)?);
        }

        let mut hooks = Vec::new();
        for (i, hook) in raw.hooks.iter().enumerate() {
            hooks.push(validate_hook(&cx, i, hook)?);
        }

        if tables.is_empty() && hooks.is_empty() {
            return Err(MaskError::Rules {
                file: file.to_string(),
                line: None,
                key: "(root)".into(),
                message: "the rules declare no table and no hook".into(),
            });
        }

        Ok(Rules {
            file: file.to_string(),
            settings,
            tables,
            hooks,
            fingerprint: fnv1a64(src.as_bytes()),
        })
    }
}

/// The value of an enumerated setting, or an error listing the accepted ones.
fn one_of<T: Copy>(
    cx: &Ctx<'_>,
    v: &Spanned<String>,
    key: &str,
    choices: &[(&str, T)],
) -> Result<T, MaskError> {
    let given = v.get_ref().as_str();
    choices
        .iter()
        .find(|(name, _)| *name == given)
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            cx.err(
                v.span(),
                key,
                format!("unknown value `{given}` (expected {})", names.join(" or ")),
            )
        })
}

fn positive(
    cx: &Ctx<'_>,
    v: &Spanned<i64>,
    key: &str,
    min: i64,
    max: i64,
) -> Result<u64, MaskError> {
    let n = *v.get_ref();
    if n < min || n > max {
        return Err(cx.err(
            v.span(),
            key,
            format!("must be between {min} and {max}, got {n}"),
        ));
    }
    u64::try_from(n).map_err(|_| cx.err(v.span(), key, "must not be negative"))
}

fn validate_table(
    cx: &Ctx<'_>,
    tname: &String,
    table: &Spanned<RawTable>,
) -> Result<TableRules, MaskError> {
    let base = format!("tables.{tname}");
    if !is_valid_table_name(tname) {
        return Err(cx.err(
            table.span(),
            &base,
            "table name must be `table` or `schema.table` made of [A-Za-z_][A-Za-z0-9_$]* (max 63 chars each)",
        ));
    }
    let t = table.get_ref();
    let chunk_size = match &t.chunk_size {
        Some(v) => Some(positive(
            cx,
            v,
            &format!("{base}.chunk_size"),
            1,
            100_000_000,
        )?),
        None => None,
    };
    let delete_where = match &t.delete_where {
        Some(d) => Some(raw_fragment(
            cx,
            d,
            &format!("{base}.delete_where"),
            "SQL condition",
        )?),
        None => None,
    };
    let truncate = t.truncate.unwrap_or(false);
    if truncate && delete_where.is_some() {
        return Err(cx.err(
            table.span(),
            &base,
            "`truncate` and `delete_where` are exclusive",
        ));
    }
    let mut columns = Vec::new();
    let mut kept = Vec::new();
    for (col, rule) in &t.columns {
        let key = format!("{base}.columns.{col}");
        if !is_valid_identifier(col) {
            return Err(cx.err(
                rule.span(),
                &key,
                "column name must match [A-Za-z_][A-Za-z0-9_$]* (max 63 chars)",
            ));
        }
        let origin = cx.origin(rule.span(), &key);
        match validate_column(cx, &key, rule)? {
            Some(strategy) => columns.push(ColumnRule {
                column: col.clone(),
                strategy,
                normalize: match &rule.get_ref().normalize {
                    Some(v) => Some(one_of(
                        cx,
                        v,
                        &format!("{key}.normalize"),
                        &[("lower_trim", Normalize::LowerTrim)],
                    )?),
                    None => None,
                },
                origin,
            }),
            None => kept.push(KeptColumn {
                column: col.clone(),
                reason: rule.get_ref().reason.as_ref().map(|r| r.get_ref().clone()),
                origin,
            }),
        }
    }
    if columns.is_empty() && kept.is_empty() && !truncate && delete_where.is_none() {
        return Err(cx.err(
            table.span(),
            &base,
            "table has no column rule and no action (truncate / delete_where)",
        ));
    }
    Ok(TableRules {
        name: tname.clone(),
        truncate,
        delete_where,
        chunk_size,
        columns,
        kept,
        acknowledged_triggers: t.acknowledged_triggers.clone(),
        origin: cx.origin(table.span(), &base),
    })
}

/// A raw SQL fragment of the rules file, trimmed: not empty, and accepted by
/// [`check_fragment`] (no comment, `;`, unbalanced parenthesis or quote).
fn raw_fragment(
    cx: &Ctx<'_>,
    v: &Spanned<String>,
    key: &str,
    what: &str,
) -> Result<String, MaskError> {
    let text = v.get_ref().trim();
    if text.is_empty() {
        return Err(cx.err(v.span(), key, format!("must be a non-empty {what}")));
    }
    check_fragment(text)
        .map(|()| text.to_string())
        .map_err(|e| cx.err(v.span(), key, format!("{what} refused: {e}")))
}

/// Which optional keys each strategy accepts (besides `strategy`).
fn allowed_keys(strategy: &str) -> Option<&'static [&'static str]> {
    Some(match strategy {
        "hash" => &["length", "normalize"],
        "email" => &["domain", "hex_length", "normalize"],
        "fake" => &["dictionary", "normalize"],
        "partial" => &["keep_first", "keep_last", "mask_char"],
        "fixed" => &["value", "keep_null"],
        "null" => &[],
        "date_shift" => &["max_days", "keep_dates"],
        "noise" => &["percent"],
        "sql" => &["expression", "keep_null", "check"],
        "keep" => &["reason"],
        _ => return None,
    })
}

/// The column's strategy, or `None` for `keep`.
fn validate_column(
    cx: &Ctx<'_>,
    key: &str,
    rule: &Spanned<RawColumn>,
) -> Result<Option<Strategy>, MaskError> {
    let r = rule.get_ref();
    let sname = r.strategy.get_ref().as_str();
    let skey = format!("{key}.strategy");
    let Some(allowed) = allowed_keys(sname) else {
        return Err(cx.err(
            r.strategy.span(),
            &skey,
            format!(
                "unknown strategy `{sname}` (expected one of: hash, email, fake, partial, fixed, null, date_shift, noise, sql, keep)"
            ),
        ));
    };
    // Reject options that do not belong to the strategy (likely a mistake).
    let present: [(&str, Option<std::ops::Range<usize>>); 16] = [
        ("length", r.length.as_ref().map(|v| v.span())),
        ("domain", r.domain.as_ref().map(|v| v.span())),
        ("hex_length", r.hex_length.as_ref().map(|v| v.span())),
        ("dictionary", r.dictionary.as_ref().map(|v| v.span())),
        ("keep_first", r.keep_first.as_ref().map(|v| v.span())),
        ("keep_last", r.keep_last.as_ref().map(|v| v.span())),
        ("mask_char", r.mask_char.as_ref().map(|v| v.span())),
        ("value", r.value.as_ref().map(|v| v.span())),
        ("keep_null", r.keep_null.as_ref().map(|v| v.span())),
        ("max_days", r.max_days.as_ref().map(|v| v.span())),
        ("percent", r.percent.as_ref().map(|v| v.span())),
        ("expression", r.expression.as_ref().map(|v| v.span())),
        ("check", r.check.as_ref().map(|v| v.span())),
        ("reason", r.reason.as_ref().map(|v| v.span())),
        ("keep_dates", r.keep_dates.as_ref().map(|v| v.span())),
        ("normalize", r.normalize.as_ref().map(|v| v.span())),
    ];
    for (k, span) in present {
        if let Some(span) = span
            && !allowed.contains(&k)
        {
            return Err(cx.err(
                span,
                &format!("{key}.{k}"),
                format!("`{k}` does not apply to strategy `{sname}`"),
            ));
        }
    }
    let missing = |k: &str| {
        cx.err(
            rule.span(),
            &format!("{key}.{k}"),
            format!("strategy `{sname}` requires `{k}`"),
        )
    };
    let int_in = |v: &Spanned<i64>, k: &str, lo: i64, hi: i64| -> Result<i64, MaskError> {
        let n = *v.get_ref();
        if n < lo || n > hi {
            Err(cx.err(
                v.span(),
                &format!("{key}.{k}"),
                format!("must be between {lo} and {hi}, got {n}"),
            ))
        } else {
            Ok(n)
        }
    };
    let keep_null = r.keep_null.as_ref().map(|b| *b.get_ref()).unwrap_or(true);

    if sname == "keep" {
        return Ok(None);
    }
    Ok(Some(match sname {
        "hash" => {
            let length = match &r.length {
                Some(v) => int_in(v, "length", 1, 64)?,
                None => 64,
            };
            Strategy::Hash {
                length: u8::try_from(length).unwrap_or(64),
            }
        }
        "email" => {
            let domain = match &r.domain {
                Some(d) => {
                    let d_str = d.get_ref().to_ascii_lowercase();
                    if !is_reserved_domain(&d_str) {
                        return Err(cx.err(
                            d.span(),
                            &format!("{key}.domain"),
                            format!(
                                "`{}` is not a reserved domain: use a name ending in .invalid, .example or .test, or example.com/net/org",
                                d.get_ref()
                            ),
                        ));
                    }
                    d_str
                }
                None => DEFAULT_EMAIL_DOMAIN.to_string(),
            };
            let hex_length = match &r.hex_length {
                Some(v) => int_in(v, "hex_length", 16, 64)?,
                None => i64::from(DEFAULT_EMAIL_HEX),
            };
            Strategy::Email {
                domain,
                hex_length: u8::try_from(hex_length).unwrap_or(DEFAULT_EMAIL_HEX),
            }
        }
        "fake" => {
            let Some(d) = &r.dictionary else {
                return Err(missing("dictionary"));
            };
            let dictionary = match d.get_ref().as_str() {
                "first_name" => Dictionary::FirstName,
                "last_name" => Dictionary::LastName,
                "full_name" => Dictionary::FullName,
                "city" => Dictionary::City,
                "phone" => Dictionary::Phone,
                other => {
                    return Err(cx.err(
                        d.span(),
                        &format!("{key}.dictionary"),
                        format!(
                            "unknown dictionary `{other}` (expected first_name, last_name, full_name, city or phone)"
                        ),
                    ));
                }
            };
            Strategy::Fake { dictionary }
        }
        "partial" => {
            let (keep, v, k) = match (&r.keep_first, &r.keep_last) {
                (Some(v), None) => (Keep::First, v, "keep_first"),
                (None, Some(v)) => (Keep::Last, v, "keep_last"),
                _ => {
                    return Err(cx.err(
                        rule.span(),
                        key,
                        "strategy `partial` requires exactly one of `keep_first` or `keep_last`",
                    ));
                }
            };
            let count = u32::try_from(int_in(v, k, 0, 10_000)?).unwrap_or(0);
            let mask_char = match &r.mask_char {
                Some(m) => {
                    let mut cs = m.get_ref().chars();
                    match (cs.next(), cs.next()) {
                        (Some(c), None) if c.is_ascii_graphic() && c != '\'' && c != '\\' => c,
                        _ => {
                            return Err(cx.err(
                                m.span(),
                                &format!("{key}.mask_char"),
                                "must be exactly one printable ASCII character other than space, quote or backslash",
                            ));
                        }
                    }
                }
                None => '*',
            };
            Strategy::Partial {
                keep,
                count,
                mask_char,
            }
        }
        "fixed" => {
            let Some(v) = &r.value else {
                return Err(missing("value"));
            };
            let value = v.get_ref().render();
            if value.contains('\0') {
                return Err(cx.err(v.span(), &format!("{key}.value"), "must not contain NUL"));
            }
            Strategy::Fixed { value, keep_null }
        }
        "null" => Strategy::Null,
        "date_shift" => {
            let Some(v) = &r.max_days else {
                return Err(missing("max_days"));
            };
            let max_days = u32::try_from(int_in(v, "max_days", 1, 36_500)?).unwrap_or(1);
            let keep_dates = match &r.keep_dates {
                None => DEFAULT_KEEP_DATES.iter().map(|s| s.to_string()).collect(),
                Some(list) => {
                    if let Some(bad) = list.get_ref().iter().find(|s| !is_plain_date(s)) {
                        return Err(cx.err(
                            list.span(),
                            &format!("{key}.keep_dates"),
                            format!("`{bad}` is not a YYYY-MM-DD date"),
                        ));
                    }
                    list.get_ref().clone()
                }
            };
            Strategy::DateShift {
                max_days,
                keep_dates,
            }
        }
        "noise" => {
            let Some(v) = &r.percent else {
                return Err(missing("percent"));
            };
            let pkey = format!("{key}.percent");
            let p = match v.get_ref() {
                RawScalar::Int(i) => *i as f64,
                RawScalar::Float(f) => *f,
                _ => return Err(cx.err(v.span(), &pkey, "must be a number")),
            };
            if !(p.is_finite() && p > 0.0 && p <= 100.0) {
                return Err(cx.err(v.span(), &pkey, format!("must be > 0 and <= 100, got {p}")));
            }
            Strategy::Noise {
                percent: format!("{p}"),
            }
        }
        "sql" => {
            let Some(e) = &r.expression else {
                return Err(missing("expression"));
            };
            let ekey = format!("{key}.expression");
            let expression = raw_fragment(cx, e, &ekey, "SQL expression")?;
            if expression.contains("{salt}") {
                return Err(cx.err(
                    e.span(),
                    &ekey,
                    "`{salt}` is no longer available: the key is not in the session as such; use `{hmac}` (the keyed HMAC-SHA256 hex of the column)",
                ));
            }
            let check = match &r.check {
                Some(c) => Some(raw_fragment(
                    cx,
                    c,
                    &format!("{key}.check"),
                    "SQL condition",
                )?),
                None => None,
            };
            Strategy::Sql {
                expression,
                keep_null,
                check,
            }
        }
        _ => return Err(missing("strategy")),
    }))
}

fn validate_hook(cx: &Ctx<'_>, i: usize, hook: &Spanned<RawHook>) -> Result<HookRule, MaskError> {
    let base = format!("hooks[{i}]");
    let h = hook.get_ref();
    let phase = match &h.phase {
        None => Phase::After,
        Some(p) => match p.get_ref().as_str() {
            "before" => Phase::Before,
            "after" => Phase::After,
            other => {
                return Err(cx.err(
                    p.span(),
                    &format!("{base}.phase"),
                    format!("unknown phase `{other}` (expected `before` or `after`)"),
                ));
            }
        },
    };
    let tables = match &h.tables {
        Some(t) => {
            for name in t.get_ref() {
                if !is_valid_table_name(name) {
                    return Err(cx.err(
                        t.span(),
                        &format!("{base}.tables"),
                        format!("invalid table name `{name}`"),
                    ));
                }
            }
            Some(t.get_ref().clone())
        }
        None => None,
    };
    let kind_name = h.kind.get_ref().as_str();
    let kind = match kind_name {
        "sql" => {
            let Some(s) = &h.statements else {
                return Err(cx.err(
                    hook.span(),
                    &format!("{base}.statements"),
                    "hook `sql` requires `statements`",
                ));
            };
            if s.get_ref().is_empty() || s.get_ref().iter().any(|st| st.trim().is_empty()) {
                return Err(cx.err(
                    s.span(),
                    &format!("{base}.statements"),
                    "must be a non-empty list of non-empty statements",
                ));
            }
            if tables.is_some() {
                return Err(cx.err(
                    hook.span(),
                    &format!("{base}.tables"),
                    "`tables` does not apply to hook `sql`",
                ));
            }
            HookKind::Sql {
                statements: s.get_ref().clone(),
            }
        }
        "sync_sequences" | "enable_triggers" | "enable_foreign_keys" => {
            if let Some(s) = &h.statements {
                return Err(cx.err(
                    s.span(),
                    &format!("{base}.statements"),
                    format!("`statements` does not apply to hook `{kind_name}`"),
                ));
            }
            match kind_name {
                "sync_sequences" => HookKind::SyncSequences { tables },
                "enable_triggers" => HookKind::EnableTriggers { tables },
                _ => HookKind::EnableForeignKeys { tables },
            }
        }
        other => {
            return Err(cx.err(
                h.kind.span(),
                &format!("{base}.kind"),
                format!(
                    "unknown hook kind `{other}` (expected sql, sync_sequences, enable_triggers or enable_foreign_keys)"
                ),
            ));
        }
    };
    Ok(HookRule {
        kind,
        phase,
        origin: cx.origin(hook.span(), &base),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> (Option<usize>, String, String) {
        match Rules::parse(src, "r.toml").unwrap_err() {
            MaskError::Rules {
                file,
                line,
                key,
                message,
            } => {
                assert_eq!(file, "r.toml");
                (line, key, message)
            }
            other => panic!("unexpected error {other}"),
        }
    }

    const GOOD: &str = r##"
version = 1
[settings]
chunk_threshold = 10
chunk_size = 5

[tables.customers]
chunk_size = 3
[tables.customers.columns]
email = { strategy = "email" }
first_name = { strategy = "fake", dictionary = "first_name" }
phone = { strategy = "partial", keep_last = 4, mask_char = "#" }
birth_date = { strategy = "date_shift", max_days = 30 }
notes = { strategy = "fixed", value = "redacted" }
token = { strategy = "hash", length = 12 }

[tables."app.orders"]
delete_where = "created_at < '2020-01-01'"
columns.amount = { strategy = "noise", percent = 5 }

[[hooks]]
kind = "sql"
phase = "before"
statements = ["UPDATE t SET x = 1"]

[[hooks]]
kind = "sync_sequences"
"##;

    #[test]
    fn parses_a_full_file() {
        let r = Rules::parse(GOOD, "r.toml").unwrap();
        assert_eq!(r.settings.chunk_threshold, 10);
        assert_eq!(r.tables.len(), 2);
        let c = &r.tables[1];
        assert_eq!(c.name, "customers");
        assert_eq!(c.chunk_size, Some(3));
        let email = c.columns.iter().find(|c| c.column == "email").unwrap();
        assert_eq!(
            email.strategy,
            Strategy::Email {
                domain: "example.invalid".into(),
                hex_length: 32
            }
        );
        assert_eq!(email.origin.line, Some(10));
        assert!(c.columns.iter().any(|c| c.strategy
            == Strategy::Partial {
                keep: Keep::Last,
                count: 4,
                mask_char: '#'
            }));
        assert!(
            c.columns
                .iter()
                .any(|c| c.strategy == Strategy::Hash { length: 12 })
        );
        let o = &r.tables[0];
        assert_eq!(o.name, "app.orders");
        assert!(o.has_actions());
        assert_eq!(
            o.columns[0].strategy,
            Strategy::Noise {
                percent: "5".into()
            }
        );
        assert_eq!(r.hooks.len(), 2);
        assert_eq!(r.hooks[0].phase, Phase::Before);
        assert_eq!(r.hooks[1].phase, Phase::After);
        assert_eq!(r.hooks[1].kind, HookKind::SyncSequences { tables: None });
        assert_eq!(r.fingerprint.len(), 16);
    }

    #[test]
    fn bad_toml_names_line() {
        let (line, key, msg) = err("[tables.t]\ncolumns.c = { strategy = \"hash\" \n");
        assert_eq!(line, Some(2), "{msg}");
        assert_eq!(key, "(syntax)");
    }

    #[test]
    fn unknown_strategy_names_key_and_line() {
        let (line, key, msg) =
            err("[tables.t.columns]\na = { strategy = \"null\" }\nb = { strategy = \"hsah\" }\n");
        assert_eq!(line, Some(3));
        assert_eq!(key, "tables.t.columns.b.strategy");
        assert!(msg.contains("unknown strategy `hsah`"), "{msg}");
    }

    #[test]
    fn missing_key_is_reported() {
        let (line, key, msg) = err("[tables.t.columns]\n\nb = { dictionary = \"city\" }\n");
        assert_eq!(key, "tables.t.columns.b");
        assert!(msg.contains("strategy"), "{msg}");
        assert_eq!(line, Some(3));
        let (_, key, msg) = err("[tables.t.columns]\nb = { strategy = \"fake\" }\n");
        assert_eq!(key, "tables.t.columns.b.dictionary");
        assert!(msg.contains("requires `dictionary`"), "{msg}");
    }

    #[test]
    fn unknown_field_and_misplaced_option() {
        let (line, key, msg) = err("[tables.t.columns]\nb = { strategy = \"hash\", lenght = 3 }\n");
        assert_eq!(line, Some(2));
        assert!(key.starts_with("tables.t.columns.b"), "{key}");
        assert!(msg.contains("lenght"), "{msg}");
        let (_, key, msg) = err("[tables.t.columns]\nb = { strategy = \"email\", length = 3 }\n");
        assert_eq!(key, "tables.t.columns.b.length");
        assert!(msg.contains("does not apply"), "{msg}");
    }

    #[test]
    fn value_checks() {
        let (_, key, msg) =
            err("[tables.t.columns]\nb = { strategy = \"email\", domain = \"gmail.com\" }\n");
        assert_eq!(key, "tables.t.columns.b.domain");
        assert!(msg.contains("reserved"), "{msg}");
        let (_, key, _) = err("[tables.t.columns]\nb = { strategy = \"hash\", length = 65 }\n");
        assert_eq!(key, "tables.t.columns.b.length");
        let (_, key, _) = err("[tables.t.columns]\nb = { strategy = \"noise\", percent = 0 }\n");
        assert_eq!(key, "tables.t.columns.b.percent");
        let (_, _, msg) = err(
            "[tables.t.columns]\nb = { strategy = \"partial\", keep_first = 1, keep_last = 2 }\n",
        );
        assert!(msg.contains("exactly one"), "{msg}");
        let (_, key, _) = err("[tables.\"a.b.c\".columns]\nb = { strategy = \"null\" }\n");
        assert_eq!(key, "tables.a.b.c");
        let (_, key, _) = err("[tables.t.columns]\n\"b;drop\" = { strategy = \"null\" }\n");
        assert_eq!(key, "tables.t.columns.b;drop");
        let (_, key, _) = err("[[hooks]]\nkind = \"vacuum\"\n");
        assert_eq!(key, "hooks[0].kind");
        let (_, key, _) =
            err("[[hooks]]\nkind = \"sql\"\nphase = \"during\"\nstatements = [\"x\"]\n");
        assert_eq!(key, "hooks[0].phase");
        let (_, key, _) = err("[tables.t]\ntruncate = false\n");
        assert_eq!(key, "tables.t");
        let (_, key, _) = err("");
        assert_eq!(key, "(root)");
    }

    #[test]
    fn reserved_domains() {
        for ok in [
            "example.invalid",
            "masked.example",
            "x.test",
            "example.com",
            "mail.example.org",
        ] {
            assert!(is_reserved_domain(ok), "{ok}");
        }
        for bad in [
            "gmail.com",
            "example.co",
            "notexample.com",
            "",
            "a..invalid",
            "UPPER.invalid",
            "x.invalid.",
        ] {
            assert!(!is_reserved_domain(bad), "{bad}");
        }
    }

    #[test]
    fn identifiers() {
        assert!(is_valid_identifier("customer_email"));
        assert!(!is_valid_identifier("1abc"));
        assert!(!is_valid_identifier("a-b"));
        assert!(!is_valid_identifier("a`b"));
        assert!(is_valid_table_name("public.orders"));
        assert!(!is_valid_table_name("a.b.c"));
    }
}
