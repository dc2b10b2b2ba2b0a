"""The chart's alerts and dashboard against Prometheus' own tooling: the PrometheusRule's rules pass
`promtool test rules` (tests/e2e/monitoring/alerts.test.yaml) and `promtool check rules`, and every PromQL
expression of the Grafana dashboard parses. promtool is built from the pinned Prometheus module on first
use (tools/build.sh promtool), not by `make up`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster.binaries import bin_dir, ensure_binaries
from tests.support.paths import CHART

ALERT_TESTS = Path(__file__).parent / "monitoring" / "alerts.test.yaml"
DASHBOARD = CHART / "dashboards" / "modeldeploy.json"
# Grafana's built-in interval variables and the dashboard's own: replaced by values PromQL can parse.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


@pytest.fixture(scope="module")
def promtool() -> str:
    ensure_binaries("promtool")
    return str(bin_dir() / "promtool")


def helm_template(*args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(bin_dir() / "helm"), "template", "t", str(CHART), "--namespace", "ops", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def rendered_rules() -> dict[str, Any]:
    (rule,) = [
        d for d in helm_template("--set", "prometheusRule.enabled=true") if d["kind"] == "PrometheusRule"
    ]
    groups: dict[str, Any] = rule["spec"]
    return groups


def run(promtool: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, check=False, cwd=cwd)


def test_alert_rules_pass_their_promtool_unit_tests(promtool: str, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rendered_rules()))
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    check = run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    result = run(promtool, "test", "rules", ALERT_TESTS.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    alerts = {r["alert"] for g in rendered_rules()["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    firing = {
        case["alertname"] for t in tests for case in t.get("alert_rule_test", ()) if case.get("exp_alerts")
    }
    assert alerts == firing
    expected = {"ModelDeployOperatorDown", "ModelDeployReconcileErrors", "ModelDeploymentsDegraded",
            "TFServingModelLoadFailed", "TFServingHighLatency", "TFServingHighErrorRate"}  # fmt: skip
    assert expected <= alerts


def test_prometheus_rule_is_optional() -> None:
    assert all(d["kind"] != "PrometheusRule" for d in helm_template())
    assert all(d["kind"] != "ConfigMap" or "dashboard" not in d["metadata"]["name"] for d in helm_template())


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", ())]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            # label_values(<selector or metric>, label) is Grafana's; its first argument is PromQL.
            match = re.fullmatch(r"label_values\((.*), *\w+\)", query["query"])
            assert match, query
            found.append((f"variable {variable['name']}", match.group(1)))
    return found


def substitute(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$\w+", "x", expr)  # $namespace, $model, $job: any label value parses


def test_every_dashboard_expression_parses(promtool: str, tmp_path: Path) -> None:
    expressions = dashboard_expressions()
    assert len(expressions) >= 12
    # promtool parses each expression of a rule file: one recording rule per dashboard query.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": substitute(e)} for i, (_, e) in enumerate(expressions)
    ]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_ships_in_the_chart_unchanged() -> None:
    (configmap,) = [
        d for d in helm_template("--set", "grafanaDashboard.enabled=true") if d["kind"] == "ConfigMap"
        and d["metadata"]["name"].endswith("-dashboard")
    ]  # fmt: skip
    assert json.loads(configmap["data"]["modeldeploy.json"]) == json.loads(DASHBOARD.read_text())
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
