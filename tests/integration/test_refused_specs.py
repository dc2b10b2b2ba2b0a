"""Specs the operator's validator accepts but the API server refuses in a child: checked by a server-side
dry run before anything is created, reported as InvalidSpec naming the ModelDeployment's own field, with
one Warning and no retry storm; the last good children keep serving. Plus names Kubernetes accepts that
the operator once refused, and messages too long for a condition."""

from __future__ import annotations

from typing import Any

import pytest

from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.clusters import make_namespace
from tests.support.kubectl import Kube
from tests.support.manifests import model_deployment
from tests.support.settle import assert_quiet, versions, warnings
from tests.support.waits import wait_condition, wait_ready

CHILDREN = [
    ("configmap", "{}-tfserving"),
    ("deployment", "{}"),
    ("service", "{}"),
    ("hpa", "{}"),
    ("pdb", "{}"),
]


def invalid_spec(kube: Kube, name: str, namespace: str) -> dict[str, Any]:
    return wait_condition(kube, name, namespace, "Degraded", reason="InvalidSpec", timeout=60)


TOLERATION = {"key": "a", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 30}
SECRET_ELSEWHERE = {"secretKeyRef": {"name": "s", "key": "k", "namespace": "other"}}
NO_VALUES = {"matchExpressions": [{"key": "zone", "operator": "In"}]}
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
CPU_DIVISOR = {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "3"}}
BAD_TARGET = {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "Utilization"}}}
REFUSED = [
    pytest.param(
        {"placement": {"tolerations": [TOLERATION]}},
        "spec.placement.tolerations[0].effect",
        id="tolerationSeconds-with-NoSchedule",
    ),
    pytest.param(
        {"env": [{"name": "A", "value": "1"}, {"name": "S", "valueFrom": SECRET_ELSEWHERE}]},
        "spec.env[1].valueFrom.secretKeyRef.namespace",
        id="secretKeyRef-namespace",
    ),
    pytest.param(
        {"placement": {"affinity": {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": [NO_VALUES]}}}}},
        f"spec.placement.affinity.nodeAffinity.{REQUIRED}",
        id="invalid-affinity",
    ),
    pytest.param(
        {"env": [{"name": "CPUS", "valueFrom": CPU_DIVISOR}]},
        "spec.env[0].valueFrom.resourceFieldRef.divisor",
        id="cpu-divisor",
    ),
    pytest.param(
        {"autoscaling": {"maxReplicas": 3, "metrics": [BAD_TARGET]}},
        "spec.autoscaling.metrics[0].pods.target",
        id="hpa-metric",
    ),
]


@pytest.mark.parametrize(("spec", "field"), REFUSED)
def test_refused_spec_creates_nothing_and_names_the_models_field(
    kube: Kube, operator: OperatorProcess, namespace: str, spec: dict[str, Any], field: str
) -> None:
    kube.apply(model_deployment("refused", namespace, uri="gs://b/m", **spec))
    condition = invalid_spec(kube, "refused", namespace)
    assert condition["message"].startswith(f"Invalid spec: {field}"), condition["message"]
    for kind, name in CHILDREN:
        assert kube.get(kind, name.format("refused"), namespace) is None, f"{kind} was created"
    assert_quiet(kube, operator, "refused", namespace, result="invalid")
    assert warnings(kube, "refused", namespace) == 1


def test_a_refused_update_keeps_the_last_good_children(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(model_deployment("update", namespace, uri="gs://b/m"))
    wait_ready(kube, "update", namespace)
    before = versions(kube, "update", namespace)
    before.pop("md")
    spec, field = REFUSED[0].values
    kube.apply(model_deployment("update", namespace, uri="gs://b/m", runtime={"version": "2.18.0"}, **spec))
    condition = invalid_spec(kube, "update", namespace)
    assert field in condition["message"] and "running pods keep the last valid spec" in condition["message"]
    after = versions(kube, "update", namespace)
    after.pop("md")
    assert after == before  # not even the ConfigMap moved to the half-valid spec
    md = kube.get("md", "update", namespace)
    assert md is not None and md["status"]["readyReplicas"] == 1


def test_an_error_longer_than_a_condition_allows_still_reaches_the_status(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    # The API server quotes the invalid value in its message: 40000 characters of it.
    huge = "x" * 40000
    terms = [{"matchExpressions": [{"key": "zone", "operator": "In", "values": [huge]}]}]
    affinity = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}
    }
    kube.apply(model_deployment("long", namespace, uri="gs://b/m", placement={"affinity": affinity}))
    condition = invalid_spec(kube, "long", namespace)
    assert condition["message"].startswith("Invalid spec: spec.placement.affinity.nodeAffinity")
    assert len(condition["message"]) <= 32768
    md = kube.get("md", "long", namespace)
    assert md is not None and all(len(c["message"]) <= 32768 for c in md["status"]["conditions"])
    assert_quiet(kube, operator, "long", namespace, result="invalid")


def test_a_namespace_starting_with_a_digit_is_served(kube: Kube, operator: OperatorProcess) -> None:
    # Namespaces are DNS-1123 labels; "0models" was once refused as not being a DNS-1035 label.
    namespace = make_namespace(kube, prefix="0models")
    try:
        kube.apply(model_deployment("digits", namespace, uri="gs://b/m"))
        md = wait_ready(kube, "digits", namespace)
        assert md["status"]["endpoints"]["grpc"] == f"digits.{namespace}.svc:8500"
        assert_quiet(kube, operator, "digits", namespace)
    finally:
        kube.run("delete", "namespace", namespace, "--wait=false", check=False)
