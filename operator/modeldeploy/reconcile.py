"""One reconcile of one ModelDeployment: spec -> desired children -> apply what drifted -> status.

Level-based: it reads only the current ModelDeployment and the operator's cache of its children, so
running it twice in a row is the same as running it once, and the second run sends no writes.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from modeldeploy import reasons
from modeldeploy.config import OperatorConfig
from modeldeploy.converge import converge
from modeldeploy.cost import hourly_cost
from modeldeploy.desired import build_children
from modeldeploy.desired.autoscaler import uses_keda
from modeldeploy.desired.configmap import MODELS_CONFIG
from modeldeploy.informer import controller_ref
from modeldeploy.kube import MD_API_VERSION, MD_KIND, ApiError, KubeClient
from modeldeploy.missing_api import missing_api_message
from modeldeploy.modelstate import ModelState, VersionSummary, wanted_labels
from modeldeploy.spec import ModelDeploymentSpec, SpecError, parse_spec
from modeldeploy.status import Observed, compute_status, status_changed

ChildKey = tuple[str, str]  # (apiVersion, kind)
MAX_ERROR_CHARS = 4096  # the CRD's maxLength for status.model.versions[].error

# Children that exist only for some specs; when the spec stops wanting one, it is deleted.
OPTIONAL_KINDS: tuple[ChildKey, ...] = (
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("networking.k8s.io/v1", "NetworkPolicy"),  # when the operator configuration turns it off
)


@dataclass(frozen=True)
class Children:
    """The operator's cached view of one ModelDeployment's children."""

    objects: Mapping[ChildKey, Mapping[str, Any]] = field(default_factory=dict)
    pods: Sequence[Mapping[str, Any]] = ()
    # Not a child: the HPA KEDA makes from our ScaledObject (keda-hpa-<name>), read for status only.
    keda_autoscaler: Mapping[str, Any] | None = None


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
    """Whether ``md`` controls ``obj`` (its controller owner reference carries md's UID)."""
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == md["metadata"].get("uid")


def applied_labels(configmap: Mapping[str, Any] | None) -> dict[str, int] | None:
    """The version labels in the live ConfigMap's models.config (what TF Serving reads now)."""
    text = ((configmap or {}).get("data") or {}).get(MODELS_CONFIG)
    if not isinstance(text, str):
        return None
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError:
        return None
    labels: dict[str, int] = {}
    for model in config.model_config_list.config:
        labels.update(dict(model.version_labels))
    return labels


def labels_to_apply(
    spec: ModelDeploymentSpec, applied: Mapping[str, int] | None, state: ModelState | None
) -> dict[str, int]:
    """The version labels to write into models.config.

    The pods run with --allow_version_labels_for_unavailable_models, so TF Serving takes a label that is
    not in use yet for a version that is not loaded (server_core.cc; without the flag the start-up itself
    fails). Moving a label in use to a version that is not AVAILABLE is still refused, and the whole config
    reload with it. So while the new version is not AVAILABLE on every ready pod, the label keeps the
    version it points at now (if that one is AVAILABLE everywhere and still wanted), or is left out. When
    TF Serving's state is unknown (no ready pod, nobody answers) the labels are written as specified.
    """
    wanted = dict(spec.model.version_labels)
    if state is None or state.versions is None:
        return wanted
    policy = spec.model.version_policy
    out = {}
    for label, version in wanted.items():
        previous = (applied or {}).get(label)
        if previous is None or previous == version or state.available(version):
            out[label] = version
            continue
        still_wanted = policy.kind != "specific" or previous in policy.versions
        if state.available(previous) and still_wanted:
            out[label] = previous
    return out


def desired_for(
    md: Mapping[str, Any],
    config: OperatorConfig,
    children: Children | None = None,
    model_state: ModelState | None = None,
) -> tuple[ModelDeploymentSpec | None, list[dict[str, Any]], SpecError | None]:
    meta = md["metadata"]
    try:
        spec = parse_spec(meta["name"], meta["namespace"], md.get("spec") or {}, config)
    except SpecError as error:
        return None, [], error
    if spec.model.version_labels and model_state is not None:
        applied = applied_labels((children or Children()).objects.get(("v1", "ConfigMap")))
        labels = labels_to_apply(spec, applied, model_state)
        if labels != spec.model.version_labels:
            spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, version_labels=labels))
    return spec, [with_owner(obj, md) for obj in build_children(spec, config)], None


def current_failure(spec: ModelDeploymentSpec | None, state: ModelState, version: VersionSummary) -> bool:
    """Whether a version's load error still matters. TF Serving keeps a failed version in END with its
    error until the process ends (servable_state_monitor.cc), so an error stops counting once the policy no
    longer wants that version or a newer version is AVAILABLE on every ready pod."""
    if not version.errors:
        return False
    policy = spec.model.version_policy if spec else None
    if policy is not None and policy.kind == "specific" and version.version not in policy.versions:
        return False
    return not any(v.version > version.version and state.available(v.version) for v in state.versions or ())


def model_observations(
    md: Mapping[str, Any],
    spec: ModelDeploymentSpec | None,
    state: ModelState | None,
    desired: list[dict[str, Any]],
) -> dict[str, Any]:
    """The Observed fields that come from TF Serving's model status (empty when it was not asked)."""
    if state is None:
        return {}
    if state.versions is None:
        return {"model_status_error": state.error}
    configmap = next((obj for obj in desired if obj["kind"] == "ConfigMap"), None)
    applied = applied_labels(configmap) or {}
    versions = []
    for v in state.versions:
        entry: dict[str, Any] = {
            "version": v.version,
            "state": v.state,
            "availableReplicas": v.available_on,
            "replicas": v.polled,
        }
        pointing = sorted(label for label, target in applied.items() if target == v.version)
        if pointing:
            entry["labels"] = pointing
        if v.errors:
            more = f" (and {len(v.errors) - 1} more pods)" if len(v.errors) > 1 else ""
            text = f"on pod {v.errors[0]}{more}"[:MAX_ERROR_CHARS]
            entry["error" if current_failure(spec, state, v) else "lastError"] = text
        versions.append(entry)
    labels = []
    for name, version in sorted(wanted_labels(md).items() if spec else ()):
        label: dict[str, Any] = {
            "name": name,
            "version": version,
            "state": state.state_of(version) or "NOT_LOADED",
        }
        if name in applied:
            label["appliedVersion"] = applied[name]
        labels.append(label)
    policy = spec.model.version_policy if spec else None
    return {
        "model_versions": versions,
        "model_labels": labels if labels else None,
        "expected_versions": tuple(policy.versions) if policy and policy.kind == "specific" else (),
    }


async def reconcile(
    md: Mapping[str, Any],
    children: Children,
    config: OperatorConfig,
    client: KubeClient,
    now: datetime.datetime | None = None,
    model_state: ModelState | None = None,
) -> Outcome:
    """``model_state`` is TF Serving's last answer for this model (see modelstate), None when not asked."""
    meta = md["metadata"]
    spec, desired, spec_error = desired_for(md, config, children, model_state)
    outcome = Outcome(result="unchanged")
    apply_error: str | None = None

    apply_error_reason = reasons.APPLY_FAILED
    if spec_error is not None:
        # Keep the last good children serving: an invalid spec changes nothing but the status.
        outcome.result = "invalid"
    else:
        assert spec is not None
        wanted = {(obj["apiVersion"], obj["kind"]) for obj in desired}
        try:
            converged = await converge(md, spec, desired, children.objects, client, config)
            outcome.changed += converged.changed
            outcome.applied += converged.applied
            if converged.error is not None:
                raise converged.error
            if converged.invalid is not None:
                spec_error = converged.invalid
                outcome.result = "invalid"
            elif converged.conflicts:
                apply_error = " ".join(converged.conflicts)
                apply_error_reason = reasons.OWNERSHIP_CONFLICT
                outcome.result = "conflict"
                outcome.error = apply_error
            for key in OPTIONAL_KINDS:
                live = children.objects.get(key)
                if key not in wanted and live is not None and is_owned_by(live, md):
                    live_meta = live["metadata"]
                    await client.delete(
                        key[0], key[1], live_meta["namespace"], live_meta["name"], live_meta["uid"]
                    )
                    outcome.changed.append(f"Deleted {key[1]} {live_meta['name']}")
        except ApiError as error:
            if error.namespace_terminating:
                # Its namespace is going away and takes the ModelDeployment with it: nothing to restore.
                outcome.result = "terminating"
                return outcome
            apply_error = missing_api_message(error.status, error.path, error.reason) or str(error)
            outcome.result = "error"
            outcome.error = apply_error
        else:
            if outcome.result == "unchanged":
                outcome.result = "applied" if outcome.changed else "unchanged"

    deployment = children.objects.get(("apps/v1", "Deployment"))
    ready = int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)
    observed = Observed(
        deployment=deployment,
        pods=list(children.pods),
        spec_error=spec_error.message_with_fix() if spec_error else None,
        spec_error_field=spec_error.field if spec_error else None,
        apply_error=apply_error,
        apply_error_reason=apply_error_reason,
        model_name=spec.model.name
        if spec
        else (md.get("spec", {}).get("model", {}) or {}).get("name") or meta["name"],
        gpu_summary=spec.gpu_summary() if spec else None,
        wants_replicas=spec.wanted_replicas() if spec else 0,
        cost=hourly_cost(config.pricing, spec.resources, ready) if spec else None,
        autoscaled=spec is not None and spec.autoscaling is not None,
        keda=spec is not None and uses_keda(spec, config),
        autoscaler=children.keda_autoscaler
        if spec is not None and uses_keda(spec, config)
        else children.objects.get(("autoscaling/v2", "HorizontalPodAutoscaler")),
        scaled_object=children.objects.get(("keda.sh/v1alpha1", "ScaledObject")),
        **model_observations(md, spec, model_state, desired),
    )
    status = compute_status(md, observed, now or datetime.datetime.now(datetime.UTC))
    outcome.phase = status.get("phase")
    old_status = md.get("status") or {}
    if outcome.result == "applied":
        # What was just applied is not in the cache yet, so this status would describe the children as
        # they were. Their watch events trigger the next reconcile, which writes status from what is
        # live; the caller also schedules a follow-up in case no event comes.
        outcome.status_deferred = True
    elif status_changed(old_status, status):
        outcome.written = await client.apply_status(meta["namespace"], meta["name"], status)
        outcome.status_written = True

    if outcome.changed:
        verbs = {change.split(" ", 1)[0] for change in outcome.changed}
        reason = verbs.pop() if len(verbs) == 1 else "Updated"
        await client.create_event(md, "Normal", reason, "; ".join(outcome.changed))
    # One Warning per new problem, not one per retry: the Degraded condition holds it meanwhile.
    if _degraded_message(old_status) != _degraded_message(status):
        if spec_error is not None:
            await client.create_event(md, "Warning", reasons.INVALID_SPEC, str(spec_error))
        elif apply_error is not None:
            await client.create_event(md, "Warning", apply_error_reason, apply_error)
    return outcome


def _degraded_message(status: Mapping[str, Any]) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Degraded" and condition.get("status") == "True":
            return str(condition.get("message"))
    return None
