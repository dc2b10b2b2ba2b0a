"""Version labels: the ones the spec asks for, the ones models.config gets, and why any is held back.

Pure. The only text read here is the *live* ConfigMap's models.config: it is what TF Serving in the pods
reads now, whoever wrote it last, and TF Serving reports no labels of its own (GET /v1/models/<name>
lists versions only). Everything the operator computes itself travels as data (LabelPlan).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from modeldeploy.desired.configmap import MODELS_CONFIG
from modeldeploy.modelstatusapi import ModelState
from modeldeploy.spec import ModelDeploymentSpec


@dataclass(frozen=True)
class LabelPlan:
    """``asked``: spec.model.versionLabels. ``applied``: what models.config says after this reconcile.
    ``held``: each asked label not applied as asked, and why."""

    asked: Mapping[str, int] = field(default_factory=dict)
    applied: Mapping[str, int] = field(default_factory=dict)
    held: Mapping[str, str] = field(default_factory=dict)


def applied_labels(configmap: Mapping[str, Any] | None) -> dict[str, int] | None:
    """The version labels in a live ConfigMap's models.config (what TF Serving reads now)."""
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


def plan_labels(
    spec: ModelDeploymentSpec, live: Mapping[str, int] | None, state: ModelState | None
) -> LabelPlan:
    """The labels as asked and as applied, from the live ConfigMap's labels and TF Serving's state."""
    asked = dict(spec.model.version_labels)
    applied = labels_to_apply(spec, live, state)
    held = {}
    for label, version in asked.items():
        if label not in applied:
            held[label] = f"version {version} is not AVAILABLE on every ready pod: left out until it is"
        elif applied[label] != version:
            held[label] = (
                f"version {version} is not AVAILABLE on every ready pod: keeps version {applied[label]}"
            )
    return LabelPlan(asked=asked, applied=applied, held=held)
