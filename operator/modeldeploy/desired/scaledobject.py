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

# How long the model must stay idle before the last replica goes: KEDA's own default.
DEFAULT_COOLDOWN_SECONDS = 300


def plain_decimal(quantity: str) -> str:
    value = parse_quantity(quantity)
    if value is None:  # parse_spec admitted it as a quantity, so this is a bug, not bad input
        raise ValueError(f"not a quantity: {quantity!r}")
    return format(value.normalize(), "f")


def request_rate_query(md: ModelDeploymentSpec, template: str) -> str:
    return template.format(namespace=md.namespace, name=md.name, model=md.model.name)


def prometheus_trigger(address: str, query: str, threshold: str, activation: str) -> dict[str, Any]:
    return {
        "type": "prometheus",
        # KEDA reads threshold and activationThreshold with strconv.ParseFloat: plain decimals only.
        "metadata": {
            "serverAddress": address,
            "query": query,
            "threshold": threshold,
            "activationThreshold": activation,
        },
    }


def build_scaled_object(md: ModelDeploymentSpec, config: OperatorConfig) -> dict[str, Any] | None:
    a = md.autoscaling
    if a is None or a.requests_per_second is None or not uses_keda(md, config):
        return None
    rate = config.request_rate
    address = str(rate.prometheus_address)
    # Per replica: KEDA's HPA metric target is an AverageValue of the threshold ("500m" goes in as "0.5").
    threshold = plain_decimal(a.requests_per_second)
    # Idle at or below the background of probes and status polls that TF Serving counts too.
    idle = plain_decimal(str(rate.idle_requests_per_second))
    triggers = [prometheus_trigger(address, request_rate_query(md, rate.query), threshold, idle)]
    if rate.activation_query is not None:
        # The same traffic counted in front of TF Serving: it exists with zero pods, so any request there
        # wakes the model (KEDA is active while any trigger is).
        triggers.append(
            prometheus_trigger(address, request_rate_query(md, rate.activation_query), threshold, "0")
        )
    if a.target_cpu_utilization is not None:
        triggers.append(
            {"type": "cpu", "metricType": "Utilization", "metadata": {"value": str(a.target_cpu_utilization)}}
        )
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": DEPLOYMENT.api_version, "kind": DEPLOYMENT.kind, "name": md.name},
        "minReplicaCount": a.min_replicas,
        "maxReplicaCount": a.max_replicas,
        "pollingInterval": rate.polling_interval_seconds,
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
