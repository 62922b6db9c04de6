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

/// Refuse unless `db` is the database `endpoint` points at: a target
/// endpoint of the same engine family, server name and port, and (when the
/// endpoint names one) the same database.
pub fn check_target(endpoint: &EndpointInfo, db: &DbLocation) -> Result<(), String> {
    let refuse = |why: String| {
        Err(format!(
            "refusing to write: the database {}:{}{} is not the target of DMS endpoint {} ({why})",
            db.host,
            db.port,
            db.dbname
                .as_deref()
                .map(|d| format!("/{d}"))
                .unwrap_or_default(),
            endpoint.identifier
        ))
    };
    if !endpoint.endpoint_type.eq_ignore_ascii_case("target") {
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
    if let Some(name) = endpoint.database_name.as_deref().filter(|n| !n.is_empty())
        && db.dbname.as_deref() != Some(name)
    {
        return refuse(format!("the endpoint's database is {name}"));
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
