"""The pure plan step: what one reconcile applies, deletes and reports, from the spec and the observations."""

from __future__ import annotations

import copy
from typing import Any

from modeldeploy.api import CHILD_KINDS, CONFIGMAP, HORIZONTAL_POD_AUTOSCALER, MD_API_VERSION, MD_KIND
from modeldeploy.config import default_config
from modeldeploy.desired.configmap import models_config_text
from modeldeploy.modelstatusapi import ModelState, PodAnswer, VersionState
from modeldeploy.plan import Children, plan_for
from modeldeploy.spec import parse_spec
from modeldeploy.versionlabels import applied_labels
from tests.support.manifests import model_deployment

CONFIG = default_config()


def body(spec: dict[str, Any] | None = None, uid: str | None = "u1") -> dict[str, Any]:
    md = model_deployment("resnet", "vision", uri="gs://acme/resnet")
    if uid is not None:
        md["metadata"]["uid"] = uid
    if spec:
        md["spec"] = spec
    return md


def tf_serving(*versions: tuple[int, str], pods: int = 2) -> ModelState:
    answer = tuple(VersionState(v, s) for v, s in versions)
    return ModelState("resnet", tuple(PodAnswer(f"p{i}", answer) for i in range(pods)))


def owned(kind: Any, name: str, uid: str = "u1") -> dict[str, Any]:
    ref = {"apiVersion": MD_API_VERSION, "kind": MD_KIND, "name": "resnet", "uid": uid, "controller": True}
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": {
            "name": name,
            "namespace": "vision",
            "uid": f"{kind.kind}-uid",
            "ownerReferences": [ref],
        },
    }


def test_a_valid_spec_plans_every_wanted_child_in_apply_order_owned_by_the_model() -> None:
    planned = plan_for(body({"model": {"uri": "gs://acme/resnet"}, "replicas": 2}), CONFIG)
    assert planned.spec_error is None and planned.spec is not None
    kinds = [obj["kind"] for obj in planned.apply]
    # The ConfigMap before the pods that mount it; the Deployment before what depends on it.
    assert kinds.index("ConfigMap") < kinds.index("Deployment") < kinds.index("PodDisruptionBudget")
    refs = {obj["metadata"]["ownerReferences"][0]["uid"] for obj in planned.apply}
    assert refs == {"u1"}
    assert planned.delete == []
    assert (planned.model_name, planned.wants_replicas, planned.autoscaled) == ("resnet", 2, False)


def test_without_a_uid_the_children_carry_no_owner_reference() -> None:
    """`modeldeploy render` and the benchmark plan manifests that were never created."""
    planned = plan_for(body(uid=None), CONFIG)
    assert planned.apply and all("ownerReferences" not in obj["metadata"] for obj in planned.apply)


def test_every_planned_kind_is_in_the_child_kind_registry() -> None:
    spec = {"model": {"uri": "gs://acme/resnet"}, "autoscaling": {"minReplicas": 1, "maxReplicas": 3}}
    registry = {kind.key for kind in CHILD_KINDS}
    assert {(obj["apiVersion"], obj["kind"]) for obj in plan_for(body(spec), CONFIG).apply} <= registry


def test_an_optional_child_the_spec_no_longer_wants_is_deleted_only_when_ours() -> None:
    hpa = owned(HORIZONTAL_POD_AUTOSCALER, "resnet")
    planned = plan_for(body(), CONFIG, Children(objects={HORIZONTAL_POD_AUTOSCALER.key: hpa}))
    assert planned.delete == [
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"namespace": "vision", "name": "resnet", "uid": "HorizontalPodAutoscaler-uid"},
        }
    ]
    theirs = owned(HORIZONTAL_POD_AUTOSCALER, "resnet", uid="someone-else")
    assert plan_for(body(), CONFIG, Children(objects={HORIZONTAL_POD_AUTOSCALER.key: theirs})).delete == []


def test_a_wanted_optional_child_is_never_deleted() -> None:
    spec = {"model": {"uri": "gs://acme/resnet"}, "autoscaling": {"minReplicas": 1, "maxReplicas": 3}}
    hpa = owned(HORIZONTAL_POD_AUTOSCALER, "resnet")
    planned = plan_for(body(spec), CONFIG, Children(objects={HORIZONTAL_POD_AUTOSCALER.key: hpa}))
    assert planned.delete == [] and planned.autoscaled


def test_an_invalid_spec_plans_no_write_and_names_the_field() -> None:
    spec = {"model": {"uri": "gs://acme/resnet", "name": "Resnet!"}}
    planned = plan_for(body(spec), CONFIG, Children(objects={HORIZONTAL_POD_AUTOSCALER.key: owned(
        HORIZONTAL_POD_AUTOSCALER, "resnet")}))  # fmt: skip
    assert planned.spec is None and planned.spec_error is not None
    assert planned.spec_error.field == "spec.model.name"
    assert (planned.apply, planned.delete) == ((), ())
    # The status still names the model as written.
    assert planned.model_name == "Resnet!"


def test_a_label_is_held_back_as_data_while_its_version_loads() -> None:
    labels = {"stable": 3, "canary": 4}
    spec = {
        "model": {"uri": "gs://acme/resnet", "versionLabels": labels, "versionPolicy": {"specific": [3, 4]}}
    }
    before = parse_spec("resnet", "vision", {**spec, "model": {**spec["model"], "versionLabels": {
        "stable": 3, "canary": 3}}}, CONFIG)  # fmt: skip
    live = {"data": {"models.config": models_config_text(before)}}
    loading = tf_serving((3, "AVAILABLE"), (4, "LOADING"))
    planned = plan_for(body(spec), CONFIG, Children(objects={CONFIGMAP.key: live}), loading)
    assert planned.labels.asked == labels
    assert planned.labels.applied == {"stable": 3, "canary": 3}
    assert planned.labels.held == {"canary": "version 4 is not AVAILABLE on every ready pod: keeps version 3"}
    # The spec as parsed keeps what the user asked; only the ConfigMap holds the label back.
    assert planned.spec is not None and dict(planned.spec.model.version_labels) == labels
    configmap = next(obj for obj in planned.apply if obj["kind"] == "ConfigMap")
    assert applied_labels(configmap) == {"stable": 3, "canary": 3}
    assert planned.model.labels == [
        {"name": "canary", "version": 4, "state": "LOADING", "appliedVersion": 3},
        {"name": "stable", "version": 3, "state": "AVAILABLE", "appliedVersion": 3},
    ]


def test_labels_move_once_the_version_is_available_everywhere() -> None:
    spec = {"model": {"uri": "gs://acme/resnet", "versionLabels": {"canary": 4}}}
    live = {"data": {"models.config": "model_config_list { config { name: 'resnet' version_labels { key: "
                     "'canary' value: 3 } } }"}}  # fmt: skip
    ready = tf_serving((3, "AVAILABLE"), (4, "AVAILABLE"))
    planned = plan_for(body(spec), CONFIG, Children(objects={CONFIGMAP.key: live}), ready)
    assert planned.labels.applied == {"canary": 4} and planned.labels.held == {}


def test_without_tf_serving_state_labels_are_planned_as_asked_and_status_has_no_model_versions() -> None:
    spec = {"model": {"uri": "gs://acme/resnet", "versionLabels": {"canary": 4}}}
    planned = plan_for(body(spec), CONFIG)
    assert planned.labels.applied == {"canary": 4}
    assert planned.model.versions is None and planned.model.labels is None


def test_planning_is_pure() -> None:
    md = body({"model": {"uri": "gs://acme/resnet", "versionLabels": {"canary": 4}}})
    children = Children(objects={HORIZONTAL_POD_AUTOSCALER.key: owned(HORIZONTAL_POD_AUTOSCALER, "resnet")})
    state = tf_serving((4, "LOADING"))
    md_before, children_before = copy.deepcopy(md), copy.deepcopy(children)
    assert plan_for(md, CONFIG, children, state) == plan_for(md, CONFIG, children, state)
    assert (md, children) == (md_before, children_before)
