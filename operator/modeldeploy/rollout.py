"""The Deployment's rollout, reduced to what the status conditions need."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modeldeploy import reasons
from modeldeploy.desired.labels import TEMPLATE_IDENTITY_ANNOTATIONS
from modeldeploy.objects import integer, mapping
from modeldeploy.poddiagnosis import live_pods, pod_condition


@dataclass(frozen=True)
class Rollout:
    """The Deployment's status, reduced to what the conditions need."""

    exists: bool
    replicas: int = 0
    ready: int = 0
    updated: int = 0
    available: int = 0
    synced: bool = False  # the Deployment controller has seen the Deployment's latest spec
    deadline_message: str | None = None  # Progressing=False, ProgressDeadlineExceeded
    failure_message: str | None = None  # ReplicaFailure=True (quota, admission)
    template: Mapping[str, Any] | None = None  # the pod template's metadata (labels, annotations)

    def complete(self, wanted: int) -> bool:
        return (
            self.exists
            and self.synced
            and self.updated == wanted
            and self.replicas == wanted
            and self.available >= wanted
        )


def rollout_of(deployment: Mapping[str, Any] | None) -> Rollout:
    if deployment is None:
        return Rollout(exists=False)
    status = mapping(deployment.get("status"))
    conditions = [c for c in status.get("conditions") or () if isinstance(c, Mapping)]
    deadline = next(
        (
            c
            for c in conditions
            if c.get("type") == "Progressing"
            and c.get("status") == "False"
            and c.get("reason") == reasons.PROGRESS_DEADLINE_EXCEEDED
        ),
        None,
    )
    failure = next(
        (c for c in conditions if c.get("type") == "ReplicaFailure" and c.get("status") == "True"), None
    )
    generation = integer(mapping(deployment.get("metadata")).get("generation"))
    return Rollout(
        exists=True,
        replicas=integer(status.get("replicas")),
        ready=integer(status.get("readyReplicas")),
        updated=integer(status.get("updatedReplicas")),
        available=integer(status.get("availableReplicas")),
        synced=integer(status.get("observedGeneration")) >= generation,
        deadline_message=str(deadline.get("message") or "progress deadline exceeded") if deadline else None,
        failure_message=str(failure.get("message") or failure.get("reason") or "") if failure else None,
        template=mapping(mapping(mapping(deployment.get("spec")).get("template")).get("metadata")),
    )


def current_ready(r: Rollout, pods: Sequence[Mapping[str, Any]]) -> int:
    """Ready replicas that run the Deployment's current pod template (the READY column's numerator).

    Once the Deployment controller has seen the template and no old pod is left, that is its readyReplicas.
    During a rollout, ready pods whose template identity annotations match the template's are counted.
    """
    if not r.exists:
        return 0
    if r.synced and r.replicas == r.updated:
        return r.ready
    annotations = mapping(mapping(r.template).get("annotations"))
    want = {key: annotations.get(key) for key in TEMPLATE_IDENTITY_ANNOTATIONS}
    return sum(
        1
        for p in live_pods(pods)
        if pod_condition(p, "Ready")
        and all(mapping(mapping(p.get("metadata")).get("annotations")).get(k) == v for k, v in want.items())
    )
