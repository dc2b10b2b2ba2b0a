"""Service <name>: a stable ClusterIP for the gRPC and REST ports."""

from __future__ import annotations

from typing import Any

from modeldeploy.api import GRPC_PORT, HTTP_PORT, SERVICE
from modeldeploy.config import OperatorConfig
from modeldeploy.desired.labels import object_meta, selector_labels
from modeldeploy.spec import ModelDeploymentSpec


def build_service(md: ModelDeploymentSpec, config: OperatorConfig) -> dict[str, Any]:
    # appProtocol tells meshes and gateways that 8500 is gRPC (HTTP/2), not plain HTTP/1.
    ports = [
        {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"},
        {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"},
    ]
    return {
        "apiVersion": SERVICE.api_version,
        "kind": SERVICE.kind,
        "metadata": object_meta(md.name, md.namespace),
        "spec": {"type": "ClusterIP", "selector": selector_labels(md.name), "ports": ports},
    }
