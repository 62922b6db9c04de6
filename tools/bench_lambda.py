"""Lambda benchmarks of the built bootstrap binaries: init, warm invocation, size.

Run through scripts/bench-lambda.sh (which builds the release binaries first),
or directly with the project virtualenv:

    .venv/bin/python tools/bench_lambda.py [--quick] [--json FILE|-]

1. Deployment size: each release binary zipped as `bootstrap` (deflate, as the
   Lambda zip package), target <= 8 MiB.
2. Lambda init: a minimal Lambda Runtime API endpoint runs in this process;
   each binary is spawned with AWS_LAMBDA_RUNTIME_API pointed at it, and the
   time from spawn to its first `GET /2018-06-01/runtime/invocation/next` is
   taken (median/min/max of --runs, the subjects spawned round-robin), then
   the process is killed. Peak RSS is the child's VmHWM, read while it waits
   in /next; wait4's ru_maxrss is kept in the JSON but is not the child's
   figure on Linux: exec carries over the spawning process's pre-exec high
   water mark, i.e. this Python's ~40 MiB. The same figures for a Python child
   that imports boto3 and creates the DMS and EventBridge clients (what a
   Python Lambda pays at init), and for bash sending GET /next (the harness's
   floor: fork/exec + connect), run beside them. Targets: init <= 20 ms,
   RSS <= 20 MiB, Python/Rust >= 10x.
3. Warm invocation: moto_server (tools/moto_server.py) plays AWS; the binaries
   run against it and the runtime endpoint hands out events/ payloads. The
   handler time is the time from handing out /next to the function's
   /response (or /error). Every post-processor invocation is a full
   "completed" run (the demo task is started and stopped in the emulator
   between invocations, one second apart because the run id is the start
   date in whole seconds); every task-starter invocation really starts the
   task (stopped and the rule re-enabled in between). The emulator's own
   time for the same AWS calls is measured right after each invocation, in
   the same state, by replaying the same requests over a keep-alive
   connection (and, for reference, through boto3); the median of handler
   minus emulator is reported as the handler's own time. Duplicate
   deliveries of the last run (the in-memory ledger answers "duplicate":
   DescribeReplicationTasks only) are measured back to back as well.

Missed targets print MISS but do not change the exit status; errors do.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"
TASK_ID = "dms-refresh-demo"
RULE = "bench"
MIB = 1024 * 1024
BINARIES = ("task-starter", "post-processor")

INIT_TARGET_MS = 20.0
RSS_TARGET_MIB = 20.0
SPEEDUP_TARGET = 10.0
ZIP_TARGET_MIB = 8.0

NEXT_PATH = "/2018-06-01/runtime/invocation/next"

PYTHON_CHILD = r"""
import os, urllib.request
import boto3
dms = boto3.client("dms")
events = boto3.client("events")
urllib.request.urlopen("http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/next")
"""


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------
# The minimal Lambda Runtime API
# --------------------------------------------------------------------------


class RuntimeApi:
    """A Lambda Runtime API endpoint on a free 127.0.0.1 port.

    `first_next` is set (perf_counter) at the first GET /next after `reset()`.
    Invocations queued with `invoke()` are handed out on /next; the result
    arrives on `results` as (request_id, kind, handed_out, received, body).
    Without a queued invocation, /next blocks until `reset()` or `close()`.
    """

    def __init__(self) -> None:
        api = self
        self.lock = threading.Lock()
        self.pending: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.first_next: float | None = None
        self.seen_next = threading.Event()
        self.release = threading.Event()
        self.handed_out: dict[str, float] = {}
        self.init_errors: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # silence
                pass

            def do_GET(self) -> None:
                now = time.perf_counter()
                if self.path != NEXT_PATH:
                    self._reply(404, b"{}")
                    return
                with api.lock:
                    if api.first_next is None:
                        api.first_next = now
                        api.seen_next.set()
                with api.lock:
                    release, pending = api.release, api.pending
                while True:
                    try:
                        item = pending.get(timeout=0.05)
                        break
                    except queue.Empty:
                        if release.is_set():
                            return  # the process is being killed / endpoint closed
                request_id, payload = item
                body = json.dumps(payload).encode()
                deadline = int(time.time() * 1000) + 60_000
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bench",
                )
                self.send_header(
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
                )
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                api.handed_out[request_id] = time.perf_counter()

            def do_POST(self) -> None:
                now = time.perf_counter()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = self.path.strip("/").split("/")
                # 2018-06-01/runtime/invocation/<id>/response|error, 2018-06-01/runtime/init/error
                if len(parts) == 5 and parts[2] == "invocation" and parts[4] in ("response", "error"):
                    request_id = parts[3]
                    api.results.put(
                        (request_id, parts[4], api.handed_out.get(request_id), now, body)
                    )
                elif len(parts) == 4 and parts[2] == "init" and parts[3] == "error":
                    api.init_errors.append(body.decode(errors="replace"))
                    api.results.put((None, "init-error", None, now, body))
                self._reply(202, b'{"status":"OK"}')

            def _reply(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        """Forget the previous process: release its blocked /next, clear state."""
        self.release.set()
        with self.lock:
            self.first_next = None
            self.seen_next = threading.Event()
            self.release = threading.Event()
            self.pending = queue.Queue()

    def invoke(self, payload: dict, timeout: float = 60.0) -> tuple[str, float, dict]:
        """Hand out one invocation; return (kind, handler seconds, body)."""
        request_id = str(uuid.uuid4())
        with self.lock:
            pending = self.pending
        pending.put((request_id, payload))
        while True:
            try:
                got_id, kind, handed_out, received, body = self.results.get(timeout=timeout)
            except queue.Empty:
                raise BenchError(f"no answer to invocation {request_id} within {timeout:.0f} s") from None
            if kind == "init-error":
                raise BenchError(f"the function failed its init: {body.decode(errors='replace')}")
            if got_id == request_id:
                break
        if handed_out is None:
            raise BenchError(f"answer for {request_id} before it was handed out")
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode(errors="replace")
        return kind, received - handed_out, parsed

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stats(values: list[float]) -> dict:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {
        "n": len(values),
        "median": statistics.median(values),
        "min": ordered[0],
        "max": ordered[-1],
        "p90": p90,
    }


def base_env(runtime_api: str, function: str, endpoint_url: str) -> dict[str, str]:
    # A Lambda-like environment: no HOME, no profile files, no inherited AWS_*.
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def function_env(task_arn: str) -> dict[str, str]:
    # post-processor without TARGET_DB_SECRET_ARN: no database, in-memory ledger.
    return {
        "DMS_TASK_ARNS": task_arn,
        "SCHEDULE_RULE_NAME": RULE,
        "REFRESH_INDICATOR": "data-refresh",
        "REFRESH_TYPE": "full-load",
        "SCHEDULE_MODE": "schedule",
    }


def spawn(argv: list[str], env: dict[str, str], log) -> tuple[subprocess.Popen, float]:
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=ROOT)
    return child, start


def vm_hwm_mib(pid: int) -> float:
    """The process's own peak RSS (VmHWM of its address space), in MiB."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def kill_and_reap(child: subprocess.Popen) -> float:
    """SIGKILL the child and return ru_maxrss from wait4, in MiB (KiB on Linux).

    On Linux this is max(the child's own peak, the spawning process's image
    before exec): exec records the pre-exec (here: this Python's) RSS high
    water mark in the process's maxrss. For a small binary spawned from
    Python it is therefore the parent's RSS, not the child's; VmHWM is read
    for the child's own figure."""
    if child.returncode is not None:  # already reaped by poll(): no rusage left
        return float("nan")
    try:
        os.kill(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = -signal.SIGKILL  # reaped here; keep Popen from waiting again
    return usage.ru_maxrss / 1024.0


# --------------------------------------------------------------------------
# 1. Deployment size
# --------------------------------------------------------------------------


def zipped_size(binary: Path, workdir: Path) -> tuple[int, int]:
    out = workdir / f"{binary.name}.zip"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("bootstrap", date_time=(2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (0o100755 & 0xFFFF) << 16
        zf.writestr(info, binary.read_bytes())
    return binary.stat().st_size, out.stat().st_size


# --------------------------------------------------------------------------
# 2. Init
# --------------------------------------------------------------------------


def init_once(api: RuntimeApi, label: str, argv: list[str], env: dict[str, str], log,
              timeout: float = 30.0) -> tuple[float, float, float]:
    """One spawn: (ms to the first GET /next, VmHWM MiB, wait4 ru_maxrss MiB)."""
    api.reset()
    seen = api.seen_next
    child, start = spawn(argv, env, log)
    if not seen.wait(timeout):
        code = child.poll()
        kill_and_reap(child)
        api.reset()
        raise BenchError(f"{label}: no GET /next within {timeout:.0f} s (exit status {code}); see {log.name}")
    first = api.first_next
    hwm = vm_hwm_mib(child.pid)  # the child is blocked in GET /next: its init is over
    maxrss = kill_and_reap(child)
    api.reset()
    return (first - start) * 1000.0, hwm, maxrss


def measure_inits(api: RuntimeApi, subjects: dict[str, tuple[list[str], dict[str, str]]], runs: int,
                  log) -> dict[str, dict]:
    """Round-robin over the subjects (so load changes hit all alike), after one
    unmeasured spawn each (page cache, .pyc files)."""
    samples: dict[str, list[tuple[float, float, float]]] = {label: [] for label in subjects}
    for label, (argv, env) in subjects.items():
        init_once(api, label, argv, env, log)
    for _ in range(runs):
        for label, (argv, env) in subjects.items():
            samples[label].append(init_once(api, label, argv, env, log))
    parent = vm_hwm_mib(os.getpid())
    return {
        label: {
            "init_ms": stats([t for t, _, _ in got]),
            "rss_mib": stats([h for _, h, _ in got]),
            "wait4_maxrss_mib": stats([m for _, _, m in got]),
            "spawning_python_rss_mib": parent,
        }
        for label, got in samples.items()
    }


# --------------------------------------------------------------------------
# 3. Warm invocation against moto
# --------------------------------------------------------------------------


class Emulator:
    def __init__(self, log) -> None:
        import boto3  # imported here: the init benchmark does not need it in this process

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.child = subprocess.Popen(
            [sys.executable, str(ROOT / "tools" / "moto_server.py"), "-H", "127.0.0.1", "-p", str(self.port)],
            cwd=ROOT, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while True:
            if self.child.poll() is not None:
                raise BenchError(f"moto_server exited early; see {log.name}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            if time.time() > deadline:
                raise BenchError("moto_server did not listen within 60 s")
            time.sleep(0.1)
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        self.dms = session.client("dms", endpoint_url=self.url)
        self.events = session.client("events", endpoint_url=self.url)

    def close(self) -> None:
        if self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()

    def create_demo(self) -> str:
        self.events.put_rule(Name=RULE, ScheduleExpression="cron(0 0 * * ? *)", State="DISABLED")
        arn = self.dms.create_replication_task(
            ReplicationTaskIdentifier=TASK_ID,
            SourceEndpointArn=f"arn:aws:dms:{REGION}:{ACCOUNT}:endpoint:SOURCE",
            TargetEndpointArn=f"arn:aws:dms:{REGION}:{ACCOUNT}:endpoint:TARGET",
            ReplicationInstanceArn=f"arn:aws:dms:{REGION}:{ACCOUNT}:rep:BENCH",
            MigrationType="full-load",
            TableMappings=json.dumps({"rules": [{
                "rule-type": "selection", "rule-id": "1", "rule-name": "all",
                "object-locator": {"schema-name": "%", "table-name": "%"}, "rule-action": "include",
            }]}),
        )["ReplicationTask"]["ReplicationTaskArn"]
        self.new_run(arn)
        return arn

    def status(self, arn: str) -> dict:
        return self.dms.describe_replication_tasks(
            Filters=[{"Name": "replication-task-arn", "Values": [arn]}], WithoutSettings=True
        )["ReplicationTasks"][0]

    def new_run(self, arn: str) -> None:
        """A finished run as DMS leaves it: started, then stopped."""
        self.dms.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="reload-target")
        self.dms.stop_replication_task(ReplicationTaskArn=arn)


class Replayer:
    """Captures the requests boto3 signs and replays them over one keep-alive
    connection: the emulator's own time for a call plus loopback, without
    Python SDK overhead."""

    def __init__(self, url: str) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.captured: list[tuple[str, str, dict, bytes]] = []

    def capture(self, client, call) -> None:
        def hook(request, **_):
            body = request.body
            if isinstance(body, str):
                body = body.encode()
            path = request.url.split(f":{self.port}", 1)[1] or "/"
            self.captured.append((request.method, path, dict(request.headers), body or b""))
            return None

        client.meta.events.register("before-send", hook)
        try:
            call()
        finally:
            client.meta.events.unregister("before-send", hook)

    def send(self, index: int) -> float:
        method, path, headers, body = self.captured[index]
        start = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - start
        if response.status >= 300:
            raise BenchError(f"replayed request {path} {headers.get('X-Amz-Target')}: HTTP {response.status} {data[:200]!r}")
        return elapsed

    def close(self) -> None:
        self.conn.close()


def wait_next_second(after: float) -> None:
    """Sleep until the wall clock is in a later whole second than `after`."""
    target = int(after) + 1 + 0.02
    delay = target - time.time()
    if delay > 0:
        time.sleep(delay)


def row(handler: list[float], raw: list[float], sdk: list[float], calls: list[str]) -> dict:
    """One table row. Each handler sample is paired with the emulator samples
    taken right after it, in the same state; the first invocation is reported
    apart and left out of the steady-state figures."""
    own = [h - r for h, r in zip(handler, raw)]
    return {
        "first_ms": handler[0] * 1000,
        "first_own_ms": own[0] * 1000,
        "steady_ms": ms_stats(handler[1:]),
        "emulator_raw_ms": ms_stats(raw[1:]),
        "emulator_boto3_ms": ms_stats(sdk[1:]),
        "own_ms": ms_stats(own[1:]),
        "calls": calls,
    }


def action_of(body, key: str) -> str | None:
    try:
        return body[key][0]["action"]
    except (KeyError, IndexError, TypeError):
        return None


def warm_post_processor(api: RuntimeApi, aws: Emulator, binary: Path, arn: str, n: int, log) -> dict:
    payload = json.loads((ROOT / "events" / "post-processor" / "sns-finished.json").read_text())
    env = {**base_env(api.address, "post-processor", aws.url), **function_env(arn)}
    describe = lambda: aws.dms.describe_replication_tasks(  # noqa: E731
        Filters=[{"Name": "replication-task-arn", "Values": [arn]}], WithoutSettings=True)
    enable = lambda: aws.events.enable_rule(Name=RULE)  # noqa: E731
    rep = Replayer(aws.url)
    rep.capture(aws.dms, describe)
    rep.capture(aws.events, enable)

    api.reset()
    child, _ = spawn([str(binary)], env, log)
    handler, raw, sdk = [], [], []
    d_handler, d_raw, d_sdk = [], [], []
    try:
        last_start = 0.0
        for i in range(n):
            if i > 0:
                # A new run: the run id is the task's start date in whole seconds.
                wait_next_second(last_start)
                last_start = time.time()
                aws.new_run(arn)
            else:
                last_start = time.time()
            aws.events.disable_rule(Name=RULE)
            kind, seconds, body = api.invoke(payload)
            if kind != "response" or action_of(body, "records") != "completed":
                raise BenchError(f"post-processor invocation {i + 1}: {kind} {body}")
            if aws.events.describe_rule(Name=RULE)["State"] != "ENABLED":
                raise BenchError(f"post-processor invocation {i + 1}: the rule was not re-enabled")
            handler.append(seconds)
            aws.events.disable_rule(Name=RULE)
            raw.append(rep.send(0) + rep.send(1))
            aws.events.disable_rule(Name=RULE)
            t0 = time.perf_counter()
            describe()
            enable()
            sdk.append(time.perf_counter() - t0)
        # Duplicate deliveries of the last run, back to back: DescribeReplicationTasks only.
        for i in range(n):
            kind, seconds, body = api.invoke(payload)
            if kind != "response" or action_of(body, "records") != "duplicate":
                raise BenchError(f"post-processor duplicate {i + 1}: {kind} {body}")
            d_handler.append(seconds)
            d_raw.append(rep.send(0))
            t0 = time.perf_counter()
            describe()
            d_sdk.append(time.perf_counter() - t0)
    finally:
        kill_and_reap(child)
        api.reset()
        rep.close()
    return {
        "completed": row(handler, raw, sdk, ["DescribeReplicationTasks", "EnableRule"]),
        "duplicate": row(d_handler, d_raw, d_sdk, ["DescribeReplicationTasks"]),
    }


def warm_task_starter(api: RuntimeApi, aws: Emulator, binary: Path, arn: str, n: int, log) -> dict:
    payload = json.loads((ROOT / "events" / "task-starter" / "console-test.json").read_text())
    env = {**base_env(api.address, "task-starter", aws.url), **function_env(arn)}

    def ready() -> None:
        """Between refreshes: the task stopped, the schedule rule enabled."""
        if aws.status(arn)["Status"] != "stopped":
            aws.dms.stop_replication_task(ReplicationTaskArn=arn)
        aws.events.enable_rule(Name=RULE)

    calls = [
        (aws.dms, lambda: aws.dms.describe_replication_tasks(
            Filters=[{"Name": "replication-task-arn", "Values": [arn]}], WithoutSettings=True)),
        (aws.events, lambda: aws.events.describe_rule(Name=RULE)),
        (aws.events, lambda: aws.events.disable_rule(Name=RULE)),
        (aws.dms, lambda: aws.dms.start_replication_task(
            ReplicationTaskArn=arn, StartReplicationTaskType="reload-target")),
    ]
    rep = Replayer(aws.url)
    ready()
    for client, call in calls:
        rep.capture(client, call)

    api.reset()
    child, _ = spawn([str(binary)], env, log)
    handler, raw, sdk = [], [], []
    try:
        for i in range(n):
            ready()
            kind, seconds, body = api.invoke(payload)
            if kind != "response" or action_of(body, "tasks") != "started":
                raise BenchError(f"task-starter invocation {i + 1}: {kind} {body}")
            handler.append(seconds)
            ready()
            raw.append(sum(rep.send(j) for j in range(len(calls))))
            ready()
            t0 = time.perf_counter()
            for _, call in calls:
                call()
            sdk.append(time.perf_counter() - t0)
    finally:
        kill_and_reap(child)
        api.reset()
        rep.close()
    return {
        "started": row(handler, raw, sdk,
                       ["DescribeReplicationTasks", "DescribeRule", "DisableRule", "StartReplicationTask"]),
    }


def ms_stats(seconds: list[float]) -> dict:
    s = stats(seconds)
    return {k: (v * 1000 if k != "n" else v) for k, v in s.items()}


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description="Lambda init, warm-invocation and size benchmarks.")
    parser.add_argument("--quick", action="store_true", help="fewer runs (5 init runs, 10 invocations)")
    parser.add_argument("--runs", type=int, help="init runs per binary (default 20, --quick 5)")
    parser.add_argument("--invocations", type=int, help="warm invocations (default 50, --quick 10)")
    parser.add_argument("--bin-dir", type=Path, default=ROOT / "target" / "release",
                        help="where the release binaries are (default target/release)")
    parser.add_argument("--skip-warm", action="store_true", help="skip the warm-invocation benchmark (no moto)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE ('-' for stdout)")
    args = parser.parse_args()
    runs = args.runs or (5 if args.quick else 20)
    n = args.invocations or (10 if args.quick else 50)
    if runs < 1 or n < 2:
        parser.error("--runs must be >= 1 and --invocations >= 2")

    binaries = {name: args.bin_dir / name for name in BINARIES}
    for name, path in binaries.items():
        if not os.access(path, os.X_OK):
            raise BenchError(f"{path} is missing; build with `cargo build --release -p {name}`")

    logdir = ROOT / "target" / "bench-lambda"
    logdir.mkdir(parents=True, exist_ok=True)
    out = sys.stderr if args.json == "-" else sys.stdout
    say = lambda *a: print(*a, file=out, flush=True)  # noqa: E731
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                                 "loadavg_start": os.getloadavg()},
                     "runs": runs, "invocations": n, "binaries": {}}

    # 1. size
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in binaries.items():
            raw_size, zipped = zipped_size(path, Path(tmp))
            results["binaries"][name] = {"binary_mib": raw_size / MIB, "zip_mib": zipped / MIB}

    # 2. init
    say(f"==> init: {runs} runs per binary, round-robin (spawn -> first GET /next), peak RSS (VmHWM)")
    api = RuntimeApi()
    try:
        dummy_arn = f"arn:aws:dms:{REGION}:{ACCOUNT}:task:bench"
        with open(logdir / "init.log", "w") as log:
            subjects = {
                name: ([str(path)], {**base_env(api.address, name, "http://127.0.0.1:9"), **function_env(dummy_arn)})
                for name, path in binaries.items()
            }
            subjects["python_boto3"] = (
                [str(ROOT / ".venv" / "bin" / "python"), "-c", PYTHON_CHILD],
                {**base_env(api.address, "python-boto3", "http://127.0.0.1:9"), **function_env(dummy_arn)},
            )
            # The harness's floor: bash opening a TCP connection and sending GET /next.
            subjects["floor_bash"] = (
                ["/bin/bash", "-c", 'exec 3<>"/dev/tcp/${AWS_LAMBDA_RUNTIME_API%:*}/${AWS_LAMBDA_RUNTIME_API#*:}"; '
                 'printf "GET %s HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" "$0" >&3; read -r line <&3', NEXT_PATH],
                base_env(api.address, "floor", "http://127.0.0.1:9"),
            )
            measured = measure_inits(api, subjects, runs, log)
            for name in binaries:
                results["binaries"][name].update(measured[name])
            results["python_boto3"] = measured["python_boto3"]
            results["floor_bash"] = measured["floor_bash"]

        # 3. warm
        if not args.skip_warm:
            say(f"==> warm invocation: {n} invocations per binary against moto_server")
            with open(logdir / "moto.log", "w") as moto_log:
                aws = Emulator(moto_log)
                try:
                    arn = aws.create_demo()
                    with open(logdir / "post-processor.log", "w") as log:
                        results["warm_post_processor"] = warm_post_processor(
                            api, aws, binaries["post-processor"], arn, n, log)
                    with open(logdir / "task-starter.log", "w") as log:
                        results["warm_task_starter"] = warm_task_starter(
                            api, aws, binaries["task-starter"], arn, n, log)
                finally:
                    aws.close()
    finally:
        api.close()

    # Report
    results["machine"]["loadavg_end"] = os.getloadavg()
    py = results["python_boto3"]
    py_ms = py["init_ms"]["median"]
    say("")
    la0, la1 = results["machine"]["loadavg_start"], results["machine"]["loadavg_end"]
    say(f"machine: {os.cpu_count()} CPUs, 1-min load average {la0[0]:.2f} at start, {la1[0]:.2f} at end "
        "(other work on the machine makes init times noisy)")
    say(f"Lambda init and size ({runs} runs; init = spawn to first GET /next)")
    header = f"{'binary':<22}{'init med ms':>12}{'min':>8}{'max':>8}{'RSS MiB':>9}{'zip MiB':>9}{'py/rust':>9}"
    say(header)
    say("-" * len(header))
    checks: list[tuple[str, bool]] = []
    for name in BINARIES:
        b = results["binaries"][name]
        i, r = b["init_ms"], b["rss_mib"]
        ratio = py_ms / i["median"] if i["median"] > 0 else float("inf")
        b["python_over_rust"] = ratio
        say(f"{name:<22}{i['median']:>12.2f}{i['min']:>8.2f}{i['max']:>8.2f}{r['max']:>9.1f}{b['zip_mib']:>9.2f}{ratio:>8.1f}x")
        checks += [
            (f"{name} init median {i['median']:.2f} ms <= {INIT_TARGET_MS:.0f} ms", i["median"] <= INIT_TARGET_MS),
            (f"{name} peak RSS {r['max']:.1f} MiB <= {RSS_TARGET_MIB:.0f} MiB", r["max"] <= RSS_TARGET_MIB),
            (f"{name} zipped {b['zip_mib']:.2f} MiB <= {ZIP_TARGET_MIB:.0f} MiB", b["zip_mib"] <= ZIP_TARGET_MIB),
            (f"{name} {ratio:.1f}x faster than Python + boto3 (>= {SPEEDUP_TARGET:.0f}x)", ratio >= SPEEDUP_TARGET),
        ]
    i, r = py["init_ms"], py["rss_mib"]
    say(f"{'python+boto3 (2 clients)':<22}{i['median']:>12.2f}{i['min']:>8.2f}{i['max']:>8.2f}{r['max']:>9.1f}{'-':>9}{'1.0x':>9}")
    f = results["floor_bash"]["init_ms"]
    say(f"{'floor: bash GET /next':<22}{f['median']:>12.2f}{f['min']:>8.2f}{f['max']:>8.2f}{results['floor_bash']['rss_mib']['max']:>9.1f}{'-':>9}{'-':>9}")
    say("(RSS = the largest peak RSS (VmHWM at the first /next) over the runs; zip = bootstrap, deflate; "
        "binary sizes " + ", ".join(f"{k} {v['binary_mib']:.2f} MiB" for k, v in results["binaries"].items()) + ")")

    if not args.skip_warm:
        say("")
        say(f"Warm invocation against moto ({n} invocations; handler = /next handed out -> /response received)")
        header = (f"{'function / path':<32}{'first ms':>9}{'med ms':>8}{'p90':>7}{'min':>7}"
                  f"{'emu ms':>8}{'(boto3)':>8}{'own ms':>8}")
        say(header)
        say("-" * len(header))
        rows = [
            ("post-processor completed", results["warm_post_processor"]["completed"]),
            ("post-processor duplicate", results["warm_post_processor"]["duplicate"]),
            ("task-starter started", results["warm_task_starter"]["started"]),
        ]
        for label, r in rows:
            s, e, b, o = r["steady_ms"], r["emulator_raw_ms"], r["emulator_boto3_ms"], r["own_ms"]
            say(f"{label:<32}{r['first_ms']:>9.2f}{s['median']:>8.2f}{s['p90']:>7.2f}{s['min']:>7.2f}"
                f"{e['median']:>8.2f}{b['median']:>8.2f}{o['median']:>8.2f}")
        say("(med/p90/min: handler time, first invocation excluded; emu = the same AWS calls replayed on a "
            "keep-alive connection to moto right after each invocation, in the same state; boto3 = the same "
            "calls through boto3, for reference; own = median over invocations of handler - emu, the "
            "handler's own time: runtime client, JSON, SDK signing and (de)serialisation, logging)")
        say("calls: completed = DescribeReplicationTasks + EnableRule; duplicate = DescribeReplicationTasks; "
            "started = DescribeReplicationTasks + DescribeRule + DisableRule + StartReplicationTask")

    say("")
    say("Targets")
    for text, ok in checks:
        say(f"  {verdict(ok)}  {text}")
    results["targets"] = [{"target": t, "pass": ok} for t, ok in checks]

    if args.json:
        text = json.dumps(results, indent=2)
        if args.json == "-":
            print(text, flush=True)
        else:
            Path(args.json).write_text(text + "\n")
            say(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench-lambda: error: {error}", file=sys.stderr)
        sys.exit(1)
