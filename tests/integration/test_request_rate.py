"""Request-rate autoscaling with the KEDA provider: what the operator hands to KEDA, checked by KEDA's own
CRD schema on a real API server, and switching a model between CPU and request rate without losing ready
capacity.

KEDA's operator and metrics adapter do not run here; the CRDs come from the pinned KEDA module
(tools/build.sh keda-crds). The operator runs with `autoscaling.requestRate.provider: keda`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster.binaries import bin_dir, ensure_binaries
from modeldeploy.localcluster.nodes import cpu_node
from tests.conftest import Kube, make_namespace, own_cluster
from tests.manifests import model_deployment
from tests.polling import wait_for

PROMETHEUS = "http://prometheus.monitoring.svc:9090"


@pytest.fixture(scope="module")
def keda_kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    ensure_binaries("keda-crds")
    workdir = tmp_path_factory.mktemp("request-rate")
    config = workdir / "operator.yaml"
    config.write_text(
        yaml.safe_dump(
            {"autoscaling": {"requestRate": {"provider": "keda", "prometheusAddress": PROMETHEUS}}}
        )
    )
    nodes = [cpu_node("kwok-cpu-0")]
    with own_cluster(workdir, config, crds=[bin_dir() / "keda-crds"], nodes=nodes) as kube:
        yield kube


@pytest.fixture
def ns(keda_kube: Kube) -> str:
    return make_namespace(keda_kube)


def md_status(kube: Kube, ns: str, name: str) -> dict[str, Any]:
    return (kube.get("md", name, ns) or {}).get("status") or {}


def test_scale_to_zero_renders_a_scaled_object_keda_accepts(keda_kube: Kube, ns: str) -> None:
    kube = keda_kube
    autoscaling = {"minReplicas": 0, "maxReplicas": 4, "requestsPerSecond": "2.5"}
    kube.apply(model_deployment("sleepy", ns, autoscaling=autoscaling))
    # Created at all means KEDA's CRD schema accepted it (the API server validates against it).
    so = wait_for(lambda: kube.get("scaledobject", "sleepy", ns), 60, what="ScaledObject sleepy")
    md = kube.get("md", "sleepy", ns) or {}
    (owner,) = so["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "ModelDeployment",
        md["metadata"]["uid"],
        True,
    )
    spec = so["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 4)
    assert spec["scaleTargetRef"]["name"] == "sleepy"
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metadata"]["threshold"] == "2.5"
    assert trigger["metadata"]["serverAddress"] == PROMETHEUS
    assert f'namespace="{ns}"' in trigger["metadata"]["query"]
    assert kube.get("hpa", "sleepy", ns) is None
    # Until KEDA creates its HPA, status says what it waits for.
    scaling = wait_for(
        lambda: next(
            (c for c in md_status(kube, ns, "sleepy").get("conditions") or () if c["type"] == "Autoscaling"),
            None,
        ),
        60,
        what="the Autoscaling condition",
    )
    assert (scaling["status"], scaling["reason"]) == ("Unknown", "AutoscalerPending")
    assert "keda-hpa-sleepy" in scaling["message"]


def test_switching_between_cpu_and_request_rate_keeps_ready_capacity(keda_kube: Kube, ns: str) -> None:
    kube = keda_kube
    cpu = {"minReplicas": 2, "maxReplicas": 4, "targetCPUUtilization": 70}
    kube.apply(model_deployment("switch", ns, autoscaling=cpu, resources={"cpu": "250m", "memory": "256Mi"}))
    wait_for(lambda: kube.get("hpa", "switch", ns), 60, what="the CPU HPA")
    wait_for(lambda: md_status(kube, ns, "switch").get("ready") == "2/2", 90, what="2/2 ready")
    lowest_ready: list[int] = []

    def ready_now() -> int:
        deployment = kube.get("deployment", "switch", ns) or {}
        ready = int(deployment.get("status", {}).get("readyReplicas") or 0)
        lowest_ready.append(ready)
        return ready

    def switch_to(autoscaling: dict[str, Any], present: str, gone: str) -> None:
        resources = {"cpu": "250m", "memory": "256Mi"}
        kube.apply(model_deployment("switch", ns, autoscaling=autoscaling, resources=resources))
        wait_for(
            lambda: ready_now() and kube.get(present, "switch", ns) and kube.get(gone, "switch", ns) is None,
            60,
            what=f"the {present} to replace the {gone}",
        )

    switch_to({"minReplicas": 2, "maxReplicas": 4, "requestsPerSecond": 30}, "scaledobject", "hpa")
    switch_to(cpu, "hpa", "scaledobject")
    ready_now()
    assert min(lowest_ready) == 2
    # Nobody but the autoscaler decides the count: the Deployment kept the 2 it had.
    assert (kube.get("deployment", "switch", ns) or {})["spec"]["replicas"] == 2
    assert md_status(kube, ns, "switch").get("phase") == "Ready"


# --- bad input: the KEDA provider on a cluster without KEDA ---------------------------------------------


@pytest.fixture(scope="module")
def no_keda_kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    workdir = tmp_path_factory.mktemp("no-keda")
    config = workdir / "operator.yaml"
    config.write_text(
        yaml.safe_dump(
            {"autoscaling": {"requestRate": {"provider": "keda", "prometheusAddress": PROMETHEUS}}}
        )
    )
    with own_cluster(workdir, config, nodes=[cpu_node("kwok-cpu-0")]) as kube:
        yield kube


def test_keda_provider_without_kedas_crds_is_degraded_naming_keda(no_keda_kube: Kube) -> None:
    kube = no_keda_kube
    ns = make_namespace(kube)
    cpu = {"minReplicas": 2, "maxReplicas": 4, "targetCPUUtilization": 70}
    resources = {"cpu": "250m", "memory": "256Mi"}
    kube.apply(model_deployment("nokeda", ns, autoscaling=cpu, resources=resources))
    wait_for(lambda: md_status(kube, ns, "nokeda").get("ready") == "2/2", 90, what="2/2 ready")
    hpa_before = wait_for(lambda: kube.get("hpa", "nokeda", ns), 30, what="the CPU HPA")

    rate = {"minReplicas": 2, "maxReplicas": 4, "requestsPerSecond": 5}
    kube.apply(model_deployment("nokeda", ns, autoscaling=rate, resources=resources))

    def degraded() -> dict[str, Any] | None:
        conditions = md_status(kube, ns, "nokeda").get("conditions") or ()
        c = next((c for c in conditions if c["type"] == "Degraded"), {})
        return c if c.get("status") == "True" else None

    c = wait_for(degraded, 60, what="Degraded=True")
    assert c["reason"] == "ApplyFailed"
    assert "KEDA is not installed" in c["message"] and "autoscaling.requestRate.provider" in c["message"]
    # Nothing lost: the CPU HPA is untouched and both replicas keep serving.
    hpa_after = kube.get("hpa", "nokeda", ns) or {}
    assert hpa_after["metadata"]["resourceVersion"] == hpa_before["metadata"]["resourceVersion"]
    deployment = kube.get("deployment", "nokeda", ns) or {}
    assert deployment["status"].get("readyReplicas") == 2
    events = kube.run(
        "get", "events", "-n", ns, "--field-selector", "reason=ApplyFailed", "-o", "name"
    ).stdout
    assert events.strip(), "a Warning event says it too"
