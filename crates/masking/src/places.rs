//! The publish model's configuration: the four places on the target server
//! (PostgreSQL schemas of one database, MySQL databases of one server) and
//! the developer grants applied to the live place after each publish.
//!
//! * `live`: what developers read; DMS never writes there.
//! * `quarantine`: where DMS loads raw production rows; nobody else reads it.
//! * `build`: scratch place where the masked copy is built.
//! * `retired`: the previous live copy, kept until the next publish.
//!
//! Everything here is pure: parsing, validation and the SQL of grants.

use std::fmt;

use crate::error::MaskError;
use crate::rules::is_valid_identifier;
use crate::sql::{Dialect, quote_ident, quote_literal};

/// Names no place may take (system schemas/databases of either engine).
const RESERVED: [&str; 6] = [
    "information_schema",
    "mysql",
    "performance_schema",
    "sys",
    "pg_catalog",
    "pg_toast",
];

/// The four places of the publish model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places {
    /// What developers read.
    pub live: String,
    /// Where DMS loads raw production rows.
    pub quarantine: String,
    /// The previous live copy (rollback).
    pub retired: String,
    /// Where the masked copy is built.
    pub build: String,
}

impl Places {
    /// Validated places: identifiers (`[A-Za-z_][A-Za-z0-9_$]*`, at most 63
    /// bytes), not a system schema, pairwise distinct (case-insensitively:
    /// MySQL may fold case), none equal to the default control schema.
    pub fn new(
        live: &str,
        quarantine: &str,
        retired: &str,
        build: &str,
    ) -> Result<Self, MaskError> {
        let p = Places {
            live: live.to_string(),
            quarantine: quarantine.to_string(),
            retired: retired.to_string(),
            build: build.to_string(),
        };
        p.validate(crate::db::DEFAULT_CONTROL_SCHEMA)?;
        Ok(p)
    }

    /// `(role, name)` of each place.
    pub fn named(&self) -> [(&'static str, &str); 4] {
        [
            ("live", &self.live),
            ("quarantine", &self.quarantine),
            ("retired", &self.retired),
            ("build", &self.build),
        ]
    }

    /// The checks of [`Places::new`] against a given control schema name.
    pub fn validate(&self, control_schema: &str) -> Result<(), MaskError> {
        let mut problems = Vec::new();
        let named = self.named();
        for (role, name) in named {
            if !is_valid_identifier(name) {
                problems.push(format!(
                    "{role} place `{name}` is not a valid name ([A-Za-z_][A-Za-z0-9_$]*, at most 63 bytes)"
                ));
            } else if RESERVED.contains(&name.to_ascii_lowercase().as_str())
                || name.to_ascii_lowercase().starts_with("pg_")
            {
                problems.push(format!("{role} place `{name}` is a system schema"));
            }
            if name.eq_ignore_ascii_case(control_schema) {
                problems.push(format!(
                    "{role} place `{name}` is the control schema `{control_schema}`"
                ));
            }
        }
        for (i, (ra, a)) in named.iter().enumerate() {
            for (rb, b) in &named[i + 1..] {
                if a.eq_ignore_ascii_case(b) {
                    problems.push(format!(
                        "the {ra} and {rb} places are the same (`{a}`): the four places must be distinct"
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(MaskError::Config(problems.join("; ")))
        }
    }
}

/// A table privilege a developer grant may give on the live place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Privilege {
    /// `SELECT`
    Select,
    /// `INSERT`
    Insert,
    /// `UPDATE`
    Update,
    /// `DELETE`
    Delete,
    /// `TRUNCATE` (PostgreSQL only)
    Truncate,
    /// `REFERENCES`
    References,
    /// `TRIGGER`
    Trigger,
}

impl Privilege {
    /// Parse a privilege keyword (case-insensitive).
    pub fn parse(s: &str) -> Option<Privilege> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "SELECT" => Privilege::Select,
            "INSERT" => Privilege::Insert,
            "UPDATE" => Privilege::Update,
            "DELETE" => Privilege::Delete,
            "TRUNCATE" => Privilege::Truncate,
            "REFERENCES" => Privilege::References,
            "TRIGGER" => Privilege::Trigger,
            _ => return None,
        })
    }

    /// The SQL keyword.
    pub fn as_sql(self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
            Privilege::Truncate => "TRUNCATE",
            Privilege::References => "REFERENCES",
            Privilege::Trigger => "TRIGGER",
        }
    }
}

/// Who receives a grant, parsed from [`DeveloperGrant::grantee`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Grantee {
    /// A PostgreSQL role.
    Role(String),
    /// A MySQL account `'user'@'host'`.
    Account { user: String, host: String },
}

fn safe_chars(s: &str, max: usize, extra: &[char]) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(&c))
}

impl Grantee {
    /// A PostgreSQL role identifier (not `public`, not `pg_*`), or a MySQL
    /// account `'user'@'host'` (user: letters, digits, `_ . $ -`, at most 80;
    /// host: letters, digits, `_ . % : -`, at most 255).
    pub(crate) fn parse(s: &str) -> Option<Grantee> {
        if let Some(rest) = s.strip_prefix('\'') {
            let (user, host) = rest.split_once("'@'")?;
            let host = host.strip_suffix('\'')?;
            let ok = safe_chars(user, 80, &['.', '$', '-'])
                && safe_chars(host, 255, &['.', '%', ':', '-']);
            return ok.then(|| Grantee::Account {
                user: user.to_string(),
                host: host.to_string(),
            });
        }
        let lower = s.to_ascii_lowercase();
        (is_valid_identifier(s) && lower != "public" && !lower.starts_with("pg_"))
            .then(|| Grantee::Role(s.to_string()))
    }

    /// The grantee as written in `GRANT ... TO <it>`.
    pub(crate) fn sql(&self, d: Dialect) -> Result<String, MaskError> {
        match (self, d) {
            (Grantee::Role(r), Dialect::Postgres) => Ok(quote_ident(d, r)),
            (Grantee::Account { user, host }, Dialect::MySql) => Ok(format!(
                "{}@{}",
                quote_literal(d, user),
                quote_literal(d, host)
            )),
            (Grantee::Role(r), Dialect::MySql) => Err(MaskError::Config(format!(
                "grantee `{r}` is a role name; MySQL grantees are written 'user'@'host'"
            ))),
            (Grantee::Account { user, host }, Dialect::Postgres) => {
                Err(MaskError::Config(format!(
                    "grantee '{user}'@'{host}' is a MySQL account; PostgreSQL grantees are role names"
                )))
            }
        }
    }

    /// As shown by MySQL's `information_schema.*_PRIVILEGES.GRANTEE`, or the
    /// role name.
    pub(crate) fn catalog_name(&self) -> String {
        match self {
            Grantee::Role(r) => r.clone(),
            Grantee::Account { user, host } => format!("'{user}'@'{host}'"),
        }
    }
}

impl fmt::Display for Grantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.catalog_name())
    }
}

/// Privileges given to a developer login on every table of the live place
/// after each publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeveloperGrant {
    /// PostgreSQL role name, or MySQL `'user'@'host'`.
    pub grantee: String,
    /// Table privileges on the live place.
    pub privileges: Vec<Privilege>,
}

impl DeveloperGrant {
    /// Parse the configuration string
    /// `grantee=PRIV,PRIV;grantee=PRIV...`, e.g.
    /// `dev_readers=SELECT;'app'@'%'=SELECT,INSERT,UPDATE,DELETE`.
    /// Blank entries are ignored; an empty string gives no grants.
    pub fn parse_list(s: &str) -> Result<Vec<DeveloperGrant>, MaskError> {
        s.split(';')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(Self::parse_one)
            .collect()
    }

    fn parse_one(entry: &str) -> Result<DeveloperGrant, MaskError> {
        let bad = |why: String| MaskError::Config(format!("developer grant `{entry}`: {why}"));
        let (who, privs) = entry
            .split_once('=')
            .ok_or_else(|| bad("expected grantee=PRIVILEGE[,PRIVILEGE...]".into()))?;
        let who = who.trim();
        if Grantee::parse(who).is_none() {
            return Err(bad(format!(
                "`{who}` is neither a role name ([A-Za-z_][A-Za-z0-9_$]*, not public/pg_*) nor a MySQL account 'user'@'host' with safe characters"
            )));
        }
        let mut privileges = Vec::new();
        for p in privs.split(',') {
            let parsed = Privilege::parse(p).ok_or_else(|| {
                bad(format!(
                    "unknown privilege `{}` (SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER)",
                    p.trim()
                ))
            })?;
            if !privileges.contains(&parsed) {
                privileges.push(parsed);
            }
        }
        Ok(DeveloperGrant {
            grantee: who.to_string(),
            privileges,
        })
    }

    /// The parsed grantee, or a [`MaskError::Config`] naming it.
    pub(crate) fn parsed_grantee(&self) -> Result<Grantee, MaskError> {
        Grantee::parse(&self.grantee).ok_or_else(|| {
            MaskError::Config(format!(
                "developer grantee `{}` is neither a role name nor 'user'@'host' with safe characters",
                self.grantee
            ))
        })
    }

    /// `GRANT` statements giving this grant on the live place `live`.
    pub(crate) fn grant_sql(&self, d: Dialect, live: &str) -> Result<Vec<String>, MaskError> {
        let to = self.parsed_grantee()?.sql(d)?;
        if self.privileges.is_empty() {
            return Err(MaskError::Config(format!(
                "developer grant for `{}` has no privileges",
                self.grantee
            )));
        }
        if d == Dialect::MySql && self.privileges.contains(&Privilege::Truncate) {
            return Err(MaskError::Config(format!(
                "developer grant for `{}`: TRUNCATE is a PostgreSQL privilege (MySQL needs DROP for it, which is not granted)",
                self.grantee
            )));
        }
        let privs = self
            .privileges
            .iter()
            .map(|p| p.as_sql())
            .collect::<Vec<_>>()
            .join(", ");
        let place = quote_ident(d, live);
        Ok(match d {
            Dialect::MySql => vec![format!(
                "GRANT {privs} ON {}.* TO {to}",
                quote_ident(d, &escape_grant_wildcards(live))
            )],
            Dialect::Postgres => {
                let mut v = vec![
                    format!("GRANT USAGE ON SCHEMA {place} TO {to}"),
                    format!("GRANT {privs} ON ALL TABLES IN SCHEMA {place} TO {to}"),
                ];
                if self.privileges.contains(&Privilege::Insert) {
                    v.push(format!(
                        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {place} TO {to}"
                    ));
                }
                v
            }
        })
    }

    /// PostgreSQL: statements taking the grantee's access to a place away
    /// (the retired copy keeps the grants it had as live otherwise).
    pub(crate) fn revoke_sql(&self, d: Dialect, place: &str) -> Result<Vec<String>, MaskError> {
        let from = self.parsed_grantee()?.sql(d)?;
        let place = quote_ident(d, place);
        Ok(match d {
            Dialect::MySql => vec![],
            Dialect::Postgres => vec![
                format!("REVOKE ALL ON ALL TABLES IN SCHEMA {place} FROM {from}"),
                format!("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {place} FROM {from}"),
                format!("REVOKE ALL ON SCHEMA {place} FROM {from}"),
            ],
        })
    }
}

/// MySQL database-level grants treat `_` and `%` in the database name as
/// wildcards: escape them so a grant on `app_live` means exactly that database.
fn escape_grant_wildcards(db: &str) -> String {
    db.replace('_', "\\_").replace('%', "\\%")
}

/// What a rewrite publishes where, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The four places.
    pub places: Places,
    /// Grants applied to the live place after each publish (and rollback).
    pub grants: Vec<DeveloperGrant>,
    /// Empty the quarantine tables (the raw production rows) after a
    /// successful publish.
    pub purge_quarantine: bool,
}

impl Publish {
    /// Validate places and grants for a dialect and control schema.
    pub(crate) fn validate(&self, d: Dialect, control_schema: &str) -> Result<(), MaskError> {
        self.places.validate(control_schema)?;
        for g in &self.grants {
            g.grant_sql(d, &self.places.live)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_must_be_valid_and_distinct() {
        assert!(Places::new("app", "app_q", "app_old", "app_build").is_ok());
        let e = Places::new("app", "app", "app_old", "app_build").unwrap_err();
        assert!(
            e.to_string()
                .contains("live and quarantine places are the same"),
            "{e}"
        );
        let e = Places::new("app", "q", "APP", "b").unwrap_err();
        assert!(e.to_string().contains("live and retired"), "{e}");
        let e = Places::new("app", "q;drop", "r", "b").unwrap_err();
        assert!(e.to_string().contains("quarantine place `q;drop`"), "{e}");
        let e = Places::new("app", "q", "r", "dms_refresh_control").unwrap_err();
        assert!(e.to_string().contains("control schema"), "{e}");
        let e = Places::new("mysql", "q", "r", "b").unwrap_err();
        assert!(e.to_string().contains("system schema"), "{e}");
        let p = Places::new("app", "q", "r", "b").unwrap();
        assert!(p.validate("q").is_err());
    }

    #[test]
    fn parses_grant_lists() {
        let g = DeveloperGrant::parse_list(
            " dev_readers=SELECT; 'app'@'%'=select,INSERT, update ,DELETE;",
        )
        .unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].grantee, "dev_readers");
        assert_eq!(g[0].privileges, vec![Privilege::Select]);
        assert_eq!(g[1].grantee, "'app'@'%'");
        assert_eq!(
            g[1].privileges,
            vec![
                Privilege::Select,
                Privilege::Insert,
                Privilege::Update,
                Privilege::Delete
            ]
        );
        assert!(DeveloperGrant::parse_list("").unwrap().is_empty());
        for bad in [
            "dev",
            "dev=SELEC",
            "public=SELECT",
            "pg_read_all_data=SELECT",
            "'a'b'@'%'=SELECT",
            "'app'@'%;DROP'=SELECT",
            "x y=SELECT",
            "'app'@%=SELECT",
        ] {
            assert!(DeveloperGrant::parse_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grant_sql_per_dialect() {
        let g = &DeveloperGrant::parse_list("dev=SELECT,INSERT").unwrap()[0];
        assert_eq!(
            g.grant_sql(Dialect::Postgres, "app").unwrap(),
            vec![
                "GRANT USAGE ON SCHEMA \"app\" TO \"dev\"",
                "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA \"app\" TO \"dev\"",
                "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA \"app\" TO \"dev\"",
            ]
        );
        assert!(g.grant_sql(Dialect::MySql, "app").is_err());
        let g = &DeveloperGrant::parse_list("'dev.x'@'10.0.%'=SELECT").unwrap()[0];
        assert_eq!(
            g.grant_sql(Dialect::MySql, "app").unwrap(),
            vec!["GRANT SELECT ON `app`.* TO 'dev.x'@'10.0.%'"]
        );
        assert_eq!(
            g.grant_sql(Dialect::MySql, "app_live").unwrap(),
            vec!["GRANT SELECT ON `app\\_live`.* TO 'dev.x'@'10.0.%'"]
        );
        assert!(g.grant_sql(Dialect::Postgres, "app").is_err());
        let t = &DeveloperGrant::parse_list("'d'@'%'=TRUNCATE").unwrap()[0];
        assert!(t.grant_sql(Dialect::MySql, "app").is_err());
    }
}
