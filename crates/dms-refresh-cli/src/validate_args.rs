//! Options of `dms-refresh validate`.

use std::path::PathBuf;

use masking::validate::{DEFAULT_SAMPLE_ROWS, MAX_SAMPLE_ROWS};

use crate::args::{CONNECTION_OPTIONS, Command, ConnArgs, connection, scan};

/// Help text of `dms-refresh validate`.
pub const VALIDATE_USAGE: &str = "\
usage: dms-refresh validate --rules <rules.toml>
                            (--url <url> [--engine mysql|postgres] | --secret-file <path>)
                            [--schema <name>] [--sample <n>] [--key-file <path>]
                            [--reveal-originals] [--tls disable|prefer|require] [--json]

Checks a masking rules file against a live database as a masking run does
before its first write (tables, columns, types, lengths, unique indexes,
coverage, the server compiling every generated statement) and shows a few
rows before and after masking. Nothing is written: reads happen in a
read-only transaction that is rolled back.

  --rules             the masking rules file (required)
  --url, --secret-file, --engine, --tls
                      where to connect, as for `suggest`
  --schema            where bare table names of the rules live: schema
                      (PostgreSQL, default public) or database (MySQL,
                      default: the connection's database)
  --sample            rows shown per masked table (default 3, 0..=50)
  --key-file          file holding the masking key (the salt secret's value):
                      the samples are then what the run writes; without it
                      a random key is used for this run only
  --reveal-originals  also show the original values (hidden by default)
  --json              one JSON object on stdout instead of text

exit status: 0 no problem, 1 problems (the run would refuse these rules),
2 usage, unreadable file, connection or key error";

/// Options of `dms-refresh validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateArgs {
    /// Where to connect.
    pub conn: ConnArgs,
    /// The rules file.
    pub rules: PathBuf,
    /// Rows sampled per masked table.
    pub sample: u32,
    /// File with the masking key; `None`: a random key.
    pub key_file: Option<PathBuf>,
    /// Show original values.
    pub reveal_originals: bool,
    /// JSON output.
    pub json: bool,
}

/// Parse the arguments after `validate`.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let valued = [
        CONNECTION_OPTIONS.as_slice(),
        &["--rules", "--sample", "--key-file"],
    ]
    .concat();
    let Some(mut given) = scan(args, &valued, &["--json", "--reveal-originals"])? else {
        return Ok(Command::Help(VALIDATE_USAGE.to_string()));
    };
    let conn = connection(&mut given)?;
    let rules = given
        .take("--rules")
        .map(PathBuf::from)
        .ok_or("missing --rules: the rules file to validate")?;
    Ok(Command::Validate(ValidateArgs {
        conn,
        rules,
        sample: given
            .take("--sample")
            .as_deref()
            .map_or(Ok(DEFAULT_SAMPLE_ROWS), parse_sample)?,
        key_file: given.take("--key-file").map(PathBuf::from),
        reveal_originals: given.flag("--reveal-originals"),
        json: given.flag("--json"),
    }))
}

fn parse_sample(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n <= MAX_SAMPLE_ROWS => Ok(n),
        _ => Err(format!(
            "--sample must be a number 0..={MAX_SAMPLE_ROWS}, got `{s}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Source, Tls, parse as parse_all};
    use masking::Dialect;

    fn validate(argv: &[&str]) -> Result<ValidateArgs, String> {
        let mut all = vec!["validate"];
        all.extend_from_slice(argv);
        match parse_all(all)? {
            Command::Validate(a) => Ok(a),
            other => Err(format!("not validate: {other:?}")),
        }
    }

    #[test]
    fn full_command_line() {
        let a = validate(&[
            "--rules",
            "r.toml",
            "--url=postgres://u@h/db",
            "--engine",
            "postgres",
            "--schema",
            "crm",
            "--sample",
            "50",
            "--key-file",
            "key.txt",
            "--reveal-originals",
            "--tls",
            "disable",
            "--json",
        ])
        .unwrap();
        assert_eq!(a.rules, PathBuf::from("r.toml"));
        assert_eq!(a.conn.source, Source::Url("postgres://u@h/db".into()));
        assert_eq!(a.conn.engine, Some(Dialect::Postgres));
        assert_eq!(a.conn.schema.as_deref(), Some("crm"));
        assert_eq!(a.conn.tls, Some(Tls::Disable));
        assert_eq!(a.sample, 50);
        assert_eq!(a.key_file, Some(PathBuf::from("key.txt")));
        assert!(a.reveal_originals && a.json);
    }

    #[test]
    fn defaults() {
        let a = validate(&["--rules", "r.toml", "--secret-file", "s.json"]).unwrap();
        assert_eq!(a.sample, DEFAULT_SAMPLE_ROWS);
        assert_eq!(a.key_file, None);
        assert!(!a.reveal_originals && !a.json);
        assert_eq!(
            validate(&["--rules", "r", "--url", "u", "--sample", "0"])
                .unwrap()
                .sample,
            0
        );
    }

    #[test]
    fn errors() {
        assert!(
            validate(&["--url", "u"])
                .unwrap_err()
                .contains("missing --rules")
        );
        assert!(
            validate(&["--rules", "r"])
                .unwrap_err()
                .contains("--url or --secret-file")
        );
        assert!(
            validate(&["--rules", "r", "--url", "u", "--sample", "51"])
                .unwrap_err()
                .contains("0..=50")
        );
        assert!(validate(&["--rules", "r", "--url", "u", "--sample", "-1"]).is_err());
        assert!(validate(&["--rules", "r", "--rules", "s", "--url", "u"]).is_err());
        assert!(validate(&["--rules", "r", "--url", "u", "--reveal-originals=yes"]).is_err());
        let e = validate(&["--rules", "r", "--url", "u", "postgres://u:hunter2@h/db"]).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn help() {
        assert_eq!(
            parse_all(["validate", "--help"]).unwrap(),
            Command::Help(VALIDATE_USAGE.to_string())
        );
    }
}
