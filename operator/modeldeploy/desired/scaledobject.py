"""KEDA ScaledObject <name> (keda.sh/v1alpha1): scaling on TF Serving's request rate, down to zero.

Field meanings follow KEDA v2's API (github.com/kedacore/keda apis/keda/v1alpha1/scaledobject_types.go)
and its Prometheus scaler (pkg/scalers/prometheus_scaler.go: serverAddress, query, threshold,
activationThreshold). KEDA turns a ScaledObject into an HPA of its own (keda-hpa-<name>) with an External
metric whose per-replica target is the threshold, and scales 0 <-> 1 itself from the activation check.
"""

from __future__ import annotations

from typing import Any

from modeldeploy.api import DEPLOYMENT, SCALED_OBJECT
from modeldeploy.config import OperatorConfig
from modeldeploy.desired.autoscaler import scale_down_behavior, uses_keda
from modeldeploy.desired.labels import object_meta
from modeldeploy.quantity import parse_quantity
from modeldeploy.spec import ModelDeploymentSpec

# How often KEDA asks Prometheus while at zero replicas (it is the wake-up latency floor), and how long
# the rate must stay at zero before the last replica goes: KEDA's own defaults (30 s and 300 s).
POLLING_INTERVAL_SECONDS = 30
DEFAULT_COOLDOWN_SECONDS = 300


def plain_decimal(quantity: str) -> str:
    value = parse_quantity(quantity)
    if value is None:  # parse_spec admitted it as a quantity, so this is a bug, not bad input
        raise ValueError(f"not a quantity: {quantity!r}")
    return format(value.normalize(), "f")


def request_rate_query(md: ModelDeploymentSpec, config: OperatorConfig) -> str:
    return config.request_rate.query.format(namespace=md.namespace, name=md.name, model=md.model.name)


def build_scaled_object(md: ModelDeploymentSpec, config: OperatorConfig) -> dict[str, Any] | None:
    a = md.autoscaling
    if a is None or a.requests_per_second is None or not uses_keda(md, config):
        return None
    triggers: list[dict[str, Any]] = [
        {
            "type": "prometheus",
            "metadata": {
                "serverAddress": str(config.request_rate.prometheus_address),
                "query": request_rate_query(md, config),
                # Per replica: KEDA's HPA metric target is an AverageValue of this. KEDA reads it with
                # strconv.ParseFloat, so a quantity such as "500m" goes in as "0.5".
                "threshold": plain_decimal(a.requests_per_second),
                # Any request at all wakes a model scaled to zero.
                "activationThreshold": "0",
            },
        }
    ]
    if a.target_cpu_utilization is not None:
        triggers.append(
            {"type": "cpu", "metricType": "Utilization", "metadata": {"value": str(a.target_cpu_utilization)}}
        )
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": DEPLOYMENT.api_version, "kind": DEPLOYMENT.kind, "name": md.name},
        "minReplicaCount": a.min_replicas,
        "maxReplicaCount": a.max_replicas,
        "pollingInterval": POLLING_INTERVAL_SECONDS,
        "cooldownPeriod": (
            DEFAULT_COOLDOWN_SECONDS
            if a.scale_down_stabilization_seconds is None
            else a.scale_down_stabilization_seconds
        ),
        "triggers": triggers,
    }
    behavior = scale_down_behavior(a)
    if behavior is not None:
        spec["advanced"] = {"horizontalPodAutoscalerConfig": {"behavior": behavior}}
    return {
        "apiVersion": SCALED_OBJECT.api_version,
        "kind": SCALED_OBJECT.kind,
        "metadata": object_meta(md.name, md.namespace),
        "spec": spec,
    }
