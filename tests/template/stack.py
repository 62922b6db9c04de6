"""Deploy the transformed template into moto's CloudFormation and check its wiring.

`deploy` expands the SAM transform, strips the resource types moto cannot create
(cfn.MOTO_UNSUPPORTED, printed with the reason), creates the stack and waits for
CREATE_COMPLETE. `wiring_problems` reads what the emulator created and returns every
way in which it differs from the intended wiring, so a test can assert "no problems"
for the real template and "this problem" for a deliberately broken copy.
"""

from __future__ import annotations

import ast
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

from cfn import (
    MOTO_DROPPED_PROPERTIES,
    MOTO_UNSUPPORTED,
    REPO,
    Evaluator,
    load_template,
    sam_transform,
    strip_unsupported,
)
from conftest import ACCOUNT_ID, REGION, Aws, Prerequisites

# The only IAM actions allowed on Resource "*", each because the service has no
# resource-level permission for it (documented next to the statements in template.yaml).
WILDCARD_ACTIONS = {
    "dms:DescribeReplicationTasks",
    "dms:DescribeEndpoints",
    "dms:DescribeEventSubscriptions",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "cloudwatch:ListMetrics",
    "cloudwatch:GetMetricData",
}
# Only with SubnetIds: the network interfaces Lambda manages for the post-processor.
VPC_ENI_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}

STARTER_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "dms:DescribeReplicationTasks",
    "dms:DescribeEndpoints",
    "dms:StartReplicationTask",
    "dms:StopReplicationTask",
    "dms:MoveReplicationTask",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
    *VPC_ENI_ACTIONS,
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "events:DescribeRule",
    "events:DisableRule",
    "events:EnableRule",
    "events:ListTagsForResource",
    "events:TagResource",
    "events:UntagResource",
    "sns:Publish",
    "lambda:InvokeFunction",
}
POST_PROCESSOR_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "dms:DescribeReplicationTasks",
    "dms:DescribeEndpoints",
    "dms:DescribeEventSubscriptions",
    "dms:StartReplicationTask",
    "dms:DescribeTableStatistics",
    "cloudwatch:ListMetrics",
    "cloudwatch:GetMetricData",
    "events:DescribeRule",
    "events:EnableRule",
    "events:ListTagsForResource",
    "events:TagResource",
    "events:UntagResource",
    "sns:Publish",
    "secretsmanager:GetSecretValue",
    "lambda:InvokeFunction",
    "sqs:SendMessage",
    "kms:Decrypt",
    *VPC_ENI_ACTIONS,
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
}


def stack_parameters(prereq: Prerequisites, overrides: dict[str, str]) -> dict[str, str]:
    params = {
        "ReplicationTaskArns": ",".join(prereq.task_arns),
        "ReplicationTaskIds": ",".join(prereq.task_ids),
        "TargetDbSecretArn": prereq.db_secret_arn,
        "MaskingSaltSecretArn": prereq.salt_secret_arn,
        "LiveSchema": "app",
    }
    if overrides.get("MigrationRefreshIndicator") == "data-migration":
        params.update({"MaskingSaltSecretArn": "", "LiveSchema": ""})
    params.update(overrides)
    return params


@dataclass
class Deployed:
    name: str
    params: dict[str, str]
    translated: dict[str, Any]
    removed: dict[str, dict[str, Any]]
    physical: dict[str, str]
    stack_id: str


def deploy(
    aws: Aws,
    prereq: Prerequisites,
    stack_name: str,
    params: dict[str, str],
    mutate: Callable[[dict[str, Any]], None] | None = None,
) -> Deployed:
    translated = sam_transform(
        load_template(), params, prereq.code_uri, prereq.layer_uri, REGION, ACCOUNT_ID
    )
    if mutate is not None:
        mutate(translated)
    deployable, removed = strip_unsupported(translated)
    print(f"\n[{stack_name}] stripped before create_stack (checked statically instead):")
    for logical, res in removed.items():
        print(f"  - {logical} ({res['Type']}): {MOTO_UNSUPPORTED[res['Type']]}")
    for rtype, props in MOTO_DROPPED_PROPERTIES.items():
        print(f"[{stack_name}] {rtype} properties moto's CloudFormation ignores (checked statically): "
              + ", ".join(props))

    declared = deployable.get("Parameters", {})
    stack_id = aws.cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(deployable),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in params.items() if k in declared
        ],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )["StackId"]
    deadline = time.monotonic() + 120
    while True:
        status = aws.cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"stack {stack_name} still {status} after 120 s")
        time.sleep(0.5)
    if status != "CREATE_COMPLETE":
        events = aws.cloudformation.describe_stack_events(StackName=stack_id)["StackEvents"]
        reasons = [
            f"{e['LogicalResourceId']}: {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
            for e in events
        ]
        raise AssertionError(f"stack {stack_name} ended {status}:\n" + "\n".join(reasons))
    resources = aws.cloudformation.list_stack_resources(StackName=stack_id)["StackResourceSummaries"]
    # moto lists each resource whose Condition is false as an entry with empty ids.
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"]}
    wanted = created_resources(deployable, params)
    assert set(physical) == wanted, (
        f"moto created {sorted(set(physical) - wanted)} beyond the resources whose condition holds, "
        f"and not {sorted(wanted - set(physical))}"
    )
    return Deployed(stack_name, params, translated, removed, physical, stack_id)


def created_resources(template: dict[str, Any], params: dict[str, str]) -> set[str]:
    """The logical ids CloudFormation creates from `template` with `params`: those
    without a Condition or whose Condition holds."""
    conditions = Evaluator(template, params, pseudo={"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID})
    return {
        logical
        for logical, res in template["Resources"].items()
        if "Condition" not in res or conditions.condition(res["Condition"])
    }


class Wiring:
    """Reads the deployed stack back from the emulator."""

    def __init__(self, aws: Aws, prereq: Prerequisites, deployed: Deployed) -> None:
        self.aws = aws
        self.prereq = prereq
        self.d = deployed
        self.problems: list[str] = []
        self.evaluator = Evaluator(
            deployed.translated,
            deployed.params,
            pseudo={
                "AWS::StackName": deployed.name,
                "AWS::StackId": deployed.stack_id,
                "AWS::Region": REGION,
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            },
            ref=self.ref,
            get_att=self.get_att,
        )

    # -- resolution of Ref / GetAtt against the emulator
    def ref(self, logical: str) -> str:
        rtype = self.d.translated["Resources"][logical]["Type"]
        if rtype == "AWS::Lambda::LayerVersion" and not self.d.physical.get(logical):
            return self.layer_version_arn(logical)
        return self.d.physical[logical]

    def layer_version_arn(self, logical: str) -> str:
        """moto's CloudFormation leaves a LayerVersion's physical id (its Ref, the version
        ARN) empty and names the layer <stack>-<logical id>-<suffix>, ignoring LayerName."""
        prefix = f"{self.d.name}-{logical}-"
        found = [
            layer["LatestMatchingVersion"]["LayerVersionArn"]
            for layer in self.aws.awslambda.list_layers()["Layers"]
            if layer["LayerName"].startswith(prefix)
        ]
        assert len(found) == 1, f"expected one layer named {prefix}*, found {found}"
        return found[0]

    def get_att(self, logical: str, attr: str) -> Any:
        rtype = self.d.translated["Resources"][logical]["Type"]
        phys = self.d.physical[logical]
        if rtype == "AWS::Lambda::Function" and attr == "Arn":
            return self.aws.awslambda.get_function(FunctionName=phys)["Configuration"]["FunctionArn"]
        if rtype == "AWS::SQS::Queue" and attr == "Arn":
            return self.queue_arn(phys)
        if rtype == "AWS::SQS::Queue" and attr == "QueueName":
            return phys.rsplit("/", 1)[-1]
        if rtype == "AWS::Logs::LogGroup" and attr == "Arn":
            return log_group_arn(self.log_group(phys)["arn"])
        if rtype == "AWS::IAM::Role" and attr == "Arn":
            return self.aws.iam.get_role(RoleName=phys)["Role"]["Arn"]
        if rtype == "AWS::Events::Rule" and attr == "Arn":
            return self.aws.events.describe_rule(Name=phys)["Arn"]
        raise KeyError(f"GetAtt {logical}.{attr} ({rtype}) not supported by the test resolver")

    def queue_arn(self, url: str) -> str:
        return self.aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def log_group(self, name: str) -> dict[str, Any]:
        groups = self.aws.logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        match = [g for g in groups if g["logGroupName"] == name]
        assert match, f"log group {name} not found"
        return match[0]

    def resolved(self, logical: str) -> dict[str, Any]:
        return self.evaluator.eval(self.d.translated["Resources"][logical].get("Properties", {}))

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.problems.append(message)

    def expect(self, what: str, actual: Any, expected: Any) -> None:
        self.check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def wiring_problems(aws: Aws, prereq: Prerequisites, deployed: Deployed) -> list[str]:
    w = Wiring(aws, prereq, deployed)
    params = w.evaluator.params
    one_time = params["ScheduleOrOneTime"] == "one-time"
    has_topic = params["CreateNotificationTopic"] == "true"
    has_vpc = params["SubnetIds"] != [""]
    use_sns = params["DmsEventDelivery"] == "sns"
    phys = deployed.physical

    # ---- the schedule rule (created by SAM's Schedule event of TaskStarter)
    rule_name = phys["TaskStarterSchedule"]
    rule = aws.events.describe_rule(Name=rule_name)
    w.expect("rule name", rule_name, f"{deployed.name}-schedule")
    w.expect("rule schedule", rule.get("ScheduleExpression"), params["ScheduleExpression"])
    w.expect("rule state", rule.get("State"), "DISABLED" if one_time else "ENABLED")

    starter_name = phys["TaskStarter"]
    post_name = phys["PostProcessor"]
    starter = aws.awslambda.get_function_configuration(FunctionName=starter_name)
    post = aws.awslambda.get_function_configuration(FunctionName=post_name)
    w.expect("starter function name", starter_name, f"{deployed.name}-task-starter")
    w.expect("post-processor function name", post_name, f"{deployed.name}-post-processor")
    schedule_dlq_arn = w.queue_arn(phys["ScheduleDeadLetterQueue"])
    targets = aws.events.list_targets_by_rule(Rule=rule_name)["Targets"]
    w.expect(
        "rule targets (arn, dead letters, retries)",
        [(t["Arn"], t.get("DeadLetterConfig", {}).get("Arn"), t.get("RetryPolicy")) for t in targets],
        [(starter["FunctionArn"], schedule_dlq_arn,
          {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600})],
    )

    # ---- the reconciler's schedule (SAM's Schedule event of PostProcessor)
    reconcile_name = phys.get("PostProcessorReconcile", "")
    w.expect("reconcile rule name", reconcile_name, f"{deployed.name}-reconcile")
    if reconcile_name:
        reconcile = aws.events.describe_rule(Name=reconcile_name)
        w.expect("reconcile rule schedule", reconcile.get("ScheduleExpression"), params["ReconcileSchedule"])
        w.expect("reconcile rule state", reconcile.get("State"), "ENABLED")
        reconcile_targets = aws.events.list_targets_by_rule(Rule=reconcile_name)["Targets"]
        w.expect(
            "reconcile rule targets (arn, input, dead letters, retries)",
            [
                (t["Arn"], json.loads(t.get("Input", "null")), t.get("DeadLetterConfig", {}).get("Arn"),
                 t.get("RetryPolicy"))
                for t in reconcile_targets
            ],
            [(post["FunctionArn"], {"operation": "reconcile"}, schedule_dlq_arn,
              {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 600})],
        )

    # ---- DMS events: an SNS topic with a DMS event subscription, or an EventBridge rule
    dms_topic = phys.get("DmsEventTopic", "")
    topic_arns = {t["TopicArn"] for t in aws.sns.list_topics()["Topics"]}
    w.check(bool(dms_topic) == use_sns, f"DMS topic present={bool(dms_topic)}, wanted {use_sns}")
    notif_topic = phys.get("NotificationTopic", "")
    w.check(bool(notif_topic) == has_topic, f"notification topic present={bool(notif_topic)}, wanted {has_topic}")
    if notif_topic:
        w.check(notif_topic in topic_arns, f"notification topic {notif_topic} not in SNS")
    if dms_topic:
        w.check(dms_topic in topic_arns, f"DMS topic {dms_topic} not in SNS")
        subs = aws.sns.list_subscriptions_by_topic(TopicArn=dms_topic)["Subscriptions"]
        w.expect(
            "DMS topic subscriptions (protocol, endpoint)",
            [(s["Protocol"], s["Endpoint"]) for s in subs],
            [("lambda", post["FunctionArn"])],
        )
    dms_rule_name = phys.get("DmsEventRule", "")
    w.check(bool(dms_rule_name) != use_sns, f"DMS event rule present={bool(dms_rule_name)}, wanted {not use_sns}")
    dlq_arn_for_rule = w.queue_arn(phys["PostProcessorDeadLetterQueue"])
    if dms_rule_name:
        dms_rule = aws.events.describe_rule(Name=dms_rule_name)
        w.expect(
            "DMS event rule pattern",
            json.loads(dms_rule.get("EventPattern", "{}")),
            {
                "source": ["aws.dms"],
                "detail-type": ["DMS Replication Task State Change"],
                "resources": w.prereq.task_arns,
            },
        )
        dms_targets = aws.events.list_targets_by_rule(Rule=dms_rule_name)["Targets"]
        w.expect(
            "DMS event rule targets (arn, dead letters, retries)",
            [(t["Arn"], t.get("DeadLetterConfig", {}).get("Arn"), t.get("RetryPolicy")) for t in dms_targets],
            [(post["FunctionArn"], dlq_arn_for_rule,
              {"MaximumRetryAttempts": 24, "MaximumEventAgeInSeconds": 21600})],
        )

    # ---- functions: runtime settings and environment
    common_env = {
        "DMS_TASK_ARNS": ",".join(w.prereq.task_arns),
        "SCHEDULE_RULE_NAME": rule_name,
        "REFRESH_INDICATOR": params["MigrationRefreshIndicator"],
        "REFRESH_TYPE": params["MigrationRefreshType"],
        "SCHEDULE_MODE": params["ScheduleOrOneTime"],
        "NOTIFICATION_TOPIC_ARN": notif_topic,
        "CDC_STOP_POSITION": params["CdcStopPosition"],
        "RUST_LOG": params["LogLevel"],
    }
    has_source = bool(params["SourceDbSecretArn"])
    is_migration = params["MigrationRefreshIndicator"] == "data-migration"
    starter_in_vpc = has_vpc and has_source
    expected_env = {
        "task-starter": {
            **common_env,
            "SOURCE_DB_SECRET_ARN": params["SourceDbSecretArn"],
            "SOURCE_DB_TLS_MODE": params["DbTlsMode"],
            "MOVE_TARGET_INSTANCE_ARNS": params["MoveTargetInstanceArns"],
            "POST_PROCESSOR_FUNCTION_NAME": post_name,
            "RECORD_TARGET_TRIGGERS": params["RecordTargetTriggers"],
        },
        "post-processor": {
            **common_env,
            "TARGET_DB_SECRET_ARN": params["TargetDbSecretArn"],
            "MASKING_SALT_SECRET_ARN": params["MaskingSaltSecretArn"],
            "MASKING_RULES_PATH": f"/opt/{params['MaskingRulesFile']}",
            "DB_TLS_MODE": params["DbTlsMode"],
            "SOURCE_DB_SECRET_ARN": params["SourceDbSecretArn"] if is_migration else "",
            "SOURCE_DB_TLS_MODE": params["DbTlsMode"],
            "REENABLE_RULE_ON_FAILURE": params["ReenableRuleOnFailure"],
            "LOCK_ALERT_AFTER_MINUTES": str(params["LockAlertAfterMinutes"]),
            "PUBLISH_MODE": params["PublishMode"],
            "LIVE_SCHEMA": params["LiveSchema"],
            "QUARANTINE_SCHEMA": params["QuarantineSchema"],
            "RETIRED_SCHEMA": params["RetiredSchema"],
            "BUILD_SCHEMA": params["BuildSchema"],
            "DEVELOPER_GRANTS": params["DeveloperGrants"],
            "PURGE_QUARANTINE": params["PurgeQuarantine"],
            "DMS_EVENT_SUBSCRIPTION_NAME": f"{deployed.name}-dms-events" if use_sns else "",
            "METRICS_NAMESPACE": "dms-refresh",
        },
    }
    w.check(
        (REPO / "rules" / params["MaskingRulesFile"]).is_file(),
        f"rules/{params['MaskingRulesFile']} (the layer content for MASKING_RULES_PATH) is missing",
    )
    functions = {"task-starter": ("TaskStarter", starter, 60), "post-processor": ("PostProcessor", post, 900)}
    for label, (logical, conf, timeout) in functions.items():
        env = conf.get("Environment", {}).get("Variables", {})
        for key, value in expected_env[label].items():
            # A Number parameter's Ref arrives as a number from moto, as text from AWS.
            actual = env.get(key)
            w.expect(f"{label} env {key}", actual if actual is None else str(actual), value)
        extra = set(env) - set(expected_env[label])
        w.check(not extra, f"{label} has unexpected environment variables {sorted(extra)}")
        w.expect(f"{label} runtime", conf.get("Runtime"), "provided.al2023")
        w.expect(f"{label} handler", conf.get("Handler"), "bootstrap")
        w.expect(f"{label} timeout", conf.get("Timeout"), timeout)
        w.expect(f"{label} role", conf.get("Role"), w.get_att(f"{logical}Role", "Arn"))
        # Properties moto's CloudFormation drops: resolved from the template instead.
        props = w.resolved(logical)
        log_group = phys[f"{logical}LogGroup"]
        w.expect(f"{label} architectures", props.get("Architectures"), [params["Architecture"]])
        w.expect(f"{label} tracing", props.get("TracingConfig"), {"Mode": "Active"})
        w.expect(f"{label} logging", props.get("LoggingConfig"), {"LogFormat": "JSON", "LogGroup": log_group})
        w.expect(f"{label} log group name", log_group, f"/aws/lambda/{conf['FunctionName']}")
        w.expect(
            f"{label} log retention",
            w.log_group(log_group).get("retentionInDays"),
            int(params["LogRetentionInDays"]),
        )
    post_props = w.resolved("PostProcessor")
    # SAM renames a LayerVersion to MaskingRulesLayer<content hash>, so that changed rules
    # make a new layer version.
    layers = [
        k for k, r in deployed.translated["Resources"].items() if r["Type"] == "AWS::Lambda::LayerVersion"
    ]
    w.expect("layer versions", [k.startswith("MaskingRulesLayer") for k in layers], [True])
    layer_arns = [w.ref(k) for k in layers]
    w.expect("post-processor layers", post_props.get("Layers"), layer_arns)
    for k in layers:
        w.expect("masking-rules layer name", w.resolved(k).get("LayerName"), f"{deployed.name}-masking-rules")
    dlq_url = phys["PostProcessorDeadLetterQueue"]
    dlq_arn = w.queue_arn(dlq_url)
    w.expect("post-processor dead-letter target", post_props.get("DeadLetterConfig"), {"TargetArn": dlq_arn})
    if has_vpc:
        w.expect("post-processor VPC subnets", sorted(post.get("VpcConfig", {}).get("SubnetIds", [])),
                 sorted(params["SubnetIds"]))
    else:
        w.check(not post.get("VpcConfig", {}).get("SubnetIds"), "post-processor has a VPC config without SubnetIds")
    if starter_in_vpc:
        w.expect("task-starter VPC subnets", sorted(starter.get("VpcConfig", {}).get("SubnetIds", [])),
                 sorted(params["SubnetIds"]))
    else:
        w.check("VpcConfig" not in w.resolved("TaskStarter"),
                "task-starter must not be in a VPC without a source secret")
    w.expect("task-starter layers", w.resolved("TaskStarter").get("Layers"), layer_arns if has_source else None)
    w.expect("post-processor recursive loop", post_props.get("RecursiveLoop"), "Allow")

    # ---- Lambda permissions: who may invoke each function
    def statements(function: str) -> list[dict[str, Any]]:
        return json.loads(aws.awslambda.get_policy(FunctionName=function)["Policy"])["Statement"]

    def source_arns(stmts: list[dict[str, Any]], service: str) -> list[str]:
        out = []
        for s in stmts:
            principal = s.get("Principal", {})
            principal = principal.get("Service") if isinstance(principal, dict) else principal
            if principal == service:
                out.append(s.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn", "<none>"))
        return out

    w.expect(
        "post-processor SNS permission SourceArn",
        source_arns(statements(post_name), "sns.amazonaws.com"),
        [dms_topic] if use_sns else [],
    )
    eventbridge_sources = [aws.events.describe_rule(Name=reconcile_name)["Arn"]] if reconcile_name else []
    if dms_rule_name:
        eventbridge_sources.append(aws.events.describe_rule(Name=dms_rule_name)["Arn"])
    w.expect(
        "post-processor EventBridge permissions",
        sorted(source_arns(statements(post_name), "events.amazonaws.com")),
        sorted(eventbridge_sources),
    )
    w.expect("task-starter EventBridge permission SourceArn", source_arns(statements(starter_name), "events.amazonaws.com"), [rule["Arn"]])
    w.expect("task-starter SNS permissions", source_arns(statements(starter_name), "sns.amazonaws.com"), [])

    # ---- IAM: least privilege, read back from the emulator
    expected_resources = {
        "TaskStarterRole": {
            "logs:CreateLogStream": [log_group_arn(w.log_group(phys["TaskStarterLogGroup"])["arn"])],
            "logs:PutLogEvents": [log_group_arn(w.log_group(phys["TaskStarterLogGroup"])["arn"])],
            "dms:StartReplicationTask": sorted(w.prereq.task_arns),
            "dms:StopReplicationTask": sorted(w.prereq.task_arns),
            "dms:MoveReplicationTask": sorted(
                [*w.prereq.task_arns, *params["MoveTargetInstanceArns"].split(",")]
            ) if params["MoveTargetInstanceArns"] else None,
            "events:DescribeRule": [rule["Arn"]],
            "events:DisableRule": [rule["Arn"]],
            "events:EnableRule": [rule["Arn"]],
            "events:ListTagsForResource": [rule["Arn"]],
            "events:TagResource": [rule["Arn"]],
            "events:UntagResource": [rule["Arn"]],
            "sns:Publish": [notif_topic] if has_topic else None,
            "lambda:InvokeFunction": [post["FunctionArn"]],
            "secretsmanager:GetSecretValue": [params["SourceDbSecretArn"]] if has_source else None,
            "kms:Decrypt": [params["SecretsKmsKeyArn"]] if params["SecretsKmsKeyArn"] and has_source else None,
            **{action: sorted(
                f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:{kind}/*"
                for kind in ("network-interface", "subnet", "security-group")
            ) if starter_in_vpc else None for action in VPC_ENI_ACTIONS},
        },
        "PostProcessorRole": {
            "logs:CreateLogStream": [log_group_arn(w.log_group(phys["PostProcessorLogGroup"])["arn"])],
            "logs:PutLogEvents": [log_group_arn(w.log_group(phys["PostProcessorLogGroup"])["arn"])],
            "events:DescribeRule": [rule["Arn"]],
            "events:EnableRule": [rule["Arn"]],
            "events:ListTagsForResource": [rule["Arn"]],
            "events:TagResource": [rule["Arn"]],
            "events:UntagResource": [rule["Arn"]],
            "secretsmanager:GetSecretValue": sorted(
                a for a in (
                    params["TargetDbSecretArn"] or None,
                    params["MaskingSaltSecretArn"] if params["TargetDbSecretArn"] else None,
                    params["SourceDbSecretArn"] if is_migration else None,
                ) if a
            ) or None,
            "lambda:InvokeFunction": [post["FunctionArn"]],
            "dms:StartReplicationTask": sorted(w.prereq.task_arns) if params["MoveTargetInstanceArns"] else None,
            # A cutover reads the validation of the group's tasks (data-migration only).
            "dms:DescribeTableStatistics": sorted(w.prereq.task_arns) if is_migration else None,
            "sqs:SendMessage": [dlq_arn],
            "sns:Publish": [notif_topic] if has_topic else None,
            "kms:Decrypt": [params["SecretsKmsKeyArn"]] if params["SecretsKmsKeyArn"] else None,
            **{action: sorted(
                f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:{kind}/*"
                for kind in ("network-interface", "subnet", "security-group")
            ) if has_vpc else None for action in VPC_ENI_ACTIONS},
        },
    }
    allowed_actions = {"TaskStarterRole": STARTER_ACTIONS, "PostProcessorRole": POST_PROCESSOR_ACTIONS}
    roles = [k for k, r in deployed.translated["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    w.expect("IAM roles in the stack", sorted(roles), sorted(expected_resources))
    for role_logical in roles:
        role_name = phys[role_logical]
        granted: dict[str, list[str]] = {}
        docs = []
        for policy_name in aws.iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
            docs.append(_policy_document(
                aws.iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
            ))
        # moto keeps an `!If [cond, stmt, !Ref AWS::NoValue]` list item as None, where
        # CloudFormation drops it.
        for stmt in (s for doc in docs for s in _as_list(doc["Statement"]) if s is not None):
            actions = set(_as_list(stmt.get("Action", [])))
            resources = _as_list(stmt.get("Resource", []))
            w.check(stmt.get("Effect") == "Allow", f"{role_logical}: unexpected {stmt.get('Effect')} statement")
            w.check("NotAction" not in stmt and "NotResource" not in stmt, f"{role_logical}: NotAction/NotResource used")
            w.check(
                not any("*" in a for a in actions),
                f"{role_logical}: wildcard action in {sorted(actions)}",
            )
            if any(r == "*" for r in resources):
                w.check(
                    actions <= WILDCARD_ACTIONS,
                    f"{role_logical}: Resource '*' for {sorted(actions - WILDCARD_ACTIONS)} "
                    f"(allowed only for {sorted(WILDCARD_ACTIONS)})",
                )
            else:
                for action in actions:
                    granted.setdefault(action, []).extend(
                        log_group_arn(r) if action.startswith("logs:") else r for r in resources
                    )
            for action in actions:
                w.check(action in allowed_actions.get(role_logical, set()), f"{role_logical}: unexpected action {action}")
        for action, expected in expected_resources.get(role_logical, {}).items():
            actual = sorted(granted[action]) if action in granted else None
            w.expect(f"{role_logical} {action} resources", actual, expected)
        attached = [p["PolicyArn"] for p in aws.iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]]
        # moto ignores ManagedPolicyArns: the resolved template says what would be attached.
        attached += w.resolved(role_logical).get("ManagedPolicyArns", [])
        # None at all: the VPC permissions are inline, without the managed policy's logs on "*".
        w.expect(f"{role_logical} attached managed policies", attached, [])
        trust = _policy_document(aws.iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"])
        w.expect(
            f"{role_logical} trust",
            [(s["Principal"], s["Action"]) for s in trust["Statement"]],
            [({"Service": "lambda.amazonaws.com"}, "sts:AssumeRole")],
        )

    # ---- resources moto cannot create: their resolved properties
    removed = {res["Type"]: [] for res in deployed.removed.values()}
    for logical, res in deployed.removed.items():
        if "Condition" in res and not w.evaluator.condition(res["Condition"]):
            continue  # CloudFormation would not create it
        removed[res["Type"]].append(logical)

    subs_ = removed.get("AWS::DMS::EventSubscription", [])
    w.expect("DMS event subscriptions", len(subs_), 1 if use_sns else 0)
    for logical in subs_:
        p = w.resolved(logical)
        w.expect("DMS event subscription topic", p.get("SnsTopicArn"), dms_topic)
        w.expect("DMS event subscription source type", p.get("SourceType"), "replication-task")
        w.expect("DMS event subscription SourceIds", p.get("SourceIds"), w.prereq.task_ids)
        w.expect(
            "DMS event subscription categories",
            sorted(p.get("EventCategories", [])),
            ["deletion", "failure", "state change"],
        )
        w.expect("DMS event subscription enabled", p.get("Enabled"), True)

    subscription_arns = [
        f"arn:aws:dms:{REGION}:{ACCOUNT_ID}:es:{w.resolved(logical)['SubscriptionName']}" for logical in subs_
    ]
    policies = removed.get("AWS::SNS::TopicPolicy", [])
    w.expect("SNS topic policies", len(policies), 1 if use_sns else 0)
    for logical in policies:
        p = w.resolved(logical)
        w.expect("DMS topic policy topics", p.get("Topics"), [dms_topic])
        allows = [s for s in p["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
        w.expect(
            "DMS topic policy Allow statements",
            [(s.get("Principal"), s.get("Action"), s.get("Resource"), s.get("Condition")) for s in allows],
            [({"Service": "dms.amazonaws.com"}, "sns:Publish", dms_topic,
              {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
               "ArnEquals": {"aws:SourceArn": arn}}) for arn in subscription_arns],
        )

    # Which rules may send dead letters to which queue.
    wanted_senders = {
        phys["ScheduleDeadLetterQueue"]: sorted(
            aws.events.describe_rule(Name=name)["Arn"] for name in (rule_name, reconcile_name) if name
        ),
    }
    if dms_rule_name:
        wanted_senders[phys["PostProcessorDeadLetterQueue"]] = [aws.events.describe_rule(Name=dms_rule_name)["Arn"]]
    senders: dict[str, list[str]] = {}
    for logical in removed.get("AWS::SQS::QueuePolicy", []):
        p = w.resolved(logical)
        queues = p.get("Queues", [])
        w.expect(f"{logical} queues", len(queues), 1)
        for s in p["PolicyDocument"]["Statement"]:
            w.expect(
                f"{logical} statement (effect, principal, action, resource)",
                (s.get("Effect"), s.get("Principal"), s.get("Action"), s.get("Resource")),
                ("Allow", {"Service": "events.amazonaws.com"}, "sqs:SendMessage", w.queue_arn(queues[0])),
            )
            arns = s.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", [])
            senders.setdefault(queues[0], []).extend(arns if isinstance(arns, list) else [arns])
    w.expect("dead-letter queue senders", {q: sorted(a) for q, a in senders.items()}, wanted_senders)

    invoke_configs = removed.get("AWS::Lambda::EventInvokeConfig", [])
    w.expect("EventInvokeConfigs", len(invoke_configs), 1)
    for logical in invoke_configs:
        p = w.resolved(logical)
        w.expect("EventInvokeConfig function", p.get("FunctionName"), post_name)
        w.check(0 <= p.get("MaximumRetryAttempts", -1) <= 2, "EventInvokeConfig MaximumRetryAttempts out of 0..2")

    alarms = {}
    for logical in removed.get("AWS::CloudWatch::Alarm", []):
        p = w.resolved(logical)
        dims = {d["Name"]: d["Value"] for d in p.get("Dimensions", [])}
        alarms[(p["Namespace"], p["MetricName"], tuple(sorted(dims.items())))] = p
        w.expect(f"alarm {logical} actions", p.get("AlarmActions"), [notif_topic] if has_topic else None)
    dlq_name = dlq_url.rsplit("/", 1)[-1]
    w.expect(
        "alarms (namespace, metric, dimensions)",
        sorted(alarms),
        sorted([
            ("AWS/Lambda", "Errors", (("FunctionName", starter_name),)),
            ("AWS/Lambda", "Errors", (("FunctionName", post_name),)),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", dlq_name),)),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible",
             (("QueueName", phys["ScheduleDeadLetterQueue"].rsplit("/", 1)[-1]),)),
        ]),
    )

    email = params["NotificationEmail"]
    email_subs = [
        w.resolved(k) for k in removed.get("AWS::SNS::Subscription", [])
    ]
    w.expect(
        "notification e-mail subscriptions",
        [(s.get("TopicArn"), s.get("Protocol"), s.get("Endpoint")) for s in email_subs],
        [(notif_topic, "email", email)] if (email and has_topic) else [],
    )
    return w.problems


def log_group_arn(arn: str) -> str:
    """A log group's ARN without the ':*' suffix. CloudFormation's GetAtt Arn and
    DescribeLogGroups' arn both end in ':*' (which covers the group's streams); moto's
    GetAtt leaves it out."""
    return arn.removesuffix(":*")


def _policy_document(doc: Any) -> dict[str, Any]:
    """botocore decodes IAM's URL-encoded JSON to a dict. moto 5.2.5 returns inline
    policies that CloudFormation created as the Python repr of the dict, so accept that
    too (literal_eval only parses literals)."""
    if isinstance(doc, dict):
        return doc
    text = urllib.parse.unquote(doc)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        value = ast.literal_eval(text)
        assert isinstance(value, dict), f"unparseable policy document {text[:80]!r}"
        return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resource(template: dict[str, Any], logical: str) -> dict[str, Any]:
    return template["Resources"][logical]["Properties"]
