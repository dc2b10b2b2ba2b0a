"""The pure plan step: a ModelDeployment, the operator configuration and what was observed in, the plan
out: the children to apply and to delete, the version labels as asked and as applied, and the facts the
status is computed from.

No I/O and no clock: reconcile applies the plan, `modeldeploy render` prints its children and the
benchmark applies them directly, so all three render a ModelDeployment the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from modeldeploy.api import CHILD_KINDS, CONFIGMAP, MD_API_VERSION, MD_KIND
from modeldeploy.config import OperatorConfig
from modeldeploy.desired import build_children
from modeldeploy.desired.autoscaler import uses_keda
from modeldeploy.modelstatusapi import ModelState, VersionSummary
from modeldeploy.objects import mapping
from modeldeploy.spec import ModelDeploymentSpec, SpecError, parse_spec
from modeldeploy.store import controller_ref
from modeldeploy.versionlabels import LabelPlan, applied_labels, plan_labels

ChildKey = tuple[str, str]  # (apiVersion, kind)
Obj = Mapping[str, Any]
MAX_ERROR_CHARS = 4096  # the CRD's maxLength for status.model.versions[].error

# Children that exist only for some specs; when the spec stops wanting one, it is deleted.
OPTIONAL_KINDS: tuple[ChildKey, ...] = tuple(kind.key for kind in CHILD_KINDS if kind.optional)


@dataclass(frozen=True)
class Children:
    """The operator's cached view of one ModelDeployment's children."""

    objects: Mapping[ChildKey, Obj] = field(default_factory=dict)
    pods: Sequence[Obj] = ()
    # Not a child: the HPA KEDA makes from our ScaledObject (keda-hpa-<name>), read for status only.
    keda_autoscaler: Obj | None = None


@dataclass(frozen=True)
class ModelObservations:
    """What status.model and the ModelLoaded condition say, from TF Serving's answers (see modelstate).
    ``versions`` None: TF Serving was not asked, or nobody answered (``error`` then says why)."""

    versions: Sequence[Mapping[str, Any]] | None = None
    labels: Sequence[Mapping[str, Any]] | None = None
    error: str | None = None
    expected_versions: Sequence[int] = ()


@dataclass(frozen=True)
class Plan:
    """What one reconcile does, and the spec's share of the status (None/empty when the spec is invalid:
    the last valid children keep serving and only the status changes)."""

    spec: ModelDeploymentSpec | None
    spec_error: SpecError | None
    apply: Sequence[dict[str, Any]] = ()  # in apply order; owned by the ModelDeployment when it has a uid
    # Optional children we control that the spec no longer wants: apiVersion, kind, name, namespace, uid.
    delete: Sequence[dict[str, Any]] = ()
    labels: LabelPlan = field(default_factory=LabelPlan)
    model_name: str = ""
    model: ModelObservations = field(default_factory=ModelObservations)
    gpu_summary: str | None = None
    wants_replicas: int = 0
    autoscaled: bool = False
    keda: bool = False


def plan_for(
    md: Obj,
    config: OperatorConfig,
    children: Children | None = None,
    model_state: ModelState | None = None,
) -> Plan:
    """The plan for ``md`` given its observed ``children`` and TF Serving's last answer (None: not asked)."""
    meta = md["metadata"]
    observed = children or Children()
    try:
        # As written: parse_spec reports a missing or malformed spec itself (the CRD requires an object,
        # so the operator always has one; `modeldeploy render` may not).
        raw_spec: Any = md.get("spec")
        spec = parse_spec(meta["name"], meta["namespace"], raw_spec, config)
    except SpecError as error:
        return Plan(
            spec=None,
            spec_error=error,
            model_name=_model_name_as_written(md),
            model=model_observations(None, model_state, LabelPlan()),
        )
    # The live ConfigMap is read only when a label may be held back (see versionlabels.labels_to_apply).
    asks_tf_serving = bool(spec.model.version_labels) and model_state is not None
    in_use = applied_labels(observed.objects.get(CONFIGMAP.key)) if asks_tf_serving else None
    labels = plan_labels(spec, in_use, model_state)
    built_from = spec
    if labels.applied != spec.model.version_labels:
        built_from = replace(spec, model=replace(spec.model, version_labels=dict(labels.applied)))
    built = build_children(built_from, config)
    apply = [with_owner(obj, md) for obj in built] if meta.get("uid") else built
    wanted = {(obj["apiVersion"], obj["kind"]) for obj in built}
    delete = [
        _deletion(key, live)
        for key in OPTIONAL_KINDS
        if key not in wanted and (live := observed.objects.get(key)) is not None and is_owned_by(live, md)
    ]
    return Plan(
        spec=spec,
        spec_error=None,
        apply=apply,
        delete=delete,
        labels=labels,
        model_name=spec.model.name,
        model=model_observations(spec, model_state, labels),
        gpu_summary=spec.gpu_summary(),
        wants_replicas=spec.wanted_replicas(),
        autoscaled=spec.autoscaling is not None,
        keda=uses_keda(spec, config),
    )


def _model_name_as_written(md: Obj) -> Any:
    """With no valid spec, the status still names the model the user wrote (metadata.name by default)."""
    return mapping(mapping(md.get("spec")).get("model")).get("name") or md["metadata"]["name"]


def _deletion(key: ChildKey, live: Obj) -> dict[str, Any]:
    """What a delete names: the kind, the object and its uid (the delete's precondition)."""
    meta = live["metadata"]
    return {
        "apiVersion": key[0],
        "kind": key[1],
        "metadata": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
    }


def owner_reference(md: Obj) -> dict[str, Any]:
    meta = md["metadata"]
    return {
        "apiVersion": MD_API_VERSION,
        "kind": MD_KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def with_owner(obj: Obj, md: Obj) -> dict[str, Any]:
    owned = dict(obj)
    owned["metadata"] = {**obj["metadata"], "ownerReferences": [owner_reference(md)]}
    return owned


def is_owned_by(obj: Obj, md: Obj) -> bool:
    """Whether ``md`` controls ``obj`` (its controller owner reference carries md's UID)."""
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == md["metadata"].get("uid")


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
    spec: ModelDeploymentSpec | None, state: ModelState | None, labels: LabelPlan
) -> ModelObservations:
    """status.model's versions and labels from TF Serving's answers and the labels as planned."""
    if state is None:
        return ModelObservations()
    if state.versions is None:
        return ModelObservations(error=state.error)
    applied = labels.applied
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
    listed = []
    for name, version in sorted(labels.asked.items()):
        label: dict[str, Any] = {
            "name": name,
            "version": version,
            "state": state.state_of(version) or "NOT_LOADED",
        }
        if name in applied:
            label["appliedVersion"] = applied[name]
        listed.append(label)
    policy = spec.model.version_policy if spec else None
    return ModelObservations(
        versions=versions,
        labels=listed if listed else None,
        expected_versions=tuple(policy.versions) if policy and policy.kind == "specific" else (),
    )
