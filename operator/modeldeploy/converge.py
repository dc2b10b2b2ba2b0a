"""Apply the children that drifted: validated first, in dependency order, and only ever to objects this
ModelDeployment controls.

- Validation: the Deployment and the HPA may carry the user's free-form fields (tolerations, affinity,
  env, metrics), which only the API server fully validates. Such children are applied as a server-side
  dry run before anything is written, so a spec the API server refuses creates nothing and is reported
  as InvalidSpec naming the ModelDeployment's own field.
- Ownership: a child is created with a create-only apply, which the API server refuses atomically when
  an object of that name exists (kube.py). Only then is the name looked up: an object there that this
  ModelDeployment does not control is left as it is and the conflict is reported; one it controls that
  was missing from the cache (which holds only our labelled children) is updated instead. Every update
  names the uid of the child it means, and the API server refuses to change a uid, so an object
  re-created under the name by someone else is never taken over either.
- Dependencies: nothing is created that depends on a child that could not be written (no Deployment
  without its ConfigMap, no HPA or PDB without the Deployment): a child waits for the round after the
  create of what it depends on.
- Other writers: list items another writer added (or re-keyed) are removed by replacing that list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modeldeploy.api import CHILD_KINDS
from modeldeploy.config import OperatorConfig
from modeldeploy.drift import foreign_lists, holds_object, replacement_patch
from modeldeploy.fieldpaths import spec_field, typed_path_error
from modeldeploy.kube import ApiError, KubeClient
from modeldeploy.schemas import schema_of
from modeldeploy.spec import ModelDeploymentSpec, SpecError
from modeldeploy.store import controller_ref

Obj = Mapping[str, Any]

# Written one round after another: the pods mount the ConfigMap, and the NetworkPolicy guards them, so
# both go first. The HPA and PDB need not wait for a Deployment that exists already; one being created
# may turn out to be someone else's, so they then wait for its create (write_rounds).
# (Both, and which kinds are dry-run first, are the child-kind registry's: api.py.)
ROUNDS: tuple[tuple[str, ...], ...] = tuple(
    tuple(kind.kind for kind in CHILD_KINDS if kind.apply_round == number)
    for number in sorted({kind.apply_round for kind in CHILD_KINDS if kind.apply_round is not None})
)
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    kind.kind: kind.depends_on for kind in CHILD_KINDS if kind.depends_on
}
VALIDATED = tuple(kind.kind for kind in CHILD_KINDS if kind.dry_run)


def carries_unchecked_fields(kind: str, spec: ModelDeploymentSpec) -> bool:
    """Whether the child copies spec fields the operator passes on without validating them fully (core/v1
    and autoscaling/v2 structures): only those can make the API server refuse a child the operator's
    validator accepted (tests/integration/test_validation_dryrun.py checks the rest), so only such
    children are dry-run first."""
    if kind == "Deployment":
        return bool(spec.env or spec.placement.tolerations or spec.placement.affinity)
    if kind == "HorizontalPodAutoscaler":
        return bool(spec.autoscaling and spec.autoscaling.metrics)
    return False


@dataclass
class Converged:
    changed: list[str] = field(default_factory=list)
    applied: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    invalid: SpecError | None = None
    error: BaseException | None = None  # the first failed write; the rounds after it were not sent


def dependents(kind: str, wanted: Sequence[str]) -> list[str]:
    """The wanted kinds that depend on ``kind``, directly or not, in round order."""
    found: list[str] = []
    for round_kinds in ROUNDS:
        for other in round_kinds:
            if other in wanted and any(d == kind or d in found for d in DEPENDS_ON.get(other, ())):
                found.append(other)
    return found


def write_rounds(writable: Mapping[str, bool]) -> list[list[str]]:
    """The kinds to write (each mapped to whether it is created), round after round: in ROUNDS order,
    a kind not named there last, and a kind that depends on one created in the same round one round
    after it (until that create succeeds, its name may be someone else's)."""
    named = {kind for round_kinds in ROUNDS for kind in round_kinds}
    rounds: list[list[str]] = []
    for round_kinds in (*ROUNDS, tuple(kind for kind in writable if kind not in named)):
        now = [kind for kind in round_kinds if kind in writable]
        created = {kind for kind in now if writable[kind]}
        later = [kind for kind in now if created.intersection(DEPENDS_ON.get(kind, ()))]
        rounds += [group for group in ([k for k in now if k not in later], later) if group]
    return rounds


def conflict_message(obj: Obj, existing: Obj, wanted: Sequence[str]) -> str:
    meta = existing.get("metadata") or {}
    kind, name = obj["kind"], obj["metadata"]["name"]
    other = next((r for r in meta.get("ownerReferences") or () if r.get("controller") is True), None)
    if other is not None:
        # A ModelDeployment of the same name but another uid: an earlier one whose children are still
        # being garbage-collected.
        uid = f" (uid {other.get('uid')})" if other.get("kind") == "ModelDeployment" else ""
        holder = f"it is controlled by {other.get('kind')} {other.get('name')}{uid}"
    else:
        managers = sorted(
            {str(m.get("manager")) for m in meta.get("managedFields") or () if m.get("manager")}
        )
        holder = "it has no controller" + (f"; written by {', '.join(managers)}" if managers else "")
    skipped = dependents(kind, wanted)
    also = f", and creates no {' or '.join(skipped)} that would depend on it" if skipped else ""
    return (
        f"{kind} {name} already exists and this ModelDeployment does not control it ({holder}). "
        f"The operator leaves it untouched{also}. To resolve: delete or rename that {kind}, "
        "or give this ModelDeployment another name."
    )


def invalid_spec(obj: Obj, error: ApiError, spec: ModelDeploymentSpec, config: OperatorConfig) -> SpecError:
    kind = obj["kind"]
    cause = next((c for c in error.causes if c.get("field")), None)
    typed = typed_path_error(error.reason, obj)
    if cause is not None:
        child_field, problem = cause["field"], cause.get("message", error.reason)
    elif typed is not None:
        child_field, problem = typed
    else:
        return SpecError("spec", f"the API server refuses the {kind}: {error.reason}", "correct the spec")
    target = spec_field(kind, child_field, spec, config)
    return SpecError(
        target,
        f"the API server refuses the {kind}'s {child_field}: {problem}",
        f"correct {target}; the existing children are left as they are until then",
    )


def refused(error: ApiError) -> bool:
    """The API server refuses the object itself: invalid (422), or fields server-side apply cannot
    type, which it answers with a 500 ("failed to create typed patch object")."""
    if error.status == 422:
        return not error.uid_mismatch
    return error.status == 500 and "failed to create typed patch object" in error.reason


def _with_uid(obj: Obj, live: Obj | None) -> dict[str, Any]:
    """``obj`` naming the uid of the object it updates (none when it creates)."""
    if live is None:
        return dict(obj)
    return {**obj, "metadata": {**obj["metadata"], "uid": live["metadata"]["uid"]}}


async def _validate(
    drifted: Mapping[str, tuple[Obj, Obj | None]],
    client: KubeClient,
    spec: ModelDeploymentSpec,
    config: OperatorConfig,
) -> dict[str, SpecError]:
    """Dry-run the children that carry the user's free-form fields; what the API server refuses, by kind."""
    checks = [
        (obj, live)
        for kind, (obj, live) in drifted.items()
        if kind in VALIDATED and carries_unchecked_fields(kind, spec)
    ]
    # Create-only when creating: a refusal must come from the spec, never from another object's content.
    results = await asyncio.gather(
        *(client.apply(_with_uid(o, lv), dry_run=True, create_only=lv is None) for o, lv in checks),
        return_exceptions=True,
    )
    refusals = {}
    for (obj, _), result in zip(checks, results, strict=True):
        if isinstance(result, ApiError) and refused(result):
            refusals[obj["kind"]] = invalid_spec(obj, result, spec, config)
        elif isinstance(result, ApiError) and (result.uid_mismatch or result.name_taken):
            continue  # not the object the cache knew (or the name is taken): the write finds out
        elif isinstance(result, BaseException):
            raise result
    return refusals


@dataclass(frozen=True)
class Taken:
    """A child's name is held by an object this ModelDeployment does not control."""

    existing: Obj


async def _create(obj: Obj, md: Obj, client: KubeClient) -> tuple[str, dict[str, Any] | Taken]:
    """Create ``obj`` unless its name is taken; a taken name is looked up (the only read a create needs):
    ours (e.g. its labels were removed, so the cache missed it) is updated, anyone else's left alone."""
    try:
        return "Created", await client.apply(obj, create_only=True)
    except ApiError as error:
        if not error.name_taken:
            raise
    meta = obj["metadata"]
    existing = await client.get(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
    if existing is None:  # deleted again meanwhile
        return "Created", await client.apply(obj, create_only=True)
    if (controller_ref(existing) or {}).get("uid") != md["metadata"].get("uid"):
        return "Updated", Taken(existing)
    return "Updated", await _update(obj, existing, client)


async def _update(obj: Obj, live: Obj, client: KubeClient) -> dict[str, Any]:
    paths = foreign_lists(obj, live, schema_of(obj["apiVersion"], obj["kind"]))
    if paths:
        patched = await client.merge_patch(live, replacement_patch(obj, paths))
        if holds_object(obj, patched):
            return patched
    return await client.apply(_with_uid(obj, live))


async def _write(
    obj: Obj, live: Obj | None, md: Obj, client: KubeClient
) -> tuple[str, dict[str, Any] | Taken]:
    if live is None:
        return await _create(obj, md, client)
    return "Updated", await _update(obj, live, client)


async def converge(
    md: Obj,
    spec: ModelDeploymentSpec,
    desired: Sequence[Obj],
    children: Mapping[tuple[str, str], Obj],
    client: KubeClient,
    config: OperatorConfig,
) -> Converged:
    """Write what drifted; stops at the first failed round and reports it in ``error``."""
    drifted: dict[str, tuple[Obj, Obj | None]] = {}
    for obj in desired:
        live = children.get((obj["apiVersion"], obj["kind"]))
        if live is None or not holds_object(obj, live):
            drifted[obj["kind"]] = (obj, live)
    out = Converged()
    if not drifted:
        return out
    wanted = [obj["kind"] for obj in desired]
    refusals = await _validate(drifted, client, spec, config)
    out.invalid = next((refusals[k] for k in VALIDATED if k in refusals), None)
    if out.invalid is not None:
        return out
    blocked: set[str] = set()
    for round_kinds in write_rounds({kind: live is None for kind, (_, live) in drifted.items()}):
        group = [(kind, drifted[kind]) for kind in round_kinds if kind not in blocked]
        results = await asyncio.gather(
            *(_write(obj, live, md, client) for _, (obj, live) in group), return_exceptions=True
        )
        failures = []
        for (kind, (obj, _)), result in zip(group, results, strict=True):
            if isinstance(result, BaseException):
                failures.append(result)
                continue
            verb, written = result
            if isinstance(written, Taken):
                out.conflicts.append(conflict_message(obj, written.existing, wanted))
                blocked.update(dependents(kind, wanted))
                continue
            out.changed.append(f"{verb} {kind} {obj['metadata']['name']}")
            out.applied.append(written)
        if failures:
            out.error = failures[0]
            break
    return out
