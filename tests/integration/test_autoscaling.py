"""CPU autoscaling for real: metrics-server reads the usage KWOK simulates, the HPA scales, the operator
stays out of the way.

This module runs its own cluster with the resource metrics pipeline (metrics-server behind the
aggregation layer, KWOK serving kubelet-style usage) and its own operator. Load is simulated per pod with
KWOK ResourceUsage objects: a model's total CPU use is spread over its running pods, as a load balancer
would spread requests, so more replicas mean less CPU each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modeldeploy.desired.labels import selector_string
from modeldeploy.localcluster.nodes import cpu_node
from modeldeploy.localcluster.operator_process import OperatorProcess
from modeldeploy.localcluster.resourcemetrics import pod_usage
from tests.support.clusters import make_namespace, own_cluster
from tests.support.conditions import condition
from tests.support.kubectl import Kube
from tests.support.manifests import model_deployment
from tests.support.metrics import deployment_applies
from tests.support.waits import wait_condition, wait_for, wait_ready

CPU_REQUEST = "500m"
MAX_REPLICAS = 3
# Deployments written by server-side apply (the operator's only way of writing them).


@pytest.fixture(scope="module")
def metrics_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    workdir = tmp_path_factory.mktemp("autoscaling")
    nodes = [cpu_node("kwok-cpu-0"), cpu_node("kwok-cpu-1")]
    with own_cluster(workdir, nodes=nodes, resource_metrics=True) as kube:
        yield kube


@pytest.fixture
def ns(metrics_cluster: Kube) -> str:
    return make_namespace(metrics_cluster)


def running_pods(kube: Kube, ns: str, name: str) -> list[str]:
    pods = kube.list("pods", ns, selector_string(name))
    return sorted(
        p["metadata"]["name"]
        for p in pods
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    )


def spread_load(kube: Kube, ns: str, name: str, total_millicores: int) -> list[str]:
    """Give the model's running pods equal shares of ``total_millicores`` of CPU use."""
    pods = running_pods(kube, ns, name)
    if pods:
        share = f"{max(total_millicores // len(pods), 1)}m"
        items = [pod_usage(ns, pod, share) for pod in pods]
        kube.cluster.apply_objects(items)
    return pods


def printed_row(kube: Kube, ns: str, name: str) -> dict[str, str]:
    """`kubectl get md -o wide` as {column: value}, cut at the header's offsets (empty cells stay empty)."""
    header, line = kube.run("get", "md", name, "-n", ns, "-o", "wide").stdout.splitlines()[:2]
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    bounds = [*starts[1:], len(line) + 1]
    return {header[a:b].strip(): line[a:b].strip() for a, b in zip(starts, bounds, strict=True)}


def test_kubectl_top_shows_the_models_pods(metrics_cluster: Kube, ns: str) -> None:
    kube = metrics_cluster
    kube.apply(model_deployment("top", ns, replicas=2, resources={"cpu": CPU_REQUEST, "memory": "512Mi"}))
    wait_for(lambda: len(running_pods(kube, ns, "top")) == 2, 90)
    loaded: list[list[str]] = [[]]
    seen: list[str] = []

    def top() -> dict[str, str] | None:
        # The load goes to the pods running now: a pod replaced meanwhile (its first ReplicaSet superseded
        # while the model's children settle) would otherwise never get its share.
        pods = running_pods(kube, ns, "top")
        if sorted(pods) != sorted(loaded[0]):
            loaded[0] = spread_load(kube, ns, "top", 600)
        result = kube.run("top", "pods", "-n", ns, "-l", selector_string("top"), "--no-headers", check=False)
        seen[:] = [result.stdout.strip(), result.stderr.strip()]
        rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines() if line.strip()}
        ok = len(pods) == 2 and set(rows) == set(pods) and all(v == "300m" for v in rows.values())
        return rows if ok else None

    # 600m spread over two pods: each shows its 300m share, read by metrics-server from KWOK.
    try:
        wait_for(top, 90, interval=2, what="kubectl top pods to show both pods at 300m")
    except AssertionError as error:
        raise AssertionError(f"{error}; last kubectl top output and error: {seen}") from None


def test_cpu_load_scales_up_then_down_and_the_operator_never_writes_replicas(
    metrics_cluster: Kube, ns: str
) -> None:
    kube = metrics_cluster
    name = "cpu-scaled"
    autoscaling = {
        "minReplicas": 1,
        "maxReplicas": MAX_REPLICAS,
        "targetCPUUtilization": 50,
        # Short, so that the test sees the scale-down; users keep the default 300 s or choose their own.
        "scaleDownStabilizationSeconds": 5,
    }
    kube.apply(
        model_deployment(name, ns, autoscaling=autoscaling, resources={"cpu": CPU_REQUEST, "memory": "512Mi"})
    )

    def idle_and_measured() -> dict[str, Any] | None:
        status = kube.status("md", name, ns)
        scaling = condition(status, "Autoscaling")
        # ScalingActive: the HPA read the CPU use of the pod from metrics-server.
        return status if status.get("ready") == "1/1" and scaling.get("reason") == "ScalingActive" else None

    status = wait_for(idle_and_measured, 120, interval=1, what="one ready replica with CPU measured")
    assert status["autoscaler"]["currentReplicas"] == 1
    applies_before = deployment_applies(kube)

    # 1500m over n pods of 500m each is 300%/n utilization: the HPA wants 6 replicas and is capped at 3.
    def scaled_up() -> dict[str, Any] | None:
        spread_load(kube, ns, name, 1500)
        status = kube.status("md", name, ns)
        full = (
            status.get("readyReplicas") == MAX_REPLICAS
            and status.get("ready") == f"{MAX_REPLICAS}/{MAX_REPLICAS}"
        )
        limited = condition(status, "Autoscaling").get("reason") == "ScalingLimited"
        return status if full and limited else None

    status = wait_for(scaled_up, 180, interval=2, what=f"{MAX_REPLICAS} ready replicas and ScalingLimited")
    scaling = condition(status, "Autoscaling")
    assert "TooManyReplicas" in scaling["message"] and "spec.autoscaling.maxReplicas" in scaling["message"]
    assert status["autoscaler"]["desiredReplicas"] == MAX_REPLICAS
    assert status["autoscaler"]["maxReplicas"] == MAX_REPLICAS
    # The printer column follows the HPA's count.
    row = printed_row(kube, ns, name)
    assert row["READY"] == f"{MAX_REPLICAS}/{MAX_REPLICAS}" and row["DESIRED"] == str(MAX_REPLICAS)

    # Load goes away: back to idle usage, and after the 5 s window the HPA removes replicas.
    kube.run("delete", "resourceusages.kwok.x-k8s.io", "--all", "-n", ns)

    def scaled_down() -> dict[str, Any] | None:
        status = kube.status("md", name, ns)
        deployment = kube.get("deployment", name, ns) or {}
        one = deployment.get("spec", {}).get("replicas") == 1 and status.get("ready") == "1/1"
        return status if one and status.get("replicas") == 1 else None

    status = wait_for(scaled_down, 180, interval=2, what="the HPA to scale back to one replica")
    assert condition(status, "Autoscaling")["reason"] == "ScalingActive"

    # The operator never wrote the Deployment meanwhile, and the replica count belongs to the HPA only.
    assert deployment_applies(kube) == applies_before
    # (Writes through the scale subresource, the HPA's way, record no field owner, so "nobody but the
    # HPA" shows as modeldeploy owning nothing there.)
    assert "modeldeploy" not in kube.replicas_managers(name, ns)


# --- bad input, on the session cluster (its operator has no request-rate provider) ---------------------


def test_request_rate_without_provider_keeps_the_cpu_autoscaler(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    cpu = {"maxReplicas": 3, "targetCPUUtilization": 60}
    kube.apply(model_deployment("switch", namespace, autoscaling=cpu))
    wait_for(lambda: kube.get("hpa", "switch", namespace), 60, what="the CPU HPA")
    hpa_before = kube.get("hpa", "switch", namespace) or {}

    kube.apply(model_deployment("switch", namespace, autoscaling={"maxReplicas": 5, "requestsPerSecond": 20}))

    says = ["spec.autoscaling.requestsPerSecond", "autoscaling.requestRate.provider", "KEDA"]
    wait_condition(kube, "switch", namespace, "Degraded", "True", "InvalidSpec", timeout=60, says=says)
    hpa_after = kube.get("hpa", "switch", namespace) or {}
    assert hpa_after["spec"] == hpa_before["spec"]
    assert hpa_after["metadata"]["resourceVersion"] == hpa_before["metadata"]["resourceVersion"]


def test_without_metrics_server_status_says_what_is_missing(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    """The session cluster runs no metrics-server (like `make up`): the HPA can compute nothing."""
    kube.apply(model_deployment("unmeasured", namespace, autoscaling={"maxReplicas": 2}))

    c = wait_condition(kube, "unmeasured", namespace, "Autoscaling", reason="ScalingInactive", timeout=120)
    assert c["status"] == "False"
    assert "FailedGetResourceMetric" in c["message"] and "metrics-server" in c["message"]
    # Serving is not affected: the model itself stays Ready at its minimum.
    wait_ready(kube, "unmeasured", namespace, 60)
