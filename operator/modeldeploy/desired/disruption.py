"""PodDisruptionBudget <name> (policy/v1), only when more than one replica is wanted."""

from __future__ import annotations

from typing import Any

from modeldeploy.api import POD_DISRUPTION_BUDGET
from modeldeploy.config import OperatorConfig
from modeldeploy.desired.labels import object_meta, selector_labels
from modeldeploy.spec import ModelDeploymentSpec


def build_disruption_budget(md: ModelDeploymentSpec, config: OperatorConfig) -> dict[str, Any] | None:
    # With a single replica any budget either blocks node drains forever or protects nothing.
    if md.wanted_replicas() <= 1:
        return None
    return {
        "apiVersion": POD_DISRUPTION_BUDGET.api_version,
        "kind": POD_DISRUPTION_BUDGET.kind,
        "metadata": object_meta(md.name, md.namespace),
        "spec": {
            # maxUnavailable (not minAvailable) keeps working whatever the current replica count.
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(md.name)},
            # Pods that are not Ready (e.g. a crash-looping load) must not block draining a node.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
