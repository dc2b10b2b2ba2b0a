"""The pure parts of converging children: dependencies, conflict messages, and which ModelDeployment
field a refused child field came from."""

from __future__ import annotations

from typing import Any

import pytest

from modeldeploy.config import default_config
from modeldeploy.converge import carries_unchecked_fields, conflict_message, dependents, write_rounds
from modeldeploy.fieldpaths import spec_field, typed_path_error
from modeldeploy.spec import parse_spec

CONFIG = default_config()
ALL = ["ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]


def spec(**extra: Any) -> Any:
    return parse_spec("m", "ns", {"model": {"uri": "gs://b/m"}, **extra}, CONFIG)


def test_nothing_that_depends_on_a_taken_name_is_created() -> None:
    assert dependents("ConfigMap", ALL) == ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
    assert dependents("Deployment", ALL) == ["HorizontalPodAutoscaler", "PodDisruptionBudget"]
    assert dependents("Service", ALL) == []
    assert dependents("ConfigMap", ["ConfigMap", "Deployment", "Service"]) == ["Deployment"]


def test_conflict_message_names_the_object_its_holder_and_the_fix() -> None:
    obj = {"kind": "ConfigMap", "metadata": {"name": "m-tfserving"}}
    existing = {"metadata": {"managedFields": [{"manager": "kubectl-create"}, {"manager": "helm"}]}}
    message = conflict_message(obj, existing, ALL)
    assert message.startswith("ConfigMap m-tfserving already exists and this ModelDeployment does not")
    assert "written by helm, kubectl-create" in message
    assert "creates no Deployment or HorizontalPodAutoscaler or PodDisruptionBudget" in message
    assert "delete or rename that ConfigMap" in message
    owned = {"metadata": {"ownerReferences": [{"kind": "HelmRelease", "name": "web", "controller": True}]}}
    assert "controlled by HelmRelease web" in conflict_message(obj, owned, ALL)


POD = "spec.template.spec."
GPU = {"resources": {"gpu": {"type": "nvidia-tesla-t4"}}}
MAPPED = [
    ("Deployment", POD + "tolerations[0].effect", {}, "spec.placement.tolerations[0].effect"),
    # The GPU toleration from the operator's config comes first.
    ("Deployment", POD + "tolerations[1].effect", GPU, "spec.placement.tolerations[0].effect"),
    ("Deployment", POD + "tolerations[0].key", GPU, "spec.resources.gpu"),
    (
        "Deployment",
        POD + "containers[0].env[2].valueFrom",
        {"env": [{"name": "A"}] * 3},
        "spec.env[2].valueFrom",
    ),
    ("Deployment", POD + "initContainers[0].env[5].value", {"env": [{"name": "A"}]}, "spec.env"),
    ("Deployment", POD + "affinity.nodeAffinity.x", {}, "spec.placement.affinity.nodeAffinity.x"),
    ("Deployment", POD + "containers[0].args[6]", {"runtime": {"args": ["--a=1"]}}, "spec.runtime.args[0]"),
    ("Deployment", POD + "containers[0].resources.limits", {}, "spec.resources"),
    ("Deployment", "metadata.labels", {}, "metadata.name"),
    ("HorizontalPodAutoscaler", "spec.metrics[1].pods.target", {}, "spec.autoscaling.metrics[0].pods.target"),
    ("HorizontalPodAutoscaler", "spec.metrics[0].resource", {}, "spec.autoscaling"),
    ("Service", "spec.ports[0]", {}, "spec"),
]


@pytest.mark.parametrize(("kind", "child_field", "extra", "expected"), MAPPED)
def test_child_fields_map_to_the_model_field(kind: str, child_field: str, extra: Any, expected: str) -> None:
    assert spec_field(kind, child_field, spec(**extra), CONFIG) == expected


def test_typed_patch_errors_are_turned_into_indexed_paths() -> None:
    container = {"name": "tfserving", "env": [{"name": "A"}, {"name": "S"}]}
    obj = {"spec": {"template": {"spec": {"containers": [container]}}}}
    message = (
        "failed to create typed patch object (ns/m; apps/v1, Kind=Deployment): .spec.template.spec."
        'containers[name="tfserving"].env[name="S"].valueFrom.secretKeyRef.namespace: '
        "field not declared in schema"
    )
    assert typed_path_error(message, obj) == (
        "spec.template.spec.containers[0].env[1].valueFrom.secretKeyRef.namespace",
        "field not declared in schema",
    )
    assert typed_path_error("something else entirely", obj) is None


def test_only_children_with_fields_passed_on_unchecked_are_dry_run_first() -> None:
    assert not carries_unchecked_fields("Deployment", spec())
    assert carries_unchecked_fields("Deployment", spec(env=[{"name": "A", "value": "1"}]))
    assert carries_unchecked_fields("Deployment", spec(placement={"tolerations": [{"operator": "Exists"}]}))
    assert not carries_unchecked_fields("HorizontalPodAutoscaler", spec(autoscaling={"maxReplicas": 2}))
    pods = {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue"}}}
    assert carries_unchecked_fields(
        "HorizontalPodAutoscaler", spec(autoscaling={"maxReplicas": 2, "metrics": [pods]})
    )
    assert not carries_unchecked_fields("Service", spec(env=[{"name": "A", "value": "1"}]))


def test_children_wait_only_for_the_create_of_what_they_depend_on() -> None:
    created = {"ConfigMap": True, "Service": False, "Deployment": True, "HorizontalPodAutoscaler": True}
    assert write_rounds(created) == [
        ["ConfigMap", "Service"],
        ["Deployment"],
        ["HorizontalPodAutoscaler"],  # it would scale whatever Deployment turns out to hold the name
    ]
    # A Deployment that exists is ours: its HPA and PDB go beside it.
    updated = {"Deployment": False, "HorizontalPodAutoscaler": True, "PodDisruptionBudget": True}
    assert write_rounds(updated) == [["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"]]
    # A kind no round names goes last rather than never.
    assert write_rounds({"ScaledObject": True, "Service": True}) == [["Service"], ["ScaledObject"]]
