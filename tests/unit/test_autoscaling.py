"""The three autoscaling modes: spec rules, the rendered autoscaler, and what status says about it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from modeldeploy.config import (
    ConfigError,
    RequestRateConfig,
    RequestRateProvider,
    config_from_mapping,
    default_config,
)
from modeldeploy.desired import build_children
from modeldeploy.desired.scaledobject import request_rate_query
from modeldeploy.spec import ModelDeploymentSpec, SpecError, parse_spec
from modeldeploy.status import Observed, compute_status

NONE = default_config()
KEDA = dataclasses.replace(
    NONE,
    request_rate=RequestRateConfig(
        provider=RequestRateProvider.KEDA, prometheus_address="http://prometheus.monitoring.svc:9090"
    ),
)
ADAPTER = dataclasses.replace(
    NONE, request_rate=RequestRateConfig(provider=RequestRateProvider.CUSTOM_METRICS)
)


def md(config: Any = NONE, **autoscaling: Any) -> ModelDeploymentSpec:
    spec = {"model": {"uri": "gs://acme-models/resnet", "name": "resnet_v2"}, "autoscaling": autoscaling}
    return parse_spec("resnet", "vision", spec, config)


def child(m: ModelDeploymentSpec, config: Any, kind: str) -> dict[str, Any] | None:
    return next((c for c in build_children(m, config) if c["kind"] == kind), None)


def spec_error(config: Any, **autoscaling: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        md(config, **autoscaling)
    return info.value


# --- spec rules ---------------------------------------------------------------------------------------


def test_cpu_mode_defaults_to_80_percent() -> None:
    assert md(maxReplicas=4).autoscaling is not None
    assert md(maxReplicas=4).autoscaling.target_cpu_utilization == 80  # type: ignore[union-attr]


def test_request_rate_without_provider_names_the_missing_piece() -> None:
    error = spec_error(NONE, maxReplicas=4, requestsPerSecond=50)
    assert error.field == "spec.autoscaling.requestsPerSecond"
    text = error.message_with_fix()
    assert "autoscaling.requestRate.provider" in text and "keda" in text and "KEDA" in text


def test_scale_to_zero_needs_keda_and_a_request_rate() -> None:
    for config, extra in ((NONE, {}), (ADAPTER, {"requestsPerSecond": 5}), (KEDA, {})):
        error = spec_error(config, minReplicas=0, maxReplicas=4, **extra)
        assert error.field == "spec.autoscaling.minReplicas", error
        assert "scale to zero" in error.message_with_fix()
    scaled = md(KEDA, minReplicas=0, maxReplicas=4, requestsPerSecond=5)
    assert scaled.autoscaling is not None and scaled.autoscaling.min_replicas == 0


def test_request_rate_is_a_positive_quantity() -> None:
    assert md(KEDA, maxReplicas=2, requestsPerSecond="0.5").autoscaling.requests_per_second == "0.5"  # type: ignore[union-attr]
    for bad in ("fast", "0", -3, True):
        assert (
            spec_error(KEDA, maxReplicas=2, requestsPerSecond=bad).field
            == "spec.autoscaling.requestsPerSecond"
        )


def test_keda_refuses_raw_metric_specs() -> None:
    pods = {
        "type": "Pods",
        "pods": {"metric": {"name": "x"}, "target": {"type": "AverageValue", "averageValue": "1"}},
    }
    error = spec_error(KEDA, maxReplicas=2, requestsPerSecond=5, metrics=[pods])
    assert error.field == "spec.autoscaling.metrics"


def test_stabilization_window_is_bounded() -> None:
    assert spec_error(NONE, maxReplicas=2, scaleDownStabilizationSeconds=3601).field == (
        "spec.autoscaling.scaleDownStabilizationSeconds"
    )


# --- operator configuration ---------------------------------------------------------------------------


def test_config_keda_needs_a_prometheus_address() -> None:
    with pytest.raises(ConfigError, match="prometheusAddress"):
        config_from_mapping({"autoscaling": {"requestRate": {"provider": "keda"}}})
    with pytest.raises(ConfigError, match="provider"):
        config_from_mapping({"autoscaling": {"requestRate": {"provider": "KEDA"}}})
    with pytest.raises(ConfigError, match="query"):
        config_from_mapping({"autoscaling": {"requestRate": {"query": "sum(rate(x{pod={pod}}[1m]))"}}})
    config = config_from_mapping(
        {"autoscaling": {"requestRate": {"provider": "keda", "prometheusAddress": "http://p:9090"}}}
    )
    assert config.request_rate.provider == "keda"


# --- rendered autoscaler ------------------------------------------------------------------------------


def test_cpu_hpa_with_a_shorter_scale_down_window() -> None:
    hpa = child(
        md(maxReplicas=4, targetCPUUtilization=60, scaleDownStabilizationSeconds=15),
        NONE,
        "HorizontalPodAutoscaler",
    )
    assert hpa is not None
    assert hpa["spec"]["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 15}}
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    assert "behavior" not in child(md(maxReplicas=4), NONE, "HorizontalPodAutoscaler")["spec"]  # type: ignore[index]


def test_custom_metrics_provider_renders_a_pods_metric_and_no_cpu_target() -> None:
    hpa = child(md(ADAPTER, maxReplicas=4, requestsPerSecond=20), ADAPTER, "HorizontalPodAutoscaler")
    assert hpa is not None
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "tensorflow_serving_requests_per_second"},
                "target": {"type": "AverageValue", "averageValue": "20"},
            },
        }
    ]
    assert child(md(ADAPTER, maxReplicas=4, requestsPerSecond=20), ADAPTER, "ScaledObject") is None


def test_keda_renders_a_scaled_object_instead_of_an_hpa() -> None:
    m = md(KEDA, minReplicas=0, maxReplicas=5, requestsPerSecond=50, scaleDownStabilizationSeconds=30)
    assert child(m, KEDA, "HorizontalPodAutoscaler") is None
    so = child(m, KEDA, "ScaledObject")
    assert so is not None and so["apiVersion"] == "keda.sh/v1alpha1"
    spec = so["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "resnet"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"], spec["cooldownPeriod"]) == (0, 5, 30)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["serverAddress"] == "http://prometheus.monitoring.svc:9090"
    assert trigger["metadata"]["threshold"] == "50"
    query = trigger["metadata"]["query"]
    assert ":tensorflow:serving:request_count" in query
    assert 'namespace="vision"' in query and 'model_deployment="resnet"' in query
    assert 'model_name="resnet_v2"' in query
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"] == {
        "stabilizationWindowSeconds": 30
    }
    # The Deployment leaves replicas to the autoscaler in every mode.
    deployment = child(m, KEDA, "Deployment")
    assert deployment is not None and "replicas" not in deployment["spec"]


@pytest.mark.parametrize(("rate", "threshold"), [(50, "50"), ("0.5", "0.5"), ("500m", "0.5"), ("2k", "2000")])
def test_keda_threshold_is_a_plain_decimal(rate: Any, threshold: str) -> None:
    so = child(md(KEDA, maxReplicas=5, requestsPerSecond=rate), KEDA, "ScaledObject")
    assert so is not None and so["spec"]["triggers"][0]["metadata"]["threshold"] == threshold


def test_keda_adds_cpu_only_when_asked() -> None:
    so = child(md(KEDA, maxReplicas=5, requestsPerSecond=50, targetCPUUtilization=75), KEDA, "ScaledObject")
    assert so is not None
    assert so["spec"]["triggers"][1] == {
        "type": "cpu",
        "metricType": "Utilization",
        "metadata": {"value": "75"},
    }


def test_keda_idle_rate_is_above_what_probes_and_polls_count() -> None:
    """TF Serving counts the readiness probe (every 5 s) and the operator's status poll like any request, so
    an activation threshold of 0 would keep an idle model from ever reaching zero replicas."""
    so = child(md(KEDA, minReplicas=0, maxReplicas=2, requestsPerSecond=5), KEDA, "ScaledObject")
    assert so is not None
    (trigger,) = so["spec"]["triggers"]
    background = 1 / 5 + 1 / NONE.model_status.poll_seconds
    assert float(trigger["metadata"]["activationThreshold"]) > background
    assert so["spec"]["pollingInterval"] == 30  # KEDA's default unless configured


def test_keda_activation_query_adds_a_trigger_that_wakes_from_zero() -> None:
    config = config_from_mapping(
        {
            "autoscaling": {
                "requestRate": {
                    "provider": "keda",
                    "prometheusAddress": "http://p:9090",
                    "pollingIntervalSeconds": 5,
                    "idleRequestsPerSecond": 0.25,
                    "activationQuery": 'sum(rate(ingress_requests{{ns="{namespace}",svc="{name}"}}[1m]))',
                }
            }
        }
    )
    so = child(md(config, minReplicas=0, maxReplicas=2, requestsPerSecond="1.5"), config, "ScaledObject")
    assert so is not None
    own, front = so["spec"]["triggers"]
    assert own["metadata"]["activationThreshold"] == "0.25"
    assert front["metadata"] == {
        "serverAddress": "http://p:9090",
        "query": 'sum(rate(ingress_requests{ns="vision",svc="resnet"}[1m]))',
        "threshold": "1.5",
        "activationThreshold": "0",
    }
    assert so["spec"]["pollingInterval"] == 5


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("pollingIntervalSeconds", 0),
        ("pollingIntervalSeconds", 1.5),
        ("idleRequestsPerSecond", -1),
        ("idleRequestsPerSecond", float("inf")),
        ("idleRequestsPerSecond", float("nan")),
        ("activationQuery", ""),
        ("activationQuery", "sum(x{pod={pod}})"),
    ],
)
def test_config_refuses_bad_keda_settings_naming_the_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"autoscaling.requestRate.{key}"):
        config_from_mapping({"autoscaling": {"requestRate": {key: value}}})


def test_query_template_fills_in_names_only() -> None:
    config = dataclasses.replace(
        KEDA,
        request_rate=dataclasses.replace(KEDA.request_rate, query='sum(x{{ns="{namespace}",m="{model}"}})'),
    )
    assert (
        request_rate_query(md(config, maxReplicas=2, requestsPerSecond=1), config.request_rate.query)
        == 'sum(x{ns="vision",m="resnet_v2"})'
    )


# --- status -------------------------------------------------------------------------------------------

MD = {
    "metadata": {"name": "resnet", "namespace": "vision", "generation": 1},
    "spec": {"autoscaling": {"maxReplicas": 4}},
}
DEPLOYMENT = {
    "metadata": {"generation": 1},
    "spec": {"replicas": 3},
    "status": {
        "observedGeneration": 1,
        "replicas": 3,
        "readyReplicas": 3,
        "updatedReplicas": 3,
        "availableReplicas": 3,
    },
}


def hpa(*conditions: tuple[str, str, str], current: int = 3, desired: int = 4) -> dict[str, Any]:
    return {
        "metadata": {"name": "resnet"},
        "spec": {
            "minReplicas": 1,
            "maxReplicas": 4,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
        },
        "status": {
            "currentReplicas": current,
            "desiredReplicas": desired,
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 180}}}
            ],
            "conditions": [
                {"type": t, "status": s, "reason": r, "message": f"the HPA says {r}"}
                for t, s, r in conditions
            ],
        },
    }


def autoscaling(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Autoscaling")


def compute(autoscaler: dict[str, Any] | None, deployment: Any = DEPLOYMENT, **kw: Any) -> dict[str, Any]:
    observed = Observed(deployment=deployment, autoscaled=True, autoscaler=autoscaler, wants_replicas=1, **kw)
    return compute_status(MD, observed, now=__import__("datetime").datetime(2026, 1, 1))


def test_status_reports_current_and_desired_replicas() -> None:
    status = compute(
        hpa(("AbleToScale", "True", "ReadyForNewScale"), ("ScalingActive", "True", "ValidMetricFound"))
    )
    assert status["autoscaler"] == {
        "name": "resnet",
        "currentReplicas": 3,
        "desiredReplicas": 4,
        "minReplicas": 1,
        "maxReplicas": 4,
    }
    condition = autoscaling(status)
    assert (condition["status"], condition["reason"]) == ("True", "ScalingActive")
    assert "3 current, 4 desired" in condition["message"]
    # The wanted count follows the HPA (through the Deployment), not spec.autoscaling.minReplicas.
    assert status["ready"] == "3/3"


def test_status_says_when_max_replicas_limits_scaling() -> None:
    status = compute(
        hpa(
            ("AbleToScale", "True", "ReadyForNewScale"),
            ("ScalingActive", "True", "ValidMetricFound"),
            ("ScalingLimited", "True", "TooManyReplicas"),
        )
    )
    condition = autoscaling(status)
    assert condition["reason"] == "ScalingLimited"
    assert (
        "TooManyReplicas" in condition["message"] and "spec.autoscaling.maxReplicas" in condition["message"]
    )
    # At the floor is normal and not reported as a limit.
    idle = compute(
        hpa(("ScalingActive", "True", "ValidMetricFound"), ("ScalingLimited", "True", "TooFewReplicas"))
    )
    assert autoscaling(idle)["reason"] == "ScalingActive"


def test_status_names_missing_metrics_and_where_to_look() -> None:
    status = compute(
        hpa(
            ("AbleToScale", "True", "SucceededGetScale"),
            ("ScalingActive", "False", "FailedGetResourceMetric"),
        )
    )
    condition = autoscaling(status)
    assert (condition["status"], condition["reason"]) == ("False", "ScalingInactive")
    assert "FailedGetResourceMetric" in condition["message"] and "metrics-server" in condition["message"]
    unable = autoscaling(compute(hpa(("AbleToScale", "False", "FailedGetScale"))))
    assert (unable["status"], unable["reason"]) == ("False", "UnableToScale")
    # Autoscaling trouble does not make a serving model Degraded.
    assert status["phase"] == "Ready"


def test_status_before_the_hpa_exists_and_without_autoscaling() -> None:
    pending = compute(None)
    assert autoscaling(pending)["status"] == "Unknown" and "autoscaler" not in pending
    plain = compute_status(
        MD, Observed(deployment=DEPLOYMENT), now=__import__("datetime").datetime(2026, 1, 1)
    )
    assert all(c["type"] != "Autoscaling" for c in plain["conditions"])


def test_status_with_keda_at_zero_and_when_keda_is_not_ready() -> None:
    zero = compute(
        hpa(
            ("AbleToScale", "True", "SucceededGetScale"),
            ("ScalingActive", "False", "ScalingDisabled"),
            current=0,
            desired=0,
        ),
        deployment={
            "metadata": {"generation": 1},
            "spec": {"replicas": 0},
            "status": {"observedGeneration": 1},
        },
        keda=True,
        scaled_object={"metadata": {"name": "resnet"}, "spec": {"minReplicaCount": 0}, "status": {}},
    )
    condition = autoscaling(zero)
    assert (condition["status"], condition["reason"]) == ("True", "ScaledToZero")
    assert zero["autoscaler"]["minReplicas"] == 0
    ready = next(c for c in zero["conditions"] if c["type"] == "Ready")
    assert "KEDA" in ready["message"] and "spec.replicas" not in ready["message"]
    broken = compute(
        None,
        keda=True,
        scaled_object={
            "metadata": {"name": "resnet"},
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "ScaledObjectCheckFailed",
                        "message": "no prometheus",
                    }
                ]
            },
        },
    )
    condition = autoscaling(broken)
    assert (condition["status"], condition["reason"]) == ("False", "UnableToScale")
    assert "no prometheus" in condition["message"]


# --- KEDA's HPA in the operator's cache ---------------------------------------------------------------


def test_kedas_hpa_is_filed_under_the_model_but_never_taken_for_its_child() -> None:
    from modeldeploy.controller import Caches
    from modeldeploy.informer import CHILDREN, Store, autoscaler_owner, controller_of

    def ref(kind: str, api: str, name: str) -> dict[str, Any]:
        return {"kind": kind, "apiVersion": api, "name": name, "uid": "u", "controller": True}

    keda_hpa = {
        "metadata": {
            "name": "keda-hpa-resnet",
            "namespace": "vision",
            "ownerReferences": [ref("ScaledObject", "keda.sh/v1alpha1", "resnet")],
        }
    }
    assert autoscaler_owner(keda_hpa) == ("vision", "resnet")
    stranger = {
        "metadata": {"name": "x", "namespace": "vision", "ownerReferences": [ref("Foo", "a/v1", "resnet")]}
    }
    assert autoscaler_owner(stranger) is None
    caches = Caches()
    for resource in CHILDREN:
        caches.children[resource.kind_key] = Store(resource.slim, resource.owner_of or controller_of)
    caches.children[("autoscaling/v2", "HorizontalPodAutoscaler")].upsert(keda_hpa)
    children = caches.children_of(("vision", "resnet"))
    assert ("autoscaling/v2", "HorizontalPodAutoscaler") not in children.objects
    assert (
        children.keda_autoscaler is not None
        and children.keda_autoscaler["metadata"]["name"] == "keda-hpa-resnet"
    )
