"""What the operator observed for one ModelDeployment: the input of the status computation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modeldeploy import reasons


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
