"""Request-rate autoscaling with the KEDA provider on a cluster where KEDA is not installed: the operator
says so and leaves the model's existing autoscaler as it was. (KEDA itself at work: test_keda_scaling.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster.nodes import cpu_node
from tests.conftest import Kube, make_namespace, own_cluster
from tests.integration.test_autoscaling import md_status
from tests.manifests import model_deployment
from tests.polling import wait_for

PROMETHEUS = "http://prometheus.monitoring.svc:9090"


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
