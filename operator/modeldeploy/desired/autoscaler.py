"""The autoscaler of a ModelDeployment, only when spec.autoscaling is set.

Three shapes, chosen by spec.autoscaling.requestsPerSecond and the operator's request-rate provider:
- CPU (no requestsPerSecond): a HorizontalPodAutoscaler <name> (autoscaling/v2) on CPU utilization.
- request rate, provider customMetrics: the same HPA with a Pods metric that a custom metrics adapter
  (e.g. prometheus-adapter) serves per pod, in requests per second.
- request rate, provider keda: a KEDA ScaledObject <name> (desired/scaledobject.py); KEDA then owns its
  own HPA, keda-hpa-<name>, and can scale to zero.
"""

from __future__ import annotations

import copy
from typing import Any

from modeldeploy.api import DEPLOYMENT, HORIZONTAL_POD_AUTOSCALER
from modeldeploy.config import OperatorConfig, RequestRateProvider
from modeldeploy.desired.labels import object_meta
from modeldeploy.spec import Autoscaling, ModelDeploymentSpec


def uses_keda(md: ModelDeploymentSpec, config: OperatorConfig) -> bool:
    a = md.autoscaling
    return (
        a is not None
        and a.requests_per_second is not None
        and config.request_rate.provider == RequestRateProvider.KEDA
    )


def cpu_metric(target: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}},
    }


def scale_down_behavior(a: Autoscaling) -> dict[str, Any] | None:
    """HPA behavior shortening (or lengthening) how long a lower recommendation must hold before it acts."""
    if a.scale_down_stabilization_seconds is None:
        return None
    return {"scaleDown": {"stabilizationWindowSeconds": a.scale_down_stabilization_seconds}}


def build_autoscaler(md: ModelDeploymentSpec, config: OperatorConfig) -> dict[str, Any] | None:
    a = md.autoscaling
    if a is None or uses_keda(md, config):
        return None
    metrics: list[dict[str, Any]] = []
    if a.target_cpu_utilization is not None:
        metrics.append(cpu_metric(a.target_cpu_utilization))
    if a.requests_per_second is not None:
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": config.request_rate.metric_name},
                    "target": {"type": "AverageValue", "averageValue": a.requests_per_second},
                },
            }
        )
    metrics.extend(copy.deepcopy([dict(m) for m in a.metrics]))
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": DEPLOYMENT.api_version, "kind": DEPLOYMENT.kind, "name": md.name},
        "minReplicas": a.min_replicas,
        "maxReplicas": a.max_replicas,
        "metrics": metrics,
    }
    behavior = scale_down_behavior(a)
    if behavior is not None:
        spec["behavior"] = behavior
    return {
        "apiVersion": HORIZONTAL_POD_AUTOSCALER.api_version,
        "kind": HORIZONTAL_POD_AUTOSCALER.kind,
        "metadata": object_meta(md.name, md.namespace),
        "spec": spec,
    }
