//! The guard that keeps masking away from any database but the DMS task's
//! target: the database we are about to write to must be the one the task's
//! target endpoint names.

use serde::Serialize;

/// A DMS endpoint as DescribeEndpoints reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointInfo {
    pub arn: String,
    pub identifier: String,
    /// `source` or `target`.
    pub endpoint_type: String,
    pub engine: String,
    pub server_name: Option<String>,
    pub port: Option<u16>,
    pub database_name: Option<String>,
    /// A MySQL-family target that sends every table into one database
    /// (`MySqlSettings.TargetDbType` `specific-database`): that database.
    pub single_database: Option<String>,
    /// A PostgreSQL source's logical replication slot
    /// (`PostgreSQLSettings.SlotName`).
    pub slot_name: Option<String>,
}

/// A task that writes to a target endpoint, with its table mappings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappedTask {
    pub arn: String,
    pub identifier: String,
    pub table_mappings: Option<String>,
}

/// Where the post-processor is about to connect (from the database secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbLocation {
    pub engine: String,
    pub host: String,
    pub port: u16,
    pub dbname: Option<String>,
}

fn engine_family(engine: &str) -> Option<&'static str> {
    let e = engine.to_ascii_lowercase();
    if e.contains("postgres") {
        Some("postgres")
    } else if e.contains("mysql") || e.contains("mariadb") || e == "aurora" {
        Some("mysql")
    } else {
        None
    }
}

fn same_host(a: &str, b: &str) -> bool {
    let norm = |h: &str| h.trim().trim_end_matches('.').to_ascii_lowercase();
    norm(a) == norm(b)
}

/// Which side of a task an endpoint is, for the guard's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Written to: masking, hooks, the cutover's steps.
    Target,
    /// Only read: the cutover's sequences.
    Source,
}

impl Side {
    fn endpoint_type(self) -> &'static str {
        match self {
            Self::Target => "target",
            Self::Source => "source",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Target => "write",
            Self::Source => "read",
        }
    }
}

/// Refuse unless `db` is the database `endpoint` points at: a target
/// endpoint of the same engine family, server name and port, and (when the
/// endpoint names one) the same database.
pub fn check_target(endpoint: &EndpointInfo, db: &DbLocation) -> Result<(), String> {
    check_database(endpoint, db, Side::Target)
}

/// Refuse unless `db` is the database the source `endpoint` reads: the
/// same checks as [`check_target`], for a source endpoint.
pub fn check_source(endpoint: &EndpointInfo, db: &DbLocation) -> Result<(), String> {
    check_database(endpoint, db, Side::Source)
}

fn check_database(endpoint: &EndpointInfo, db: &DbLocation, side: Side) -> Result<(), String> {
    check_server(endpoint, db, side)?;
    if let Some(name) = endpoint.database_name.as_deref().filter(|n| !n.is_empty())
        && db.dbname.as_deref() != Some(name)
    {
        return Err(refusal(
            endpoint,
            db,
            side,
            &format!("the endpoint's database is {name}"),
        ));
    }
    Ok(())
}

fn refusal(endpoint: &EndpointInfo, db: &DbLocation, side: Side, why: &str) -> String {
    format!(
        "refusing to {}: the database {}:{}{} is not the {} of DMS endpoint {} ({why})",
        side.verb(),
        db.host,
        db.port,
        db.dbname
            .as_deref()
            .map(|d| format!("/{d}"))
            .unwrap_or_default(),
        side.endpoint_type(),
        endpoint.identifier
    )
}

/// The server part of [`check_target`]: a target endpoint of the same engine
/// family, server name and port. In the publish model on MySQL the places
/// are databases named in the configuration, so the secret's database is
/// not compared (the table mappings are, by [`check_placement`]).
pub fn check_target_server(endpoint: &EndpointInfo, db: &DbLocation) -> Result<(), String> {
    check_server(endpoint, db, Side::Target)
}

fn check_server(endpoint: &EndpointInfo, db: &DbLocation, side: Side) -> Result<(), String> {
    let refuse = |why: String| Err(refusal(endpoint, db, side, &why));
    if !endpoint
        .endpoint_type
        .eq_ignore_ascii_case(side.endpoint_type())
    {
        return refuse(format!(
            "the endpoint is a {} endpoint",
            endpoint.endpoint_type
        ));
    }
    match (engine_family(&endpoint.engine), engine_family(&db.engine)) {
        (Some(a), Some(b)) if a == b => {}
        _ => {
            return refuse(format!(
                "engine {} does not match the secret's engine {}",
                endpoint.engine, db.engine
            ));
        }
    }
    let Some(server) = endpoint.server_name.as_deref() else {
        return refuse("the endpoint names no server".into());
    };
    if !same_host(server, &db.host) {
        return refuse(format!("the endpoint's server is {server}"));
    }
    if let Some(port) = endpoint.port
        && port != db.port
    {
        return refuse(format!("the endpoint's port is {port}"));
    }
    Ok(())
}

/// Where one task writes, for [`check_placement`].
#[derive(Debug, Clone)]
pub struct Writer {
    pub task: String,
    /// A task of the refresh group (it must write into the quarantine only).
    pub in_group: bool,
    pub landing: crate::placement::Landing,
}

/// The publish model's guard: the group's tasks write only into the
/// quarantine, no task on the target writes into live, and quarantine and
/// live are different places. Every refusal names the task and the place.
pub fn check_placement(quarantine: &str, live: &str, writers: &[Writer]) -> Result<(), String> {
    let refuse = |why: String| Err(format!("refusing to mask or publish: {why}"));
    if quarantine.eq_ignore_ascii_case(live) {
        return refuse(format!("the quarantine and live places are both {live}"));
    }
    for w in writers {
        if w.landing
            .places
            .iter()
            .any(|p| p.eq_ignore_ascii_case(live))
        {
            return refuse(format!(
                "live ({live}) is a DMS target: task {} writes into it",
                w.task
            ));
        }
        if let Some(pattern) = w.landing.unknown.first() {
            return refuse(format!(
                "task {} selects schema pattern {pattern} with no transformation naming where it \
                 lands, so it may write into live; add a schema rename rule to {quarantine}",
                w.task
            ));
        }
        let elsewhere: Vec<&str> = w
            .landing
            .places
            .iter()
            .filter(|p| !p.eq_ignore_ascii_case(quarantine))
            .map(String::as_str)
            .collect();
        if w.in_group && !elsewhere.is_empty() {
            return refuse(format!(
                "task {} writes into {} instead of the quarantine {quarantine}; its table \
                 mappings must rename every selected schema to {quarantine}",
                w.task,
                elsewhere.join(", ")
            ));
        }
        if w.in_group && w.landing.places.is_empty() {
            return refuse(format!("task {} selects no table", w.task));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> EndpointInfo {
        EndpointInfo {
            arn: "arn:aws:dms:us-east-1:123456789012:endpoint:TGT".into(),
            identifier: "dev-target".into(),
            endpoint_type: "target".into(),
            engine: "aurora-postgresql".into(),
            server_name: Some("dev.cluster-abc.us-east-1.rds.amazonaws.com".into()),
            port: Some(5432),
            database_name: Some("app".into()),
            single_database: None,
            slot_name: None,
        }
    }

    fn db() -> DbLocation {
        DbLocation {
            engine: "postgres".into(),
            host: "DEV.cluster-abc.us-east-1.rds.amazonaws.com.".into(),
            port: 5432,
            dbname: Some("app".into()),
        }
    }

    #[test]
    fn accepts_the_target_and_refuses_anything_else() {
        assert_eq!(check_target(&endpoint(), &db()), Ok(()));
        type Change = Box<dyn Fn(&mut EndpointInfo, &mut DbLocation)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|e, _| e.endpoint_type = "source".into()),
                "source endpoint",
            ),
            (
                Box::new(|_, d| d.host = "prod.cluster-xyz.rds.amazonaws.com".into()),
                "server is",
            ),
            (Box::new(|_, d| d.port = 5433), "port is 5432"),
            (
                Box::new(|_, d| d.dbname = Some("other".into())),
                "database is app",
            ),
            (Box::new(|_, d| d.dbname = None), "database is app"),
            (Box::new(|_, d| d.engine = "mysql".into()), "engine"),
            (Box::new(|e, _| e.server_name = None), "names no server"),
        ];
        for (change, expect) in cases {
            let (mut e, mut d) = (endpoint(), db());
            change(&mut e, &mut d);
            let err = check_target(&e, &d).unwrap_err();
            assert!(
                err.contains(expect) && err.starts_with("refusing to write"),
                "{expect}: {err}"
            );
        }
    }

    /// The cutover reads the source's sequences only from the database a
    /// source endpoint of the group names; a target endpoint, another
    /// server or another database is refused.
    #[test]
    fn the_source_is_read_only_where_a_source_endpoint_points() {
        let source = EndpointInfo {
            endpoint_type: "source".into(),
            identifier: "prod-source".into(),
            ..endpoint()
        };
        assert_eq!(check_source(&source, &db()), Ok(()));
        let err = check_source(&endpoint(), &db()).unwrap_err();
        assert!(err.starts_with("refusing to read"), "{err}");
        assert!(
            err.contains("is not the source") && err.contains("a target endpoint"),
            "{err}"
        );
        let other = DbLocation {
            dbname: Some("reporting".into()),
            ..db()
        };
        let err = check_source(&source, &other).unwrap_err();
        assert!(err.contains("the endpoint's database is app"), "{err}");
    }

    #[test]
    fn mysql_endpoints_without_a_database_name_match_on_server_and_port() {
        let e = EndpointInfo {
            engine: "aurora".into(),
            database_name: None,
            port: Some(3306),
            ..endpoint()
        };
        let d = DbLocation {
            engine: "mariadb".into(),
            port: 3306,
            dbname: Some("shop".into()),
            ..db()
        };
        assert_eq!(check_target(&e, &d), Ok(()));
    }
}

#[cfg(test)]
mod placement_tests {
    use super::*;
    use crate::placement::landing;

    fn writer(task: &str, in_group: bool, mappings: &str) -> Writer {
        Writer {
            task: task.into(),
            in_group,
            landing: landing(mappings, None).unwrap(),
        }
    }

    const TO_QUARANTINE: &str = r#"{"rules":[
        {"rule-type":"selection","rule-id":"1","rule-name":"all","object-locator":{"schema-name":"app","table-name":"%"},"rule-action":"include"},
        {"rule-type":"transformation","rule-id":"2","rule-name":"q","rule-target":"schema","object-locator":{"schema-name":"app"},"rule-action":"rename","value":"app_quarantine"}]}"#;
    const INTO_APP: &str = r#"{"rules":[
        {"rule-type":"selection","rule-id":"1","rule-name":"all","object-locator":{"schema-name":"app","table-name":"%"},"rule-action":"include"}]}"#;
    const WILDCARD: &str = r#"{"rules":[
        {"rule-type":"selection","rule-id":"1","rule-name":"all","object-locator":{"schema-name":"%","table-name":"%"},"rule-action":"include"}]}"#;
    const OTHER: &str = r#"{"rules":[
        {"rule-type":"selection","rule-id":"1","rule-name":"all","object-locator":{"schema-name":"crm","table-name":"%"},"rule-action":"include"}]}"#;

    /// Issue 10: the guard refuses when the quarantine is not where the DMS
    /// task writes, when live is a DMS target, or when quarantine and live
    /// are the same place.
    #[test]
    fn the_publish_guard_refuses_each_wrong_placement() {
        let ok = [
            writer("nightly", true, TO_QUARANTINE),
            writer("crm-sync", false, OTHER),
        ];
        assert_eq!(check_placement("app_quarantine", "app", &ok), Ok(()));
        let cases: Vec<(&str, &str, Vec<Writer>, &str)> = vec![
            (
                "app",
                "app",
                vec![writer("nightly", true, TO_QUARANTINE)],
                "both app",
            ),
            (
                "app_quarantine",
                "app",
                vec![writer("nightly", true, INTO_APP)],
                "live (app) is a DMS target: task nightly",
            ),
            (
                "app_quarantine",
                "app",
                vec![
                    writer("nightly", true, TO_QUARANTINE),
                    writer("legacy", false, INTO_APP),
                ],
                "task legacy writes into it",
            ),
            (
                "app_quarantine",
                "app",
                vec![writer("nightly", true, WILDCARD)],
                "schema pattern %",
            ),
            (
                "app_quarantine",
                "app",
                vec![writer("nightly", true, OTHER)],
                "writes into crm instead of the quarantine",
            ),
            (
                "staging_q",
                "app",
                vec![writer("nightly", true, TO_QUARANTINE)],
                "instead of the quarantine staging_q",
            ),
        ];
        for (quarantine, live, writers, expect) in cases {
            let err = check_placement(quarantine, live, &writers).unwrap_err();
            assert!(
                err.starts_with("refusing to mask or publish") && err.contains(expect),
                "{expect}: {err}"
            );
        }
    }
}
