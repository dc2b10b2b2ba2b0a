"""Labels every child carries, the selector that finds the pods, and object metadata."""

from __future__ import annotations

from typing import Any

from modeldeploy.api import MANAGED_BY, MANAGED_BY_LABEL, SELECTOR_LABEL

RESTART_HASH_ANNOTATION = "serving.modeldeploy.io/restart-hash"
# Pod template annotations that change whenever the pods must be replaced: ours (every spec change that
# restarts TF Serving) and `kubectl rollout restart`'s. A pod carrying the template's values of these runs
# the Deployment's current template; the status counts such pods for its READY column.
TEMPLATE_IDENTITY_ANNOTATIONS = (RESTART_HASH_ANNOTATION, "kubectl.kubernetes.io/restartedAt")


def selector_labels(name: str) -> dict[str, str]:
    """The pod selector (api.SELECTOR_LABEL)."""
    return {SELECTOR_LABEL: name}


def selector_string(name: str) -> str:
    """The selector in the string form status.selector (the scale subresource) wants."""
    return ",".join(f"{k}={v}" for k, v in selector_labels(name).items())


def child_labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "tfserving",
        "app.kubernetes.io/instance": name,
        MANAGED_BY_LABEL: MANAGED_BY,
        "app.kubernetes.io/component": "model-server",
        **selector_labels(name),
    }


def object_meta(owner: str, namespace: str, name: str | None = None) -> dict[str, Any]:
    """metadata for a child of ModelDeployment `owner`; ownerReferences are the kube layer's job."""
    return {"name": name or owner, "namespace": namespace, "labels": child_labels(owner)}
