"""One reconcile of one ModelDeployment: spec -> desired children -> apply what drifted -> status.

Level-based: it reads only the current ModelDeployment and the operator's cache of its children, so
running it twice in a row is the same as running it once, and the second run sends no writes.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modeldeploy import reasons
from modeldeploy.config import OperatorConfig
from modeldeploy.desired import build_children
from modeldeploy.drift import holds
from modeldeploy.kube import MD_API_VERSION, MD_KIND, ApiError, KubeClient
from modeldeploy.spec import ModelDeploymentSpec, SpecError, parse_spec
from modeldeploy.status import Observed, compute_status, status_changed

ChildKey = tuple[str, str]  # (apiVersion, kind)

# Children that exist only for some specs; when the spec stops wanting one, it is deleted.
OPTIONAL_KINDS: tuple[ChildKey, ...] = (
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
)


@dataclass(frozen=True)
class Children:
    """The operator's cached view of one ModelDeployment's children."""

    objects: Mapping[ChildKey, Mapping[str, Any]] = field(default_factory=dict)
    pods: Sequence[Mapping[str, Any]] = ()


@dataclass
class Outcome:
    result: str  # applied | unchanged | invalid | error
    changed: list[str] = field(default_factory=list)
    status_written: bool = False
    error: str | None = None
    phase: str | None = None


def owner_reference(md: Mapping[str, Any]) -> dict[str, Any]:
    meta = md["metadata"]
    return {
        "apiVersion": MD_API_VERSION,
        "kind": MD_KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def with_owner(obj: Mapping[str, Any], md: Mapping[str, Any]) -> dict[str, Any]:
    owned = dict(obj)
    owned["metadata"] = {**obj["metadata"], "ownerReferences": [owner_reference(md)]}
    return owned


def is_owned_by(obj: Mapping[str, Any], md: Mapping[str, Any]) -> bool:
    uid = md["metadata"].get("uid")
    return any(ref.get("uid") == uid for ref in obj.get("metadata", {}).get("ownerReferences") or [])


def desired_for(
    md: Mapping[str, Any], config: OperatorConfig
) -> tuple[ModelDeploymentSpec | None, list[dict[str, Any]], SpecError | None]:
    meta = md["metadata"]
    try:
        spec = parse_spec(meta["name"], meta["namespace"], md.get("spec") or {}, config)
    except SpecError as error:
        return None, [], error
    return spec, [with_owner(obj, md) for obj in build_children(spec, config)], None


async def reconcile(
    md: Mapping[str, Any],
    children: Children,
    config: OperatorConfig,
    client: KubeClient,
    now: datetime.datetime | None = None,
) -> Outcome:
    started = time.monotonic()
    del started  # timing is measured by the caller, which also logs it
    meta = md["metadata"]
    spec, desired, spec_error = desired_for(md, config)
    outcome = Outcome(result="unchanged")
    apply_error: str | None = None

    if spec_error is not None:
        # Keep the last good children serving: an invalid spec changes nothing but the status.
        outcome.result = "invalid"
    else:
        wanted = {(obj["apiVersion"], obj["kind"]) for obj in desired}
        try:
            for obj in desired:
                key = (obj["apiVersion"], obj["kind"])
                live = children.objects.get(key)
                if live is not None and holds(obj, live):
                    continue
                await client.apply(obj)
                verb = "Created" if live is None else "Updated"
                outcome.changed.append(f"{verb} {obj['kind']} {obj['metadata']['name']}")
            for key in OPTIONAL_KINDS:
                live = children.objects.get(key)
                if key not in wanted and live is not None and is_owned_by(live, md):
                    live_meta = live["metadata"]
                    await client.delete(
                        key[0], key[1], live_meta["namespace"], live_meta["name"], live_meta["uid"]
                    )
                    outcome.changed.append(f"Deleted {key[1]} {live_meta['name']}")
        except ApiError as error:
            apply_error = str(error)
            outcome.result = "error"
            outcome.error = apply_error
        else:
            outcome.result = "applied" if outcome.changed else "unchanged"

    observed = Observed(
        deployment=children.objects.get(("apps/v1", "Deployment")),
        pods=list(children.pods),
        spec_error=spec_error.message_with_fix() if spec_error else None,
        spec_error_field=spec_error.field if spec_error else None,
        apply_error=apply_error,
        model_name=spec.model.name
        if spec
        else (md.get("spec", {}).get("model", {}) or {}).get("name") or meta["name"],
        gpu_summary=spec.gpu_summary() if spec else None,
        wants_replicas=spec.wanted_replicas() if spec else 0,
    )
    status = compute_status(md, observed, now or datetime.datetime.now(datetime.UTC))
    outcome.phase = status.get("phase")
    old_status = md.get("status") or {}
    if status_changed(old_status, status):
        await client.apply_status(meta["namespace"], meta["name"], status)
        outcome.status_written = True

    for change in outcome.changed:
        await client.create_event(md, "Normal", change.split(" ", 1)[0], change)
    if spec_error is not None and _degraded_message(old_status) != _degraded_message(status):
        await client.create_event(md, "Warning", reasons.INVALID_SPEC, str(spec_error))
    if apply_error is not None:
        await client.create_event(md, "Warning", reasons.APPLY_FAILED, apply_error)
    return outcome


def _degraded_message(status: Mapping[str, Any]) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Degraded" and condition.get("status") == "True":
            return str(condition.get("message"))
    return None
