"""ModelDeployment status, computed from what the operator observed.

Pure: no API calls and no clock reads (``now`` is an argument), so the same inputs always give the same
status. Conditions keep their ``lastTransitionTime`` while their status is unchanged, which makes a
recomputation with nothing new equal to the stored status: the operator then skips the patch.

Who says what (docs: README.md "Status"):
- Ready: the latest generation is in effect: the spec is valid and applied, every wanted replica is ready
  and runs it, and TF Serving (when asked) serves what it names. False, with the reason, whenever not:
  an invalid spec, a rollout, unschedulable pods. The previous spec may well still serve: see Available.
- Available: at least the minimum replicas serve requests, whatever spec they run.
- Progressing: the Deployment convention: True while the rollout moves and after it completed
  (NewReplicaSetAvailable); False when it cannot move (invalid spec, apply failure, deadline).
- Degraded: something needs a human fix; the message names the field and the fix.
- Reconciling / Stalled: kstatus' "abnormal-true" pair (sigs.k8s.io/cli-utils pkg/kstatus/status, read
  by Flux and kpt). Reconciling is True while the operator works towards the latest generation and can
  still get there; Stalled is True, with Degraded's reason, when it cannot without a fix. With
  observedGeneration and Ready, kstatus then reads Current, InProgress or Failed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modeldeploy import reasons
from modeldeploy.api import GRPC_PORT, HTTP_PORT, SELECTOR_LABEL
from modeldeploy.autoscaling_status import scaling_state
from modeldeploy.desired.labels import TEMPLATE_IDENTITY_ANNOTATIONS
from modeldeploy.messages import CONDITION_MESSAGE_MAX, bounded
from modeldeploy.reasons import ConditionType, Phase

# The status keys compute_status writes; anything else under status (e.g. Kopf's own bookkeeping) is not ours.
OWNED_KEYS = frozenset(
    {
        "observedGeneration",
        "phase",
        "replicas",
        "readyReplicas",
        "updatedReplicas",
        "ready",
        "selector",
        "gpu",
        "endpoints",
        "model",
        "cost",
        "autoscaler",
        "conditions",
    }
)

_IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
_CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})
# "Insufficient nvidia.com/gpu", also other vendors' resource names (amd.com/gpu, gpu.intel.com/i915 aside).
_INSUFFICIENT_GPU = re.compile(r"Insufficient [\w.-]*/?[\w.-]*gpu")
_NODE_SELECTOR_MISMATCH = "didn't match Pod's node affinity/selector"
# Most specific (and most needing a fix) first: the summary reports one cause, not a list.
_PROBLEM_PRIORITY = (
    reasons.CONTAINER_CONFIG_ERROR,
    reasons.IMAGE_PULL_FAILED,
    reasons.MODEL_DOWNLOAD_FAILED,
    reasons.CRASH_LOOP_BACK_OFF,
    reasons.NO_MATCHING_GPU_NODE,
    reasons.INSUFFICIENT_GPU,
    reasons.UNSCHEDULABLE,
)
# Scheduling may resolve itself (a cluster autoscaler adds a node); it degrades only after the deadline.
_SELF_HEALING = frozenset({reasons.NO_MATCHING_GPU_NODE, reasons.INSUFFICIENT_GPU, reasons.UNSCHEDULABLE})


@dataclass(frozen=True)
class Observed:
    """What the operator saw for one ModelDeployment during a reconcile.

    ``wants_replicas`` is the replica count the spec asks for; when the spec is autoscaled (or invalid) the
    live Deployment's ``spec.replicas`` is used instead, because the HPA (or the last valid spec) owns it.
    """

    deployment: Mapping[str, Any] | None
    pods: Sequence[Mapping[str, Any]] = ()
    spec_error: str | None = None
    spec_error_field: str | None = None
    apply_error: str | None = None
    apply_error_reason: str = reasons.APPLY_FAILED  # or OwnershipConflict, whose message says it all
    model_name: str = ""  # empty: metadata.name (the spec's default)
    gpu_summary: str | None = None
    wants_replicas: int = 1
    # From TF Serving's model status API (see modelstate); None means "not asked", and the status leaves
    # the field (and the ModelLoaded condition) out. Entries: {version, state, labels?, error?}.
    model_versions: Sequence[Mapping[str, Any]] | None = None
    # One entry per spec.model.versionLabels label: {name, version, state, appliedVersion?}.
    model_labels: Sequence[Mapping[str, Any]] | None = None
    model_status_error: str | None = None  # why TF Serving could not be asked (ModelLoaded Unknown)
    expected_versions: Sequence[int] = ()  # versionPolicy.specific: each must become AVAILABLE
    cost: Mapping[str, str] | None = None
    # The autoscaler, when the applied spec has spec.autoscaling: the HPA scaling the Deployment (ours, or
    # KEDA's) and, with KEDA, the ScaledObject. ``autoscaled`` False leaves the Autoscaling condition out.
    autoscaled: bool = False
    keda: bool = False
    autoscaler: Mapping[str, Any] | None = None
    scaled_object: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class _Condition:
    type: str
    status: bool | None  # None: Unknown
    reason: str
    message: str


@dataclass(frozen=True)
class _Problem:
    reason: str
    message: str


@dataclass(frozen=True)
class _Rollout:
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


@dataclass(frozen=True)
class _Facts:
    """What the Ready and Available conditions are computed from."""

    o: Observed
    r: _Rollout
    wanted: int  # replicas wanted now
    current: int  # ready replicas on the current pod template, at most `wanted`
    problem: _Problem | None
    model: str
    generation: int
    spec: Mapping[str, Any]


def compute_status(md: Mapping[str, Any], observed: Observed, now: datetime) -> dict[str, Any]:
    """The full ``status`` of ``md`` from the observed children; ``now`` stamps changed conditions only."""
    meta = _map(md.get("metadata"))
    name = str(meta.get("name", ""))
    namespace = str(meta.get("namespace", "default"))
    generation = _int(meta.get("generation"))
    model = observed.model_name or name
    rollout = _rollout(observed.deployment)
    wanted = _wanted_replicas(md, observed)
    spec = _map(md.get("spec"))
    problem = _pod_problem(observed.pods, spec)
    current = min(_current_ready(rollout, observed.pods), wanted)
    model_loaded = _model_loaded(observed, model, str(_map(spec.get("model")).get("uri") or "spec.model.uri"))
    degraded = _degraded(observed, rollout, problem, model, spec, namespace)
    facts = _Facts(observed, rollout, wanted, current, problem, model, generation, spec)
    ready = _ready(facts, model_loaded, degraded)
    conditions = [
        ready,
        _available(facts),
        _progressing(observed, rollout, wanted, problem, name),
        degraded,
        *_kstatus_pair(ready, degraded),
    ]
    if model_loaded is not None:
        conditions.append(model_loaded)
    scaling = None
    if observed.autoscaled:
        scaling = scaling_state(name, observed.autoscaler, observed.scaled_object, observed.keda)
        conditions.append(
            _Condition(ConditionType.AUTOSCALING, scaling.status, scaling.reason, scaling.message)
        )
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": _phase(observed, rollout, conditions),
        "replicas": rollout.replicas,
        "readyReplicas": rollout.ready,
        "updatedReplicas": rollout.updated,
        "ready": f"{current}/{wanted}",
        "selector": f"{SELECTOR_LABEL}={name}",
    }
    if observed.gpu_summary:
        status["gpu"] = observed.gpu_summary
    if status["phase"] != Phase.FAILED:
        host = f"{name}.{namespace}.svc"
        status["endpoints"] = {
            "grpc": f"{host}:{GRPC_PORT}",
            "rest": f"http://{host}:{HTTP_PORT}/v1/models/{model}",
        }
    status["model"] = {"name": model}
    if observed.model_versions is not None:
        status["model"]["versions"] = [_plain(v) for v in observed.model_versions]
    if observed.model_labels is not None:
        status["model"]["labels"] = [_plain(v) for v in observed.model_labels]
    if observed.cost is not None:
        status["cost"] = dict(observed.cost)
    if scaling is not None and scaling.summary is not None:
        status["autoscaler"] = scaling.summary
    old_conditions = _map(md.get("status")).get("conditions")
    status["conditions"] = _stamp(conditions, old_conditions, generation, now)
    return status


# Raw counts copied from the Deployment. They change with every pod during a rollout; on their own they
# do not justify a write (each write is a `kubectl get -w` row with nothing new to see). They are refreshed
# with every write that something a user sees (a column, a condition) causes.
RIDE_ALONG_KEYS = frozenset({"replicas", "readyReplicas", "updatedReplicas"})


def status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether ``new`` changes something a user sees in the stored status: a printer column, a condition,
    the observed generation, endpoints, model state or cost (keys we do not own are ignored)."""
    return bool(status_patch(old, new).keys() - RIDE_ALONG_KEYS)


def status_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) turning ``old`` into ``new``; ``{}`` when nothing changed.

    Owned keys that disappeared (e.g. ``gpu`` after the GPU was removed) become ``None`` so that the
    merge patch deletes them; keys we do not own are left alone.
    """
    owned_old = {k: v for k, v in (old or {}).items() if k in OWNED_KEYS}
    return _merge_patch(owned_old, new)


def _merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            sub = _merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif key not in old or _plain(before) != _plain(value):
            patch[key] = _plain(value)
    patch.update({key: None for key in old if key not in new})
    return patch


def _ready(f: _Facts, model_loaded: _Condition | None, degraded: _Condition) -> _Condition:
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
        return _Condition(t, False, reason, f"Generation {generation} is not in effect: {why}{serving}")
    if not (r.complete(wanted) and current >= wanted):
        reason, message = _not_ready(f)
        return _Condition(t, False, reason, message)
    if degraded.status:  # e.g. TF Serving failed to load a version the spec names
        return _Condition(t, False, degraded.reason, degraded.message)
    if model_loaded is not None and model_loaded.status is False and _spec_not_served(o):
        return _Condition(t, False, model_loaded.reason, model_loaded.message)
    if wanted == 0:
        message = "Scaled to zero: no TF Serving pod runs. Set spec.replicas above 0 to serve the model."
        if o.keda:
            message = "Scaled to zero by KEDA: no TF Serving pod runs until the request rate wakes it."
        return _Condition(t, True, reasons.SCALED_TO_ZERO, message)
    message = f"{current}/{wanted} replicas serve model {model} and run generation {generation}."
    return _Condition(t, True, reasons.MINIMUM_REPLICAS_AVAILABLE, message)


def _not_ready(f: _Facts) -> tuple[str, str]:
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
    loading = _loading_pods(o.pods)
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


def _spec_not_served(o: Observed) -> bool:
    """TF Serving does not serve yet what the spec names: a version label waits for its version, or a
    version listed in versionPolicy.specific is not AVAILABLE. (That no version at all is AVAILABLE cannot
    hold with ready pods, whose readiness probe asks exactly that; ModelLoaded reports it on its own.)"""
    states = {_int(v.get("version")): v.get("state") for v in o.model_versions or ()}
    waiting = any(label.get("state") != "AVAILABLE" for label in o.model_labels or ())
    return waiting or any(states.get(n) != "AVAILABLE" for n in o.expected_versions)


def _no_children(o: Observed, model: str) -> tuple[str, str]:
    if o.spec_error is not None:
        return reasons.INVALID_SPEC, f"Nothing is deployed because the spec is invalid: {_spec_error(o)}"
    if o.apply_error is not None:
        return o.apply_error_reason, f"Nothing is deployed yet: applying the children failed: {o.apply_error}"
    return reasons.RECONCILING, f"Creating the Deployment that serves model {model}."


def _available(f: _Facts) -> _Condition:
    t = ConditionType.AVAILABLE
    o, r, wanted, current, problem, model = f.o, f.r, f.wanted, f.current, f.problem, f.model
    if not r.exists:
        return _Condition(t, False, *_no_children(o, model))
    if wanted == 0:
        message = "No replica is wanted (spec.replicas is 0), so the model does not serve requests."
        if o.keda:
            message = "KEDA scaled the model to zero replicas; requests fail until it brings one back."
        return _Condition(t, False, reasons.SCALED_TO_ZERO, message)
    floor, why = _minimum_available(f.spec, wanted, o.spec_error is not None)
    # No running counts here (READY, status.replicas and readyReplicas have them): a message that changes
    # with every pod would make a status write, and a `kubectl get -w` row, per pod.
    if r.available >= floor:
        older = " Some of them run an earlier spec while a rollout goes on." if r.available > current else ""
        message = f"At least {floor} of {wanted} wanted replica(s) serve ({why}).{older}"
        return _Condition(t, True, reasons.MINIMUM_REPLICAS_AVAILABLE, message)
    message = f"Fewer than {floor} of {wanted} wanted replica(s) serve ({why})."
    message += f" {problem.message}" if problem else ""
    return _Condition(t, False, reasons.REPLICAS_UNAVAILABLE, message)


def _minimum_available(spec: Mapping[str, Any], wanted: int, invalid: bool) -> tuple[int, str]:
    """How many replicas must serve for the model to count as available, and where that number comes from.

    Autoscaled: spec.autoscaling.minReplicas, the least the user said the model needs. Otherwise the
    disruption budget's floor: one replica may be missing when more than one is wanted.
    """
    autoscaling = spec.get("autoscaling")
    if isinstance(autoscaling, Mapping) and not invalid:
        least = max(1, min(_int(autoscaling.get("minReplicas")) or 1, wanted))
        return least, "spec.autoscaling.minReplicas"
    if wanted > 1:
        return wanted - 1, "the PodDisruptionBudget allows one replica to be missing"
    return wanted, "a single replica is wanted"


def _progressing(o: Observed, r: _Rollout, wanted: int, problem: _Problem | None, name: str) -> _Condition:
    t = ConditionType.PROGRESSING
    if o.spec_error is not None:
        return _Condition(t, False, reasons.INVALID_SPEC, f"Rollout stopped; invalid spec: {_spec_error(o)}")
    if o.apply_error is not None:
        return _Condition(t, False, o.apply_error_reason, f"Rollout stopped; apply failed: {o.apply_error}")
    if not r.exists:
        return _Condition(t, True, reasons.RECONCILING, f"Creating Deployment {name}.")
    if r.deadline_message:
        cause = f" Cause: {problem.message}" if problem else ""
        message = f"Deployment {name}: {r.deadline_message}{cause}"
        return _Condition(t, False, reasons.PROGRESS_DEADLINE_EXCEEDED, message)
    if r.complete(wanted):
        message = f"Deployment {name} has completed its rollout: {wanted} replica(s) run the applied spec."
        return _Condition(t, True, reasons.NEW_REPLICA_SET_AVAILABLE, message)
    if not r.synced:
        message = "Waiting for the Deployment controller to pick up the new spec."
        return _Condition(t, True, reasons.REPLICA_SET_UPDATING, message)
    return _Condition(t, True, reasons.ROLLOUT_IN_PROGRESS, _ROLLING_OUT.format(wanted=wanted))


def _degraded(
    o: Observed, r: _Rollout, problem: _Problem | None, model: str, spec: Mapping[str, Any], namespace: str
) -> _Condition:
    t = ConditionType.DEGRADED
    if o.spec_error is not None:
        keep = "The running pods keep the last valid spec" if r.exists else "Nothing is deployed"
        message = f"Invalid spec: {_spec_error(o)}. {keep} until the spec is fixed."
        return _Condition(t, True, reasons.INVALID_SPEC, message)
    if o.apply_error is not None and o.apply_error_reason != reasons.APPLY_FAILED:
        return _Condition(t, True, o.apply_error_reason, o.apply_error)
    if o.apply_error is not None:
        message = f"Applying the children failed: {o.apply_error}. The operator retries; see its events."
        return _Condition(t, True, reasons.APPLY_FAILED, message)
    if r.failure_message:
        message = (
            f"Pods cannot be created: {r.failure_message}. Check the ResourceQuota, LimitRange and Pod "
            f"Security admission of namespace {namespace}."
        )
        return _Condition(t, True, reasons.FAILED_CREATE, message)
    if r.deadline_message:
        cause = f" Cause: {problem.message}" if problem else ""
        message = f"The rollout made no progress within the deadline: {r.deadline_message}{cause}"
        return _Condition(t, True, reasons.PROGRESS_DEADLINE_EXCEEDED, message)
    if problem is not None and problem.reason not in _SELF_HEALING:
        return _Condition(t, True, problem.reason, problem.message)
    failed = [v for v in o.model_versions or () if v.get("error")]
    if failed:
        uri = _map(spec.get("model")).get("uri", "the model uri")
        version = failed[0]
        message = (
            f"TF Serving failed to load model {model} version {version.get('version')}: "
            f"{version.get('error')}. Check the files under {uri}/{version.get('version')}."
        )
        return _Condition(t, True, reasons.MODEL_LOAD_FAILED, message)
    return _Condition(t, False, reasons.AS_EXPECTED, "No problem detected.")


def _kstatus_pair(ready: _Condition, degraded: _Condition) -> tuple[_Condition, _Condition]:
    """Reconciling and Stalled, so that kstatus (and Flux, kpt) read Current, InProgress or Failed.

    kstatus reads Reconciling=True as InProgress and Stalled=True as Failed before it looks at Ready
    (cli-utils pkg/kstatus/status/generic.go, checkGenericProperties), so exactly one of Ready, Reconciling
    and Stalled is True: Stalled when a human must act (Degraded), else Reconciling until Ready.
    """
    if degraded.status:
        reconciling = _Condition(
            ConditionType.RECONCILING, False, degraded.reason, "Stopped: a fix is needed (see Stalled)."
        )
        return reconciling, _Condition(ConditionType.STALLED, True, degraded.reason, degraded.message)
    stalled = _Condition(ConditionType.STALLED, False, reasons.AS_EXPECTED, "Nothing blocks the reconcile.")
    if ready.status:
        message = "The latest generation is in effect."
        return _Condition(ConditionType.RECONCILING, False, reasons.AS_EXPECTED, message), stalled
    return _Condition(ConditionType.RECONCILING, True, ready.reason, ready.message), stalled


_ROLLING_OUT = (
    "Rolling out: new pods replace the old ones one at a time, no ready replica is removed before its "
    "replacement is ready; READY counts the replaced ones of {wanted}."
)
_LOADING_STATES = frozenset({"START", "LOADING"})


def _model_loaded(o: Observed, model: str, uri: str) -> _Condition | None:
    """What TF Serving itself says about the model; None when no pod runs it yet."""
    t = ConditionType.MODEL_LOADED
    if o.model_versions is None:
        if o.model_status_error is None:
            return _initial_load(o, model, uri)
        message = f"Cannot read the state of model {model} from TF Serving: {o.model_status_error}."
        return _Condition(t, None, reasons.MODEL_STATUS_UNKNOWN, message)
    versions = {_int(v.get("version")): str(v.get("state") or "") for v in o.model_versions}
    failed = [v for v in o.model_versions if v.get("error")]
    if failed:
        v = failed[0]
        message = f"TF Serving failed to load model {model} version {v.get('version')}: {v.get('error')}"
        return _Condition(t, False, reasons.MODEL_LOAD_FAILED, message)
    # A waiting label names what the user changed; it comes before the version loading behind it.
    waiting = [label for label in o.model_labels or () if label.get("state") != "AVAILABLE"]
    if waiting:
        parts = []
        for label in waiting:
            applied = label.get("appliedVersion")
            keep = (
                f"it keeps pointing at version {applied}"
                if applied is not None
                else "it is left out of the model config"
            )
            state = label.get("state") or "NOT_LOADED"
            hint = (
                f" (TF Serving has not loaded it: check that spec.model.versionPolicy loads version "
                f"{label.get('version')} and that {uri}/{label.get('version')} exists)"
                if state == "NOT_LOADED"
                else ""
            )
            parts.append(
                f"label {label.get('name')} waits for version {label.get('version')} ({state}){hint}; {keep} "
                "until that version is AVAILABLE"
            )
        return _Condition(t, False, reasons.LABEL_WAITING, f"Model {model}: " + "; ".join(parts) + ".")
    loading = sorted(n for n, state in versions.items() if state in _LOADING_STATES)
    if loading:
        listed = ", ".join(f"{n} ({versions[n]})" for n in loading)
        return _Condition(
            t, False, reasons.MODEL_LOADING, f"TF Serving is loading model {model} version {listed}."
        )
    missing = [n for n in o.expected_versions if versions.get(n) != "AVAILABLE"]
    if missing:
        listed = ", ".join(f"{n} ({versions.get(n) or 'not loaded yet'})" for n in missing)
        message = (
            f"Model {model}: version(s) listed in spec.model.versionPolicy.specific not AVAILABLE: {listed}. "
            f"TF Serving loads a listed version once its directory exists (e.g. {uri}/{missing[0]})."
        )
        return _Condition(t, False, reasons.MODEL_LOADING, message)
    available = sorted(n for n, state in versions.items() if state == "AVAILABLE")
    if not available:
        message = f"TF Serving has no AVAILABLE version of model {model} yet."
        return _Condition(t, False, reasons.MODEL_LOADING, message)
    labels = ", ".join(f"{label.get('name')}->{label.get('version')}" for label in o.model_labels or ())
    message = f"TF Serving serves model {model} version(s) {', '.join(map(str, available))}" + (
        f"; labels {labels}." if labels else "."
    )
    return _Condition(t, True, reasons.MODEL_AVAILABLE, message)


def _initial_load(o: Observed, model: str, uri: str) -> _Condition | None:
    """No pod is ready, but TF Serving runs in some: it opens its ports only after the initial load
    (server_core.cc waits until every version the policy names is loaded or has failed), and a base path
    holding none of those versions keeps it waiting for good."""
    loading = _loading_pods(o.pods)
    if not loading or any(_pod_condition(p, "Ready") for p in _live(o.pods)):
        return None
    message = (
        f"TF Serving in {loading} pod(s) has not finished loading model {model}: it serves only once every "
        f"version spec.model.versionPolicy names is loaded or failed, and waits as long as {uri} holds none "
        f"of them. A large model takes a while; if this lasts, check that {uri} holds numeric version "
        f"directories (1/, 2/, ...) with the versions the policy names."
    )
    return _Condition(ConditionType.MODEL_LOADED, False, reasons.MODEL_LOADING, message)


def _phase(o: Observed, r: _Rollout, conditions: Sequence[_Condition]) -> str:
    by_type = {c.type: c for c in conditions}
    if o.spec_error is not None and not r.exists:
        return Phase.FAILED
    if by_type[ConditionType.DEGRADED].status:
        return Phase.DEGRADED
    if by_type[ConditionType.READY].status:
        return Phase.READY
    # Something moves: replicas serve while others roll out, or pods are placed and starting.
    if r.ready > 0 or any(_scheduled(p) for p in _live(o.pods)):
        return Phase.PROGRESSING
    return Phase.PENDING


def _stamp(
    conditions: Sequence[_Condition], old: Any, generation: int, now: datetime
) -> list[dict[str, Any]]:
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


def _rollout(deployment: Mapping[str, Any] | None) -> _Rollout:
    if deployment is None:
        return _Rollout(exists=False)
    status = _map(deployment.get("status"))
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
    generation = _int(_map(deployment.get("metadata")).get("generation"))
    return _Rollout(
        exists=True,
        replicas=_int(status.get("replicas")),
        ready=_int(status.get("readyReplicas")),
        updated=_int(status.get("updatedReplicas")),
        available=_int(status.get("availableReplicas")),
        synced=_int(status.get("observedGeneration")) >= generation,
        deadline_message=str(deadline.get("message") or "progress deadline exceeded") if deadline else None,
        failure_message=str(failure.get("message") or failure.get("reason") or "") if failure else None,
        template=_map(_map(_map(deployment.get("spec")).get("template")).get("metadata")),
    )


def _wanted_replicas(md: Mapping[str, Any], o: Observed) -> int:
    live = _map(_map(o.deployment).get("spec")).get("replicas") if o.deployment is not None else None
    autoscaled = isinstance(_map(md.get("spec")).get("autoscaling"), Mapping)
    if live is not None and (autoscaled or o.spec_error is not None):
        return _int(live)
    return o.wants_replicas


# --- Pod diagnosis: why replicas are not ready. Kept here because only the status uses it; it is the part
# to move into its own module if it grows.


def _pod_problem(pods: Sequence[Mapping[str, Any]], spec: Mapping[str, Any]) -> _Problem | None:
    """The most pressing problem among the pods, with how many pods share it."""
    found = [(p, problem) for p in _live(pods) if (problem := _problem_of(p, spec)) is not None]
    if not found:
        return None
    reason = min((problem.reason for _, problem in found), key=_PROBLEM_PRIORITY.index)
    same = [problem for _, problem in found if problem.reason == reason]
    prefix = f"{len(same)} pod(s) affected; " if len(same) > 1 else ""
    return _Problem(reason, prefix + same[0].message)


def _problem_of(pod: Mapping[str, Any], spec: Mapping[str, Any]) -> _Problem | None:
    name = _map(pod.get("metadata")).get("name", "?")
    status = _map(pod.get("status"))
    uri = _map(spec.get("model")).get("uri", "spec.model.uri")
    for init in status.get("initContainerStatuses") or ():
        waiting, terminated = _container_state(init)
        reason = str(waiting.get("reason", ""))
        if reason in _IMAGE_PULL_REASONS:
            return _Problem(
                reasons.IMAGE_PULL_FAILED,
                f"Pod {name}: the model copier image {init.get('image')} cannot be pulled ({reason}); "
                f"check the operator's storageInitImage setting.",
            )
        if reason in _CONFIG_REASONS:
            return _config_problem(name, waiting)
        # Only a failure now counts: a copier that failed once and is running again may still succeed.
        failed_now = _int(_map(_map(init.get("state")).get("terminated")).get("exitCode")) != 0
        if reason == "CrashLoopBackOff" or failed_now:
            detail = str(terminated.get("message") or terminated.get("reason") or "no message").strip()
            code = _int(terminated.get("exitCode"))
            return _Problem(
                reasons.MODEL_DOWNLOAD_FAILED,
                f"Pod {name}: copying the model from {uri} failed (exit code {code}: {detail}); check "
                f"spec.model.uri and the storage credentials (spec.serviceAccountName, spec.env).",
            )
    for container in status.get("containerStatuses") or ():
        waiting, terminated = _container_state(container)
        reason = str(waiting.get("reason", ""))
        if reason in _IMAGE_PULL_REASONS:
            return _Problem(
                reasons.IMAGE_PULL_FAILED,
                f"Pod {name}: image {container.get('image')} cannot be pulled ({reason}: "
                f"{waiting.get('message', '')}); check spec.runtime.image and spec.runtime.version.",
            )
        if reason in _CONFIG_REASONS:
            return _config_problem(name, waiting)
        if reason == "CrashLoopBackOff":
            return _crash_problem(name, terminated, spec)
    for condition in status.get("conditions") or ():
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return _scheduling_problem(name, str(condition.get("message") or "no message"), spec)
    return None


def _config_problem(pod: str, waiting: Mapping[str, Any]) -> _Problem:
    message = (
        f"Pod {pod}: the container cannot be created: {waiting.get('message', waiting.get('reason'))}; "
        f"check that the Secrets and ConfigMaps referenced in spec.env exist."
    )
    return _Problem(reasons.CONTAINER_CONFIG_ERROR, message)


# A line of the flag list main.cc prints when Flags::Parse fails: "\t--port=8500   \tint32\t".
_USAGE_LINE = re.compile(r"--\w+=.*\t(int32|int64|bool|string|float)\b")


def _crash_problem(pod: str, terminated: Mapping[str, Any], spec: Mapping[str, Any]) -> _Problem:
    if terminated.get("reason") == "OOMKilled":
        memory = _map(spec.get("resources")).get("memory", "the default")
        message = (
            f"Pod {pod}: TF Serving ran out of memory (OOMKilled); raise spec.resources.memory ({memory})"
        )
        return _Problem(reasons.CRASH_LOOP_BACK_OFF, message)
    detail = str(terminated.get("message") or terminated.get("reason") or "no message").strip()
    if _USAGE_LINE.search(detail):
        # main.cc prints its flag list when Flags::Parse fails; the kubelet's 2 KiB log tail usually cuts
        # off the line naming the flag, so the user's own flags are named instead.
        interpret = [line for line in detail.splitlines() if line.startswith("Couldn't interpret value")]
        args = _map(spec.get("runtime")).get("args") or []
        yours = f" (spec.runtime.args: {' '.join(map(str, args))})" if args else ""
        detail = (interpret[0] + " " if interpret else "") + (
            f"TF Serving rejected a flag value in its command line and printed its usage{yours}"
        )
    message = (
        f"Pod {pod}: TF Serving keeps exiting (exit code {_int(terminated.get('exitCode'))}: {detail}); "
        f"check spec.runtime.args and spec.runtime.version."
    )
    return _Problem(reasons.CRASH_LOOP_BACK_OFF, message)


def _scheduling_problem(pod: str, scheduler: str, spec: Mapping[str, Any]) -> _Problem:
    gpu = _map(_map(spec.get("resources")).get("gpu"))
    gpu_type = gpu.get("type", "?")
    if _INSUFFICIENT_GPU.search(scheduler):
        reason = reasons.INSUFFICIENT_GPU
        hint = (
            f"no node has {gpu.get('count', 1)} free GPU(s) of type {gpu_type}: free GPUs, lower "
            f"spec.resources.gpu.count or add GPU nodes"
        )
    elif gpu and _NODE_SELECTOR_MISMATCH in scheduler:
        reason = reasons.NO_MATCHING_GPU_NODE
        hint = (
            f"no node carries the labels of GPU type {gpu_type} from the operator's gpuTypes configuration: "
            f"check spec.resources.gpu.type, spec.placement and the GPU nodes' labels"
        )
    else:
        reason = reasons.UNSCHEDULABLE
        hint = "check spec.resources.cpu/memory, spec.placement and the nodes' free capacity and taints"
    return _Problem(reason, f"Pod {pod} cannot be scheduled ({hint}). Scheduler: {scheduler}")


def _container_state(container: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(waiting, terminated) where terminated is the current or, while waiting to restart, the last one."""
    state = _map(container.get("state"))
    terminated = _map(state.get("terminated")) or _map(_map(container.get("lastState")).get("terminated"))
    return _map(state.get("waiting")), terminated


def _current_ready(r: _Rollout, pods: Sequence[Mapping[str, Any]]) -> int:
    """Ready replicas that run the Deployment's current pod template (the READY column's numerator).

    Once the Deployment controller has seen the template and no old pod is left, that is its readyReplicas.
    During a rollout, ready pods whose template identity annotations match the template's are counted.
    """
    if not r.exists:
        return 0
    if r.synced and r.replicas == r.updated:
        return r.ready
    annotations = _map(_map(r.template).get("annotations"))
    want = {key: annotations.get(key) for key in TEMPLATE_IDENTITY_ANNOTATIONS}
    return sum(
        1
        for p in _live(pods)
        if _pod_condition(p, "Ready")
        and all(_map(_map(p.get("metadata")).get("annotations")).get(k) == v for k, v in want.items())
    )


def _loading_pods(pods: Sequence[Mapping[str, Any]]) -> int:
    """Pods whose TF Serving runs but is not ready yet: it is loading (or failing to load) the model."""
    return sum(
        1
        for p in _live(pods)
        if _map(p.get("status")).get("phase") == "Running" and not _pod_condition(p, "Ready")
    )


def _scheduled(pod: Mapping[str, Any]) -> bool:
    return bool(_map(pod.get("spec")).get("nodeName")) or _pod_condition(pod, "PodScheduled")


def _pod_condition(pod: Mapping[str, Any], kind: str) -> bool:
    conditions = _map(pod.get("status")).get("conditions") or ()
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _live(pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Pods not being deleted, by name, so that messages do not depend on list order."""
    alive = [p for p in pods if not _map(p.get("metadata")).get("deletionTimestamp")]
    return sorted(alive, key=lambda p: str(_map(p.get("metadata")).get("name", "")))


def _spec_error(o: Observed) -> str:
    text = (o.spec_error or "").rstrip(".")
    if o.spec_error_field and not text.startswith(o.spec_error_field):
        return f"{o.spec_error_field}: {text}"
    return text


def _rfc3339(moment: datetime) -> str:
    # A naive datetime is taken as UTC (astimezone would read it as local time).
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _plain(value: Any) -> Any:
    """Plain dicts and lists (Kopf hands out read-only mapping views)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
