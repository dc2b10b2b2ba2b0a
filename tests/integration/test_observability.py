"""The session operator's metrics (scraped from its metrics port) and its one-line-per-outcome logs."""

from __future__ import annotations

import re

from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.kubectl import Kube
from tests.support.manifests import model_deployment
from tests.support.metrics import Samples, scrape, total
from tests.support.waits import wait_for, wait_ready

PHASES = {"Pending", "Progressing", "Ready", "Degraded", "Failed"}


def test_operator_metrics_are_scraped(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    kube.apply(model_deployment("observed", namespace, replicas=1))
    wait_ready(kube, "observed", namespace, 120)

    def scraped() -> Samples | None:
        samples = scrape(operator)
        # The phase gauge is computed when scraped, from the operator's cache of ModelDeployments.
        return samples if total(samples, "modeldeploy_model_deployments", phase="Ready") >= 1 else None

    samples = wait_for(scraped, 60, what="a Ready ModelDeployment in modeldeploy_model_deployments")
    assert total(samples, "modeldeploy_reconciles_total", result="applied") >= 1
    assert {lbls["result"] for lbls, _ in samples["modeldeploy_reconciles_total"]} >= {"applied"}
    assert total(samples, "modeldeploy_reconcile_duration_seconds_count") >= 1
    buckets = samples["modeldeploy_reconcile_duration_seconds_bucket"]
    assert any(lbls["le"] == "+Inf" for lbls, _ in buckets) and len(buckets) > 5
    assert {lbls["phase"] for lbls, _ in samples["modeldeploy_model_deployments"]} >= PHASES
    # Requests the operator sent, by verb, resource and HTTP code: creating children is an apply.
    for resource in ("configmaps", "deployments", "services", "modeldeployments/status"):
        sent = [lbls for lbls, v in samples["modeldeploy_api_requests_total"]
                if lbls["verb"] == "apply" and lbls["resource"] == resource and v > 0]  # fmt: skip
        assert sent and all(re.fullmatch(r"[1-5]\d\d", lbls["code"]) for lbls in sent), resource
    assert total(samples, "modeldeploy_workers") == 8
    assert "modeldeploy_workqueue_depth" in samples and total(samples, "modeldeploy_workqueue_depth") >= 0
    busy = total(samples, "modeldeploy_workers_busy")
    assert "modeldeploy_workers_busy" in samples and 0 <= busy <= 8


def reconciled_lines(operator: OperatorProcess, md: str) -> list[str]:
    text = operator.component.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if " reconciled " in f"{line} " and f"md={md} " in line]


def test_one_log_line_per_changing_reconcile(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    md = f"{namespace}/logged"
    kube.apply(model_deployment("logged", namespace, replicas=1))
    wait_ready(kube, "logged", namespace, 120)
    lines = wait_for(lambda: reconciled_lines(operator, md), 30, what="a reconciled line")
    created = [line for line in lines if "Created Deployment logged" in line]
    assert len(created) == 1, lines  # one line for the reconcile that created the children
    assert re.search(r"duration_ms=\d+(\.\d+)?", created[0]) and "result=applied" in created[0]
    assert "Created ConfigMap logged-tfserving" in created[0] and "Created Service logged" in created[0]

    # An annotation changes nothing: its reconcile writes nothing and logs nothing at INFO. The replica
    # change that follows is one changing reconcile, and one more line.
    before = len(reconciled_lines(operator, md))
    kube.run("annotate", "md", "logged", "-n", namespace, "example.com/touched=yes")
    kube.run("patch", "md", "logged", "-n", namespace, "--type=merge", "-p", '{"spec":{"replicas":2}}')

    def updated() -> list[str] | None:
        lines = reconciled_lines(operator, md)
        return lines if any("Updated Deployment logged" in line for line in lines[before:]) else None

    after = wait_for(updated, 60, what="a line for the replica change")[before:]
    changing = [line for line in after if "changed=[" in line]
    assert len(changing) == 1, after
    assert all("result=unchanged" not in line or "status_written=True" in line for line in after), after
