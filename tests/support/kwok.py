"""KWOK Stage objects for the clusters of tests that need pods to behave other than KWOK's defaults."""

from __future__ import annotations

from typing import Any

from modeldeploy.localcluster.stages import pod_stage


def delete_stage() -> dict[str, Any]:
    """Pods being deleted go at once (with the Pod stages replaced, KWOK's own delete stage is gone too)."""
    return pod_stage(
        "pod-delete",
        [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}],
        {"finalizers": {"empty": True}, "delete": True},
    )
