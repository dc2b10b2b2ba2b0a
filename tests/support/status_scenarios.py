"""Scenarios for compute_status: a ModelDeployment, its Deployment and pods as the API server shows them,
run through compute_status and checked for the shape every status must have (tests/unit/test_status*.py,
test_poddiagnosis.py, test_modelloaded.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from modeldeploy import reasons
from modeldeploy.reasons import ConditionType, Phase
from modeldeploy.status import Observed, compute_status
from tests.support.conditions import conditions
from tests.support.manifests import model_deployment

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
NOW_TEXT = "2025-01-01T12:00:00Z"
LATER_TEXT = "2025-01-01T12:05:00Z"
GPU_SPEC = {"count": 1, "type": "nvidia-tesla-t4"}
SCHEDULER_NO_GPU = (
    "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available."
)
SCHEDULER_NO_LABEL = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."


# --- builders ---------------------------------------------------------------------------------------------


def make_md(
    *,
    generation: int = 1,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    md = model_deployment("resnet", "vision", uri="gs://acme/resnet", replicas=2)
    md["metadata"]["generation"] = generation
    if spec is not None:
        md["spec"] = spec
    if status is not None:
        md["status"] = status
    return md


def make_deployment(
    *,
    spec_replicas: int = 2,
    replicas: int = 2,
    ready: int = 2,
    updated: int = 2,
    available: int = 2,
    generation: int = 1,
    observed: int | None = 1,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "replicas": replicas,
        "readyReplicas": ready,
        "updatedReplicas": updated,
        "availableReplicas": available,
        "conditions": conditions or [],
    }
    if observed is not None:
        status["observedGeneration"] = observed
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "resnet", "namespace": "vision", "generation": generation},
        "spec": {"replicas": spec_replicas},
        "status": status,
    }


def deadline_exceeded() -> dict[str, Any]:
    return {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "resnet-7d9f8" has timed out progressing.',
    }


def make_pod(
    name: str = "resnet-7d9f8-aaaaa",
    *,
    phase: str = "Running",
    ready: bool = True,
    unschedulable: str | None = None,
    waiting: dict[str, Any] | None = None,
    last_terminated: dict[str, Any] | None = None,
    init: dict[str, Any] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    conditions: list[dict[str, Any]]
    if unschedulable is not None:
        phase = "Pending"
        conditions = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable}
        ]
    else:
        conditions = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ]
    container: dict[str, Any] = {
        "name": "tfserving",
        "image": "tensorflow/serving:2.19.0",
        "ready": ready,
        "state": {"waiting": waiting} if waiting else {"running": {}},
    }
    if last_terminated:
        container["lastState"] = {"terminated": last_terminated}
    status: dict[str, Any] = {"phase": phase, "conditions": conditions}
    if unschedulable is None:
        status["containerStatuses"] = [container]
    if init is not None:
        status["initContainerStatuses"] = [{"name": "model-fetch", "image": "rclone/rclone:1.68.2", **init}]
    metadata: dict[str, Any] = {"name": name, "namespace": "vision"}
    if deleting:
        metadata["deletionTimestamp"] = "2025-01-01T11:59:00Z"
    return {"metadata": metadata, "spec": {"nodeName": None if unschedulable else "node-1"}, "status": status}


def observed(**kwargs: Any) -> Observed:
    values: dict[str, Any] = {"deployment": make_deployment(), "model_name": "resnet", "wants_replicas": 2}
    values.update(kwargs)
    return Observed(**values)


def run(md: dict[str, Any] | None = None, now: datetime = NOW, **kwargs: Any) -> dict[str, Any]:
    status = compute_status(md if md is not None else make_md(), observed(**kwargs), now)
    assert_well_formed(status)
    return status


def assert_well_formed(status: Mapping[str, Any]) -> None:
    """Shape every status must have, whatever the scenario."""
    assert status["phase"] in Phase.ALL
    # ModelLoaded comes last, and only once TF Serving was asked (it says nothing before).
    types = [c["type"] for c in status["conditions"]]
    assert types[:6] == [
        ConditionType.READY,
        ConditionType.AVAILABLE,
        ConditionType.PROGRESSING,
        ConditionType.DEGRADED,
        ConditionType.RECONCILING,
        ConditionType.STALLED,
    ]
    assert types[6:] in ([], [ConditionType.MODEL_LOADED])
    # kstatus reads Reconciling=True as InProgress, Stalled=True as Failed, then Ready=True as Current:
    # exactly one of them is True, so it never reads Current while the operator is still at work.
    true = {c["type"] for c in status["conditions"] if c["status"] == "True"}
    assert len(true & {"Ready", "Reconciling", "Stalled"}) == 1, status["conditions"]
    by_type = conditions(status)
    assert (by_type["Stalled"]["status"], by_type["Stalled"]["reason"]) == (
        by_type["Degraded"]["status"],
        by_type["Degraded"]["reason"],
    )
    for c in status["conditions"]:
        assert c["status"] in (
            ("True", "False", "Unknown") if c["type"] == "ModelLoaded" else ("True", "False")
        )
        assert c["reason"] in reasons.ALL_REASONS
        assert c["message"], f"{c['type']} has an empty message"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c["lastTransitionTime"])
        assert c["observedGeneration"] == status["observedGeneration"]


def gpu_spec() -> dict[str, Any]:
    return {"model": {"uri": "gs://acme/resnet"}, "replicas": 2, "resources": {"gpu": dict(GPU_SPEC)}}


def assert_fits_schema(value: Any, schema: Mapping[str, Any], path: str) -> None:
    """``value`` as the API server would keep it under ``schema`` (types, enums, lengths, patterns, no
    key it would prune)."""
    kind = schema.get("type")
    expected = {"object": dict, "array": list, "string": str, "integer": int}
    if kind in expected:
        assert isinstance(value, expected[kind]), f"{path}: {value!r} is not {kind}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    if kind == "string":
        assert len(value) <= schema.get("maxLength", len(value)), f"{path} too long"
        if "pattern" in schema:
            assert re.search(schema["pattern"], value), f"{path}: {value!r} !~ {schema['pattern']}"
    if kind == "array":
        for i, item in enumerate(value):
            assert_fits_schema(item, schema["items"], f"{path}[{i}]")
    if kind == "object" and not schema.get("x-kubernetes-preserve-unknown-fields"):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            assert key in value, f"{path}.{key} is required"
        for key, item in value.items():
            assert key in props, f"{path}.{key} is not in the CRD schema (the API server would prune it)"
            assert_fits_schema(item, props[key], f"{path}.{key}")
