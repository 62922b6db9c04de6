//! Shared helpers: the project paths, a moto_server per test, SDK clients
//! pointed at it, and resource builders.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_databasemigration::types::MigrationTypeValue;
use aws_sdk_sns::config::Credentials;
use tokio::process::{Child, Command};

/// Create the endpoint `request` describes, with the tests' credentials.
async fn endpoint_arn(
    request: aws_sdk_databasemigration::operation::create_endpoint::builders::CreateEndpointFluentBuilder,
) -> String {
    request
        .username("dms")
        .password("not-used-by-the-tests")
        .send()
        .await
        .expect("create endpoint")
        .endpoint()
        .and_then(|e| e.endpoint_arn())
        .expect("endpoint ARN")
        .to_owned()
}

/// Table mappings that select every table.
const EVERYTHING: &str = r#"{"rules":[{"rule-type":"selection","rule-id":"1","rule-name":"1","object-locator":{"schema-name":"%","table-name":"%"},"rule-action":"include"}]}"#;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The project virtualenv's interpreter, where moto and cargo-lambda live.
pub fn venv_bin(tool: &str) -> PathBuf {
    let dir = std::env::var_os("DMSR_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"));
    let path = dir.join("bin").join(tool);
    assert!(
        path.exists(),
        "{} is missing: the project virtualenv is not installed. Run `bash scripts/test.sh` \
         (it creates .venv with the pinned moto[server] and cargo-lambda) or \
         `bash scripts/setup-venv.sh`.",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub fn log_dir() -> PathBuf {
    let dir = repo_root().join("target").join("test-logs");
    std::fs::create_dir_all(&dir).expect("create target/test-logs");
    dir
}

/// Wait until something accepts TCP connections on `port`, or panic.
pub async fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &PathBuf) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let output = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} exited with {status} before listening on {port}:\n{output}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within 60 s (log: {})",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A moto_server of our own on a free loopback port, stopped on drop.
pub struct Moto {
    _child: Child,
    pub url: String,
    pub sdk: SdkConfig,
}

impl Moto {
    pub async fn start() -> Self {
        let port = free_port();
        let log = log_dir().join(format!("moto-{port}.log"));
        let file = std::fs::File::create(&log).expect("moto log file");
        let mut child = Command::new(venv_bin("python"))
            .arg(repo_root().join("tools").join("moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::from(file.try_clone().expect("log handle")))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn moto_server");
        wait_for_port(port, &mut child, "moto_server", &log).await;
        let url = format!("http://127.0.0.1:{port}");
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await;
        Self {
            _child: child,
            url,
            sdk,
        }
    }

    /// The environment a function needs to reach this emulator.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    pub fn dms(&self) -> aws_sdk_databasemigration::Client {
        aws_sdk_databasemigration::Client::new(&self.sdk)
    }

    pub fn events(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.sdk)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk)
    }

    /// Create a replication task (the emulator leaves it `creating`).
    pub async fn create_task(
        &self,
        identifier: &str,
        migration_type: MigrationTypeValue,
    ) -> String {
        let target = format!("arn:aws:dms:{REGION}:{ACCOUNT}:endpoint:TARGET");
        self.create_task_with(identifier, migration_type, &target)
            .await
    }

    async fn create_task_with(
        &self,
        identifier: &str,
        migration_type: MigrationTypeValue,
        target_endpoint_arn: &str,
    ) -> String {
        self.create_task_mapped(identifier, migration_type, target_endpoint_arn, EVERYTHING)
            .await
    }

    /// A task with the given table mappings.
    pub async fn create_task_mapped(
        &self,
        identifier: &str,
        migration_type: MigrationTypeValue,
        target_endpoint_arn: &str,
        table_mappings: &str,
    ) -> String {
        let source = format!("arn:aws:dms:{REGION}:{ACCOUNT}:endpoint:SOURCE");
        let endpoints = (source.as_str(), target_endpoint_arn);
        self.create_replication_task(identifier, migration_type, endpoints, table_mappings)
            .await
    }

    /// A task from `source` to `target` (its endpoints' ARNs).
    async fn create_replication_task(
        &self,
        identifier: &str,
        migration_type: MigrationTypeValue,
        (source, target): (&str, &str),
        table_mappings: &str,
    ) -> String {
        let out = self
            .dms()
            .create_replication_task()
            .replication_task_identifier(identifier)
            .source_endpoint_arn(source)
            .target_endpoint_arn(target)
            .replication_instance_arn(format!("arn:aws:dms:{REGION}:{ACCOUNT}:rep:INSTANCE"))
            .migration_type(migration_type)
            .table_mappings(table_mappings)
            .send()
            .await
            .expect("create replication task");
        out.replication_task()
            .and_then(|t| t.replication_task_arn())
            .expect("task ARN")
            .to_owned()
    }

    /// Bring a task to `stopped` the only way the emulator allows: start, stop.
    pub async fn run_and_stop(&self, arn: &str) {
        self.dms()
            .start_replication_task()
            .replication_task_arn(arn)
            .start_replication_task_type(
                aws_sdk_databasemigration::types::StartReplicationTaskTypeValue::StartReplication,
            )
            .send()
            .await
            .expect("start task");
        self.dms()
            .stop_replication_task()
            .replication_task_arn(arn)
            .send()
            .await
            .expect("stop task");
    }

    /// (status, start date in epoch seconds) as the emulator reports them.
    pub async fn task_state(&self, arn: &str) -> (String, Option<f64>) {
        let filter = aws_sdk_databasemigration::types::Filter::builder()
            .name("replication-task-arn")
            .values(arn)
            .build()
            .expect("filter");
        let out = self
            .dms()
            .describe_replication_tasks()
            .filters(filter)
            .send()
            .await
            .expect("describe task");
        let task = out.replication_tasks().first().expect("task exists");
        (
            task.status().unwrap_or_default().to_owned(),
            task.replication_task_start_date().map(|d| d.as_secs_f64()),
        )
    }

    pub async fn put_rule(&self, name: &str, enabled: bool) {
        use aws_sdk_eventbridge::types::RuleState;
        self.events()
            .put_rule()
            .name(name)
            .schedule_expression("cron(0 0 * * ? *)")
            .state(if enabled {
                RuleState::Enabled
            } else {
                RuleState::Disabled
            })
            .send()
            .await
            .expect("put rule");
    }

    /// The rule as the starter leaves it for a run: its lock recorded (held
    /// since a few seconds ago), then the rule disabled.
    pub async fn lock_rule(&self, name: &str) {
        use dms_refresh_core::ports::ScheduleRule;
        self.put_rule(name, true).await;
        let lock = dms_refresh_core::ports::RuleLock::taken(
            "schedule:test-night",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970")
                .as_secs()
                - 5,
            true,
        );
        dms_refresh_core::aws::EventBridgeClient::new(self.events())
            .set_lock(name, &lock)
            .await
            .expect("record the lock");
        self.put_rule(name, false).await;
    }

    /// The rule's tags, by key.
    pub async fn rule_tags(&self, name: &str) -> std::collections::BTreeMap<String, String> {
        let arn = self
            .events()
            .describe_rule()
            .name(name)
            .send()
            .await
            .expect("describe rule")
            .arn()
            .expect("rule ARN")
            .to_owned();
        self.events()
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .expect("list rule tags")
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()
    }

    pub async fn rule_state(&self, name: &str) -> String {
        self.events()
            .describe_rule()
            .name(name)
            .send()
            .await
            .expect("describe rule")
            .state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default()
    }
}

/// Environment for the functions' configuration.
pub fn function_env(
    task_arns: &[&str],
    rule: &str,
    mode: &str,
    topic: Option<&str>,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("DMS_TASK_ARNS".to_owned(), task_arns.join(",")),
        ("SCHEDULE_RULE_NAME".to_owned(), rule.to_owned()),
        ("REFRESH_INDICATOR".to_owned(), "data-refresh".to_owned()),
        ("REFRESH_TYPE".to_owned(), "full-load".to_owned()),
        ("SCHEDULE_MODE".to_owned(), mode.to_owned()),
    ];
    if let Some(topic) = topic {
        env.push(("NOTIFICATION_TOPIC_ARN".to_owned(), topic.to_owned()));
    }
    env
}

pub fn config_from(env: &[(String, String)]) -> dms_refresh_core::config::Config {
    dms_refresh_core::config::Config::from_lookup(|k| {
        env.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    })
    .expect("valid test configuration")
}

/// A unique name for test resources.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A notification topic with an SQS queue subscribed, so tests can read back
/// what the functions published.
pub struct Inbox {
    pub topic_arn: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl Inbox {
    pub async fn create(moto: &Moto) -> Self {
        let name = unique("notifications");
        let topic_arn = moto
            .sns()
            .create_topic()
            .name(&name)
            .send()
            .await
            .expect("create topic")
            .topic_arn()
            .expect("topic ARN")
            .to_owned();
        let sqs = aws_sdk_sqs::Client::new(&moto.sdk);
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("create queue")
            .queue_url()
            .expect("queue URL")
            .to_owned();
        let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}");
        moto.sns()
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribe queue");
        Self {
            topic_arn,
            queue_url,
            sqs,
        }
    }

    /// Every (subject, body) published so far, drained from the queue.
    pub async fn drain(&self) -> Vec<(String, serde_json::Value)> {
        let mut out = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive messages");
            let messages = received.messages();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                let envelope: serde_json::Value =
                    serde_json::from_str(m.body().unwrap_or("{}")).expect("SNS envelope");
                let subject = envelope["Subject"].as_str().unwrap_or_default().to_owned();
                let message = envelope["Message"].as_str().unwrap_or_default();
                let json = dms_refresh_core::notify::json_part(message)
                    .expect("the notification body ends with its JSON");
                let body = serde_json::from_str(json).expect("the notification's JSON");
                out.push((subject, body));
                if let Some(handle) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete message");
                }
            }
        }
    }
}

impl Moto {
    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk)
    }

    /// A DMS target endpoint naming `server:port/database`.
    pub async fn create_target_endpoint(
        &self,
        engine: &str,
        server: &str,
        port: i32,
        database: &str,
    ) -> String {
        use aws_sdk_databasemigration::types::ReplicationEndpointTypeValue::Target;
        self.create_endpoint_at(Target, engine, (server, port, database))
            .await
    }

    /// A DMS source endpoint naming `server:port/database`.
    pub async fn create_source_endpoint_at(
        &self,
        engine: &str,
        server: &str,
        port: i32,
        database: &str,
    ) -> String {
        use aws_sdk_databasemigration::types::ReplicationEndpointTypeValue::Source;
        self.create_endpoint_at(Source, engine, (server, port, database))
            .await
    }

    async fn create_endpoint_at(
        &self,
        kind: aws_sdk_databasemigration::types::ReplicationEndpointTypeValue,
        engine: &str,
        (server, port, database): (&str, i32, &str),
    ) -> String {
        let request = self
            .dms()
            .create_endpoint()
            .endpoint_identifier(unique(kind.as_str()))
            .endpoint_type(kind)
            .engine_name(engine)
            .server_name(server)
            .port(port)
            .database_name(database);
        endpoint_arn(request).await
    }

    /// A task from `source_endpoint_arn` to `target_endpoint_arn`.
    pub async fn create_task_between(
        &self,
        identifier: &str,
        migration_type: MigrationTypeValue,
        (source, target): (&str, &str),
    ) -> String {
        self.create_replication_task(identifier, migration_type, (source, target), EVERYTHING)
            .await
    }

    /// A DMS source endpoint of `engine`; a PostgreSQL one names its
    /// logical replication slot (`PostgreSQLSettings.SlotName`).
    pub async fn create_source_endpoint(&self, engine: &str, slot_name: Option<&str>) -> String {
        use aws_sdk_databasemigration::types::ReplicationEndpointTypeValue::Source;
        let settings = slot_name.map(|s| {
            aws_sdk_databasemigration::types::PostgreSqlSettings::builder()
                .slot_name(s)
                .build()
        });
        let request = self
            .dms()
            .create_endpoint()
            .endpoint_identifier(unique("source"))
            .endpoint_type(Source)
            .engine_name(engine)
            .server_name("prod.example.internal")
            .port(5432)
            .database_name("app")
            .set_postgre_sql_settings(settings);
        endpoint_arn(request).await
    }

    /// A CDC-only task reading from `source_endpoint_arn`.
    pub async fn create_cdc_task_from(
        &self,
        identifier: &str,
        source_endpoint_arn: &str,
    ) -> String {
        let target = format!("arn:aws:dms:{REGION}:{ACCOUNT}:endpoint:TARGET");
        let endpoints = (source_endpoint_arn, target.as_str());
        self.create_replication_task(identifier, MigrationTypeValue::Cdc, endpoints, EVERYTHING)
            .await
    }

    /// A full-load task whose target is `target_endpoint_arn`.
    pub async fn create_task_to(&self, identifier: &str, target_endpoint_arn: &str) -> String {
        self.create_task_with(
            identifier,
            MigrationTypeValue::FullLoad,
            target_endpoint_arn,
        )
        .await
    }

    pub async fn create_secret(&self, value: &str) -> String {
        self.secrets()
            .create_secret()
            .name(unique("secret"))
            .secret_string(value)
            .send()
            .await
            .expect("create secret")
            .arn()
            .expect("secret ARN")
            .to_owned()
    }
}

/// Deliver `payload` to the post-processor's domain with real AWS adapters
/// pointed at `moto`, and the given ledger and hooks.
pub async fn post_deliver<L, H>(
    moto: &Moto,
    config: &dms_refresh_core::config::Config,
    ledger: &L,
    hooks: &H,
    continuer: &dms_refresh_core::fakes::FakeContinuer,
    payload: &str,
    hooks_deadline: Instant,
) -> Result<dms_refresh_core::post::PostSummary, dms_refresh_core::post::PostError>
where
    L: dms_refresh_core::ports::RunLedger,
    H: dms_refresh_core::ports::PostRefreshHooks,
{
    use dms_refresh_core::aws::{DmsClient, EventBridgeClient, SnsClient};
    use dms_refresh_core::post::{InvocationInfo, PostPorts, handle_invocation};
    let dms = DmsClient::new(moto.dms());
    let rules = EventBridgeClient::new(moto.events());
    let notifier = SnsClient::new(moto.sns());
    let ports = PostPorts {
        dms: &dms,
        rules: &rules,
        notifier: &notifier,
        ledger,
        hooks,
        continuer,
        metrics: &dms_refresh_core::metrics::Discard,
    };
    let info = InvocationInfo {
        owner: unique("request"),
        hooks_deadline,
        lease_until: std::time::SystemTime::now() + Duration::from_secs(900),
    };
    let payload: serde_json::Value = serde_json::from_str(payload).expect("payload is JSON");
    let invocation =
        dms_refresh_core::events::parse_invocation(&payload).expect("a known payload shape");
    handle_invocation(config, &ports, invocation, &info).await
}

/// A TCP proxy in front of the emulator that can play an outage: once a
/// request containing `cut_on` passes through, that request is dropped
/// unanswered and every connection is refused until `restore`.
pub struct FlakyProxy {
    pub url: String,
    cut_on: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    _accept: tokio::task::JoinHandle<()>,
}

impl FlakyProxy {
    pub async fn start(upstream: &str) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let cut_on = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (cut, is_down) = (cut_on.clone(), down.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if is_down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let (cut, is_down, upstream) = (cut.clone(), is_down.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.split();
                    let (mut server_read, mut server_write) = server.split();
                    let to_server = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match client_read.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            let marker = cut
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .clone();
                            if is_down.load(Ordering::SeqCst)
                                || marker.is_some_and(|m| {
                                    String::from_utf8_lossy(&buf[..n]).contains(&m)
                                })
                            {
                                is_down.store(true, Ordering::SeqCst);
                                return;
                            }
                            if server_write.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let to_client = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match server_read.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            if client_write.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    // Whichever side ends first closes the connection.
                    tokio::select! {
                        () = to_server => {}
                        () = to_client => {}
                    }
                });
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            cut_on,
            down,
            _accept: accept,
        }
    }

    /// Go down when a request containing `marker` comes through.
    pub fn cut_on(&self, marker: &str) {
        *self
            .cut_on
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(marker.to_owned());
    }

    pub fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn restore(&self) {
        *self
            .cut_on
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// SDK configuration that reaches the emulator through this proxy.
    pub async fn sdk(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .build(),
            )
            .load()
            .await
    }
}
