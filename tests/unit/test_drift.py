"""The drift check: quantities by value wherever the schema says, list-maps by key, foreign list items."""

from __future__ import annotations

from typing import Any

import pytest

from modeldeploy.drift import foreign_lists, holds, holds_object, replacement_patch
from modeldeploy.schemas import derive, schema_of, tree

NODE = tree(
    {
        "quantities": [
            "spec.containers.[].resources.limits.*",
            "spec.metrics.[].pods.target.averageValue",
        ],
        "listMaps": {"spec.containers": ["name"], "spec.ports": ["port", "protocol"]},
        "sets": ["spec.finalizers"],
    }
)


def container(cpu: Any, name: str = "tfserving", **extra: Any) -> dict[str, Any]:
    return {"name": name, "resources": {"limits": {"cpu": cpu}}, **extra}


@pytest.mark.parametrize(
    ("desired", "live"),
    [("0.5", "500m"), ("1.5Gi", "1536Mi"), ("1e3", "1k"), (1000, "1k"), ("1000m", "1"), ("0.1", "100m")],
)
def test_quantities_compare_by_value(desired: Any, live: str) -> None:
    assert holds(
        {"spec": {"containers": [container(desired)]}}, {"spec": {"containers": [container(live)]}}, NODE
    )


def test_quantities_deep_in_lists_compare_by_value() -> None:
    desired = {"spec": {"metrics": [{"pods": {"target": {"averageValue": "1000"}}}]}}
    live = {"spec": {"metrics": [{"pods": {"target": {"averageValue": "1k"}}}]}}
    assert holds(desired, live, NODE)
    assert not holds(desired, {"spec": {"metrics": [{"pods": {"target": {"averageValue": "2k"}}}]}}, NODE)


def test_only_quantity_fields_compare_by_value() -> None:
    # An env value "1.0" is a different string from "1", whatever it would mean as a quantity.
    assert not holds({"spec": {"value": "1.0"}}, {"spec": {"value": "1"}}, NODE)
    assert not holds({"spec": {"containers": [container("1", image="1.0")]}},
                     {"spec": {"containers": [container("1", image="1")]}}, NODE)  # fmt: skip


def test_garbage_is_never_equal_as_a_quantity() -> None:
    assert not holds(
        {"spec": {"containers": [container("x")]}}, {"spec": {"containers": [container("x")]}}, NODE
    )
    assert not holds(
        {"spec": {"containers": [container(True)]}}, {"spec": {"containers": [container(1)]}}, NODE
    )


def test_list_maps_match_by_key_not_position() -> None:
    desired = {"spec": {"containers": [container("1", "a"), container("2", "b")]}}
    live = {"spec": {"containers": [container("2", "b"), container("1", "a")]}}
    assert holds(desired, live, NODE)


def test_an_extra_live_item_is_drift_and_foreign() -> None:
    desired = {"spec": {"ports": [{"name": "grpc", "port": 8500}, {"name": "http", "port": 8501}]}}
    # kubectl patch changed the first port's number: its item now has a key the operator never applies.
    live = {"spec": {"ports": [{"name": "grpc", "port": 9999, "protocol": "TCP"},
                               {"name": "http", "port": 8501, "protocol": "TCP"}]}}  # fmt: skip
    assert not holds(desired, live, NODE)
    assert foreign_lists(desired, live, NODE) == [("spec", "ports")]
    assert replacement_patch(desired, [("spec", "ports")]) == {"spec": {"ports": desired["spec"]["ports"]}}


def test_a_changed_value_inside_a_keyed_item_is_not_foreign() -> None:
    # Server-side apply fixes that by itself; the whole list need not be replaced.
    desired = {"spec": {"containers": [container("1")]}}
    live = {"spec": {"containers": [container("2")]}}
    assert not holds(desired, live, NODE)
    assert foreign_lists(desired, live, NODE) == []


def test_a_foreign_item_in_a_nested_list_replaces_the_outermost_list() -> None:
    inner = tree({"listMaps": {"spec.containers": ["name"], "spec.containers.[].env": ["name"]}})
    desired = {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}}
    live = {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y"}]}]}}
    assert foreign_lists(desired, live, inner) == [("spec", "containers")]


def test_sets_report_foreign_values() -> None:
    assert foreign_lists({"spec": {"finalizers": ["a"]}}, {"spec": {"finalizers": ["a", "b"]}}, NODE) == [
        ("spec", "finalizers")
    ]


def test_values_the_server_drops_when_empty_match_a_missing_field() -> None:
    assert holds({"spec": {"value": "", "list": [], "map": {}, "null": None}}, {"spec": {}})
    assert not holds({"spec": {"value": "x"}}, {"spec": {}})


def test_booleans_are_not_numbers() -> None:
    assert not holds({"a": True}, {"a": 1}) and not holds({"a": 0}, {"a": False})


def test_derive_reads_quantities_list_maps_and_sets_from_openapi() -> None:
    quantity = {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"}
    schemas: dict[str, Any] = {
        "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
        "x.Root": {
            "properties": {
                "spec": {"allOf": [{"$ref": "#/components/schemas/x.Spec"}]},
                "status": {"properties": {"used": quantity}},
            }
        },
        "x.Spec": {
            "properties": {
                "limits": {"type": "object", "additionalProperties": {"allOf": [quantity]}},
                "size": {"type": "string", "format": "quantity"},
                "ports": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/x.Port"},
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["port", "protocol"],
                },
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "self": {"$ref": "#/components/schemas/x.Spec"},
            }
        },
        "x.Port": {"properties": {"port": {"type": "integer"}, "divisor": quantity}},
    }
    table = derive(schemas, "x.Root")
    assert table["quantities"] == ["spec.limits.*", "spec.ports.[].divisor", "spec.size"]
    assert table["listMaps"] == {"spec.ports": ["port", "protocol"]}
    assert table["sets"] == ["spec.tags"]


def deployment(cpu: str, memory: str, divisor: str, size: str) -> dict[str, Any]:
    field_ref = {"resource": "limits.cpu", "divisor": divisor}
    container = {
        "name": "c",
        "resources": {"limits": {"cpu": cpu}, "requests": {"memory": memory}},
        "env": [{"name": "E", "valueFrom": {"resourceFieldRef": field_ref}}],
    }
    pod = {"containers": [container], "volumes": [{"name": "v", "emptyDir": {"sizeLimit": size}}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": pod}}}


def test_stored_table_knows_the_quantity_fields_the_operator_renders() -> None:
    assert holds_object(deployment("0.5", "1.5Gi", "1000m", "1e3"), deployment("500m", "1536Mi", "1", "1k"))
    assert not holds_object(
        deployment("0.5", "1.5Gi", "1000m", "1e3"), deployment("500m", "1536Mi", "1", "2k")
    )
    target = schema_of("autoscaling/v2", "HorizontalPodAutoscaler").child("spec").child("metrics").child("[]")
    assert target.child("pods").child("target").child("averageValue").quantity
