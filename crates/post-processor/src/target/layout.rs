//! Where the post-processor writes on the target: the publish model
//! (`rewrite`, the default in data-refresh mode: DMS loads into the
//! quarantine, the masked copy is built and published atomically into live)
//! or `in-place` (the target DMS loads is masked where it is; unmasked rows
//! are readable until masking ends; data-migration mode's cutover hooks).

use dms_refresh_core::config::RefreshIndicator;
use masking::{DeveloperGrant, Places, Publish};

use super::config::TargetConfigError;

/// Environment variables of the publish model.
pub mod vars {
    pub const PUBLISH_MODE: &str = "PUBLISH_MODE";
    pub const LIVE: &str = "LIVE_SCHEMA";
    pub const QUARANTINE: &str = "QUARANTINE_SCHEMA";
    pub const RETIRED: &str = "RETIRED_SCHEMA";
    pub const BUILD: &str = "BUILD_SCHEMA";
    pub const GRANTS: &str = "DEVELOPER_GRANTS";
    pub const PURGE: &str = "PURGE_QUARANTINE";
}

/// How the masked copy reaches developers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Mask the database DMS loads, where it is.
    InPlace,
    /// Build the masked copy from the quarantine and publish it into live.
    Rewrite(Box<Publish>),
}

impl Layout {
    pub fn publish(&self) -> Option<&Publish> {
        match self {
            Self::InPlace => None,
            Self::Rewrite(p) => Some(p),
        }
    }
}

fn error(var: &str, message: impl std::fmt::Display) -> TargetConfigError {
    TargetConfigError(format!("environment variable {var}: {message}"))
}

/// Read the layout. `get` answers trimmed, non-empty values.
pub fn from_lookup(
    indicator: RefreshIndicator,
    get: impl Fn(&str) -> Option<String>,
) -> Result<Layout, TargetConfigError> {
    let mode = get(vars::PUBLISH_MODE);
    let rewrite = match (mode.as_deref(), indicator) {
        (Some("in-place"), _) | (None, RefreshIndicator::DataMigration) => false,
        (Some("rewrite") | None, RefreshIndicator::DataRefresh) => true,
        (Some("rewrite"), RefreshIndicator::DataMigration) => {
            return Err(error(
                vars::PUBLISH_MODE,
                "rewrite publishes a masked copy, and data-migration mode never masks: its \
                 cutover hooks run in place",
            ));
        }
        (Some(other), _) => {
            return Err(error(
                vars::PUBLISH_MODE,
                format!("invalid value {other:?}: expected rewrite or in-place"),
            ));
        }
    };
    if !rewrite {
        if let Some(live) = get(vars::LIVE) {
            return Err(error(
                vars::LIVE,
                format!("{live:?} is set, but the in-place mode publishes nothing"),
            ));
        }
        return Ok(Layout::InPlace);
    }
    let live = get(vars::LIVE).ok_or_else(|| {
        error(
            vars::LIVE,
            "required in the rewrite mode (the default in data-refresh mode): the schema \
             (PostgreSQL) or database (MySQL) developers read; or set PUBLISH_MODE=in-place",
        )
    })?;
    let place = |var: &str, suffix: &str| get(var).unwrap_or_else(|| format!("{live}_{suffix}"));
    let places = Places::new(
        &live,
        &place(vars::QUARANTINE, "quarantine"),
        &place(vars::RETIRED, "retired"),
        &place(vars::BUILD, "build"),
    )
    .map_err(|e| error(vars::LIVE, e))?;
    let grants = DeveloperGrant::parse_list(&get(vars::GRANTS).unwrap_or_default())
        .map_err(|e| error(vars::GRANTS, e))?;
    let purge_quarantine = match get(vars::PURGE).as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(error(
                vars::PURGE,
                format!("invalid value {other:?}: expected true or false"),
            ));
        }
    };
    Ok(Layout::Rewrite(Box::new(Publish {
        places,
        grants,
        purge_quarantine,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(
        indicator: RefreshIndicator,
        pairs: &[(&str, &str)],
    ) -> Result<Layout, TargetConfigError> {
        from_lookup(indicator, |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn rewrite_is_the_default_and_names_its_places() {
        let layout = read(
            RefreshIndicator::DataRefresh,
            &[(vars::LIVE, "app"), (vars::GRANTS, "dev_readers=SELECT")],
        )
        .unwrap();
        let publish = layout.publish().unwrap();
        assert_eq!(publish.places.quarantine, "app_quarantine");
        assert_eq!(publish.places.retired, "app_retired");
        assert_eq!(publish.places.build, "app_build");
        assert_eq!(publish.grants.len(), 1);
        assert!(publish.purge_quarantine);
        let named = read(
            RefreshIndicator::DataRefresh,
            &[
                (vars::LIVE, "app"),
                (vars::QUARANTINE, "raw"),
                (vars::PURGE, "false"),
            ],
        )
        .unwrap();
        assert_eq!(named.publish().unwrap().places.quarantine, "raw");
        assert!(!named.publish().unwrap().purge_quarantine);
    }

    #[test]
    fn in_place_is_explicit_and_the_migration_default() {
        assert_eq!(
            read(
                RefreshIndicator::DataRefresh,
                &[(vars::PUBLISH_MODE, "in-place")]
            )
            .unwrap(),
            Layout::InPlace
        );
        assert_eq!(
            read(RefreshIndicator::DataMigration, &[]).unwrap(),
            Layout::InPlace
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let refresh = RefreshIndicator::DataRefresh;
        type Case<'a> = (RefreshIndicator, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (refresh, &[], vars::LIVE),
            (
                refresh,
                &[(vars::LIVE, "app"), (vars::QUARANTINE, "app")],
                "same",
            ),
            (refresh, &[(vars::LIVE, "app; drop")], vars::LIVE),
            (
                refresh,
                &[(vars::LIVE, "app"), (vars::GRANTS, "dev=ALL")],
                vars::GRANTS,
            ),
            (
                refresh,
                &[(vars::LIVE, "app"), (vars::PURGE, "yes")],
                vars::PURGE,
            ),
            (refresh, &[(vars::PUBLISH_MODE, "copy")], vars::PUBLISH_MODE),
            (
                refresh,
                &[(vars::PUBLISH_MODE, "in-place"), (vars::LIVE, "app")],
                vars::LIVE,
            ),
            (
                RefreshIndicator::DataMigration,
                &[(vars::PUBLISH_MODE, "rewrite")],
                "never masks",
            ),
        ];
        for (indicator, pairs, expect) in cases {
            let err = read(*indicator, pairs).unwrap_err().to_string();
            assert!(err.contains(expect), "{pairs:?}: {err}");
        }
    }
}
