//! The dashboard graphs what the functions emit. A local run of the
//! post-processor binary (a refresh masked on MariaDB, then a reconciler
//! sweep) writes its metrics as EMF lines to stdout; every metric a widget
//! of the dashboard in template.yaml graphs must be among them, under the
//! namespace and with the dimension the widget names. And every metric the
//! code defines must be graphed.

use dms_refresh_core::metrics::names;
use post_processor::target::{layout_vars, vars};
use serde_json::{Value, json};

use crate::databases::{DemoDb, Engine};
use crate::harness::{Inbox, Moto, function_env, log_dir, repo_root, unique};
use crate::lambda_binary::LambdaEmulator;
use crate::masking_cycle::{RULES, SALT};

/// The function name cargo-lambda's emulator runs the binary as.
const FUNCTION: &str = "post-processor";

/// One metric a widget graphs, as written in the template.
#[derive(Debug)]
struct Graphed {
    namespace: String,
    name: String,
    dimension: String,
    dimension_value: String,
}

/// The `DashboardBody: !Sub |` block of template.yaml. Its `${...}`
/// substitutions sit inside JSON strings, so the block parses as it is.
fn dashboard_body() -> Value {
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let mut lines = template.lines();
    let start = lines
        .by_ref()
        .find(|l| l.trim_start().starts_with("DashboardBody: !Sub |"))
        .expect("template.yaml has a `DashboardBody: !Sub |` block");
    let indent = start.len() - start.trim_start().len();
    let block: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .collect();
    serde_json::from_str(&block.join("\n")).expect("the dashboard body is JSON")
}

/// Every metric row of every metric widget, written in full (the `"."`
/// shorthand for "as the row above" would hide what a row graphs).
fn graphed(body: &Value) -> Vec<Graphed> {
    let widgets = body["widgets"].as_array().expect("the body has widgets");
    let rows = widgets
        .iter()
        .filter(|w| w["type"] == "metric")
        .flat_map(|w| {
            w["properties"]["metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        });
    rows.map(|row| {
        let text = |i: usize| match row[i].as_str() {
            Some(s) if s != "." => s.to_owned(),
            _ => panic!("metric row {row}: element {i} must be written in full"),
        };
        Graphed {
            namespace: text(0),
            name: text(1),
            dimension: text(2),
            dimension_value: text(3),
        }
    })
    .collect()
}

/// The EMF documents among the lines the function wrote.
fn emitted(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect()
}

/// Whether a document declares `g`'s metric in its namespace with its
/// dimension, and carries a number for it and the function for the dimension.
fn emits(docs: &[Value], g: &Graphed) -> bool {
    let declares = |directive: &Value| {
        directive["Namespace"] == g.namespace.as_str()
            && directive["Metrics"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["Name"] == g.name.as_str()))
            && directive["Dimensions"]
                .as_array()
                .is_some_and(|sets| sets.contains(&json!([g.dimension])))
    };
    docs.iter().any(|doc| {
        doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .is_some_and(|ds| ds.iter().any(declares))
            && doc[&g.name].is_number()
            && doc[&g.dimension] == FUNCTION
    })
}

#[tokio::test]
async fn every_metric_the_dashboard_graphs_is_emitted_by_a_local_run() {
    let graphed = graphed(&dashboard_body());
    for name in names::ALL {
        assert!(
            graphed.iter().any(|g| g.name == name),
            "{name} is emitted but the dashboard does not graph it"
        );
    }
    for g in &graphed {
        assert_eq!(
            g.dimension_value, "${PostProcessor}",
            "{g:?}: the widget must graph the post-processor's metrics"
        );
    }

    let moto = Moto::start().await;
    let db = DemoDb::create(Engine::MariaDb, 60).await;
    let endpoint = moto
        .create_target_endpoint(db.dms_engine(), "127.0.0.1", db.port(), &db.name)
        .await;
    let task = moto.create_task_to("dms-refresh-demo", &endpoint).await;
    moto.run_and_stop(&task).await;
    let rule = unique("nightly");
    moto.lock_rule(&rule).await;
    let inbox = Inbox::create(&moto).await;
    let rules_path = log_dir().join(format!("{}.toml", unique("rules")));
    std::fs::write(&rules_path, RULES).unwrap();
    let mut env = function_env(&[&task], &rule, "schedule", Some(&inbox.topic_arn));
    env.extend(moto.aws_env());
    env.extend([
        (
            vars::DB_SECRET_ARN.to_owned(),
            moto.create_secret(&db.secret_json()).await,
        ),
        (
            vars::SALT_SECRET_ARN.to_owned(),
            moto.create_secret(SALT).await,
        ),
        (
            vars::RULES_PATH.to_owned(),
            rules_path.display().to_string(),
        ),
        (vars::TLS_MODE.to_owned(), "disable".to_owned()),
        (layout_vars::PUBLISH_MODE.to_owned(), "in-place".to_owned()),
    ]);
    let lambda = LambdaEmulator::start(FUNCTION, &env).await;

    // Lambda retries an asynchronous event that failed retryably (twice); so
    // does the test (MariaDB may report a deadlock under concurrent tests).
    let mut run = lambda.invoke("post-processor/sns-finished.json").await;
    for _ in 0..2 {
        match &run {
            Err(e) if e.contains("HookFailedRetryable") => {
                run = lambda.invoke("post-processor/sns-finished.json").await;
            }
            _ => break,
        }
    }
    let run = run.unwrap();
    assert_eq!(run["records"][0]["action"], "completed", "{run}");
    let sweep = lambda
        .invoke("post-processor/reconcile.json")
        .await
        .unwrap();
    assert!(sweep["reconcile"].is_object(), "{sweep}");

    let log = std::fs::read_to_string(&lambda.log).unwrap();
    let docs = emitted(&log);
    let missing: Vec<&Graphed> = graphed.iter().filter(|g| !emits(&docs, g)).collect();
    assert!(
        missing.is_empty(),
        "graphed on the dashboard but not emitted by the run: {missing:#?}\nEMF lines: {docs:#?}"
    );
}
