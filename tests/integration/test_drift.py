"""Convergence against the real API server: what it stores differs from what the operator sends
(canonical quantities, defaults), other writers edit children, look-alikes carry the child labels. In
each case the children converge to the desired state and then the operator's writes stop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modeldeploy.config import default_config
from modeldeploy.desired import build_children
from modeldeploy.drift import holds_object
from modeldeploy.kube import object_path
from modeldeploy.localcluster.operator_process import OperatorProcess
from modeldeploy.schemas import ITEM, Node, schema_of
from modeldeploy.spec import parse_spec
from tests.support.child_schemas import live_table
from tests.support.clusters import make_namespace
from tests.support.kubeapi import RawApi
from tests.support.kubectl import Kube
from tests.support.manifests import model_deployment
from tests.support.settle import assert_children_hold, assert_quiet
from tests.support.waits import wait_for, wait_ready

CONFIG = default_config()
STORED = schema_of  # the operator's table, read through the same function the drift check uses


def test_stored_schema_table_matches_the_api_server(api: RawApi) -> None:
    from importlib import resources

    stored = json.loads(resources.files("modeldeploy").joinpath("data", "child_schemas.json").read_text())
    live = live_table(api)
    assert stored == live, (
        "operator/modeldeploy/data/child_schemas.json differs from this API server's OpenAPI; regenerate "
        "it: KUBECONFIG=<kubeconfig> .venv/bin/python -m tests.support.child_schemas > "
        "operator/modeldeploy/data/child_schemas.json"
    )
    deployment = live["apps/v1/Deployment"]["quantities"]
    # The ones the issue named, found from the schema and not from a list kept by hand.
    for path in (
        "spec.template.spec.containers.[].resources.limits.*",
        "spec.template.spec.containers.[].env.[].valueFrom.resourceFieldRef.divisor",
        "spec.template.spec.volumes.[].emptyDir.sizeLimit",
    ):
        assert path in deployment
    assert (
        "spec.metrics.[].pods.target.averageValue"
        in live["autoscaling/v2/HorizontalPodAutoscaler"]["quantities"]
    )
    print("\nquantity fields:", json.dumps({k: v["quantities"] for k, v in live.items()}, indent=1))


# --- property: random valid quantities in every quantity field converge after one apply -------------

SUFFIXES = ["", "m", "k", "M", "G", "Ki", "Mi", "Gi", "e3", "E-3", "e0"]
_SCALE = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20,
          "Gi": 2**30, "e3": 10**3, "E-3": Decimal("0.001"), "e0": 1}  # fmt: skip


@st.composite
def quantities(draw: st.DrawFn, low: Decimal = Decimal("0.001"), high: Decimal = Decimal(10**12)) -> Any:
    """A positive quantity in any spelling Kubernetes accepts: "0.5", "500m", "5E-1", ".5", 2, "1.5Gi".
    From one byte up (``low`` >= 1), never milli: the operator refuses "m" for memory as a likely typo."""
    suffix = draw(st.sampled_from([s for s in SUFFIXES if not (low >= 1 and s == "m")]))
    whole = draw(st.integers(0, 5000))
    fraction = draw(st.sampled_from(["", ".", ".5", ".25", ".125", ".001"]))
    text = f"{whole}{fraction}"
    if text in ("0", "0.", "") or Decimal(text.rstrip(".") or "0") == 0:
        text = "1"
    value = Decimal(text.rstrip(".")) * Decimal(_SCALE[suffix])
    if not low <= value <= high or value != value.quantize(Decimal("0.001")):
        return str(low)
    if suffix == "" and fraction == "" and draw(st.booleans()):
        return whole or 1  # int-or-string: a bare number
    return text + suffix


def metric(kind: str, target: str, value: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "target": {"type": target, ("value" if target == "Value" else "averageValue"): value}
    }
    if kind in ("Pods", "Object", "External"):
        body["metric"] = {"name": "qps"}
    if kind == "Object":
        body["describedObject"] = {"apiVersion": "v1", "kind": "Service", "name": "front"}
    if kind in ("Resource", "ContainerResource"):
        body["name"] = "memory"
    if kind == "ContainerResource":
        body["container"] = "tfserving"
    key = kind[0].lower() + kind[1:]
    return {"type": kind, key: body}


@st.composite
def quantity_specs(draw: st.DrawFn) -> dict[str, Any]:
    # The API server accepts divisors whose canonical form is in its list (1m and 1 for cpu): "0.001"
    # becomes "1m", but "1e-3" and "1024" stay as written and are refused.
    cpu_divisor = draw(st.sampled_from(["1", "1000m", "0.001", "1m", 1]))
    memory_divisor = draw(st.sampled_from(["1", "1k", "1000", "1Ki", "1Mi", "1000k", "1M", "0.001M"]))
    return {
        "model": {"uri": draw(st.sampled_from(["gs://b/m", "s3://b/m"]))},  # s3: the init container too
        "resources": {"cpu": draw(quantities()), "memory": draw(quantities(Decimal(1)))},
        "env": [
            {
                "name": "CPUS",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": cpu_divisor}},
            },
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": memory_divisor}},
            },
        ],
        "autoscaling": {
            "maxReplicas": 3,
            "metrics": [
                metric("Pods", "AverageValue", draw(quantities())),
                metric("Object", "Value", draw(quantities())),
                metric("Object", "AverageValue", draw(quantities())),
                metric("External", "Value", draw(quantities())),
                metric("External", "AverageValue", draw(quantities())),
                metric("Resource", "AverageValue", draw(quantities(Decimal(1)))),
                metric("ContainerResource", "AverageValue", draw(quantities(Decimal(1)))),
            ],
        },
    }


def quantity_leaves(value: Any, node: Node, path: str = "") -> Iterator[str]:
    if node.quantity:
        yield path
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from quantity_leaves(sub, node.child(key), f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from quantity_leaves(sub, node.child(ITEM), f"{path}[{i}]")


@pytest.fixture(scope="module")
def property_namespace(kube: Kube) -> str:
    return make_namespace(kube, prefix="quantity")


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=quantity_specs())
def test_random_quantities_in_every_quantity_field_hold_after_one_apply(
    api: RawApi, property_namespace: str, spec: dict[str, Any]
) -> None:
    """The API server rewrites each quantity to its canonical form; the drift check must still see the
    applied child as holding the desired one, or every reconcile would apply again."""
    children = build_children(parse_spec("prop", property_namespace, spec, CONFIG), CONFIG)
    seen = 0
    for obj in children:
        meta = obj["metadata"]
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        status, stored = api.apply(path, obj, dry_run=True)
        assert status in (200, 201), f"{obj['kind']} refused: {stored}"
        assert holds_object(obj, stored), f"{obj['kind']} does not hold after apply; spec {spec}"
        seen += len(list(quantity_leaves(obj, STORED(obj["apiVersion"], obj["kind"]))))
    # requests and limits of cpu and memory, two divisors, seven metric targets, init container too.
    assert seen >= 4 + 2 + 7


# --- the operator against users' edits ---------------------------------------------------------------


NON_CANONICAL = {
    "resources": {"cpu": "0.5", "memory": "1.5Gi"},
    "env": [
        {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1000m"}}}
    ],
    "autoscaling": {
        "minReplicas": 2,
        "maxReplicas": 4,
        "metrics": [metric("Pods", "AverageValue", 1000)],  # stored as "1k"
    },
}


def test_non_canonical_quantities_converge_and_writes_stop(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(model_deployment("quant", namespace, uri="gs://b/m", **NON_CANONICAL))
    md = wait_ready(kube, "quant", namespace)
    deployment = kube.get("deployment", "quant", namespace)
    assert deployment is not None
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "1536Mi"}  # stored canonical
    assert_children_hold(kube, md)
    assert_quiet(kube, operator, "quant", namespace)


def test_a_hand_edited_service_port_is_restored_and_writes_stop(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(model_deployment("ports", namespace, uri="gs://b/m"))
    wait_ready(kube, "ports", namespace)
    kube.run("patch", "svc", "ports", "-n", namespace, "--type=json",
             "-p", '[{"op":"replace","path":"/spec/ports/0/port","value":9999}]')  # fmt: skip

    def restored() -> bool:
        service = kube.get("service", "ports", namespace) or {}
        return [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("grpc", 8500), ("http", 8501)]

    wait_for(restored, 30, what="the Service ports to be restored")
    md = wait_ready(kube, "ports", namespace)
    assert all(c["reason"] != "ApplyFailed" for c in md["status"]["conditions"])
    assert_quiet(kube, operator, "ports", namespace)


def test_an_env_var_another_writer_added_is_removed(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(model_deployment("env", namespace, uri="gs://b/m", env=[{"name": "KEEP", "value": "1"}]))
    wait_ready(kube, "env", namespace)
    kube.run("set", "env", "deployment/env", "-n", namespace, "INJECTED=yes")

    def env_names() -> list[str]:
        deployment = kube.get("deployment", "env", namespace) or {}
        return [e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])]

    wait_for(lambda: env_names() == ["KEEP"], 30, what="the injected variable to be removed")
    wait_ready(kube, "env", namespace)
    assert_quiet(kube, operator, "env", namespace)


@pytest.mark.parametrize("keeps_owner", [False, True], ids=["debug-clone", "renamed-copy-with-owner"])
def test_a_look_alike_deployment_is_not_a_child(
    kube: Kube, operator: OperatorProcess, namespace: str, keeps_owner: bool
) -> None:
    kube.apply(model_deployment("twin", namespace, uri="gs://b/m"))
    wait_ready(kube, "twin", namespace)
    original = kube.get("deployment", "twin", namespace)
    assert original is not None
    # Same labels (and so the same pod labels), another name; a copy made with `kubectl get -o yaml`
    # and a new name even keeps the controller owner reference.
    meta: dict[str, Any] = {
        "name": "twin-copy",
        "namespace": namespace,
        "labels": original["metadata"]["labels"],
    }
    if keeps_owner:
        meta["ownerReferences"] = original["metadata"]["ownerReferences"]
    spec = {k: v for k, v in original["spec"].items() if k != "replicas"}
    kube.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec})
    wait_for(
        lambda: ((kube.get("deployment", "twin-copy", namespace) or {}).get("status") or {}).get(
            "readyReplicas"
        ),
        60,
        what="the copy's pod to be ready",
    )
    assert_quiet(kube, operator, "twin", namespace)
    md = kube.get("md", "twin", namespace)
    assert md is not None and md["status"]["readyReplicas"] == 1  # the copy's pods are not the model's
    copy = kube.get("deployment", "twin-copy", namespace)
    assert copy is not None and copy["metadata"]["generation"] == 1  # never written by the operator
