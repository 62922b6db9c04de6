"""cfn-lint with cfn-lint-serverless's rules, as scripts/check-template.sh runs it: the
template is clean, the rules are really loaded (a copy without the schedule's dead-letter
queue is reported), and every accepted finding is ignored on its own resource with a
reason beside it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from cfn import TEMPLATE

# The cfn-lint of the interpreter running the tests (.venv's, which has the plugin).
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")
LINT = [CFN_LINT, "--append-rules", "cfn_lint_serverless.rules", "--"]


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LINT, str(path)], capture_output=True, text=True, timeout=300)


def rule_ids(output: str) -> set[str]:
    return set(re.findall(r"^([EWI]S?\d{4}) ", output, re.M))


def test_template_is_clean_with_the_serverless_rules() -> None:
    result = lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_schedule_without_dead_letter_queue_is_reported(tmp_path: Path) -> None:
    text = TEMPLATE.read_text()
    dlq = "            DeadLetterConfig:\n              Arn: !GetAtt ScheduleDeadLetterQueue.Arn\n"
    assert text.count(dlq) == 2, "both schedules (starter, reconciler) name the schedule dead-letter queue"
    copy = tmp_path / "template.yaml"
    copy.write_text(text.replace(dlq, ""))
    result = lint(copy)
    assert result.returncode != 0
    assert "ES4000" in rule_ids(result.stdout), result.stdout


def test_each_accepted_finding_has_a_reason_and_would_be_reported(tmp_path: Path) -> None:
    text = TEMPLATE.read_text()
    ignores = re.findall(r"^( +)cfn-lint:\n +config:\n +ignore_checks: \[([^\]]*)\]\n", text, re.M)
    accepted = {rule.strip() for _, rules in ignores for rule in rules.split(",")}
    assert accepted, "no accepted findings: remove this test's expectations"
    for block in re.finditer(r"((?:^ +#.*\n)*)^ +cfn-lint:\n +config:\n +ignore_checks: \[([^\]]*)\]", text, re.M):
        reasons, rules = block.group(1), block.group(2)
        for rule in (r.strip() for r in rules.split(",")):
            assert rule in reasons, f"{rule} ignored without a reason in the comment above it"
    copy = tmp_path / "template.yaml"
    copy.write_text(re.sub(r"^( +ignore_checks: )\[[^\]]*\]$", r"\1[]", text, flags=re.M))
    reported = rule_ids(lint(copy).stdout)
    assert accepted <= reported, f"ignored but no longer reported (drop the ignore): {sorted(accepted - reported)}"
