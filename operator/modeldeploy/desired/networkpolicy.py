"""NetworkPolicy <name> (networking.k8s.io/v1): TF Serving has no authentication, so who may reach its
ports is decided here. Clients that spec.access admits (default: pods of the model's own namespace) reach
gRPC and REST; the operator (model status polling) and the metrics scraper reach REST only. Everything
else is denied ingress once a network plugin enforces NetworkPolicies.
"""

from __future__ import annotations

import copy
from typing import Any

from modeldeploy.api import GRPC_PORT, HTTP_PORT, NETWORK_POLICY
from modeldeploy.config import OperatorConfig
from modeldeploy.desired.labels import object_meta, selector_labels
from modeldeploy.spec import ModelDeploymentSpec


def _ports(*numbers: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": n} for n in numbers]


def build_network_policy(md: ModelDeploymentSpec, config: OperatorConfig) -> dict[str, Any] | None:
    settings = config.network_policy
    if not settings.enabled:
        return None
    ingress: list[dict[str, Any]] = []
    # A rule with an empty `from` admits every source, so an empty peer list means no rule at all.
    if md.access:
        ingress.append(
            {"from": copy.deepcopy([dict(p) for p in md.access]), "ports": _ports(GRPC_PORT, HTTP_PORT)}
        )
    internal = [*settings.operator_peers, *settings.scraper_peers]
    if internal:
        ingress.append({"from": copy.deepcopy([dict(p) for p in internal]), "ports": _ports(HTTP_PORT)})
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": selector_labels(md.name)},
        "policyTypes": ["Ingress"],
    }
    if ingress:  # no rules: all ingress denied (the API server drops an empty list, so leave it out)
        spec["ingress"] = ingress
    return {
        "apiVersion": NETWORK_POLICY.api_version,
        "kind": NETWORK_POLICY.kind,
        "metadata": object_meta(md.name, md.namespace),
        "spec": spec,
    }
