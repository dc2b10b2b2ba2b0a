"""The status conditions Ready, Available, Progressing, Degraded, Reconciling and Stalled, and the phase.

Pure: from the observations, the rollout and the pod diagnosis; ``stamp`` keeps a condition's
lastTransitionTime while its status is unchanged. (ModelLoaded: modelloaded.py; Autoscaling:
autoscaling_status.py.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modeldeploy import reasons
from modeldeploy.messages import CONDITION_MESSAGE_MAX, bounded
from modeldeploy.objects import integer, mapping
from modeldeploy.observed import Observed
from modeldeploy.poddiagnosis import SELF_HEALING, Problem, live_pods, loading_pods, scheduled
from modeldeploy.reasons import ConditionType, Phase
from modeldeploy.rollout import Rollout


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool | None  # None: Unknown
    reason: str
    message: str


@dataclass(frozen=True)
class Facts:
    """What the Ready and Available conditions are computed from."""

    o: Observed
    r: Rollout
    wanted: int  # replicas wanted now
    current: int  # ready replicas on the current pod template, at most `wanted`
    problem: Problem | None
    model: str
    generation: int
    spec: Mapping[str, Any]


def ready_condition(f: Facts, model_loaded: Condition | None, degraded: Condition) -> Condition:
    t = ConditionType.READY
    o, r, wanted, current, model, generation = f.o, f.r, f.wanted, f.current, f.model, f.generation
    if o.spec_error is not None or o.apply_error is not None:
        if o.spec_error is not None:
            reason, why = reasons.INVALID_SPEC, f"the spec is invalid: {_spec_error(o)}."
        else:
            reason, why = o.apply_error_reason, f"applying the children failed: {o.apply_error}."
        if not r.exists:
            serving = " Nothing is deployed."
        elif r.available:
            serving = " The previous spec still serves (see Available)."
        else:
            serving = " No replica of the previous spec is available either."
        return Condition(t, False, reason, f"Generation {generation} is not in effect: {why}{serving}")
    if not (r.complete(wanted) and current >= wanted):
        reason, message = _not_ready(f)
        return Condition(t, False, reason, message)
    if degraded.status:  # e.g. TF Serving failed to load a version the spec names
        return Condition(t, False, degraded.reason, degraded.message)
    if model_loaded is not None and model_loaded.status is False and spec_not_served(o):
        return Condition(t, False, model_loaded.reason, model_loaded.message)
    if wanted == 0:
        message = "Scaled to zero: no TF Serving pod runs. Set spec.replicas above 0 to serve the model."
        if o.keda:
            message = "Scaled to zero by KEDA: no TF Serving pod runs until the request rate wakes it."
        return Condition(t, True, reasons.SCALED_TO_ZERO, message)
    message = f"{current}/{wanted} replicas serve model {model} and run generation {generation}."
    return Condition(t, True, reasons.MINIMUM_REPLICAS_AVAILABLE, message)


def _not_ready(f: Facts) -> tuple[str, str]:
    o, r, wanted, problem, model = f.o, f.r, f.wanted, f.problem, f.model
    if not r.exists:
        return _no_children(o, model)
    if problem is not None:
        return problem.reason, problem.message
    if r.failure_message:
        return reasons.FAILED_CREATE, f"Pods cannot be created: {r.failure_message}"
    if r.deadline_message:
        return reasons.PROGRESS_DEADLINE_EXCEEDED, f"The rollout stopped progressing: {r.deadline_message}"
    if not r.synced:
        return reasons.REPLICA_SET_UPDATING, "Waiting for the Deployment controller to pick up the new spec."
    loading = loading_pods(o.pods)
    if loading:
        return reasons.MODEL_LOADING, (
            f"TF Serving is loading model {model}; a pod is ready once GET /v1/models/{model} reports a "
            "version AVAILABLE (READY counts the ready ones)."
        )
    if r.updated < wanted or r.replicas != r.updated:
        return reasons.ROLLOUT_IN_PROGRESS, _ROLLING_OUT.format(wanted=wanted)
    if r.replicas > wanted:
        return reasons.SCALING_DOWN, f"Scaling down to {wanted} replica(s); the extra pods are stopping."
    return (
        reasons.REPLICAS_UNAVAILABLE,
        f"Waiting for {wanted} replica(s) to become ready (READY counts them).",
    )


def spec_not_served(o: Observed) -> bool:
    """TF Serving does not serve yet what the spec names: a version label waits for its version, or a
    version listed in versionPolicy.specific is not AVAILABLE. (That no version at all is AVAILABLE cannot
    hold with ready pods, whose readiness probe asks exactly that; ModelLoaded reports it on its own.)"""
    states = {integer(v.get("version")): v.get("state") for v in o.model_versions or ()}
    waiting = any(label.get("state") != "AVAILABLE" for label in o.model_labels or ())
    return waiting or any(states.get(n) != "AVAILABLE" for n in o.expected_versions)


def _no_children(o: Observed, model: str) -> tuple[str, str]:
    if o.spec_error is not None:
        return reasons.INVALID_SPEC, f"Nothing is deployed because the spec is invalid: {_spec_error(o)}"
    if o.apply_error is not None:
        return o.apply_error_reason, f"Nothing is deployed yet: applying the children failed: {o.apply_error}"
    return reasons.RECONCILING, f"Creating the Deployment that serves model {model}."


def available_condition(f: Facts) -> Condition:
    t = ConditionType.AVAILABLE
    o, r, wanted, current, problem, model = f.o, f.r, f.wanted, f.current, f.problem, f.model
    if not r.exists:
        return Condition(t, False, *_no_children(o, model))
    if wanted == 0:
        message = "No replica is wanted (spec.replicas is 0), so the model does not serve requests."
        if o.keda:
            message = "KEDA scaled the model to zero replicas; requests fail until it brings one back."
        return Condition(t, False, reasons.SCALED_TO_ZERO, message)
    floor, why = _minimum_available(f.spec, wanted, o.spec_error is not None)
    # No running counts here (READY, status.replicas and readyReplicas have them): a message that changes
    # with every pod would make a status write, and a `kubectl get -w` row, per pod.
    if r.available >= floor:
        older = " Some of them run an earlier spec while a rollout goes on." if r.available > current else ""
        message = f"At least {floor} of {wanted} wanted replica(s) serve ({why}).{older}"
        return Condition(t, True, reasons.MINIMUM_REPLICAS_AVAILABLE, message)
    message = f"Fewer than {floor} of {wanted} wanted replica(s) serve ({why})."
    message += f" {problem.message}" if problem else ""
    return Condition(t, False, reasons.REPLICAS_UNAVAILABLE, message)


def _minimum_available(spec: Mapping[str, Any], wanted: int, invalid: bool) -> tuple[int, str]:
    """How many replicas must serve for the model to count as available, and where that number comes from.

    Autoscaled: spec.autoscaling.minReplicas, the least the user said the model needs. Otherwise the
    disruption budget's floor: one replica may be missing when more than one is wanted.
    """
    autoscaling = spec.get("autoscaling")
    if isinstance(autoscaling, Mapping) and not invalid:
        least = max(1, min(integer(autoscaling.get("minReplicas")) or 1, wanted))
        return least, "spec.autoscaling.minReplicas"
    if wanted > 1:
        return wanted - 1, "the PodDisruptionBudget allows one replica to be missing"
    return wanted, "a single replica is wanted"


def progressing_condition(
    o: Observed, r: Rollout, wanted: int, problem: Problem | None, name: str
) -> Condition:
    t = ConditionType.PROGRESSING
    if o.spec_error is not None:
        return Condition(t, False, reasons.INVALID_SPEC, f"Rollout stopped; invalid spec: {_spec_error(o)}")
    if o.apply_error is not None:
        return Condition(t, False, o.apply_error_reason, f"Rollout stopped; apply failed: {o.apply_error}")
    if not r.exists:
        return Condition(t, True, reasons.RECONCILING, f"Creating Deployment {name}.")
    if r.deadline_message:
        cause = f" Cause: {problem.message}" if problem else ""
        message = f"Deployment {name}: {r.deadline_message}{cause}"
        return Condition(t, False, reasons.PROGRESS_DEADLINE_EXCEEDED, message)
    if r.complete(wanted):
        message = f"Deployment {name} has completed its rollout: {wanted} replica(s) run the applied spec."
        return Condition(t, True, reasons.NEW_REPLICA_SET_AVAILABLE, message)
    if not r.synced:
        message = "Waiting for the Deployment controller to pick up the new spec."
        return Condition(t, True, reasons.REPLICA_SET_UPDATING, message)
    return Condition(t, True, reasons.ROLLOUT_IN_PROGRESS, _ROLLING_OUT.format(wanted=wanted))


def degraded_condition(
    o: Observed, r: Rollout, problem: Problem | None, model: str, spec: Mapping[str, Any], namespace: str
) -> Condition:
    t = ConditionType.DEGRADED
    if o.spec_error is not None:
        keep = "The running pods keep the last valid spec" if r.exists else "Nothing is deployed"
        message = f"Invalid spec: {_spec_error(o)}. {keep} until the spec is fixed."
        return Condition(t, True, reasons.INVALID_SPEC, message)
    if o.apply_error is not None and o.apply_error_reason != reasons.APPLY_FAILED:
        return Condition(t, True, o.apply_error_reason, o.apply_error)
    if o.apply_error is not None:
        message = f"Applying the children failed: {o.apply_error}. The operator retries; see its events."
        return Condition(t, True, reasons.APPLY_FAILED, message)
    if r.failure_message:
        message = (
            f"Pods cannot be created: {r.failure_message}. Check the ResourceQuota, LimitRange and Pod "
            f"Security admission of namespace {namespace}."
        )
        return Condition(t, True, reasons.FAILED_CREATE, message)
    if r.deadline_message:
        cause = f" Cause: {problem.message}" if problem else ""
        message = f"The rollout made no progress within the deadline: {r.deadline_message}{cause}"
        return Condition(t, True, reasons.PROGRESS_DEADLINE_EXCEEDED, message)
    if problem is not None and problem.reason not in SELF_HEALING:
        return Condition(t, True, problem.reason, problem.message)
    failed = [v for v in o.model_versions or () if v.get("error")]
    if failed:
        uri = mapping(spec.get("model")).get("uri", "the model uri")
        version = failed[0]
        message = (
            f"TF Serving failed to load model {model} version {version.get('version')}: "
            f"{version.get('error')}. Check the files under {uri}/{version.get('version')}."
        )
        return Condition(t, True, reasons.MODEL_LOAD_FAILED, message)
    return Condition(t, False, reasons.AS_EXPECTED, "No problem detected.")


def kstatus_pair(ready: Condition, degraded: Condition) -> tuple[Condition, Condition]:
    """Reconciling and Stalled, so that kstatus (and Flux, kpt) read Current, InProgress or Failed.

    kstatus reads Reconciling=True as InProgress and Stalled=True as Failed before it looks at Ready
    (cli-utils pkg/kstatus/status/generic.go, checkGenericProperties), so exactly one of Ready, Reconciling
    and Stalled is True: Stalled when a human must act (Degraded), else Reconciling until Ready.
    """
    if degraded.status:
        reconciling = Condition(
            ConditionType.RECONCILING, False, degraded.reason, "Stopped: a fix is needed (see Stalled)."
        )
        return reconciling, Condition(ConditionType.STALLED, True, degraded.reason, degraded.message)
    stalled = Condition(ConditionType.STALLED, False, reasons.AS_EXPECTED, "Nothing blocks the reconcile.")
    if ready.status:
        message = "The latest generation is in effect."
        return Condition(ConditionType.RECONCILING, False, reasons.AS_EXPECTED, message), stalled
    return Condition(ConditionType.RECONCILING, True, ready.reason, ready.message), stalled


_ROLLING_OUT = (
    "Rolling out: new pods replace the old ones one at a time, no ready replica is removed before its "
    "replacement is ready; READY counts the replaced ones of {wanted}."
)


def phase_of(o: Observed, r: Rollout, conditions: Sequence[Condition]) -> str:
    by_type = {c.type: c for c in conditions}
    if o.spec_error is not None and not r.exists:
        return Phase.FAILED
    if by_type[ConditionType.DEGRADED].status:
        return Phase.DEGRADED
    if by_type[ConditionType.READY].status:
        return Phase.READY
    # Something moves: replicas serve while others roll out, or pods are placed and starting.
    if r.ready > 0 or any(scheduled(p) for p in live_pods(o.pods)):
        return Phase.PROGRESSING
    return Phase.PENDING


def stamp(conditions: Sequence[Condition], old: Any, generation: int, now: datetime) -> list[dict[str, Any]]:
    """Conditions in API form; lastTransitionTime changes only when the status does."""
    previous = {c.get("type"): c for c in old if isinstance(c, Mapping)} if isinstance(old, Sequence) else {}
    stamp = _rfc3339(now)
    result = []
    for c in conditions:
        status = "Unknown" if c.status is None else "True" if c.status else "False"
        before = previous.get(c.type)
        unchanged = before is not None and before.get("status") == status and before.get("lastTransitionTime")
        result.append(
            {
                "type": c.type,
                "status": status,
                "reason": c.reason,
                "message": bounded(c.message, CONDITION_MESSAGE_MAX),  # over the limit, the write fails
                "lastTransitionTime": str(before["lastTransitionTime"]) if unchanged and before else stamp,
                "observedGeneration": generation,
            }
        )
    return result


def _spec_error(o: Observed) -> str:
    text = (o.spec_error or "").rstrip(".")
    if o.spec_error_field and not text.startswith(o.spec_error_field):
        return f"{o.spec_error_field}: {text}"
    return text


def _rfc3339(moment: datetime) -> str:
    # A naive datetime is taken as UTC (astimezone would read it as local time).
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
