"""Manifests the integration tests apply."""

from __future__ import annotations

from typing import Any


def model_deployment(
    name: str, namespace: str, uri: str = "gs://bucket/models/resnet", **spec: Any
) -> dict[str, Any]:
    """A ModelDeployment with `spec.model.uri` set and any other top-level spec fields given."""
    body: dict[str, Any] = {"model": {"uri": uri}}
    body.update(spec)
    return {
        "apiVersion": "serving.modeldeploy.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }
