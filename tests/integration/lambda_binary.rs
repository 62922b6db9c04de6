//! The built Lambda binaries, run under cargo-lambda's runtime emulator
//! (`cargo lambda watch`) and invoked with `cargo lambda invoke` and the
//! payloads in `events/`.

use std::path::PathBuf;
use std::process::Stdio;

use aws_sdk_databasemigration::types::MigrationTypeValue;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::harness::{
    Moto, free_port, function_env, log_dir, repo_root, unique, venv_bin, wait_for_port,
};

/// A built function binary serving invocations from `cargo lambda watch`.
pub struct LambdaEmulator {
    _watch: Child,
    _function: Child,
    port: u16,
    /// What the function wrote to stdout and stderr.
    pub log: PathBuf,
}

pub fn built_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the functions first with `cargo build --workspace --bins` \
         (scripts/test.sh does this before running the tests)",
        path.display()
    );
    path
}

impl LambdaEmulator {
    pub async fn start(binary: &str, env: &[(String, String)]) -> Self {
        let port = free_port();
        let watch_log = log_dir().join(format!("watch-{binary}-{port}.log"));
        let file = std::fs::File::create(&watch_log).unwrap();
        let mut watch = Command::new(venv_bin("cargo-lambda"))
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .current_dir(repo_root())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn cargo lambda watch");
        wait_for_port(port, &mut watch, "cargo lambda watch", &watch_log).await;

        let function_log = log_dir().join(format!("{binary}-{port}.log"));
        let file = std::fs::File::create(&function_log).unwrap();
        let function = Command::new(built_binary(binary))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", binary)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the function binary");
        Self {
            _watch: watch,
            _function: function,
            port,
            log: function_log,
        }
    }

    /// Invoke with a file from `events/`; Ok(response) or Err(error text).
    pub async fn invoke(&self, event_file: &str) -> Result<Value, String> {
        let output = Command::new(venv_bin("cargo-lambda"))
            .args([
                "lambda",
                "invoke",
                "-A",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "--data-file",
            ])
            .arg(repo_root().join("events").join(event_file))
            .arg("_")
            .current_dir(repo_root())
            .output()
            .await
            .expect("run cargo lambda invoke");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if output.status.success() {
            serde_json::from_str(stdout.trim()).map_err(|e| format!("not JSON ({e}): {stdout}"))
        } else {
            Err(format!("{stdout}{stderr}"))
        }
    }
}

#[tokio::test]
async fn task_starter_binary_starts_the_task_from_the_console_event() {
    let moto = Moto::start().await;
    let rule = unique("nightly");
    moto.put_rule(&rule, true).await;
    let arn = moto
        .create_task(&unique("refresh"), MigrationTypeValue::FullLoad)
        .await;
    moto.run_and_stop(&arn).await;

    let mut env = function_env(&[&arn], &rule, "schedule", None);
    env.extend(moto.aws_env());
    let lambda = LambdaEmulator::start("task-starter", &env).await;

    let summary = lambda
        .invoke("task-starter/console-test.json")
        .await
        .unwrap();
    assert_eq!(summary["tasks"][0]["action"], "started", "{summary}");
    assert_eq!(
        summary["tasks"][0]["start_type"], "reload-target",
        "{summary}"
    );
    assert_eq!(summary["rule"]["after"], "DISABLED", "{summary}");
    assert_eq!(moto.rule_state(&rule).await, "DISABLED");
    assert_eq!(moto.task_state(&arn).await.0, "running");

    let again = lambda
        .invoke("task-starter/scheduled-event.json")
        .await
        .unwrap();
    assert_eq!(again["tasks"][0]["action"], "skipped", "{again}");

    // A CDC start point is checked against the task's source endpoint
    // (DescribeEndpoints) before anything else; this task's does not exist.
    let refused = lambda
        .invoke("task-starter/operator-cdc-start-lsn.json")
        .await
        .unwrap_err();
    assert!(
        refused.contains("CdcStartRefused") && refused.contains("source endpoint"),
        "{refused}"
    );
    // stop-at is routed to its own passes; a full-load task has no CDC to stop.
    let not_cdc = lambda
        .invoke("task-starter/operator-stop-at.json")
        .await
        .unwrap_err();
    assert!(
        not_cdc.contains("StopAtRefused") && not_cdc.contains("no CDC"),
        "{not_cdc}"
    );
    // move is routed to its own passes; this deployment allows no instance.
    let not_allowed = lambda
        .invoke("task-starter/operator-move.json")
        .await
        .unwrap_err();
    assert!(
        not_allowed.contains("MoveRefused") && not_allowed.contains("MoveTargetInstanceArns"),
        "{not_allowed}"
    );

    let err = lambda
        .invoke("task-starter/invalid-not-an-object.json")
        .await
        .unwrap_err();
    assert!(
        err.contains("InvalidEvent") || err.contains("expected a JSON object"),
        "{err}"
    );
}

#[tokio::test]
async fn post_processor_binary_finishes_the_run_from_the_sns_event() {
    let moto = Moto::start().await;
    let rule = unique("nightly");
    moto.lock_rule(&rule).await;
    let arn = moto
        .create_task("dms-refresh-demo", MigrationTypeValue::FullLoad)
        .await;
    moto.run_and_stop(&arn).await;
    let inbox = crate::harness::Inbox::create(&moto).await;

    let mut env = function_env(&[&arn], &rule, "schedule", Some(&inbox.topic_arn));
    env.extend(moto.aws_env());
    let lambda = LambdaEmulator::start("post-processor", &env).await;

    let summary = lambda
        .invoke("post-processor/sns-finished.json")
        .await
        .unwrap();
    assert_eq!(summary["records"][0]["action"], "completed", "{summary}");
    assert_eq!(moto.rule_state(&rule).await, "ENABLED");
    let published = inbox.drain().await;
    assert_eq!(published.len(), 1, "{published:?}");
    assert!(published[0].0.contains("succeeded"));

    let again = lambda
        .invoke("post-processor/sns-finished.json")
        .await
        .unwrap();
    assert_eq!(again["records"][0]["action"], "duplicate", "{again}");

    let err = lambda
        .invoke("post-processor/sns-malformed.json")
        .await
        .unwrap_err();
    assert!(
        err.contains("InvalidRecord") && err.contains("bad-0001"),
        "{err}"
    );
    let err = lambda
        .invoke("post-processor/sns-empty-records.json")
        .await
        .unwrap_err();
    assert!(err.contains("InvalidEvent"), "{err}");
    // The cutover requests reach the cutover: refused for a data-refresh group.
    let err = lambda
        .invoke("post-processor/cutover-dry-run.json")
        .await
        .unwrap_err();
    assert!(
        err.contains("CutoverRefused") && err.contains("REFRESH_INDICATOR=data-migration"),
        "{err}"
    );
    assert!(inbox.drain().await.is_empty());
}
