"""What the autoscaler of a ModelDeployment is doing, for status: numbers and an Autoscaling condition.

Pure, like status.py. It reads the HorizontalPodAutoscaler that scales the model's Deployment (the
operator's own `<name>`, or KEDA's `keda-hpa-<name>`) and, with KEDA, the ScaledObject. The HPA
conditions it reads are the HPA controller's (k8s.io/kubernetes pkg/controller/podautoscaler
horizontal.go): AbleToScale (can it read and change the scale subresource), ScalingActive (can it compute
a replica count: metrics readable, target not scaled to zero) and ScalingLimited (the count it wants is
clamped by min/maxReplicas or by the behavior's rate limits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modeldeploy import reasons

# Where to look when the HPA controller cannot read a metric (ScalingActive=False, reason FailedGet...).
_METRIC_HINTS = {
    "FailedGetResourceMetric": "is metrics-server installed and serving metrics.k8s.io?",
    "FailedGetContainerResourceMetric": "is metrics-server installed and serving metrics.k8s.io?",
    "FailedGetPodsMetric": "does a custom metrics adapter serve this metric for the pods?",
    "FailedGetObjectMetric": "does a custom metrics adapter serve this metric?",
    "FailedGetExternalMetric": "does an external metrics adapter (e.g. KEDA's) serve this metric?",
}


@dataclass(frozen=True)
class ScalingState:
    """The autoscaler's numbers (``status.autoscaler``) and the Autoscaling condition's parts."""

    summary: dict[str, Any] | None
    status: bool | None
    reason: str
    message: str


def scaling_state(
    name: str,
    hpa: Mapping[str, Any] | None,
    scaled_object: Mapping[str, Any] | None,
    keda: bool,
) -> ScalingState:
    """``hpa`` is the HPA scaling Deployment ``name`` (None while it does not exist yet)."""
    if keda:
        blocked = _scaled_object_problem(scaled_object)
        if blocked is not None:
            return ScalingState(_summary(hpa, scaled_object), False, *blocked)
    if hpa is None:
        what = f"KEDA to create HorizontalPodAutoscaler keda-hpa-{name}" if keda else f"HPA {name}"
        return ScalingState(
            _summary(None, scaled_object), None, reasons.AUTOSCALER_PENDING, f"Waiting for {what}."
        )
    hpa_name = str(_map(hpa.get("metadata")).get("name", name))
    summary = _summary(hpa, scaled_object)
    conditions = {c.get("type"): c for c in _list(_map(hpa.get("status")).get("conditions"))}
    able = conditions.get("AbleToScale")
    if able is not None and able.get("status") == "False":
        message = f"HPA {hpa_name} cannot scale Deployment {name}: {_why(able)}"
        return ScalingState(summary, False, reasons.UNABLE_TO_SCALE, message)
    active = conditions.get("ScalingActive")
    if active is not None and active.get("status") == "False":
        if active.get("reason") == "ScalingDisabled" and keda:
            # The HPA stands still at zero replicas; KEDA itself scales 0 -> 1 when a trigger is active,
            # and with no pod only a count taken in front of TF Serving can be (docs/autoscaling.md).
            message = (
                f"Scaled to zero by KEDA. Requests to model {name} fail meanwhile: no pod serves the "
                "Service. KEDA brings a replica back when the operator's "
                "autoscaling.requestRate.activationQuery (requests counted in front of TF Serving) sees "
                "requests; TF Serving's own counter has no pod to count them."
            )
            return ScalingState(summary, True, reasons.SCALED_TO_ZERO, message)
        hint = _METRIC_HINTS.get(str(active.get("reason")))
        message = f"HPA {hpa_name} cannot compute a replica count: {_why(active)}" + (
            f" ({hint})" if hint else ""
        )
        return ScalingState(summary, False, reasons.SCALING_INACTIVE, message)
    numbers = _numbers_text(summary)
    limited = conditions.get("ScalingLimited")
    if limited is not None and limited.get("status") == "True" and limited.get("reason") == "TooManyReplicas":
        message = (
            f"HPA {hpa_name}: {numbers}. Demand exceeds maxReplicas: {_why(limited)}; raise "
            "spec.autoscaling.maxReplicas if the model is overloaded."
        )
        return ScalingState(summary, True, reasons.SCALING_LIMITED, message)
    if active is None:
        return ScalingState(
            summary, None, reasons.AUTOSCALER_PENDING, f"HPA {hpa_name} has not computed a replica count yet."
        )
    return ScalingState(summary, True, reasons.SCALING_ACTIVE, f"HPA {hpa_name}: {numbers}.")


def _scaled_object_problem(scaled_object: Mapping[str, Any] | None) -> tuple[str, str] | None:
    if scaled_object is None:
        return None
    for c in _list(_map(scaled_object.get("status")).get("conditions")):
        if c.get("type") == "Ready" and c.get("status") == "False":
            name = _map(scaled_object.get("metadata")).get("name")
            return reasons.UNABLE_TO_SCALE, f"KEDA ScaledObject {name} is not ready: {_why(c)}"
    return None


def _summary(hpa: Mapping[str, Any] | None, scaled_object: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if hpa is None:
        return None
    spec, status = _map(hpa.get("spec")), _map(hpa.get("status"))
    summary: dict[str, Any] = {
        "name": str(_map(hpa.get("metadata")).get("name", "")),
        "currentReplicas": _int(status.get("currentReplicas")),
        "desiredReplicas": _int(status.get("desiredReplicas")),
        "minReplicas": _int(spec.get("minReplicas", 1)),
        "maxReplicas": _int(spec.get("maxReplicas")),
    }
    if scaled_object is not None:
        # KEDA's HPA never goes below 1; the ScaledObject's own minimum may be 0.
        summary["minReplicas"] = _int(_map(scaled_object.get("spec")).get("minReplicaCount"))
    # No metric values: they change at every HPA sync, and each change would be a status write (and a
    # `kubectl get -w` row); `kubectl get hpa` shows them.
    return summary


def _numbers_text(summary: Mapping[str, Any] | None) -> str:
    if summary is None:
        return "no replica count yet"
    return (
        f"{summary['currentReplicas']} current, {summary['desiredReplicas']} desired replicas "
        f"(min {summary['minReplicas']}, max {summary['maxReplicas']})"
    )


def _why(condition: Mapping[str, Any]) -> str:
    return f"{condition.get('reason', 'Unknown')}: {str(condition.get('message', '')).rstrip('.')}"


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list | tuple) else []


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
