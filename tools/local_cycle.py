"""Run the dms-refresh cycle locally and print what happens at each step.

Starts moto_server (through tools/moto_server.py), creates the demo DMS task
and schedule rule in it, runs the built Lambda binaries under
`cargo lambda watch --only-lambda-apis`, invokes them with the payloads in
events/, and reads the results back from the emulator. Exits non-zero on any
failure. Everything it starts is stopped on exit.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3

import demo_db

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
REGION = "us-east-1"
ACCOUNT = "123456789012"
RULE = "dms-refresh-demo-schedule"
TASK_ID = "dms-refresh-demo"
LOGS = ROOT / "target" / "local-cycle"

_children: list[subprocess.Popen] = []


def _stop_children() -> None:
    for child in reversed(_children):
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()


atexit.register(_stop_children)


class StepFailed(Exception):
    pass


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{name}.log", "w")
    child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    _children.append(child)
    return child


def wait_port(port: int, child: subprocess.Popen, name: str) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if child.poll() is not None:
            raise StepFailed(f"{name} exited early; see {LOGS / (name + '.log')}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise StepFailed(f"{name} did not listen on port {port} within 60 s")


class Emulator:
    def __init__(self) -> None:
        port = free_port()
        child = spawn("moto", [sys.executable, "tools/moto_server.py", "-H", "127.0.0.1", "-p", str(port)])
        wait_port(port, child, "moto")
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_MAX_ATTEMPTS": "1",
        }

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def task(self, arn: str) -> dict:
        tasks = self.client("dms").describe_replication_tasks(
            Filters=[{"Name": "replication-task-arn", "Values": [arn]}]
        )["ReplicationTasks"]
        if not tasks:
            raise StepFailed(f"task {arn} vanished from the emulator")
        return tasks[0]

    def rule_state(self) -> str:
        return self.client("events").describe_rule(Name=RULE)["State"]


class Function:
    """A built Lambda binary serving invocations from cargo lambda watch."""

    def __init__(self, name: str, env: dict[str, str], label: str | None = None) -> None:
        self.name = label or name
        self.port = free_port()
        watch = spawn(
            f"watch-{self.name}",
            [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "--only-lambda-apis",
             "-A", "127.0.0.1", "-P", str(self.port)],
        )
        wait_port(self.port, watch, f"watch-{self.name}")
        binary = ROOT / "target" / "debug" / name
        if not binary.exists():
            raise StepFailed(f"{binary} is missing; run `cargo build --bins`")
        function_env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{self.port}/.rt",
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            **env,
        }
        spawn(self.name, [str(binary)], env=function_env)

    def invoke(self, event_file: Path) -> dict:
        result = subprocess.run(
            [str(VENV_BIN / "cargo-lambda"), "lambda", "invoke", "-A", "127.0.0.1",
             "-P", str(self.port), "--data-file", str(event_file), "_"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise StepFailed(
                f"{self.name} returned an error for {event_file.name}:\n{result.stdout}{result.stderr}"
                f"\n(function log: {LOGS / (self.name + '.log')})"
            )
        return json.loads(result.stdout)


def show(label: str, value) -> None:
    text = json.dumps(value, indent=2, default=str) if not isinstance(value, str) else value
    print(f"{label}: {text}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=sorted(demo_db.ENGINES), default="mariadb",
                        help="the local database server that plays the DMS target (default: mariadb)")
    parser.add_argument("--rows", type=int, default=100_000,
                        help="customers (and orders, payments) DMS loads on the first night (default: 100000)")
    parser.add_argument("--database", default=demo_db.DEFAULT_NAME,
                        help=f"name of the demo database (live place), re-created with its places "
                             f"(default: {demo_db.DEFAULT_NAME})")
    parser.add_argument("--drop-database", action="store_true",
                        help="drop the demo database at the end (it is kept for inspection by default)")
    args = parser.parse_args()
    try:
        return run(args)
    finally:
        if args.drop_database:
            demo_db.drop(args.engine, args.database)


def developer_view(args: argparse.Namespace, label: str) -> int:
    """What the developer login sees now: live's row count, and quarantine refused."""
    p = demo_db.places(args.database)
    denied = demo_db.developer_denied(args.engine, args.database, p["quarantine"])
    if denied is None:
        raise StepFailed(f"{label}: the developer login can read the quarantine")
    try:
        live = demo_db.count(args.engine, args.database, p["live"], as_developer=True)
    except RuntimeError as e:
        live = -1
        show(f"  developer, {label}", f"live not readable yet ({str(e).splitlines()[0]})")
    else:
        row = demo_db.sample(args.engine, args.database, p["live"], limit=1, as_developer=True)[0]
        show(f"  developer, {label}", f"live: {live} customers, e.g. {' | '.join(row[:5])}")
    show(f"  developer, {label}", f"quarantine: refused ({denied})")
    return live


def run(args: argparse.Namespace) -> int:
    p = demo_db.places(args.database)

    step("1. Local AWS emulator")
    aws = Emulator()
    show("moto_server", aws.url)

    step(f"2. The target server (local {args.engine}): the places of the publish model")
    demo_db.create(args.engine, args.database)
    show("places", p)
    show("developer login", f"{demo_db.DEVELOPER} (granted live at each publish, never the quarantine)")

    step("3. Demo resources: the DMS target endpoint, the task loading into the quarantine, the rule, secrets")
    aws.client("events").put_rule(
        Name=RULE, ScheduleExpression="cron(0 0 * * ? *)", State="ENABLED"
    )
    dms = aws.client("dms")
    dms_engine, port, _ = demo_db.ENGINES[args.engine]
    target_arn = dms.create_endpoint(
        EndpointIdentifier="development-target", EndpointType="target", EngineName=dms_engine,
        ServerName="127.0.0.1", Port=port, DatabaseName=args.database, Username="dms",
        Password="unused-locally",
    )["Endpoint"]["EndpointArn"]
    secrets = aws.client("secretsmanager")
    db_secret = secrets.create_secret(
        Name="dms-refresh-demo/target", SecretString=json.dumps(demo_db.secret(args.engine, args.database))
    )["ARN"]
    salt_secret = secrets.create_secret(
        Name="dms-refresh-demo/salt", SecretString="local-demo-salt-not-for-production"
    )["ARN"]
    mappings = {"rules": [
        {"rule-type": "selection", "rule-id": "1", "rule-name": "production",
         "object-locator": {"schema-name": "app", "table-name": "%"}, "rule-action": "include"},
        {"rule-type": "transformation", "rule-id": "2", "rule-name": "into-quarantine",
         "rule-target": "schema", "object-locator": {"schema-name": "app"},
         "rule-action": "rename", "value": p["quarantine"]},
    ]}
    task_arn = dms.create_replication_task(
        ReplicationTaskIdentifier=TASK_ID,
        SourceEndpointArn=f"arn:aws:dms:{REGION}:{ACCOUNT}:endpoint:PRODUCTION",
        TargetEndpointArn=target_arn,
        ReplicationInstanceArn=f"arn:aws:dms:{REGION}:{ACCOUNT}:rep:DEMO",
        MigrationType="full-load",
        TableMappings=json.dumps(mappings),
    )["ReplicationTask"]["ReplicationTaskArn"]
    # The emulator has no `ready` state: a start and a stop leave the task as
    # a finished refresh leaves it on AWS.
    dms.start_replication_task(ReplicationTaskArn=task_arn, StartReplicationTaskType="start-replication")
    dms.stop_replication_task(ReplicationTaskArn=task_arn)
    show("task", f"{task_arn} ({aws.task(task_arn)['Status']}), table mapping: app -> {p['quarantine']}")
    show("target endpoint", f"{target_arn} (127.0.0.1:{port}/{args.database})")
    show("rule", f"{RULE} ({aws.rule_state()})")

    topic_arn = aws.client("sns").create_topic(Name="dms-refresh-demo-notifications")["TopicArn"]
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="dms-refresh-demo-inbox")["QueueUrl"]
    aws.client("sns").subscribe(
        TopicArn=topic_arn, Protocol="sqs",
        Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:dms-refresh-demo-inbox",
    )
    show("notification topic", f"{topic_arn} (read back through an SQS queue)")

    def notifications() -> list[dict]:
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        notes = [json.loads(m["Body"]) for m in received.get("Messages", [])]
        for m in received.get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        return notes

    config = {
        "DMS_TASK_ARNS": task_arn,
        "NOTIFICATION_TOPIC_ARN": topic_arn,
        "SCHEDULE_RULE_NAME": RULE,
        "REFRESH_INDICATOR": "data-refresh",
        "REFRESH_TYPE": "full-load",
        "SCHEDULE_MODE": "schedule",
        **aws.env,
    }
    post_config = {
        **config,
        "TARGET_DB_SECRET_ARN": db_secret,
        "MASKING_SALT_SECRET_ARN": salt_secret,
        "MASKING_RULES_PATH": str(ROOT / "examples" / "masking-rules.toml"),
        "DB_TLS_MODE": "disable",
        "LIVE_SCHEMA": p["live"],
        "QUARANTINE_SCHEMA": p["quarantine"],
        "DEVELOPER_GRANTS": demo_db.developer_grant(args.engine),
    }
    starter = Function("task-starter", config)
    post = Function("post-processor", post_config)

    step("4. Night 1: task-starter, invoked with the scheduled event")
    summary = starter.invoke(ROOT / "events" / "task-starter" / "scheduled-event.json")
    show("response", summary)
    if aws.task(task_arn)["Status"] != "running" or aws.rule_state() != "DISABLED":
        raise StepFailed("expected the task running and the rule disabled")

    step("5. A console test while the task runs starts nothing")
    again = starter.invoke(ROOT / "events" / "task-starter" / "console-test.json")
    if again["tasks"][0]["action"] != "skipped":
        raise StepFailed("the second invocation must not start the task again")
    show("response", {t["task_id"]: t["action"] for t in again["tasks"]})

    step("6. DMS loads production into the quarantine and stops (emulated)")
    demo_db.load(args.engine, args.rows, args.database)
    before = demo_db.sample(args.engine, args.database, p["quarantine"])
    for row in before:
        show("  quarantine (raw)", " | ".join(row))
    dms.stop_replication_task(ReplicationTaskArn=task_arn)
    developer_view(args, "during night 1")

    step("7. post-processor, invoked with the DMS notification SNS delivers: rewrite, verify, publish")
    result = post.invoke(ROOT / "events" / "post-processor" / "sns-finished.json")
    show("response", {k: v for k, v in result["records"][0].items() if k != "message_id"})
    if result["records"][0]["action"] != "completed":
        raise StepFailed("the first night did not complete")
    after = demo_db.sample(args.engine, args.database)
    for row in after:
        show("  live (masked)", " | ".join(row))
    if any(b[1] == a[1] for b, a in zip(before, after)):
        raise StepFailed("the e-mail addresses were not masked")
    if any(a[1] != a[6] for a in after):
        raise StepFailed("customers.email and orders.customer_email no longer match")
    if developer_view(args, "after night 1") != args.rows:
        raise StepFailed("the developer does not read the complete masked copy")
    if aws.rule_state() != "ENABLED":
        raise StepFailed("expected the rule enabled again after the run")
    notes = notifications()
    if not notes:
        raise StepFailed("no notification was published")
    for note in notes:
        # The body is the summary as text, then a separator line and the same as JSON.
        text = note["Message"].rsplit("\n---- details (JSON) ----\n", 1)[0]
        show("notification", f"{note.get('Subject')}\n{text}")

    step("8. The same notification delivered again (SNS delivers at least once)")
    again = post.invoke(ROOT / "events" / "post-processor" / "sns-finished.json")
    show("response", again["records"][0]["action"])
    if again["records"][0]["action"] != "duplicate":
        raise StepFailed("a duplicate delivery must have no effect")

    step("9. Night 2: production has grown; DMS reloads the quarantine; its stop event is lost")
    # Runs are named by their start date in whole seconds; nights are further apart.
    time.sleep(1.1)
    summary = starter.invoke(ROOT / "events" / "task-starter" / "scheduled-event-night-2.json")
    show("starter", {t["task_id"]: t["action"] for t in summary["tasks"]})
    if aws.rule_state() != "DISABLED":
        raise StepFailed("expected the rule disabled by the second night's start")
    night2_rows = args.rows + 1000
    demo_db.load(args.engine, night2_rows, args.database)
    dms.stop_replication_task(ReplicationTaskArn=task_arn)
    if developer_view(args, "during night 2 (yesterday's copy)") != args.rows:
        raise StepFailed("during the reload the developer must keep reading yesterday's copy")
    show("post-processor", "no event delivered")

    step("10. The reconciler sweep (scheduled every 15 minutes) finishes the run")
    sweep = post.invoke(ROOT / "events" / "post-processor" / "reconcile.json")
    report = sweep.get("reconcile") or {}
    show("reconcile", {k: report.get(k) for k in ("decision", "action", "alerts")})
    if (report.get("action") or {}).get("action") != "completed":
        raise StepFailed("the reconciler did not complete the run whose event was lost")
    if developer_view(args, "after night 2") != night2_rows:
        raise StepFailed("the developer does not read the new copy")
    show("retired", f"{demo_db.count(args.engine, args.database, p['retired'])} customers (night 1, kept for rollback)")
    again = post.invoke(ROOT / "events" / "post-processor" / "reconcile.json")
    if (again.get("reconcile") or {}).get("action") is not None:
        raise StepFailed("a second sweep must find nothing to do")
    show("second sweep", (again.get("reconcile") or {}).get("decision"))

    step("11. An operator rolls back to yesterday's copy")
    rolled = post.invoke(ROOT / "events" / "post-processor" / "rollback.json")
    show("response", rolled.get("operation"))
    if developer_view(args, "after the rollback") != args.rows:
        raise StepFailed("the rollback did not bring night 1's copy back")
    for note in notifications():
        show("notification", note.get("Subject"))

    stop_at_two_tasks(aws, target_arn, post, args)

    print("\nOK: the refresh cycle ran locally.", flush=True)
    return 0


def stop_at_two_tasks(aws: Emulator, target_arn: str, post: Function, args: argparse.Namespace) -> None:
    """Seed 001: two CDC tasks share the tables of one source; a stop-at
    stops both after the same source commit. The emulator keeps no stop
    position and never stops a task at a commit time, so the cycle shows the
    starter's part: each running task stopped, resumed with the position,
    and the position recorded on the rule for the post-processor. The
    starter hands the request to the post-processor (Lambda Invoke, here
    cargo lambda's), which keeps it in the ledger on the target database."""
    step("12. Seed 001: stop-at on a two-task CDC group (data migration, one-time mode)")
    dms = aws.client("dms")
    rule = "dms-refresh-demo-cdc"
    aws.client("events").put_rule(Name=rule, ScheduleExpression="cron(0 0 * * ? *)", State="DISABLED")
    tasks = []
    for name in ("cdc-parent-table", "cdc-child-table"):
        arn = dms.create_replication_task(
            ReplicationTaskIdentifier=name,
            SourceEndpointArn=f"arn:aws:dms:{REGION}:{ACCOUNT}:endpoint:PRODUCTION",
            TargetEndpointArn=target_arn,
            ReplicationInstanceArn=f"arn:aws:dms:{REGION}:{ACCOUNT}:rep:DEMO",
            MigrationType="cdc",
            TableMappings=json.dumps({"rules": [
                {"rule-type": "selection", "rule-id": "1", "rule-name": name,
                 "object-locator": {"schema-name": "app", "table-name": name.split("-")[1]},
                 "rule-action": "include"},
            ]}),
        )["ReplicationTask"]["ReplicationTaskArn"]
        dms.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="start-replication")
        tasks.append(arn)
    show("CDC tasks", {aws.task(a)["ReplicationTaskIdentifier"]: aws.task(a)["Status"] for a in tasks})
    starter = Function("task-starter", {
        "DMS_TASK_ARNS": ",".join(tasks),
        "SCHEDULE_RULE_NAME": rule,
        "REFRESH_INDICATOR": "data-migration",
        "REFRESH_TYPE": "cdc",
        "SCHEDULE_MODE": "one-time",
        **aws.env,
        # cargo lambda watch serves its one function under the name "_".
        "POST_PROCESSOR_FUNCTION_NAME": "_",
        "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{post.port}",
    }, label="task-starter-cdc")
    kept_before = len(demo_db.recorded_requests(args.engine, args.database, "stop-at"))
    request = json.loads((ROOT / "events" / "task-starter" / "operator-stop-at.json").read_text())
    dry_file = LOGS / f"operator-stop-at-dry-run-{os.getpid()}.json"
    dry_file.write_text(json.dumps({**request, "dry_run": True}))
    plan = starter.invoke(dry_file)
    show("dry run", {t["task_id"]: t["step"] for t in plan["rounds"][0]["tasks"]})
    answer = starter.invoke(ROOT / "events" / "task-starter" / "operator-stop-at.json")
    show("stop-at", {"position": answer["position"], "done": answer["done"],
                     "resumed": {t["task_id"]: (t["action"], t.get("start_type"))
                                 for t in (answer["rounds"][-1].get("resumed") or {}).get("tasks", [])}})
    if not answer["done"] or any(aws.task(a)["Status"] != "running" for a in tasks):
        raise StepFailed("stop-at did not leave both tasks running with the stop position")
    rule_arn = aws.client("events").describe_rule(Name=rule)["Arn"]
    tags = {t["Key"]: t["Value"] for t in aws.client("events").list_tags_for_resource(ResourceARN=rule_arn)["Tags"]}
    if tags.get("dms-refresh:stop-at") != answer["position"]:
        raise StepFailed(f"the stop position is not recorded on the rule: {tags}")
    show("rule tag dms-refresh:stop-at", tags["dms-refresh:stop-at"])
    show("ledger", answer.get("ledger"))
    kept = demo_db.recorded_requests(args.engine, args.database, "stop-at")
    if len(kept) != kept_before + 1 or answer["position"] not in kept[-1]:
        raise StepFailed(f"the stop-at is not kept in the ledger on the target: {kept[-1:]}")
    show("ledger row (requests)", f"stop-at, {json.loads(kept[-1])['position']}")
    show("next", "when both tasks stop with STOPPED_AT_COMMIT_TIME there, the post-processor finds the "
                 "target consistent and runs the cutover hooks (the emulator cannot stop at a commit time)")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except StepFailed as failure:
        print(f"\nFAILED: {failure}", file=sys.stderr)
        sys.exit(1)
