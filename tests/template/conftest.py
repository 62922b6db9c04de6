"""Fixtures: a moto_server on a free loopback port (started with the project's launcher,
tools/moto_server.py), boto3 clients pointed at it, and the AWS resources the stack
expects to exist already (DMS tasks, secrets, a bucket with the code)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from cfn import REPO, build_zip, zip_directory

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's default account


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    env = dict(os.environ, AWS_DEFAULT_REGION=REGION)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "tools" / "moto_server.py"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start:\n{log.read_text()}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Aws:
    """boto3 clients on the emulator."""

    def __init__(self, endpoint: str) -> None:
        self.session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=REGION,
        )
        self.endpoint = endpoint
        self._clients: dict[str, Any] = {}

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._clients:
            name = "lambda" if service == "awslambda" else service
            self._clients[service] = self.session.client(name, endpoint_url=self.endpoint)
        return self._clients[service]


@pytest.fixture(scope="session")
def aws(moto_endpoint: str) -> Aws:
    return Aws(moto_endpoint)


@dataclass
class Prerequisites:
    """What an operator has before `sam deploy`: the DMS tasks and the two secrets."""

    task_arns: list[str]
    task_ids: list[str]
    target_endpoint_arn: str
    db_secret_arn: str
    salt_secret_arn: str
    code_uri: str
    layer_uri: str


@pytest.fixture(scope="session")
def prerequisites(aws: Aws) -> Prerequisites:
    instance = aws.dms.create_replication_instance(
        ReplicationInstanceIdentifier="refresh-instance",
        ReplicationInstanceClass="dms.t3.medium",
    )["ReplicationInstance"]["ReplicationInstanceArn"]
    source = aws.dms.create_endpoint(
        EndpointIdentifier="prod-source",
        EndpointType="source",
        EngineName="postgres",
        ServerName="prod.db.internal",
        Port=5432,
        DatabaseName="app",
        Username="dms",
        Password="secret",
    )["Endpoint"]["EndpointArn"]
    target = aws.dms.create_endpoint(
        EndpointIdentifier="dev-target",
        EndpointType="target",
        EngineName="postgres",
        ServerName="dev.db.internal",
        Port=5432,
        DatabaseName="app",
        Username="dms",
        Password="secret",
    )["Endpoint"]["EndpointArn"]
    mappings = json.dumps(
        {
            "rules": [
                {
                    "rule-type": "selection",
                    "rule-id": "1",
                    "rule-name": "all",
                    "object-locator": {"schema-name": "public", "table-name": "%"},
                    "rule-action": "include",
                }
            ]
        }
    )
    task_ids = ["refresh-orders", "refresh-customers"]
    task_arns = [
        aws.dms.create_replication_task(
            ReplicationTaskIdentifier=task_id,
            SourceEndpointArn=source,
            TargetEndpointArn=target,
            ReplicationInstanceArn=instance,
            MigrationType="full-load",
            TableMappings=mappings,
        )["ReplicationTask"]["ReplicationTaskArn"]
        for task_id in task_ids
    ]
    db_secret = aws.secretsmanager.create_secret(
        Name="dms-refresh/target-db",
        SecretString=json.dumps(
            {
                "username": "masker",
                "password": "pw",
                "host": "dev.db.internal",
                "port": 5432,
                "dbname": "app",
                "engine": "postgres",
            }
        ),
    )["ARN"]
    salt_secret = aws.secretsmanager.create_secret(
        Name="dms-refresh/masking-salt", SecretString="a-long-random-salt"
    )["ARN"]

    bucket = "dms-refresh-artifacts"
    aws.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    # The functions' code is not run by these tests; a placeholder bootstrap stands in
    # for the cargo-lambda build (scripts/check-template.sh builds the real one).
    aws.s3.put_object(
        Bucket=bucket, Key="code.zip", Body=build_zip({"bootstrap": b"#!/bin/sh\nexit 1\n"})
    )
    aws.s3.put_object(Bucket=bucket, Key="rules.zip", Body=zip_directory(REPO / "rules"))
    return Prerequisites(
        task_arns=task_arns,
        task_ids=task_ids,
        target_endpoint_arn=target,
        db_secret_arn=db_secret,
        salt_secret_arn=salt_secret,
        code_uri=f"s3://{bucket}/code.zip",
        layer_uri=f"s3://{bucket}/rules.zip",
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from cfn import MOTO_DROPPED_PROPERTIES, MOTO_UNSUPPORTED

    tr = terminalreporter
    tr.section("moto limits handled by these tests")
    tr.write_line("Stripped from the translated template before create_stack, asserted statically:")
    for rtype, reason in MOTO_UNSUPPORTED.items():
        tr.write_line(f"  {rtype}: {reason}")
    tr.write_line("Ignored by moto's CloudFormation on create, asserted statically:")
    for rtype, props in MOTO_DROPPED_PROPERTIES.items():
        tr.write_line(f"  {rtype}: {', '.join(props)}")
