"""The CloudWatch dashboard of template.yaml: its body is valid JSON once CloudFormation
substituted it, it shows every alarm the template defines, and it graphs the post-processor's
metrics where the function writes them (namespace METRICS_NAMESPACE, dimension FunctionName).
That every graphed metric name is really emitted is checked by the Rust integration test
`dashboard_metrics` against the EMF lines of a local run."""

from __future__ import annotations

import json
from typing import Any

from cfn import Evaluator, load_template


def _resolved(template: dict[str, Any], node: Any) -> Any:
    """`node` evaluated with placeholders for what only a deployed stack knows."""
    ev = Evaluator(
        template,
        parameters={"ReplicationTaskArns": "arn:task", "ReplicationTaskIds": "task"},
        pseudo={"AWS::Region": "eu-west-1", "AWS::StackName": "refresh", "AWS::AccountId": "1"},
        ref=lambda name: f"ref:{name}",
        get_att=lambda logical, attr: f"att:{logical}.{attr}",
    )
    return ev.eval(node)


def _dashboard(template: dict[str, Any]) -> dict[str, Any]:
    dashboards = [
        res for res in template["Resources"].values() if res["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    assert len(dashboards) == 1, "expected one dashboard"
    body = _resolved(template, dashboards[0]["Properties"]["DashboardBody"])
    return json.loads(body)


def _metric_rows(dashboard: dict[str, Any]) -> list[list[Any]]:
    return [
        row
        for widget in dashboard["widgets"]
        if widget["type"] == "metric"
        for row in widget["properties"]["metrics"]
    ]


def test_the_dashboard_body_is_json_with_placed_widgets() -> None:
    dashboard = _dashboard(load_template())
    assert dashboard["widgets"], "no widgets"
    for widget in dashboard["widgets"]:
        for key in ("type", "x", "y", "width", "height", "properties"):
            assert key in widget, f"widget without {key}: {widget}"
        assert widget["x"] + widget["width"] <= 24, f"wider than the grid: {widget}"


def test_every_alarm_of_the_template_is_on_the_dashboard() -> None:
    template = load_template()
    alarms = {
        f"att:{logical}.Arn"
        for logical, res in template["Resources"].items()
        if res["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert alarms, "the template defines no alarm"
    shown = {
        arn
        for widget in _dashboard(template)["widgets"]
        if widget["type"] == "alarm"
        for arn in widget["properties"]["alarms"]
    }
    assert shown == alarms


def test_metrics_are_graphed_where_the_post_processor_writes_them() -> None:
    template = load_template()
    env = template["Resources"]["PostProcessor"]["Properties"]["Environment"]["Variables"]
    namespace = env["METRICS_NAMESPACE"]
    rows = _metric_rows(_dashboard(template))
    assert len(rows) >= 8, rows
    for row in rows:
        assert row[0] == namespace, f"{row}: not in the namespace the function writes to"
        assert row[2:4] == ["FunctionName", "ref:PostProcessor"], f"{row}: not the post-processor's dimension"


def test_the_dashboard_url_is_an_output() -> None:
    template = load_template()
    logical = next(
        name for name, res in template["Resources"].items() if res["Type"] == "AWS::CloudWatch::Dashboard"
    )
    url = _resolved(template, template["Outputs"]["DashboardUrl"]["Value"])
    assert url == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        f"#dashboards:name=ref:{logical}"
    )
