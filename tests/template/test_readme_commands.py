"""Every shell command of README.md that needs no AWS account is run by a test or a script
(issue 13). The commands are read from the README: the lines of its ```sh blocks, and the
inline `code` that starts with a command. Those that need an AWS account are set aside;
each of the others must be run here (the fetch-rds-ca-bundle.sh lines, exactly as
written, in a copy of the script with a stand-in curl) or be listed in RUN_ELSEWHERE with
the file that runs it. A README command that is in neither fails the test, and so does an
entry here that the README no longer has."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cfn import REPO
from test_ca_bundle import _ca_certificate, _fake_curl

README = REPO / "README.md"

# The first word of an inline `code` span that is a command.
COMMAND_WORDS = {"bash", "sam", "aws", "cargo", "export", "dms-refresh", "openssl"}
# `sam` subcommands that talk to an AWS account.
SAM_AWS = {"deploy", "delete", "logs", "sync", "remote", "traces", "list"}

# Run here, each README line as it is.
FETCH_CA = "bash scripts/fetch-rds-ca-bundle.sh"

# README command -> (the file that runs it, the text in that file that runs it).
RUN_ELSEWHERE: dict[str, tuple[str, str]] = {
    # CI's entry point.
    "bash scripts/test.sh": (".ci/run", "exec bash scripts/test.sh"),
    "bash scripts/check-template.sh": ("scripts/test.sh", "bash scripts/check-template.sh"),
    'export PATH="$PWD/.venv/bin:$PWD/.venv-sam/bin:$PATH"': (
        "scripts/check-template.sh",
        'export PATH="$ROOT/.venv/bin:$ROOT/.venv-sam/bin:$PATH"',
    ),
    # The same build: the only parameter_overrides of samconfig.toml's default environment
    # is Architecture=x86_64 (test_samconfig_default_names_no_arn).
    "sam build": ("scripts/check-template.sh", "sam build --parameter-overrides Architecture=x86_64"),
    # What the script execs (tools/local_cycle.py, on MariaDB, with 1,000 rows); scripts/test.sh
    # has run the script's other steps (setup-venv.sh, ensure-databases.sh, cargo build) first.
    "bash scripts/run-local.sh": ("tests/integration/faults.rs", 'join("local_cycle.py")'),
    "bash scripts/run-local.sh --engine postgres": (
        "tests/integration/faults.rs",
        'the_local_cycle_runs_end_to_end("postgres")',
    ),
    # The README's URL names your server: the CLI tests run the same subcommand and
    # options (--rules, --url, --schema) against the local databases.
    "cargo run -p dms-refresh-cli -- validate --rules rules/masking-rules.toml "
    "--url postgres://masker@dev-db:5432/app --schema app_quarantine": (
        "crates/dms-refresh-cli/tests/it/validate.rs",
        '"--schema",',
    ),
    "dms-refresh validate": ("crates/dms-refresh-cli/tests/it/validate.rs", '"validate",'),
    "dms-refresh suggest": ("crates/dms-refresh-cli/tests/it/suggest.rs", 'dms_refresh(&["suggest"'),
}

# README commands that nothing runs yet: each is a defect, with where to fix it.
NOT_RUN: dict[str, str] = {}

FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


def readme_commands() -> list[str]:
    """The README's shell commands, in order, once each, with whitespace normalised and
    comments and line continuations removed."""
    text = README.read_text()
    found: list[str] = []
    for block in FENCE.finditer(text):
        if block.group(1) in ("sh", "bash", "shell"):
            for line in re.sub(r"\\\n", " ", block.group(2)).splitlines():
                line = re.sub(r"(^|\s)#\s.*$", "", line)
                found.append(" ".join(line.split()))
    for span in re.finditer(r"`([^`]+)`", FENCE.sub("", text)):
        command = " ".join(span.group(1).split())
        if command.split(" ", 1)[0] in COMMAND_WORDS:
            found.append(command)
    return list(dict.fromkeys(c for c in found if c))


def needs_aws(command: str) -> bool:
    for part in command.split("&&"):
        words = part.split()
        if words[0] == "aws" or (words[0] == "sam" and len(words) > 1 and words[1] in SAM_AWS):
            return True
    return False


def offline_commands() -> list[str]:
    return [c for c in readme_commands() if not needs_aws(c)]


def test_readme_commands_are_found() -> None:
    commands = readme_commands()
    assert "bash scripts/run-local.sh" in commands and "bash scripts/test.sh" in commands
    assert "sam deploy --guided" in commands and needs_aws("sam deploy --guided")
    assert any(c.startswith("aws lambda invoke") for c in commands)
    assert any(c.startswith(FETCH_CA) for c in commands), "no fetch-rds-ca-bundle.sh line to run"


def test_every_offline_readme_command_is_run_somewhere() -> None:
    offline = offline_commands()
    accounted = set(RUN_ELSEWHERE) | set(NOT_RUN)
    unrun = [c for c in offline if not c.startswith(FETCH_CA) and c not in accounted]
    assert not unrun, (
        f"README commands that need no AWS account and that nothing runs: {unrun}; "
        "run them in a test or scripts/check-template.sh and list them in RUN_ELSEWHERE"
    )
    stale = sorted(accounted - set(offline))
    assert not stale, f"not (or no longer) README commands: {stale}"


@pytest.mark.parametrize("command", sorted(RUN_ELSEWHERE))
def test_the_named_runner_runs_it(command: str) -> None:
    path, text = RUN_ELSEWHERE[command]
    assert text in (REPO / path).read_text(), f"{path} no longer has {text!r} (for `{command}`)"


@pytest.mark.parametrize("command", [c for c in offline_commands() if c.startswith(FETCH_CA)])
def test_readme_fetch_ca_bundle_command_runs_as_written(command: str, tmp_path: Path) -> None:
    """In a copy of the repository's layout (scripts/ and the rules/ it writes to), with
    bundle.pem for --from and a stand-in curl that serves the same certificates."""
    assert shutil.which("openssl"), "the script parses certificates with openssl: install openssl"
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "fetch-rds-ca-bundle.sh", root / "scripts")
    bundle = b"".join(_ca_certificate(f"README CA {i}")[0] for i in range(2))
    (root / "bundle.pem").write_bytes(bundle)
    env = _fake_curl(tmp_path, root / "bundle.pem")
    result = subprocess.run(
        ["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    written = root / "rules" / "rds-ca-bundle.pem"
    assert written.read_bytes() == bundle
    assert f"sha256 {hashlib.sha256(bundle).hexdigest()}" in result.stdout
    downloaded = (tmp_path / "curl.args").exists()
    assert downloaded == ("--from" not in command), result.stdout
