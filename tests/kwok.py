"""KWOK Stage objects for the clusters of tests that need pods to behave other than KWOK's defaults."""

from __future__ import annotations

from typing import Any


def pod_stage(name: str, expressions: list[dict[str, Any]], next_step: dict[str, Any]) -> dict[str, Any]:
    """A Stage for the pods `expressions` match (KWOK selector syntax), moved on as `next_step` says."""
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {"matchExpressions": expressions},
            "next": next_step,
        },
    }


def delete_stage() -> dict[str, Any]:
    """Pods being deleted go at once (with the Pod stages replaced, KWOK's own delete stage is gone too)."""
    return pod_stage(
        "pod-delete",
        [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}],
        {"finalizers": {"empty": True}, "delete": True},
    )
