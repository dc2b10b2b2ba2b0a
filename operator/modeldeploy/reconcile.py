"""One reconcile of one ModelDeployment, in named steps: observe -> plan -> apply and prune -> status ->
events.

Observe is the caller's: the operator's cache of the children and pods, and TF Serving's last answer.
The plan (plan.py) and the status (status.py) are pure; only `apply_plan`, `write_status` and
`send_events` talk to the API server, through the kube layer.

Level-based: it reads only the current ModelDeployment and the operator's cache of its children, so
running it twice in a row is the same as running it once, and the second run sends no writes.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modeldeploy import reasons
from modeldeploy.api import DEPLOYMENT, HORIZONTAL_POD_AUTOSCALER, SCALED_OBJECT
from modeldeploy.config import OperatorConfig
from modeldeploy.converge import converge
from modeldeploy.cost import hourly_cost
from modeldeploy.kube import ApiError, KubeClient
from modeldeploy.missing_api import missing_api_message
from modeldeploy.modelstatusapi import ModelState
from modeldeploy.plan import Children, Plan, plan_for
from modeldeploy.spec import SpecError
from modeldeploy.status import Observed, compute_status
from modeldeploy.statuspatch import status_changed


@dataclass
class Outcome:
    # applied | unchanged | invalid | conflict (a child's name is taken) | error | terminating (its
    # namespace is being deleted)
    result: str
    changed: list[str] = field(default_factory=list)
    status_written: bool = False
    status_deferred: bool = False
    # The API server's answers to our applies: the live objects right after the write.
    applied: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    phase: str | None = None
    written: dict[str, Any] | None = None  # the ModelDeployment as the status write left it


@dataclass
class Applied:
    """What applying a plan did: ``spec_error`` is the plan's, or the API server's refusal of a child in
    the dry run; ``apply_error`` a conflict or a failed write."""

    result: str = "unchanged"  # as Outcome.result
    changed: list[str] = field(default_factory=list)
    applied: list[dict[str, Any]] = field(default_factory=list)
    spec_error: SpecError | None = None
    apply_error: str | None = None
    apply_error_reason: str = reasons.APPLY_FAILED


async def reconcile(
    md: Mapping[str, Any],
    children: Children,
    config: OperatorConfig,
    client: KubeClient,
    now: datetime.datetime | None = None,
    model_state: ModelState | None = None,
) -> Outcome:
    """``model_state`` is TF Serving's last answer for this model (see modelstate), None when not asked."""
    planned = plan_for(md, config, children, model_state)
    applied = await apply_plan(md, planned, children, client, config)
    outcome = Outcome(result=applied.result, changed=applied.changed, applied=applied.applied)
    if applied.result == "terminating":
        return outcome  # its namespace is going away and takes the ModelDeployment with it
    if applied.result in ("conflict", "error"):
        outcome.error = applied.apply_error
    observed = status_input(planned, children, applied, config)
    status = compute_status(md, observed, now or datetime.datetime.now(datetime.UTC))
    outcome.phase = status.get("phase")
    if applied.result == "applied":
        # What was just applied is not in the cache yet, so this status would describe the children as
        # they were. Their watch events trigger the next reconcile, which writes status from what is
        # live; the caller also schedules a follow-up in case no event comes.
        outcome.status_deferred = True
    else:
        outcome.written = await write_status(md, status, client)
        outcome.status_written = outcome.written is not None
    await send_events(md, client, applied, md.get("status") or {}, status)
    return outcome


async def apply_plan(
    md: Mapping[str, Any], planned: Plan, children: Children, client: KubeClient, config: OperatorConfig
) -> Applied:
    """Apply what drifted (converge.py) and delete what the spec no longer wants. An invalid spec
    changes nothing: the last good children keep serving."""
    out = Applied(spec_error=planned.spec_error)
    if planned.spec is None:
        out.result = "invalid"
        return out
    try:
        converged = await converge(md, planned.spec, planned.apply, children.objects, client, config)
        out.changed += converged.changed
        out.applied += converged.applied
        if converged.error is not None:
            raise converged.error
        if converged.invalid is not None:
            out.spec_error = converged.invalid
            out.result = "invalid"
        elif converged.conflicts:
            out.apply_error = " ".join(converged.conflicts)
            out.apply_error_reason = reasons.OWNERSHIP_CONFLICT
            out.result = "conflict"
        for gone in planned.delete:
            meta = gone["metadata"]
            await client.delete(
                gone["apiVersion"], gone["kind"], meta["namespace"], meta["name"], meta["uid"]
            )
            out.changed.append(f"Deleted {gone['kind']} {meta['name']}")
    except ApiError as error:
        if error.namespace_terminating:
            out.result = "terminating"
            return out
        out.apply_error = missing_api_message(error.status, error.path, error.reason) or str(error)
        out.result = "error"
    else:
        if out.result == "unchanged":
            out.result = "applied" if out.changed else "unchanged"
    return out


def status_input(planned: Plan, children: Children, applied: Applied, config: OperatorConfig) -> Observed:
    """What the status is computed from: the plan, the observed children and what applying did."""
    deployment = children.objects.get(DEPLOYMENT.key)
    ready = int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)
    spec, spec_error = planned.spec, applied.spec_error
    return Observed(
        deployment=deployment,
        pods=list(children.pods),
        spec_error=spec_error.message_with_fix() if spec_error else None,
        spec_error_field=spec_error.field if spec_error else None,
        apply_error=applied.apply_error,
        apply_error_reason=applied.apply_error_reason,
        model_name=planned.model_name,
        gpu_summary=planned.gpu_summary,
        wants_replicas=planned.wants_replicas,
        cost=hourly_cost(config.pricing, spec.resources, ready) if spec else None,
        autoscaled=planned.autoscaled,
        keda=planned.keda,
        autoscaler=children.keda_autoscaler
        if planned.keda
        else children.objects.get(HORIZONTAL_POD_AUTOSCALER.key),
        scaled_object=children.objects.get(SCALED_OBJECT.key),
        model_versions=planned.model.versions,
        model_labels=planned.model.labels,
        model_status_error=planned.model.error,
        expected_versions=planned.model.expected_versions,
    )


async def write_status(
    md: Mapping[str, Any], status: Mapping[str, Any], client: KubeClient
) -> dict[str, Any] | None:
    """Apply ``status`` when it changes something a user sees; the ModelDeployment as written, or None."""
    if not status_changed(md.get("status") or {}, status):
        return None
    meta = md["metadata"]
    return await client.apply_status(meta["namespace"], meta["name"], status)


async def send_events(
    md: Mapping[str, Any],
    client: KubeClient,
    applied: Applied,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
) -> None:
    """A Normal Event for what changed; one Warning per new problem, not one per retry (the Degraded
    condition holds it meanwhile)."""
    if applied.changed:
        verbs = {change.split(" ", 1)[0] for change in applied.changed}
        reason = verbs.pop() if len(verbs) == 1 else "Updated"
        await client.create_event(md, "Normal", reason, "; ".join(applied.changed))
    if _degraded_message(old) != _degraded_message(new):
        if applied.spec_error is not None:
            await client.create_event(md, "Warning", reasons.INVALID_SPEC, str(applied.spec_error))
        elif applied.apply_error is not None:
            await client.create_event(md, "Warning", applied.apply_error_reason, applied.apply_error)


def _degraded_message(status: Mapping[str, Any]) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Degraded" and condition.get("status") == "True":
            return str(condition.get("message"))
    return None
