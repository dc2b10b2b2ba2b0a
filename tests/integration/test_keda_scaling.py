"""Request-rate autoscaling for real: TF Serving's counter -> Prometheus -> KEDA -> HPA -> Deployment.

This module runs its own cluster with a Prometheus server discovering the emulated TF Serving pods
through the API server (localcluster/prometheus.py) and KEDA's operator and metrics adapter behind the
aggregation layer (localcluster/keda.py), and its own operator with the KEDA provider. Requests are real
HTTP predict calls to the emulated pods (tests/traffic.py), which also counts them the way an ingress
would, on a page Prometheus scrapes: that count is the operator's activationQuery, the signal that can
wake a model with no pods.

KEDA polls every 2 s here and the models use a 5 s cooldown (scaleDownStabilizationSeconds), so a
scale-up, scale-down or wake-up takes about a minute, mostly the 1-minute rate window draining.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster import prometheus
from modeldeploy.localcluster.nodes import cpu_node
from modeldeploy.quantity import parse_quantity
from tests.conftest import Kube, make_namespace, own_cluster
from tests.integration.test_autoscaling import condition, deployment_applies, md_status, replicas_managers
from tests.manifests import model_deployment
from tests.polling import wait_for
from tests.traffic import ACTIVATION_QUERY, ClientTraffic

RESOURCES = {"cpu": "250m", "memory": "256Mi"}


@pytest.fixture(scope="module")
def traffic_and_kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ClientTraffic, Kube]]:
    workdir: Path = tmp_path_factory.mktemp("keda")
    config = workdir / "operator.yaml"
    request_rate = {"pollingIntervalSeconds": 2, "activationQuery": ACTIVATION_QUERY}
    config.write_text(yaml.safe_dump({"autoscaling": {"requestRate": request_rate}}))
    nodes = [cpu_node("kwok-cpu-0"), cpu_node("kwok-cpu-1")]
    # The traffic's counter page exists before Prometheus is configured to scrape it.
    traffic = ClientTraffic()
    try:
        with own_cluster(
            workdir,
            config,
            nodes=nodes,
            prometheus=True,
            prometheus_targets=[f"127.0.0.1:{traffic.port}"],
            keda=True,
            emulate_tfserving=True,
        ) as kube:
            traffic.cluster = kube.cluster
            yield traffic, kube
    finally:
        traffic.close()


@pytest.fixture
def kube(traffic_and_kube: tuple[ClientTraffic, Kube]) -> Kube:
    return traffic_and_kube[1]


@pytest.fixture
def traffic(traffic_and_kube: tuple[ClientTraffic, Kube]) -> ClientTraffic:
    return traffic_and_kube[0]


@pytest.fixture
def ns(kube: Kube) -> str:
    return make_namespace(kube)


def served_count(kube: Kube, ns: str, name: str) -> float:
    """TF Serving's request counter of one model, summed over its pods, as Prometheus has it."""
    query = (
        f'sum({{__name__=":tensorflow:serving:request_count", namespace="{ns}", '
        f'model_deployment="{name}", model_name="{name}", status="OK"}})'
    )
    result = prometheus.query(kube.cluster.prometheus_address, query)
    return float(result[0]["value"][1]) if result else 0.0


def replicas(kube: Kube, ns: str, name: str) -> int:
    return int(((kube.get("deployment", name, ns) or {}).get("spec") or {}).get("replicas", -1))


def apply_request_rate_model(kube: Kube, ns: str, name: str, min_replicas: int, max_replicas: int) -> None:
    """A model scaled on 2 requests per second per replica, with a 5 s cooldown (KEDA cooldownPeriod and
    the HPA's scale-down window) so that the tests see scale-downs; users keep minutes."""
    autoscaling = {
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "requestsPerSecond": 2,
        "scaleDownStabilizationSeconds": 5,
    }
    kube.apply(model_deployment(name, ns, autoscaling=autoscaling, resources=RESOURCES))


def tfserving_rate_per_replica(kube: Kube, ns: str, name: str) -> float:
    """What KEDA's HPA last read for the trigger on TF Serving's counter (KEDA names it s0-prometheus)."""
    hpa = kube.get("hpa", f"keda-hpa-{name}", ns) or {}
    for metric in (hpa.get("status") or {}).get("currentMetrics") or ():
        external = metric.get("external") or {}
        if external.get("metric", {}).get("name", "").startswith("s0-"):
            return float(parse_quantity(external["current"]["averageValue"]) or 0)
    return 0.0


def test_scaled_object_is_owned_and_accepted_by_kedas_schema(kube: Kube, ns: str) -> None:
    autoscaling = {"minReplicas": 0, "maxReplicas": 4, "requestsPerSecond": "2.5"}
    kube.apply(model_deployment("owned", ns, autoscaling=autoscaling, resources=RESOURCES))
    # Created at all means KEDA's CRD schema accepted it (the API server validates against it).
    so = wait_for(lambda: kube.get("scaledobject", "owned", ns), 60, what="ScaledObject owned")
    md = kube.get("md", "owned", ns) or {}
    (owner,) = so["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "ModelDeployment",
        md["metadata"]["uid"],
        True,
    )
    spec = so["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"], spec["scaleTargetRef"]["name"]) == (
        0,
        4,
        "owned",
    )
    own, front = spec["triggers"]
    assert own["metadata"]["threshold"] == front["metadata"]["threshold"] == "2.5"
    assert own["metadata"]["serverAddress"] == kube.cluster.prometheus_address
    assert (
        f'namespace="{ns}"' in own["metadata"]["query"] and f'namespace="{ns}"' in front["metadata"]["query"]
    )
    assert kube.get("hpa", "owned", ns) is None
    # KEDA reconciles it into its own HPA.
    wait_for(lambda: kube.get("hpa", "keda-hpa-owned", ns), 60, what="KEDA's HPA")


def test_prometheus_scrapes_the_emulated_pods_and_sees_requests(
    kube: Kube, traffic: ClientTraffic, ns: str
) -> None:
    kube.apply(model_deployment("counted", ns, replicas=1, resources=RESOURCES))
    wait_for(lambda: md_status(kube, ns, "counted").get("phase") == "Ready", 120, what="Ready")
    # Found through Kubernetes service discovery, labelled like the documented scrape job.
    up = wait_for(
        lambda: prometheus.query(kube.cluster.prometheus_address, f'up{{namespace="{ns}"}} == 1'),
        60,
        what="the pod's target up in Prometheus",
    )
    (target,) = up
    assert target["metric"]["model_deployment"] == "counted"
    assert target["metric"]["pod"].startswith("counted-")
    before = served_count(kube, ns, "counted")
    traffic.send_to(ns, "counted", 20)
    wait_for(
        lambda: traffic.outcome_counts(ns, "counted").get("ok", 0) >= 40, 30, what="40 answered requests"
    )
    traffic.send_to(ns, "counted", 0)
    sent = traffic.outcome_counts(ns, "counted")["ok"]
    # The counter moves by at least what was sent (readiness probes and status polls count too).
    wait_for(lambda: served_count(kube, ns, "counted") >= before + sent, 30, what=f"the counter up by {sent}")


def test_scales_up_on_requests_and_down_when_they_stop(kube: Kube, traffic: ClientTraffic, ns: str) -> None:
    name = "busy"
    apply_request_rate_model(kube, ns, name, min_replicas=1, max_replicas=3)

    def active() -> dict[str, Any] | None:
        status = md_status(kube, ns, name)
        scaling = condition(status, "Autoscaling")
        return status if status.get("ready") == "1/1" and scaling.get("reason") == "ScalingActive" else None

    wait_for(active, 120, what="one ready replica with the request rate measured")
    applies_before = deployment_applies(kube)
    # 10 requests per second against 2 per replica: KEDA's HPA wants 5 and is capped at 3.
    traffic.send_to(ns, name, 10)
    wait_for(
        lambda: replicas(kube, ns, name) == 3 and md_status(kube, ns, name).get("ready") == "3/3",
        150,
        what="3 ready replicas",
    )
    # KEDA's HPA reads TF Serving's own counter (trigger s0) through the external metrics API, above
    # the 2 per replica target while the load lasts.
    wait_for(lambda: tfserving_rate_per_replica(kube, ns, name) > 2, 60, what="TF Serving's rate in the HPA")
    traffic.send_to(ns, name, 0)
    wait_for(
        lambda: replicas(kube, ns, name) == 1 and md_status(kube, ns, name).get("ready") == "1/1",
        180,
        what="back to one replica once the rate window drained",
    )
    assert traffic.outcome_counts(ns, name).get("ok", 0) > 0
    # Nobody but the autoscaler set the count: no operator write to the Deployment, and no ownership.
    assert deployment_applies(kube) == applies_before
    assert "modeldeploy" not in replicas_managers(kube, ns, name)
    hpa = kube.get("hpa", f"keda-hpa-{name}", ns) or {}
    assert hpa["spec"]["metrics"][0]["type"] == "External"


def test_scales_to_zero_when_idle_and_wakes_on_requests(kube: Kube, traffic: ClientTraffic, ns: str) -> None:
    name = "sleepy"
    apply_request_rate_model(kube, ns, name, min_replicas=0, max_replicas=2)
    # Idle from the start (probes and status polls stay below the idle rate): KEDA takes it to zero.
    status = wait_for(
        lambda: (
            (s := md_status(kube, ns, name)).get("replicas") == 0
            and condition(s, "Autoscaling").get("reason") == "ScaledToZero"
            and s
        ),
        180,
        what="scaled to zero",
    )
    assert condition(status, "Ready")["reason"] == "ScaledToZero"
    assert condition(status, "Available")["status"] == "False"
    assert replicas(kube, ns, name) == 0
    # Clients meanwhile: nothing answers (the ingress stand-in counts them as failed), which is the
    # signal KEDA wakes the model on.
    traffic.send_to(ns, name, 2)
    wait_for(lambda: traffic.outcome_counts(ns, name).get("failed", 0) >= 1, 30, what="a failed request")
    wait_for(lambda: replicas(kube, ns, name) >= 1, 120, what="KEDA to wake the model")
    wait_for(lambda: traffic.outcome_counts(ns, name).get("ok", 0) >= 5, 120, what="requests answered again")
    assert md_status(kube, ns, name).get("phase") == "Ready"
    traffic.send_to(ns, name, 0)
    assert "modeldeploy" not in replicas_managers(kube, ns, name)


def test_switching_cpu_request_rate_cpu_keeps_ready_capacity(kube: Kube, ns: str) -> None:
    """With KEDA live: its HPA takes over from the CPU HPA and back without dropping ready replicas."""
    name = "switch"
    cpu = {"minReplicas": 2, "maxReplicas": 4, "targetCPUUtilization": 70}
    kube.apply(model_deployment(name, ns, autoscaling=cpu, resources=RESOURCES))
    wait_for(lambda: kube.get("hpa", name, ns), 60, what="the CPU HPA")
    wait_for(lambda: md_status(kube, ns, name).get("ready") == "2/2", 120, what="2/2 ready")
    lowest: list[int] = []

    def ready_now() -> int:
        ready = int(((kube.get("deployment", name, ns) or {}).get("status") or {}).get("readyReplicas") or 0)
        lowest.append(ready)
        return ready

    rate = {"minReplicas": 2, "maxReplicas": 4, "requestsPerSecond": 30}
    kube.apply(model_deployment(name, ns, autoscaling=rate, resources=RESOURCES))
    # KEDA's own HPA exists and reads the external metric, and the CPU HPA is gone.
    wait_for(
        lambda: (
            ready_now()
            and kube.get("hpa", name, ns) is None
            and condition(md_status(kube, ns, name), "Autoscaling").get("reason") == "ScalingActive"
        ),
        90,
        what="KEDA's HPA active in place of the CPU HPA",
    )
    assert kube.get("hpa", f"keda-hpa-{name}", ns) is not None
    kube.apply(model_deployment(name, ns, autoscaling=cpu, resources=RESOURCES))
    wait_for(
        lambda: (
            ready_now()
            and kube.get("hpa", name, ns) is not None
            and kube.get("scaledobject", name, ns) is None
            and kube.get("hpa", f"keda-hpa-{name}", ns) is None
        ),
        90,
        what="the CPU HPA back and KEDA's HPA gone",
    )
    ready_now()
    assert min(lowest) == 2
    assert replicas(kube, ns, name) == 2
