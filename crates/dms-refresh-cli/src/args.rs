//! Command-line parsing, by hand: two subcommands and a handful of options.
//! The scanner and the connection options every subcommand shares are here;
//! `validate`'s own options are in [`crate::validate_args`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use masking::Dialect;

use crate::validate_args::{self, VALIDATE_USAGE, ValidateArgs};

/// Default number of non-NULL values sampled per text column.
pub const DEFAULT_SAMPLE: u32 = 200;
/// Upper bound of `--sample`.
pub const MAX_SAMPLE: u32 = 100_000;

/// Help text of `dms-refresh suggest`.
pub const SUGGEST_USAGE: &str = "\
usage: dms-refresh suggest (--url <url> [--engine mysql|postgres] | --secret-file <path>)
                           [--schema <name>] [--rules <rules.toml>] [--sample <n>]
                           [--tls disable|prefer|require] [--json]

Lists the columns of one schema (PostgreSQL) or database (MySQL/MariaDB) that
no rule masks and whose names or sampled values look personal, and prints a
rules fragment to paste into the masking rules file. Nothing is changed.

  --engine        mysql (also MariaDB) or postgres; implied by the URL scheme
  --url           mysql://user[:password]@host[:port][/db] or
                  postgres://user[:password]@host[:port]/db
  --secret-file   JSON file in the RDS secret format
                  {\"engine\",\"host\",\"port\",\"username\",\"password\",\"dbname\"}
  --schema        schema (PostgreSQL, default public) or database (MySQL,
                  default: the connection's database)
  --rules         masking rules file; columns it masks are not reported
  --sample        values sampled per text column (default 200, 1..=100000)
  --tls           transport security (default: the URL's own setting;
                  `require` for --secret-file)
  --json          one JSON object on stdout instead of text

exit status: 0 no finding, 1 findings, 2 usage, connection or rules error";

/// Help text of every subcommand.
pub fn usage() -> String {
    format!("{SUGGEST_USAGE}\n\n{VALIDATE_USAGE}")
}

/// Where the connection comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A connection URL (may hold a password: never printed).
    Url(String),
    /// A file with an RDS-format secret.
    SecretFile(PathBuf),
}

/// Transport security chosen with `--tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it.
    Prefer,
    /// TLS or fail (certificate not verified).
    Require,
}

/// Where and how to connect: the options every subcommand shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnArgs {
    /// Engine given with `--engine`, if any.
    pub engine: Option<Dialect>,
    /// Where to connect.
    pub source: Source,
    /// Schema or MySQL database; `None` = the default.
    pub schema: Option<String>,
    /// `--tls`, if given.
    pub tls: Option<Tls>,
}

/// The options naming a connection.
pub const CONNECTION_OPTIONS: [&str; 5] =
    ["--engine", "--url", "--secret-file", "--schema", "--tls"];

/// Options of `dms-refresh suggest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestArgs {
    /// Where to connect.
    pub conn: ConnArgs,
    /// Rules file.
    pub rules: Option<PathBuf>,
    /// Values sampled per column.
    pub sample: u32,
    /// JSON output.
    pub json: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print this help text and exit 0.
    Help(String),
    /// Print the version and exit 0.
    Version,
    /// Run `suggest`.
    Suggest(SuggestArgs),
    /// Run `validate`.
    Validate(ValidateArgs),
}

/// Parse `argv` without the program name.
pub fn parse<I, S>(argv: I) -> Result<Command, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = argv.into_iter().map(Into::into).collect();
    match args.first().map(String::as_str) {
        None => Err("missing subcommand (expected `suggest` or `validate`)".into()),
        Some("-h" | "--help" | "help") => Ok(Command::Help(usage())),
        Some("-V" | "--version") => Ok(Command::Version),
        Some("suggest") => parse_suggest(&args[1..]),
        Some("validate") => validate_args::parse(&args[1..]),
        Some(other) => Err(format!(
            "unknown subcommand `{}` (expected `suggest` or `validate`)",
            redact(other)
        )),
    }
}

/// The options given to one subcommand, by name.
#[derive(Debug, Default)]
pub struct Given {
    values: BTreeMap<&'static str, String>,
    flags: BTreeSet<&'static str>,
}

impl Given {
    /// The value of an option, taken out.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }

    /// Whether a flag was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(name)
    }
}

/// Read a subcommand's arguments: `valued` options take a value (`--x v`
/// or `--x=v`, at most once), `flags` none. `Ok(None)`: help was asked for.
pub fn scan(
    args: &[String],
    valued: &[&'static str],
    flags: &[&'static str],
) -> Result<Option<Given>, String> {
    let mut given = Given::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if matches!(name, "-h" | "--help") {
            return Ok(None);
        }
        if inline.is_none()
            && let Some(flag) = flags.iter().find(|f| **f == name)
        {
            given.flags.insert(flag);
            continue;
        }
        let Some(option) = valued.iter().find(|v| **v == name) else {
            return Err(format!("unknown argument `{}`", redact(arg)));
        };
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("`{name}` needs a value"))?,
        };
        if given.values.insert(option, value).is_some() {
            return Err(format!("`{name}` given twice"));
        }
    }
    Ok(Some(given))
}

fn parse_suggest(args: &[String]) -> Result<Command, String> {
    let valued = [CONNECTION_OPTIONS.as_slice(), &["--rules", "--sample"]].concat();
    let Some(mut given) = scan(args, &valued, &["--json"])? else {
        return Ok(Command::Help(SUGGEST_USAGE.to_string()));
    };
    let conn = connection(&mut given)?;
    Ok(Command::Suggest(SuggestArgs {
        conn,
        rules: given.take("--rules").map(PathBuf::from),
        sample: given
            .take("--sample")
            .as_deref()
            .map_or(Ok(DEFAULT_SAMPLE), parse_sample)?,
        json: given.flag("--json"),
    }))
}

/// An unknown argument may be a mistyped URL: never echo a password.
fn redact(arg: &str) -> String {
    if arg.contains("://") || arg.contains('@') {
        "(value hidden)".into()
    } else {
        arg.to_string()
    }
}

/// The [`CONNECTION_OPTIONS`] of a subcommand.
pub fn connection(given: &mut Given) -> Result<ConnArgs, String> {
    let engine = given
        .take("--engine")
        .as_deref()
        .map(parse_engine)
        .transpose()?;
    let source = match (given.take("--url"), given.take("--secret-file")) {
        (Some(url), None) => Source::Url(url),
        (None, Some(path)) => Source::SecretFile(PathBuf::from(path)),
        (Some(_), Some(_)) => return Err("give either --url or --secret-file, not both".into()),
        (None, None) => return Err("missing connection: give --url or --secret-file".into()),
    };
    let schema = given.take("--schema").filter(|s| !s.is_empty());
    if let Some(s) = &schema
        && !crate::catalog::is_identifier(s)
    {
        return Err(format!(
            "invalid --schema `{s}`: must match [A-Za-z_][A-Za-z0-9_$]*"
        ));
    }
    Ok(ConnArgs {
        engine,
        source,
        schema,
        tls: given.take("--tls").as_deref().map(parse_tls).transpose()?,
    })
}

/// `mysql`/`mariadb` or `postgres`/`postgresql`.
pub fn parse_engine(s: &str) -> Result<Dialect, String> {
    match s.to_ascii_lowercase().as_str() {
        "mysql" | "mariadb" => Ok(Dialect::MySql),
        "postgres" | "postgresql" | "pg" => Ok(Dialect::Postgres),
        _ => Err(format!(
            "unknown --engine `{s}` (expected mysql or postgres)"
        )),
    }
}

fn parse_sample(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (1..=MAX_SAMPLE).contains(&n) => Ok(n),
        _ => Err(format!(
            "--sample must be a number 1..={MAX_SAMPLE}, got `{s}`"
        )),
    }
}

fn parse_tls(s: &str) -> Result<Tls, String> {
    match s {
        "disable" => Ok(Tls::Disable),
        "prefer" => Ok(Tls::Prefer),
        "require" => Ok(Tls::Require),
        _ => Err(format!(
            "unknown --tls `{s}` (expected disable, prefer or require)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suggest(argv: &[&str]) -> Result<SuggestArgs, String> {
        let mut all = vec!["suggest"];
        all.extend_from_slice(argv);
        match parse(all)? {
            Command::Suggest(a) => Ok(a),
            other => Err(format!("not suggest: {other:?}")),
        }
    }

    #[test]
    fn full_command_line() {
        let a = suggest(&[
            "--engine",
            "mysql",
            "--url=mysql://root@127.0.0.1:3306/app",
            "--schema",
            "app",
            "--rules",
            "r.toml",
            "--sample",
            "50",
            "--tls",
            "disable",
            "--json",
        ])
        .unwrap();
        assert_eq!(a.conn.engine, Some(Dialect::MySql));
        assert_eq!(
            a.conn.source,
            Source::Url("mysql://root@127.0.0.1:3306/app".into())
        );
        assert_eq!(a.conn.schema.as_deref(), Some("app"));
        assert_eq!(a.rules, Some(PathBuf::from("r.toml")));
        assert_eq!(a.sample, 50);
        assert_eq!(a.conn.tls, Some(Tls::Disable));
        assert!(a.json);
    }

    #[test]
    fn defaults() {
        let a = suggest(&["--secret-file", "s.json"]).unwrap();
        assert_eq!(a.conn.source, Source::SecretFile(PathBuf::from("s.json")));
        assert_eq!(a.sample, DEFAULT_SAMPLE);
        assert_eq!(
            (a.conn.engine, a.conn.schema, a.conn.tls, a.json),
            (None, None, None, false)
        );
    }

    #[test]
    fn errors() {
        assert!(parse(Vec::<String>::new()).is_err());
        assert!(parse(["frobnicate"]).is_err());
        assert!(suggest(&[]).unwrap_err().contains("--url or --secret-file"));
        assert!(suggest(&["--url", "x", "--secret-file", "y"]).is_err());
        assert!(suggest(&["--url"]).unwrap_err().contains("needs a value"));
        assert!(
            suggest(&["--url", "a", "--url", "b"])
                .unwrap_err()
                .contains("twice")
        );
        assert!(suggest(&["--url", "a", "--engine", "oracle"]).is_err());
        assert!(suggest(&["--url", "a", "--sample", "0"]).is_err());
        assert!(suggest(&["--url", "a", "--sample", "x"]).is_err());
        assert!(suggest(&["--url", "a", "--tls", "maybe"]).is_err());
        assert!(suggest(&["--url", "a", "--schema", "x;drop"]).is_err());
        assert!(suggest(&["--url", "a", "--json=yes"]).is_err());
        assert!(suggest(&["--url", "a", "--key-file", "k"]).is_err());
    }

    #[test]
    fn unknown_argument_never_echoes_a_url() {
        let e = suggest(&["mysql://u:hunter2@h/db"]).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let e = suggest(&["--bogus"]).unwrap_err();
        assert!(e.contains("--bogus"), "{e}");
    }

    #[test]
    fn help_and_version() {
        let Command::Help(all) = parse(["--help"]).unwrap() else {
            panic!("not help");
        };
        assert!(all.contains("dms-refresh suggest") && all.contains("dms-refresh validate"));
        assert_eq!(
            parse(["suggest", "-h"]).unwrap(),
            Command::Help(SUGGEST_USAGE.to_string())
        );
        assert_eq!(parse(["--version"]).unwrap(), Command::Version);
    }
}
