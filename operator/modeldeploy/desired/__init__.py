"""Pure builders: a validated ModelDeployment + operator config -> the child objects, as plain dicts.

The same code path serves the live operator and the offline `modeldeploy render`.
"""

from __future__ import annotations

from typing import Any

from modeldeploy.config import OperatorConfig
from modeldeploy.desired.autoscaler import build_autoscaler
from modeldeploy.desired.configmap import build_configmap, models_config_text
from modeldeploy.desired.deployment import build_deployment, image_ref
from modeldeploy.desired.disruption import build_disruption_budget
from modeldeploy.desired.labels import (
    RESTART_HASH_ANNOTATION,
    child_labels,
    selector_labels,
    selector_string,
)
from modeldeploy.desired.networkpolicy import build_network_policy
from modeldeploy.desired.scaledobject import build_scaled_object
from modeldeploy.desired.service import build_service
from modeldeploy.names import configmap_name
from modeldeploy.spec import ModelDeploymentSpec

__all__ = [
    "RESTART_HASH_ANNOTATION",
    "build_autoscaler",
    "build_children",
    "build_configmap",
    "build_deployment",
    "build_disruption_budget",
    "build_network_policy",
    "build_scaled_object",
    "build_service",
    "child_labels",
    "configmap_name",
    "image_ref",
    "models_config_text",
    "selector_labels",
    "selector_string",
]


def build_children(md: ModelDeploymentSpec, config: OperatorConfig) -> list[dict[str, Any]]:
    """All children in apply order: the ConfigMap before the pods that mount it, the Deployment before
    the HPA that scales it, the NetworkPolicy before the pods it guards. Optional kinds (NetworkPolicy,
    HPA or ScaledObject, PDB) are simply absent when not wanted."""
    children = [build_configmap(md, config)]
    policy = build_network_policy(md, config)
    if policy is not None:
        children.append(policy)
    children += [build_deployment(md, config), build_service(md, config)]
    optionals = (
        build_autoscaler(md, config),
        build_scaled_object(md, config),
        build_disruption_budget(md, config),
    )
    for optional in optionals:
        if optional is not None:
            children.append(optional)
    return children
