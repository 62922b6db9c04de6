"""Helpers for the template tests: load template.yaml, expand the SAM transform with the
pinned aws-sam-translator, and evaluate the small part of CloudFormation's intrinsic
language the tests need (conditions, the Rules section, and property values of the
resources moto's CloudFormation cannot create).
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any, Callable

import boto3
from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"

# Resource types of the translated template that moto 5.2.5's CloudFormation does not
# implement (it would skip them with only a warning). The tests strip exactly these
# before create_stack and check their properties statically instead.
MOTO_UNSUPPORTED = {
    "AWS::DMS::EventSubscription": "moto's DMS has no event subscriptions",
    "AWS::SNS::TopicPolicy": "moto's CloudFormation has no SNS topic policy resource",
    "AWS::SNS::Subscription": "moto's CloudFormation creates SNS subscriptions only from "
    "a topic's own Subscription property (used for the DMS topic)",
    "AWS::Lambda::EventInvokeConfig": "moto's CloudFormation has no Lambda EventInvokeConfig resource",
    "AWS::CloudWatch::Alarm": "moto's CloudFormation creates no CloudWatch alarms",
    "AWS::SQS::QueuePolicy": "moto's CloudFormation has no SQS queue policy resource",
}

# Properties moto's CloudFormation ignores on create (its Lambda function passes only
# Code, Handler, Role, Runtime, Description, MemorySize, Timeout, VpcConfig, Environment;
# its IAM role does not attach ManagedPolicyArns). The tests resolve them statically.
MOTO_DROPPED_PROPERTIES = {
    "AWS::Lambda::Function": (
        "Architectures",
        "TracingConfig",
        "LoggingConfig",
        "Layers",
        "DeadLetterConfig",
        "RecursiveLoop",
    ),
    "AWS::IAM::Role": ("ManagedPolicyArns",),
    "AWS::Lambda::LayerVersion": ("LayerName (moto names it <stack>-<logical id>-<suffix>)",),
}

def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as plain dicts, lists and strings, short-form tags (`!Sub`,
    `!GetAtt a.b`) in their long form, read by cfn-lint's own CloudFormation YAML
    decoder (the pinned cfn-lint); the JSON round trip drops its node classes, which
    carry source positions the translator does not expect."""
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def _no_managed_policies() -> dict[str, str]:
    # The template names no managed policy by its short name, so the translator never
    # needs IAM's list of managed policies (which would need AWS).
    raise AssertionError("template refers to a managed policy by name")


def sam_transform(
    sam_template: dict[str, Any],
    parameters: dict[str, Any],
    code_uri: str,
    layer_uri: str,
    region: str,
    account_id: str,
) -> dict[str, Any]:
    """Expand the SAM transform. Local CodeUri/ContentUri are replaced by S3 URIs first,
    as `sam package` would do."""
    tpl = copy.deepcopy(sam_template)
    for resource in tpl["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = code_uri
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = layer_uri
    tpl.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    values = dict(parameters)
    values.update({"AWS::Region": region, "AWS::AccountId": account_id, "AWS::Partition": "aws"})
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    return translator.translate(tpl, parameter_values=values, get_managed_policy_map=_no_managed_policies)


def strip_unsupported(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Remove the resources moto cannot create; returns (deployable copy, removed)."""
    tpl = copy.deepcopy(template)
    removed = {
        logical: res for logical, res in tpl["Resources"].items() if res["Type"] in MOTO_UNSUPPORTED
    }
    for logical in removed:
        del tpl["Resources"][logical]
    for res in tpl["Resources"].values():
        depends = res.get("DependsOn")
        if isinstance(depends, str):
            depends = [depends]
        if depends:
            kept = [d for d in depends if d not in removed]
            if kept:
                res["DependsOn"] = kept
            else:
                del res["DependsOn"]
        _unlink_subs(res, set(removed))
    return tpl, removed


def _unlink_subs(node: Any, removed: set[str]) -> None:
    """Replace `${Logical}` and `${Logical.Attribute}` of removed resources inside Fn::Sub
    strings (the dashboard names the alarms by ARN) with a placeholder, which moto's
    CloudFormation would otherwise refuse as a reference to an undefined resource."""
    import re

    def unlink(text: str) -> str:
        return re.sub(
            r"\$\{([A-Za-z0-9]+)(\.[A-Za-z0-9.]+)?\}",
            lambda m: f"removed:{m.group(1)}" if m.group(1) in removed else m.group(0),
            text,
        )

    if isinstance(node, list):
        for item in node:
            _unlink_subs(item, removed)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::Sub" and isinstance(value, str):
                node[key] = unlink(value)
            elif key == "Fn::Sub" and isinstance(value, list) and value and isinstance(value[0], str):
                value[0] = unlink(value[0])
            else:
                _unlink_subs(value, removed)


def build_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def zip_directory(directory: Path) -> bytes:
    return build_zip(
        {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
    )


class Evaluator:
    """Evaluates intrinsic functions against parameter values and (optionally) the
    physical ids and attributes of deployed resources."""

    def __init__(
        self,
        template: dict[str, Any],
        parameters: dict[str, Any],
        pseudo: dict[str, str],
        ref: Callable[[str], Any] | None = None,
        get_att: Callable[[str, str], Any] | None = None,
    ) -> None:
        self.template = template
        self.params: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            value = parameters.get(name, spec.get("Default"))
            if value is None:
                raise KeyError(f"parameter {name} has no value and no default")
            if spec["Type"] == "CommaDelimitedList" or spec["Type"].startswith("List<"):
                value = [v.strip() for v in str(value).split(",")]
            else:
                value = str(value)
            self.params[name] = value
        self.pseudo = pseudo
        self._ref = ref
        self._get_att = get_att

    def condition(self, name: str) -> bool:
        return bool(self.eval(self.template["Conditions"][name]))

    def eval(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.eval(n) for n in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            handler = _FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, arg)
        out = {}
        for k, v in node.items():
            value = self.eval(v)
            if value is not _NO_VALUE:
                out[k] = value
        return out

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if self._ref is None:
            raise KeyError(f"Ref {name} needs a deployed stack")
        return self._ref(name)

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        out, i = [], 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                break
            end = text.index("}", start)
            out.append(text[i:start])
            name = text[start + 2 : end]
            if name in variables:
                out.append(str(self.eval(variables[name])))
            elif "." in name:
                logical, attr = name.split(".", 1)
                out.append(str(self._att(logical, attr)))
            else:
                out.append(str(self.ref(name)))
            i = end + 1
        return "".join(out)

    def _att(self, logical: str, attr: str) -> Any:
        if self._get_att is None:
            raise KeyError(f"GetAtt {logical}.{attr} needs a deployed stack")
        return self._get_att(logical, attr)


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE = _NoValue()


def _if(ev: Evaluator, arg: list[Any]) -> Any:
    return ev.eval(arg[1] if ev.condition(arg[0]) else arg[2])


def _each_member_equals(ev: Evaluator, arg: list[Any]) -> bool:
    values, expected = ev.eval(arg[0]), ev.eval(arg[1])
    return all(v == expected for v in values)


def _each_member_in(ev: Evaluator, arg: list[Any]) -> bool:
    values, allowed = ev.eval(arg[0]), ev.eval(arg[1])
    return all(v in allowed for v in values)


def _get_att(ev: Evaluator, arg: Any) -> Any:
    logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
    return ev._att(logical, attr)


_FUNCTIONS: dict[str, Callable[[Evaluator, Any], Any]] = {
    "Ref": lambda ev, a: ev.ref(a),
    "Condition": lambda ev, a: ev.condition(a),
    "Fn::Equals": lambda ev, a: ev.eval(a[0]) == ev.eval(a[1]),
    "Fn::Not": lambda ev, a: not ev.eval(a[0]),
    "Fn::And": lambda ev, a: all(ev.eval(x) for x in a),
    "Fn::Or": lambda ev, a: any(ev.eval(x) for x in a),
    "Fn::If": _if,
    "Fn::Join": lambda ev, a: a[0].join(str(x) for x in ev.eval(a[1])),
    "Fn::Sub": lambda ev, a: ev.sub(a),
    "Fn::GetAtt": _get_att,
    "Fn::EachMemberEquals": _each_member_equals,
    "Fn::EachMemberIn": _each_member_in,
    "Fn::Contains": lambda ev, a: ev.eval(a[1]) in ev.eval(a[0]),
}


def rule_violations(template: dict[str, Any], parameters: dict[str, Any]) -> list[str]:
    """Evaluate the template's Rules section as CloudFormation does before a deploy:
    returns the AssertDescription of every failed assertion."""
    ev = Evaluator(template, parameters, pseudo={})
    failed = []
    for name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not ev.eval(rule["RuleCondition"]):
            continue
        for assertion in rule["Assertions"]:
            if not ev.eval(assertion["Assert"]):
                failed.append(f"{name}: {assertion.get('AssertDescription', '')}")
    return failed


def parameter_violations(template: dict[str, Any], parameters: dict[str, Any]) -> list[str]:
    """CloudFormation's own parameter checks: required values, AllowedValues and
    AllowedPattern (a full match) of String and Number parameters, MinValue and MaxValue
    of Number parameters."""
    import re

    failed = []
    for name, spec in template.get("Parameters", {}).items():
        value = parameters.get(name, spec.get("Default"))
        if value is None:
            failed.append(f"{name}: no value and no default")
            continue
        if spec["Type"] not in ("String", "Number"):
            continue
        value = str(value)
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(v) for v in allowed]:
            failed.append(f"{name}: {value!r} not in AllowedValues")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and re.fullmatch(pattern, value) is None:
            failed.append(f"{name}: {value!r} does not match AllowedPattern")
        if spec["Type"] == "Number" and ("MinValue" in spec or "MaxValue" in spec):
            try:
                number = float(value)
            except ValueError:
                failed.append(f"{name}: {value!r} is not a number")
                continue
            if number < float(spec.get("MinValue", number)) or number > float(spec.get("MaxValue", number)):
                failed.append(f"{name}: {value!r} outside MinValue..MaxValue")
    unknown = set(parameters) - set(template.get("Parameters", {}))
    failed.extend(f"{name}: not a parameter of the template" for name in sorted(unknown))
    return failed
