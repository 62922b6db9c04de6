"""template.yaml, transformed by aws-sam-translator and created in moto_server's
CloudFormation, is wired as intended; broken copies and invalid parameter combinations
are rejected."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from typing import Any, Callable

import pytest
from moto.cloudformation.parsing import resource_class_from_type

import tomllib

from cfn import (
    MOTO_UNSUPPORTED,
    REPO,
    load_template,
    parameter_violations,
    rule_violations,
    sam_transform,
    strip_unsupported,
)
from conftest import ACCOUNT_ID, REGION, Aws, Prerequisites
from stack import Deployed, created_resources, deploy, resource, stack_parameters, wiring_problems

SCENARIOS: dict[str, dict[str, str]] = {
    # The nightly refresh of the seed, with e-mail alerts.
    "nightly": {
        "MigrationRefreshIndicator": "data-refresh",
        "MigrationRefreshType": "full-load",
        "ScheduleOrOneTime": "schedule",
        "ScheduleExpression": "cron(30 1 * * ? *)",
        "NotificationEmail": "dba@example.com",
        "LiveSchema": "shop",
        "QuarantineSchema": "shop_raw",
        "DeveloperGrants": "dev_readers=SELECT;dev_writers=SELECT,INSERT,UPDATE,DELETE",
        "PurgeQuarantine": "false",
    },
    # The explicit in-place opt-in.
    "nightly-in-place": {
        "PublishMode": "in-place",
        "LiveSchema": "",
    },
    # The nightly refresh with DMS events through EventBridge instead of SNS.
    "nightly-eventbridge": {
        "DmsEventDelivery": "eventbridge",
        "ReconcileSchedule": "rate(5 minutes)",
        "LockAlertAfterMinutes": "120",
    },
    # A one-time CDC migration of a refresh group stopped at one commit time, no
    # notification topic, secrets under a customer-managed key; cutover hooks, no salt.
    "one-time-cdc": {
        "MigrationRefreshIndicator": "data-migration",
        "MigrationRefreshType": "full-load-and-cdc",
        "ScheduleOrOneTime": "one-time",
        "CdcStopPosition": "commit_time:2026-11-21T00:00:00",
        "MaskingSaltSecretArn": "",
        "MaskingRulesFile": "cutover-request.toml",
        "CreateNotificationTopic": "false",
        "SecretsKmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "DbTlsMode": "verify-full",
        "ReenableRuleOnFailure": "true",
        "LogLevel": "debug,sqlx=warn",
        "LogRetentionInDays": "7",
        # The load start records and disables the target's triggers for the cutover.
        "RecordTargetTriggers": "true",
        # The source is read for a CDC start's slot check and a cutover's sequences.
        "SourceDbSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:shop-source-AbCdEf",
        # The group may be moved to an upgraded replication instance (seed 000).
        "MoveTargetInstanceArns": f"arn:aws:dms:{REGION}:{ACCOUNT_ID}:rep:upgraded-1,"
        f"arn:aws:dms:{REGION}:{ACCOUNT_ID}:rep:upgraded-2",
    },
}

VALID_COMBINATIONS = {
    ("data-refresh", "full-load", "schedule"),
    ("data-refresh", "full-load", "one-time"),
    ("data-migration", "full-load", "schedule"),
    ("data-migration", "full-load", "one-time"),
    ("data-migration", "full-load-and-cdc", "one-time"),
    ("data-migration", "cdc", "one-time"),
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def deployed(request: pytest.FixtureRequest, aws: Aws, prerequisites: Prerequisites) -> Deployed:
    params = stack_parameters(prerequisites, SCENARIOS[request.param])
    assert rule_violations(load_template(), params) == []
    assert parameter_violations(load_template(), params) == []
    return deploy(aws, prerequisites, f"dms-refresh-{request.param}", params)


def test_stack_is_wired(deployed: Deployed, aws: Aws, prerequisites: Prerequisites) -> None:
    problems = wiring_problems(aws, prerequisites, deployed)
    assert problems == [], "\n".join(problems)


def test_stripped_resources_are_exactly_what_moto_cannot_create(deployed: Deployed) -> None:
    types = {res["Type"] for res in deployed.translated["Resources"].values()}
    unsupported = {t for t in types if resource_class_from_type(t) is None}
    stripped = {res["Type"] for res in deployed.removed.values()}
    assert stripped == unsupported, (
        "moto would silently skip a resource type not in cfn.MOTO_UNSUPPORTED, or the list is stale"
    )
    assert stripped <= set(MOTO_UNSUPPORTED)


def test_vpc_settings_apply_only_when_given(aws: Aws, prerequisites: Prerequisites) -> None:
    vpc = aws.ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        aws.ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
        for cidr in ("10.20.1.0/24", "10.20.2.0/24")
    ]
    group = aws.ec2.create_security_group(GroupName="masker", Description="post-processor", VpcId=vpc)["GroupId"]
    # With a source secret the task-starter joins the VPC to read the source's slot.
    source = aws.secretsmanager.create_secret(Name="dms-refresh/source-db", SecretString="{}")["ARN"]
    params = stack_parameters(
        prerequisites,
        {**SCENARIOS["nightly"], "SubnetIds": ",".join(subnets), "SecurityGroupIds": group,
         "SourceDbSecretArn": source},
    )
    assert rule_violations(load_template(), params) == []
    stack = deploy(aws, prerequisites, "dms-refresh-vpc", params)
    problems = wiring_problems(aws, prerequisites, stack)
    assert problems == [], "\n".join(problems)


def test_the_deployments_create_every_resource_moto_can(prerequisites: Prerequisites) -> None:
    """Every resource of the template that moto's CloudFormation can create is created by
    at least one deployment of these tests: deploy() asserts that moto creates exactly the
    resources whose Condition holds, and the scenarios (with the VPC one) between them
    make every Condition hold somewhere. The rest are of a type in cfn.MOTO_UNSUPPORTED,
    whose properties the wiring checks resolve statically."""
    vpc = {**SCENARIOS["nightly"], "SubnetIds": "subnet-1,subnet-2", "SecurityGroupIds": "sg-1"}
    created: set[str] = set()
    types: dict[str, str] = {}
    for overrides in [*SCENARIOS.values(), vpc]:
        params = stack_parameters(prerequisites, overrides)
        translated = sam_transform(
            load_template(), params, prerequisites.code_uri, prerequisites.layer_uri, REGION, ACCOUNT_ID
        )
        deployable, _ = strip_unsupported(translated)
        created |= created_resources(deployable, params)
        types.update({logical: res["Type"] for logical, res in translated["Resources"].items()})
    never = sorted(f"{logical} ({t})" for logical, t in types.items() if logical not in created and t not in MOTO_UNSUPPORTED)
    assert not never, f"no deployment creates {never}: add a scenario whose conditions hold for them"
    assert {t for t in types.values() if t in MOTO_UNSUPPORTED} == set(MOTO_UNSUPPORTED), (
        "cfn.MOTO_UNSUPPORTED names a type the template no longer has"
    )


# ------------------------------------------------------------------ broken wiring


def _rule_name_typo(t: dict[str, Any]) -> None:
    resource(t, "PostProcessor")["Environment"]["Variables"]["SCHEDULE_RULE_NAME"] = {
        "Fn::Sub": "${AWS::StackName}-schedules"
    }


def _permission_on_wrong_topic(t: dict[str, Any]) -> None:
    resource(t, "PostProcessorDmsTopicPermission")["SourceArn"] = {"Ref": "NotificationTopic"}


def _dms_topic_feeds_starter(t: dict[str, Any]) -> None:
    resource(t, "DmsEventTopic")["Subscription"][0]["Endpoint"] = {"Fn::GetAtt": ["TaskStarter", "Arn"]}


def _wildcard_publish(t: dict[str, Any]) -> None:
    statements = resource(t, "TaskStarterRole")["Policies"][0]["PolicyDocument"]["Statement"]
    statements.append({"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"})


def _subscription_on_arns(t: dict[str, Any]) -> None:
    resource(t, "DmsEventSubscription")["SourceIds"] = {"Ref": "ReplicationTaskArns"}


def _starter_gets_secrets(t: dict[str, Any]) -> None:
    statements = resource(t, "TaskStarterRole")["Policies"][0]["PolicyDocument"]["Statement"]
    statements.append(
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "TargetDbSecretArn"}}
    )


def _task_arns_dropped(t: dict[str, Any]) -> None:
    resource(t, "TaskStarter")["Environment"]["Variables"]["DMS_TASK_ARNS"] = {
        "Fn::Select": [0, {"Ref": "ReplicationTaskArns"}]
    }


def _vpc_managed_policy(t: dict[str, Any]) -> None:
    resource(t, "PostProcessorRole")["ManagedPolicyArns"] = [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
    ]


def _topic_open_to_any_subscription(t: dict[str, Any]) -> None:
    statement = resource(t, "DmsEventTopicPolicy")["PolicyDocument"]["Statement"][0]
    del statement["Condition"]["ArnEquals"]


def _schedule_without_dead_letters(t: dict[str, Any]) -> None:
    del resource(t, "TaskStarterSchedule")["Targets"][0]["DeadLetterConfig"]


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "rule-name-typo": (_rule_name_typo, "post-processor env SCHEDULE_RULE_NAME"),
    "permission-on-wrong-topic": (_permission_on_wrong_topic, "post-processor SNS permission SourceArn"),
    "dms-topic-feeds-starter": (_dms_topic_feeds_starter, "DMS topic subscriptions"),
    "wildcard-publish": (_wildcard_publish, "TaskStarterRole: Resource '*' for ['sns:Publish']"),
    "subscription-on-arns": (_subscription_on_arns, "DMS event subscription SourceIds"),
    "starter-gets-secrets": (_starter_gets_secrets, "TaskStarterRole secretsmanager:GetSecretValue resources"),
    "task-arns-dropped": (_task_arns_dropped, "task-starter env DMS_TASK_ARNS"),
    "vpc-managed-policy": (_vpc_managed_policy, "PostProcessorRole attached managed policies"),
    "topic-open-to-any-subscription": (_topic_open_to_any_subscription, "DMS topic policy Allow statements"),
    "schedule-without-dead-letters": (_schedule_without_dead_letters, "rule targets (arn, dead letters, retries)"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_wiring_is_detected(case: str, aws: Aws, prerequisites: Prerequisites) -> None:
    mutation, expected = BROKEN[case]
    params = stack_parameters(prerequisites, SCENARIOS["nightly"])
    stack = deploy(aws, prerequisites, f"broken-{case}", params, mutate=mutation)
    problems = wiring_problems(aws, prerequisites, stack)
    assert any(p.startswith(expected) for p in problems), (
        f"expected a problem starting with {expected!r}, got:\n" + "\n".join(problems)
    )


# ------------------------------------------------------------------ deploy-time Rules


def test_rules_accept_exactly_the_table_of_modes(prerequisites: Prerequisites) -> None:
    template = load_template()
    accepted = set()
    for combo in itertools.product(
        ["data-refresh", "data-migration"], ["full-load", "full-load-and-cdc", "cdc"], ["schedule", "one-time"]
    ):
        overrides = dict(zip(["MigrationRefreshIndicator", "MigrationRefreshType", "ScheduleOrOneTime"], combo))
        params = stack_parameters(prerequisites, overrides)
        if not rule_violations(template, params):
            accepted.add(combo)
    assert accepted == VALID_COMBINATIONS


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"MigrationRefreshType": "cdc", "ScheduleOrOneTime": "one-time"}, "DataRefreshIsFullLoadOnly"),
        (
            {
                "MigrationRefreshIndicator": "data-migration",
                "MigrationRefreshType": "full-load-and-cdc",
                "MaskingSaltSecretArn": "",
            },
            "CdcTypesAreOneTimeOnly",
        ),
        ({"CdcStopPosition": "commit_time:2026-11-21T00:00:00"}, "CdcStopPositionNeedsCdc"),
        ({"SubnetIds": "subnet-0123456789abcdef0"}, "VpcNeedsSecurityGroups"),
        ({"TargetDbSecretArn": ""}, "DataRefreshMasks"),
        ({"MaskingSaltSecretArn": ""}, "DataRefreshMasks"),
        ({"MigrationRefreshIndicator": "data-migration", "MaskingSaltSecretArn": "x"}, "MigrationNeverMasks"),
        ({"LiveSchema": ""}, "RewriteNeedsLive"),
        ({"MigrationRefreshIndicator": "data-migration", "PublishMode": "rewrite"}, "MigrationIsInPlace"),
        ({"MigrationRefreshIndicator": "data-migration", "LiveSchema": "app"}, "MigrationIsInPlace"),
        ({"RecordTargetTriggers": "true"}, "TriggerRecordIsForMigrations"),
        (
            {
                "MigrationRefreshIndicator": "data-migration",
                "MaskingSaltSecretArn": "",
                "MaskingRulesFile": "cutover-hooks.toml",
                "RecordTargetTriggers": "true",
            },
            "TriggerRecordNeedsItsCutover",
        ),
    ],
)
def test_rules_reject_invalid_parameters(overrides: dict[str, str], rule: str, prerequisites: Prerequisites) -> None:
    violations = rule_violations(load_template(), stack_parameters(prerequisites, overrides))
    assert [v.split(":")[0] for v in violations] == [rule]


def test_every_parameter_is_described() -> None:
    template = load_template()
    for name, spec in template["Parameters"].items():
        assert len(spec.get("Description", "")) >= 20, f"{name} has no real description"
        grouped = {
            p for g in template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"] for p in g["Parameters"]
        }
        assert name in grouped, f"{name} is in no parameter group of the console"


def test_transform_keeps_the_functions_build_metadata(prerequisites: Prerequisites) -> None:
    template = load_template()
    for logical, binary in {"TaskStarter": "task-starter", "PostProcessor": "post-processor"}.items():
        meta = template["Resources"][logical]["Metadata"]
        assert meta["BuildMethod"] == "rust-cargolambda"
        assert meta["BuildProperties"] == {"Binary": binary}
    translated = sam_transform(
        template,
        stack_parameters(prerequisites, {}),
        prerequisites.code_uri,
        prerequisites.layer_uri,
        REGION,
        ACCOUNT_ID,
    )
    assert "Transform" not in translated
    assert all(not r["Type"].startswith("AWS::Serverless::") for r in translated["Resources"].values())


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"TargetDbSecretArn": "dms-refresh/target-db"}, "TargetDbSecretArn"),
        ({"DmsEventDelivery": "kinesis"}, "DmsEventDelivery"),
        ({"LockAlertAfterMinutes": "5"}, "LockAlertAfterMinutes"),
        ({"ReconcileSchedule": "every 15 minutes"}, "ReconcileSchedule"),
        ({"LiveSchema": "app; drop"}, "LiveSchema"),
        ({"PublishMode": "copy"}, "PublishMode"),
        ({"DeveloperGrants": "dev=SELECT; drop"}, "DeveloperGrants"),
        ({"MigrationRefreshType": "full"}, "MigrationRefreshType"),
        ({"ScheduleExpression": "0 0 * * *"}, "ScheduleExpression"),
        ({"CdcStopPosition": "2026-11-21"}, "CdcStopPosition"),
        ({"NotificationEmail": "not-an-address"}, "NotificationEmail"),
        ({"Architecture": "arm"}, "Architecture"),
        ({"TaskArns": "x"}, "TaskArns"),
    ],
)
def test_parameter_constraints_reject_bad_values(
    overrides: dict[str, str], expected: str, prerequisites: Prerequisites
) -> None:
    violations = parameter_violations(load_template(), stack_parameters(prerequisites, overrides))
    assert [v.split(":")[0] for v in violations] == [expected]


SAMCONFIG = REPO / "samconfig.toml"
EXAMPLE_ENVIRONMENTS = ["example-dev", "example-prod"]
# AWS's documentation example account ids: the only accounts samconfig.toml may name.
EXAMPLE_ACCOUNTS = {"111122223333", "444455556666"}
# What every sam command of an environment must agree on, so only the global table sets it.
GLOBAL_ONLY = {"region", "stack_name", "parameter_overrides"}


def _samconfig() -> dict[str, Any]:
    return tomllib.loads(SAMCONFIG.read_text())


def test_samconfig_has_a_default_and_only_example_environments_besides() -> None:
    config = _samconfig()
    assert sorted(k for k in config if k != "version") == sorted(["default", *EXAMPLE_ENVIRONMENTS])


@pytest.mark.parametrize("env", ["default", *EXAMPLE_ENVIRONMENTS])
def test_samconfig_environment_sets_region_and_architecture_once(env: str) -> None:
    table = _samconfig()[env]
    shared = table["global"]["parameters"]
    assert re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d+", shared["region"])
    architectures = load_template()["Parameters"]["Architecture"]["AllowedValues"]
    assert shared["parameter_overrides"]["Architecture"] in architectures
    for command, sections in table.items():
        if command != "global":
            repeated = GLOBAL_ONLY & set(sections["parameters"])
            assert not repeated, f"[{env}.{command}.parameters] repeats {sorted(repeated)}, set in global"
    assert table["validate"]["parameters"]["lint"] is True
    assert table["build"]["parameters"] == {"cached": False, "parallel": False}
    deploy_params = table["deploy"]["parameters"]
    assert deploy_params["resolve_s3"] is True
    assert "CAPABILITY_IAM" in deploy_params["capabilities"]


def test_samconfig_default_names_no_arn() -> None:
    default = _samconfig()["default"]
    assert default["global"]["parameters"]["parameter_overrides"] == {"Architecture": "x86_64"}
    assert "arn:" not in json.dumps(default)


@pytest.mark.parametrize("env", EXAMPLE_ENVIRONMENTS)
def test_samconfig_examples_deploy(env: str) -> None:
    overrides = {
        k: str(v) for k, v in _samconfig()[env]["global"]["parameters"]["parameter_overrides"].items()
    }
    template = load_template()
    assert parameter_violations(template, overrides) == []
    assert rule_violations(template, overrides) == []
    accounts = set(re.findall(r"arn:aws:[a-z-]+:[a-z0-9-]*:(\d{12}):", json.dumps(overrides)))
    assert accounts and accounts <= EXAMPLE_ACCOUNTS, f"not an example account: {accounts - EXAMPLE_ACCOUNTS}"


def test_samconfig_states_the_pinned_sam_cli_as_its_minimum() -> None:
    pinned = re.search(
        r"^aws-sam-cli==(\S+)$", (REPO / "tests/template/requirements-sam.txt").read_text(), re.M
    )
    assert pinned is not None
    assert f"# Minimum AWS SAM CLI version: {pinned.group(1)}," in SAMCONFIG.read_text()


SAM_PYTHON = REPO / ".venv-sam" / "bin" / "python"
# Resolves each command's configuration with the SAM CLI's own reader (global merged
# under the command's table), as `sam <command> --config-env <env>` would see it.
_RESOLVE = """
import json, sys
from samcli.cli.types import CfnParameterOverridesType
from samcli.lib.config.samconfig import SamConfig
conf = SamConfig(sys.argv[1], "samconfig.toml")
out = {}
for env in sys.argv[2:]:
    for cmd in ("build", "deploy", "sync", "logs", "delete"):
        cfg = dict(conf.get_all([cmd], "parameters", env=env))
        overrides = CfnParameterOverridesType().convert(cfg.get("parameter_overrides", {}), None, None)
        out[f"{env} {cmd}"] = [cfg.get("region"), cfg.get("stack_name"), overrides.get("Architecture")]
print(json.dumps(out))
"""


def test_sam_cli_resolves_one_region_stack_and_architecture_per_environment() -> None:
    assert SAM_PYTHON.exists(), "needs .venv-sam with the SAM CLI: run bash scripts/check-template.sh"
    envs = ["default", *EXAMPLE_ENVIRONMENTS]
    result = subprocess.run(
        [str(SAM_PYTHON), "-c", _RESOLVE, str(REPO), *envs], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    for env in envs:
        shared = _samconfig()[env]["global"]["parameters"]
        expected = [shared["region"], shared["stack_name"], shared["parameter_overrides"]["Architecture"]]
        for cmd in ("build", "deploy", "sync", "logs", "delete"):
            assert resolved[f"{env} {cmd}"] == expected, f"sam {cmd} --config-env {env}"


def test_readme_documents_every_parameter() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- deploy:start -->", 1)[1].split("<!-- deploy:end -->", 1)[0]
    documented = {
        line.split("|")[1].strip().strip("`")
        for line in section.splitlines()
        if line.startswith("| `")
    }
    missing = set(load_template()["Parameters"]) - documented
    assert not missing, f"parameters missing from README's Deploy to AWS table: {sorted(missing)}"
