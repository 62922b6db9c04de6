//! Property-based fuzzing of the rules-file parser, `Rules::parse`: random
//! text, TOML-shaped documents, single column rules with random options, and
//! mutations of `examples/masking-rules.toml`.
//!
//! The parser must never panic; every error is a `MaskError::Rules` whose
//! text starts with the file name given, with a line inside the file; every
//! accepted file satisfies the documented limits (crate README).
//!
//! Bounded for CI: 1000 cases per property unless `PROPTEST_CASES` is set.
//! Longer, by hand:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test --release -p masking --test fuzz_rules -- --nocapture
//! ```
//!
//! Each property prints (straight to stderr, so even without `--nocapture`)
//! how many inputs it tried and the RNG seed; `PROPTEST_RNG_SEED=<seed>`
//! replays the same inputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;

use masking::rules::{is_reserved_domain, is_valid_identifier, is_valid_table_name};
use masking::{HookKind, MaskError, Rules, Strategy as Masking};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

/// Cases per property when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 1000;

const EXAMPLE: &str = include_str!("../../../examples/masking-rules.toml");

// ---------------------------------------------------------------------------
// runner

/// Run one property with the shared bounded, reporting runner.
fn check<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    fuzz_support::check("fuzz_rules", DEFAULT_CASES, name, strategy, test);
}

// ---------------------------------------------------------------------------
// what every outcome must satisfy

fn last_line(src: &str) -> usize {
    src.bytes().filter(|b| *b == b'\n').count() + 1
}

/// The documented limits of everything `Rules::parse` accepts, and the shape
/// of everything it rejects.
fn check_outcome(
    src: &str,
    file: &str,
    outcome: &Result<Rules, MaskError>,
) -> Result<(), TestCaseError> {
    let lines = last_line(src);
    let rules = match outcome {
        Ok(rules) => rules,
        Err(e) => {
            let text = e.to_string();
            prop_assert!(
                text.starts_with(file),
                "error does not start with the file name {file:?}: {text}"
            );
            let MaskError::Rules {
                file: f,
                line,
                key,
                message,
            } = e
            else {
                return Err(TestCaseError::fail(format!("not a rules error: {e:?}")));
            };
            prop_assert_eq!(f, file);
            if let Some(l) = line {
                prop_assert!((1..=lines).contains(l), "line {l} of {lines}: {text}");
            }
            prop_assert!(!key.is_empty(), "no key: {text}");
            prop_assert!(!message.is_empty(), "no message: {text}");
            return Ok(());
        }
    };
    prop_assert_eq!(&rules.file, file);
    prop_assert!(!rules.tables.is_empty() || !rules.hooks.is_empty());
    prop_assert!(
        rules.fingerprint.len() == 16 && rules.fingerprint.bytes().all(|b| b.is_ascii_hexdigit())
    );
    prop_assert!((1..=100_000_000).contains(&rules.settings.chunk_size));
    for t in &rules.tables {
        prop_assert!(is_valid_table_name(&t.name), "table {:?}", t.name);
        prop_assert!(!(t.truncate && t.delete_where.is_some()));
        prop_assert!(!t.columns.is_empty() || !t.kept.is_empty() || t.has_actions());
        if let Some(c) = t.chunk_size {
            prop_assert!((1..=100_000_000).contains(&c));
        }
        if let Some(d) = &t.delete_where {
            prop_assert!(!d.is_empty() && !d.contains(';') && d.trim() == d);
        }
        prop_assert_eq!(&t.origin.file, file);
        for c in &t.columns {
            prop_assert!(is_valid_identifier(&c.column), "column {:?}", c.column);
            prop_assert_eq!(&c.origin.file, file);
            prop_assert!(c.origin.line.is_some_and(|l| (1..=lines).contains(&l)));
            check_strategy(&c.strategy)?;
        }
    }
    for h in &rules.hooks {
        match &h.kind {
            HookKind::Sql { statements } => {
                prop_assert!(!statements.is_empty());
                prop_assert!(statements.iter().all(|s| !s.trim().is_empty()));
            }
            HookKind::SyncSequences { tables }
            | HookKind::EnableTriggers { tables }
            | HookKind::EnableForeignKeys { tables } => {
                for t in tables.iter().flatten() {
                    prop_assert!(is_valid_table_name(t), "hook table {t:?}");
                }
            }
        }
    }
    Ok(())
}

/// The ranges of the README's strategy table.
fn check_strategy(s: &Masking) -> Result<(), TestCaseError> {
    match s {
        Masking::Hash { length } => prop_assert!((1..=64).contains(length)),
        Masking::Email { domain, hex_length } => {
            prop_assert!((16..=64).contains(hex_length));
            prop_assert!(is_reserved_domain(domain), "domain {domain:?}");
        }
        Masking::Fake { .. } | Masking::Null => {}
        Masking::Partial {
            count, mask_char, ..
        } => {
            prop_assert!(*count <= 10_000);
            prop_assert!(mask_char.is_ascii_graphic() && !matches!(mask_char, '\'' | '\\'));
        }
        Masking::Fixed { value, .. } => prop_assert!(!value.contains('\0')),
        Masking::DateShift {
            max_days,
            keep_dates,
        } => {
            prop_assert!((1..=36_500).contains(max_days));
            prop_assert!(keep_dates.iter().all(|d| d.len() == 10));
        }
        Masking::Noise { percent } => {
            let p: f64 = percent
                .parse()
                .map_err(|_| TestCaseError::fail(format!("percent {percent:?}")))?;
            prop_assert!(p > 0.0 && p <= 100.0, "percent {percent}");
        }
        Masking::Sql {
            expression, check, ..
        } => {
            prop_assert!(!expression.is_empty() && !expression.contains(';'));
            prop_assert_eq!(expression.trim(), expression.as_str());
            if let Some(c) = check {
                prop_assert!(!c.is_empty() && !c.contains(';'));
            }
        }
    }
    Ok(())
}

/// Parse and check.
fn parse_checked(src: &str, file: &str) -> Result<Result<Rules, MaskError>, TestCaseError> {
    let outcome = Rules::parse(src, file);
    check_outcome(src, file, &outcome)?;
    Ok(outcome)
}

// ---------------------------------------------------------------------------
// strategies

fn file_name() -> BoxedStrategy<String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "masking-rules.toml",
            "examples/masking-rules.toml",
            "/var/task/rules.toml",
            "s3://bucket/key:with:colons.toml",
            "r.toml:12",
        ])
        .prop_map(str::to_owned),
        1 => "[A-Za-z0-9_./: -]{1,30}",
        1 => "[^\\x00]{1,12}",
    ]
    .boxed()
}

const STRATEGIES: &[&str] = &[
    "hash",
    "email",
    "fake",
    "partial",
    "fixed",
    "null",
    "date_shift",
    "noise",
    "sql",
];

const OPTION_KEYS: &[&str] = &[
    "length",
    "domain",
    "hex_length",
    "dictionary",
    "keep_first",
    "keep_last",
    "mask_char",
    "value",
    "keep_null",
    "max_days",
    "percent",
    "expression",
    "check",
];

/// The README's "column keys per strategy" table.
fn allowed_keys(strategy: &str) -> &'static [&'static str] {
    match strategy {
        "hash" => &["length"],
        "email" => &["domain", "hex_length"],
        "fake" => &["dictionary"],
        "partial" => &["keep_first", "keep_last", "mask_char"],
        "fixed" => &["value", "keep_null"],
        "date_shift" => &["max_days"],
        "noise" => &["percent"],
        "sql" => &["expression", "keep_null", "check"],
        _ => &[],
    }
}

/// A TOML basic string holding `s`.
fn quote(s: &str) -> String {
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

fn toml_string() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "hash", "email", "fake", "partial", "fixed", "null", "date_shift", "noise", "sql",
            "hsah", "first_name", "last_name", "full_name", "city", "phone", "before", "after",
            "sync_sequences", "enable_triggers", "enable_foreign_keys", "example.invalid",
            "example.com", "gmail.com", "EXAMPLE.TEST", "*", "**", "'", "\\", " ", "", "id < 0",
            "x; DROP TABLE t", "{column}", "{salt}", "a\u{0}b", "customers", "app.orders",
            "a.b.c", "1abc",
        ])
        .prop_map(quote),
        2 => "(?s).{0,12}".prop_map(|s| quote(&s)),
        // Literal strings and raw text between quotes (often invalid).
        1 => "[^'\\n]{0,12}".prop_map(|s| format!("'{s}'")),
        1 => "[^\\n]{0,12}".prop_map(|s| format!("\"{s}\"")),
    ]
    .boxed()
}

fn toml_scalar() -> BoxedStrategy<String> {
    prop_oneof![
        3 => toml_string(),
        2 => prop_oneof![
            any::<i64>(),
            -2..70i64,
            prop::sample::select(vec![0, 1, 4, 15, 16, 64, 65, 10_000, 10_001, 36_500, 36_501,
                100_000_000, 100_000_001, i64::MIN, i64::MAX]),
        ]
        .prop_map(|i| i.to_string()),
        1 => prop_oneof![
            any::<f64>().prop_map(|f| format!("{f:?}")),
            prop::sample::select(vec!["nan", "+inf", "-inf", "-0.0", "0.0", "1e-300", "100.0",
                "100.00000000000001", "5e1", "1_000", "0x10", "1979-05-27"])
            .prop_map(str::to_owned),
        ],
        1 => any::<bool>().prop_map(|b| b.to_string()),
    ]
    .boxed()
}

fn toml_key() -> BoxedStrategy<String> {
    let mut keys = vec![
        "version",
        "settings",
        "chunk_threshold",
        "chunk_size",
        "disable_fk_checks",
        "tables",
        "truncate",
        "delete_where",
        "columns",
        "hooks",
        "kind",
        "phase",
        "statements",
        "strategy",
        "email",
        "first_name",
        "tables.customers.columns.email",
        "columns.amount",
        "\"app.orders\"",
        "\"\"",
    ];
    keys.extend_from_slice(OPTION_KEYS);
    prop_oneof![
        8 => prop::sample::select(keys).prop_map(str::to_owned),
        2 => "[A-Za-z_][A-Za-z0-9_-]{0,8}(\\.[A-Za-z_][A-Za-z0-9_]{0,8})?",
        1 => "[A-Za-z0-9_.$\"-]{1,14}",
    ]
    .boxed()
}

fn toml_value() -> BoxedStrategy<String> {
    toml_scalar()
        .prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec((toml_key(), inner), 0..5).prop_map(|kv| {
                    let body: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                    format!("{{ {} }}", body.join(", "))
                }),
            ]
        })
        .boxed()
}

fn toml_line() -> BoxedStrategy<String> {
    prop_oneof![
        2 => prop_oneof![
            prop::sample::select(vec![
                "[settings]", "[tables]", "[tables.customers]", "[tables.customers.columns]",
                "[tables.\"app.orders\"]", "[tables.\"app.orders\".columns]", "[[hooks]]",
                "[hooks]", "[[tables.x]]", "[tables.1bad.columns]", "[tables.a.b.c]",
            ])
            .prop_map(str::to_owned),
            "[A-Za-z0-9_$.\"-]{0,12}".prop_map(|t| format!("[tables.{t}.columns]")),
        ],
        8 => (toml_key(), toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => "[ -~]{0,20}".prop_map(|c| format!("# {c}")),
        1 => Just(String::new()),
        1 => "[^\\n]{0,20}",
    ]
    .boxed()
}

/// A value for one column option: mostly of the right type, near the limits.
fn option_value(key: &str) -> BoxedStrategy<String> {
    let specific: BoxedStrategy<String> = match key {
        "length" | "hex_length" | "keep_first" | "keep_last" | "max_days" => prop_oneof![
            -2..70i64,
            prop::sample::select(vec![10_000, 10_001, 36_500, 36_501, i64::MAX, i64::MIN]),
        ]
        .prop_map(|i| i.to_string())
        .boxed(),
        "domain" => prop_oneof![
            prop::sample::select(vec![
                "example.invalid",
                "x.example",
                "a.test",
                "example.com",
                "mail.example.org",
                "Example.COM",
                "gmail.com",
                "example.com.",
                "-a.test",
                "a..test",
                "test",
                "invalid",
                "xn--d1acufc.test",
                "",
            ])
            .prop_map(str::to_owned),
            "[a-zA-Z0-9.-]{0,20}(\\.test|\\.invalid)?",
        ]
        .prop_map(|s| quote(&s))
        .boxed(),
        "dictionary" => prop::sample::select(vec![
            "first_name",
            "last_name",
            "full_name",
            "city",
            "phone",
            "City",
            "",
        ])
        .prop_map(quote)
        .boxed(),
        "mask_char" => prop_oneof![
            prop::sample::select(vec!["*", "#", "x", " ", "'", "\\", "**", "", "é", "\u{0}"])
                .prop_map(str::to_owned),
            any::<char>().prop_map(String::from),
        ]
        .prop_map(|s| quote(&s))
        .boxed(),
        "keep_null" => prop_oneof![Just("true".to_owned()), Just("false".to_owned())].boxed(),
        "percent" => prop_oneof![
            prop::sample::select(vec![
                "5",
                "0",
                "100",
                "101",
                "-1",
                "0.0",
                "-0.0",
                "100.0",
                "100.00000000000001",
                "1e-320",
                "nan",
                "inf",
                "\"5\"",
                "true",
            ])
            .prop_map(str::to_owned),
            (0.0..120.0f64).prop_map(|f| format!("{f:?}")),
        ]
        .boxed(),
        "expression" | "check" => prop_oneof![
            prop::sample::select(vec![
                "UPPER({column})",
                "SHA2(CONCAT({salt}, {column}), 256)",
                "",
                "  ",
                "x; y",
                "{column} IS NOT NULL",
                " LOWER({column}) ",
            ])
            .prop_map(str::to_owned),
            "(?s).{0,16}",
        ]
        .prop_map(|s| quote(&s))
        .boxed(),
        _ => prop_oneof![
            toml_string(),
            any::<i64>().prop_map(|i| i.to_string()),
            (-1e6..1e6f64).prop_map(|f| format!("{f:?}")),
            any::<bool>().prop_map(|b| b.to_string()),
        ]
        .boxed(),
    };
    prop_oneof![
        8 => specific,
        1 => toml_scalar(),
    ]
    .boxed()
}

/// One column rule: a strategy name (sometimes unknown), mostly its own
/// options, and sometimes one that does not belong to it.
#[derive(Debug, Clone)]
struct ColumnCase {
    strategy: String,
    /// Shown in failure reports.
    #[allow(dead_code)]
    options: Vec<(String, String)>,
    foreign: bool,
    src: String,
}

fn column_case() -> BoxedStrategy<ColumnCase> {
    let name = prop_oneof![
        8 => prop::sample::select(STRATEGIES).prop_map(str::to_owned),
        1 => "[a-z_]{0,10}",
    ];
    (
        name,
        prop::option::weighted(0.15, prop::sample::select(OPTION_KEYS)),
    )
        .prop_flat_map(|(strategy, extra)| {
            let allowed = allowed_keys(&strategy);
            let own = prop::sample::subsequence(allowed, 0..=allowed.len());
            let foreign = extra.filter(|k| !allowed.contains(k));
            (Just(strategy), own, Just(foreign))
        })
        .prop_flat_map(|(strategy, own, foreign)| {
            let keys: Vec<&'static str> = own.into_iter().chain(foreign).collect();
            let values: Vec<_> = keys
                .into_iter()
                .map(|k| option_value(k).prop_map(move |v| (k.to_owned(), v)))
                .collect();
            (Just(strategy), values, Just(foreign.is_some()))
        })
        .prop_map(|(strategy, options, foreign)| {
            let mut body = format!("strategy = {}", quote(&strategy));
            for (k, v) in &options {
                body.push_str(&format!(", {k} = {v}"));
            }
            let src = format!("version = 1\n\n[tables.customers.columns]\ncol = {{ {body} }}\n");
            ColumnCase {
                strategy,
                options,
                foreign,
                src,
            }
        })
        .boxed()
}

/// One edit of a text.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    InsertLine(Index, String),
    ReplaceChar(Index, char),
    InsertChar(Index, char),
    DeleteChar(Index),
    /// Replace the contents of one `"..."` string with a word.
    ReplaceString(Index, String),
    Truncate(Index),
}

fn mutation() -> BoxedStrategy<Mutation> {
    let any_char = prop_oneof![
        3 => prop::sample::select(vec![
            '"', '\'', '=', '[', ']', '{', '}', ',', '.', '#', '\n', ' ', '\\', '0', '9', '-',
            'a', '_', '\u{0}', '\u{7f}', 'é', '\u{feff}',
        ]),
        1 => any::<char>(),
    ];
    let word = prop_oneof![
        2 => prop::sample::select(STRATEGIES).prop_map(str::to_owned),
        2 => "[a-z_]{0,10}",
        1 => "[^\"\\\\\\n]{0,10}",
    ];
    prop_oneof![
        1 => any::<Index>().prop_map(Mutation::DeleteLine),
        1 => any::<Index>().prop_map(Mutation::DuplicateLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => (any::<Index>(), toml_line()).prop_map(|(i, l)| Mutation::InsertLine(i, l)),
        1 => (any::<Index>(), any_char.clone()).prop_map(|(i, c)| Mutation::ReplaceChar(i, c)),
        1 => (any::<Index>(), any_char).prop_map(|(i, c)| Mutation::InsertChar(i, c)),
        1 => any::<Index>().prop_map(Mutation::DeleteChar),
        2 => (any::<Index>(), word).prop_map(|(i, w)| Mutation::ReplaceString(i, w)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
    .boxed()
}

/// Byte ranges of the contents of the `"..."` strings of `src` (naive: one
/// line at a time, no escapes; good enough for the example).
fn string_spans(src: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in src.char_indices() {
        match (c, start) {
            ('"', None) => start = Some(i + 1),
            ('"', Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            ('\n', _) => start = None,
            _ => {}
        }
    }
    spans
}

fn apply(src: &str, m: &Mutation) -> String {
    let mut lines: Vec<&str> = src.split('\n').collect();
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let at = |i: &Index| {
        chars
            .get(i.index(chars.len().max(1)))
            .map_or(src.len(), |c| c.0)
    };
    match m {
        Mutation::DeleteLine(i) => {
            lines.remove(i.index(lines.len()));
            lines.join("\n")
        }
        Mutation::DuplicateLine(i) => {
            let i = i.index(lines.len());
            lines.insert(i, lines[i]);
            lines.join("\n")
        }
        Mutation::SwapLines(a, b) => {
            let n = lines.len();
            lines.swap(a.index(n), b.index(n));
            lines.join("\n")
        }
        Mutation::InsertLine(i, l) => {
            let i = i.index(lines.len() + 1);
            lines.insert(i, l);
            lines.join("\n")
        }
        Mutation::ReplaceChar(i, c) => {
            let p = at(i);
            let len = src[p..].chars().next().map_or(0, char::len_utf8);
            format!("{}{c}{}", &src[..p], &src[p + len..])
        }
        Mutation::InsertChar(i, c) => {
            let p = at(i);
            format!("{}{c}{}", &src[..p], &src[p..])
        }
        Mutation::DeleteChar(i) => {
            let p = at(i);
            let len = src[p..].chars().next().map_or(0, char::len_utf8);
            format!("{}{}", &src[..p], &src[p + len..])
        }
        Mutation::ReplaceString(i, w) => {
            let spans = string_spans(src);
            if spans.is_empty() {
                return src.to_owned();
            }
            let (s, e) = spans[i.index(spans.len())];
            format!("{}{w}{}", &src[..s], &src[e..])
        }
        Mutation::Truncate(i) => src[..at(i)].to_owned(),
    }
}

/// The example's `strategy = "..."` values: byte range and 1-based line.
fn strategy_values(src: &str) -> Vec<(usize, usize, usize)> {
    let mut found = Vec::new();
    let mut offset = 0;
    for (n, line) in src.split('\n').enumerate() {
        if !line.trim_start().starts_with('#')
            && let Some(p) = line.find("strategy = \"")
        {
            let s = offset + p + "strategy = \"".len();
            let len = src[s..].find('"').unwrap();
            found.push((s, s + len, n + 1));
        }
        offset += line.len() + 1;
    }
    found
}

// ---------------------------------------------------------------------------
// properties

#[test]
fn the_example_parses() {
    let rules = Rules::parse(EXAMPLE, "examples/masking-rules.toml").unwrap();
    check_outcome(EXAMPLE, "examples/masking-rules.toml", &Ok(rules.clone())).unwrap();
    assert!(!rules.tables.is_empty() && !rules.hooks.is_empty());
    // The mutations below find every column rule of the example.
    let columns: usize = rules
        .tables
        .iter()
        .map(|t| t.columns.len() + t.kept.len())
        .sum();
    assert!(columns > 0);
    assert_eq!(strategy_values(EXAMPLE).len(), columns);
}

#[test]
fn any_text() {
    let input = (
        prop_oneof![
            3 => "(?s).{0,200}",
            1 => prop::collection::vec(any::<u8>(), 0..200)
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ],
        file_name(),
    );
    check("any_text", input, |(src, file)| {
        parse_checked(&src, &file).map(drop)
    });
}

#[test]
fn toml_shaped_documents() {
    let input = (prop::collection::vec(toml_line(), 0..12), file_name());
    check("toml_shaped_documents", input, |(lines, file)| {
        parse_checked(&lines.join("\n"), &file).map(drop)
    });
}

#[test]
fn column_rules() {
    check(
        "column_rules",
        (column_case(), file_name()),
        |(case, file)| {
            let outcome = parse_checked(&case.src, &file)?;
            let known = STRATEGIES.contains(&case.strategy.as_str());
            match &outcome {
                Ok(rules) => {
                    prop_assert!(known && !case.foreign, "accepted {}", case.src);
                    let column = &rules.tables[0].columns[0];
                    prop_assert_eq!(column.strategy.name(), case.strategy.as_str());
                    prop_assert_eq!(column.origin.line, Some(4));
                }
                // A value of the wrong type stops the file at the serde layer,
                // before the strategy is looked at: any error will do then.
                Err(MaskError::Rules { key, message, .. }) => {
                    if message.contains("unknown strategy") {
                        prop_assert!(!known, "{message}");
                        prop_assert_eq!(key, "tables.customers.columns.col.strategy");
                    }
                    if message.contains("does not apply") {
                        prop_assert!(case.foreign, "{message}");
                    }
                }
                Err(_) => {}
            }
            Ok(())
        },
    );
}

#[test]
fn mutations_of_the_example() {
    let input = (prop::collection::vec(mutation(), 1..5), file_name());
    check("mutations_of_the_example", input, |(mutations, file)| {
        let mut src = EXAMPLE.to_owned();
        for m in &mutations {
            src = apply(&src, m);
        }
        let outcome = parse_checked(&src, &file)?;
        if let Ok(rules) = outcome
            && src != EXAMPLE
        {
            // A run refuses to resume when the rules changed.
            let example = Rules::parse(EXAMPLE, &file).unwrap();
            prop_assert_ne!(rules.fingerprint, example.fingerprint);
        }
        Ok(())
    });
}

#[test]
fn comments_and_blank_lines_do_not_matter() {
    let removable: Vec<usize> = EXAMPLE
        .split('\n')
        .enumerate()
        .filter(|(_, l)| l.trim().is_empty() || l.trim_start().starts_with('#'))
        .map(|(i, _)| i)
        .collect();
    let example = Rules::parse(EXAMPLE, "r.toml").unwrap();
    let input = prop::sample::subsequence(removable.clone(), 1..=removable.len());
    check("comments_and_blank_lines_do_not_matter", input, |drop| {
        let src: Vec<&str> = EXAMPLE
            .split('\n')
            .enumerate()
            .filter(|(i, _)| !drop.contains(i))
            .map(|(_, l)| l)
            .collect();
        let src = src.join("\n");
        let rules = parse_checked(&src, "r.toml")?
            .map_err(|e| TestCaseError::fail(format!("rejected: {e}")))?;
        prop_assert_eq!(&rules.settings, &example.settings);
        prop_assert_eq!(rules.tables.len(), example.tables.len());
        for (a, b) in rules.tables.iter().zip(&example.tables) {
            prop_assert_eq!(&a.name, &b.name);
            prop_assert_eq!(&a.delete_where, &b.delete_where);
            let strategies = |t: &masking::TableRules| {
                t.columns
                    .iter()
                    .map(|c| (c.column.clone(), c.strategy.clone()))
                    .collect::<Vec<_>>()
            };
            prop_assert_eq!(strategies(a), strategies(b));
        }
        let kinds = |r: &Rules| r.hooks.iter().map(|h| h.kind.clone()).collect::<Vec<_>>();
        prop_assert_eq!(kinds(&rules), kinds(&example));
        prop_assert_ne!(rules.fingerprint, example.fingerprint.clone());
        Ok(())
    });
}

#[test]
fn an_unknown_strategy_is_pinpointed() {
    let values = strategy_values(EXAMPLE);
    let word = prop_oneof![
        "[a-z_]{0,12}",
        "[A-Za-z0-9 _.-]{0,12}",
        prop::sample::select(STRATEGIES).prop_map(|s| s.to_uppercase()),
        prop::sample::select(STRATEGIES).prop_map(|s| format!("{s} ")),
    ]
    .prop_filter("a known strategy", |w| !STRATEGIES.contains(&w.as_str()));
    let input = (any::<Index>(), word, file_name());
    check(
        "an_unknown_strategy_is_pinpointed",
        input,
        |(i, word, file)| {
            let (start, end, line) = values[i.index(values.len())];
            let src = format!("{}{word}{}", &EXAMPLE[..start], &EXAMPLE[end..]);
            let outcome = parse_checked(&src, &file)?;
            let Err(MaskError::Rules {
                line: got_line,
                key,
                message,
                ..
            }) = outcome
            else {
                return Err(TestCaseError::fail(format!("accepted strategy {word:?}")));
            };
            prop_assert_eq!(got_line, Some(line));
            prop_assert!(key.ends_with(".strategy"), "{key}");
            prop_assert!(
                message.contains(&format!("unknown strategy `{word}`")),
                "{message}"
            );
            Ok(())
        },
    );
}
