"""Manifests the integration tests apply."""

from __future__ import annotations

from typing import Any

from modeldeploy.api import MD_API_VERSION, MD_KIND


def model_deployment(
    name: str, namespace: str, uri: str = "gs://bucket/models/resnet", **spec: Any
) -> dict[str, Any]:
    """A ModelDeployment with `spec.model.uri` set and any other top-level spec fields given."""
    body: dict[str, Any] = {"model": {"uri": uri}}
    body.update(spec)
    return {
        "apiVersion": MD_API_VERSION,
        "kind": MD_KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }
