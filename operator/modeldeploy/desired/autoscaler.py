"""HorizontalPodAutoscaler <name> (autoscaling/v2), only when spec.autoscaling is set."""

from __future__ import annotations

import copy
from typing import Any

from modeldeploy.config import OperatorConfig
from modeldeploy.desired.labels import object_meta
from modeldeploy.spec import ModelDeploymentSpec


def build_autoscaler(md: ModelDeploymentSpec, config: OperatorConfig) -> dict[str, Any] | None:
    if md.autoscaling is None:
        return None
    cpu = {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": md.autoscaling.target_cpu_utilization},
        },
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_meta(md.name, md.namespace),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": md.name},
            "minReplicas": md.autoscaling.min_replicas,
            "maxReplicas": md.autoscaling.max_replicas,
            "metrics": [cpu, *copy.deepcopy([dict(m) for m in md.autoscaling.metrics])],
        },
    }
