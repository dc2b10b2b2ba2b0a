"""Static checks of the CRDs in crds/: what `kubectl explain`, `kubectl get` and `kubectl scale` rely on.

The API server itself (CEL compilation, cost estimation, structural schema) is exercised by the cluster
tests; here we check the contract without one. The CEL rules: test_crd_cel.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
import yaml

from modeldeploy.reasons import Phase
from modeldeploy.statuspatch import OWNED_KEYS
from tests.support.crd_schema import PEERING_PATH, Schema, at, rules, walk

# --- names and versions ----------------------------------------------------------------------------------


def test_names_group_and_scope(crd: dict[str, Any]) -> None:
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == "modeldeployments.serving.modeldeploy.io"
    spec = crd["spec"]
    assert spec["group"] == "serving.modeldeploy.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "ModelDeployment",
        "listKind": "ModelDeploymentList",
        "plural": "modeldeployments",
        "singular": "modeldeployment",
        "shortNames": ["md"],
        "categories": ["modeldeploy"],
    }


def test_single_served_storage_version(version: dict[str, Any]) -> None:
    assert version["name"] == "v1alpha1"
    assert version["served"] is True
    assert version["storage"] is True


def test_status_and_scale_subresources(version: dict[str, Any]) -> None:
    assert version["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }


def test_printer_columns(version: dict[str, Any]) -> None:
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Model",
        "Ready",
        "Phase",
        "GPU",
        "Cost",
        "Age",
        "Desired",
        "URI",
    ]
    assert {name: c["jsonPath"] for name, c in columns.items()} == {
        "Model": ".status.model.name",
        "Ready": ".status.ready",
        "Phase": ".status.phase",
        "GPU": ".status.gpu",
        "Cost": ".status.cost.hourly",
        "Age": ".metadata.creationTimestamp",
        "Desired": ".status.autoscaler.desiredReplicas",
        "URI": ".spec.model.uri",
    }
    assert columns["Age"]["type"] == "date"
    assert columns["URI"]["priority"] == columns["Desired"]["priority"] == 1
    assert all(c.get("priority", 0) == 0 for name, c in columns.items() if name not in ("URI", "Desired"))


def test_printer_columns_point_at_declared_fields(version: dict[str, Any], root: Schema) -> None:
    for column in version["additionalPrinterColumns"]:
        path = column["jsonPath"].lstrip(".")
        if path.startswith("metadata."):
            continue
        assert at(root, path)["type"] == column["type"], column["name"]


# --- the schema teaches: descriptions, defaults, bounds ----------------------------------------------------


def test_every_field_has_a_description(root: Schema) -> None:
    assert root.get("description")
    missing = [
        path
        for path, node in walk(root)
        # The API server forbids anything but `type` on the root metadata.
        if path != "metadata" and not path.endswith(("[]", "{}")) and not node.get("description")
    ]
    assert missing == []


def test_root_metadata_is_left_to_the_api_server(root: Schema) -> None:
    assert root["properties"]["metadata"] == {"type": "object"}


def test_descriptions_give_defaults_and_examples(root: Schema) -> None:
    for path in ("spec.model.uri", "spec.model.name", "spec.resources.gpu", "spec.autoscaling"):
        assert "Example" in at(root, path)["description"] or "e.g." in at(root, path)["description"], path
    assert "Default" in at(root, "spec.model.versionPolicy")["description"]
    assert "Default" in at(root, "spec.resources.gpu.count")["description"]


@pytest.mark.parametrize(
    ("path", "default"),
    [
        ("spec.model.versionPolicy", {"latest": 1}),
        ("spec.resources.cpu", "1"),
        ("spec.resources.memory", "2Gi"),
        ("spec.resources.gpu.count", 1),
        ("spec.autoscaling.minReplicas", 1),
        ("spec.runtime.modelConfigPollSeconds", 30),
    ],
)
def test_defaults(root: Schema, path: str, default: Any) -> None:
    assert at(root, path)["default"] == default


def test_replicas_has_no_crd_default(root: Schema) -> None:
    # A CRD default would make spec.replicas always set, which CEL forbids together with spec.autoscaling.
    assert "default" not in at(root, "spec.replicas")


@pytest.mark.parametrize(
    ("path", "minimum", "maximum"),
    [
        ("spec.replicas", 0, 1000),
        ("spec.autoscaling.minReplicas", 0, 1000),
        ("spec.autoscaling.scaleDownStabilizationSeconds", 0, 3600),
        ("spec.autoscaling.maxReplicas", 1, 1000),
        ("spec.autoscaling.targetCPUUtilization", 1, 100),
        ("spec.runtime.modelConfigPollSeconds", 1, 3600),
        ("spec.runtime.batching.maxBatchSize", 1, 65536),
        ("spec.runtime.batching.batchTimeoutMicros", 0, 60000000),
        ("spec.runtime.batching.numBatchThreads", 1, 1024),
        ("spec.runtime.batching.maxEnqueuedBatches", 1, 1000000),
        ("spec.model.versionPolicy.latest", 1, 1000),
    ],
)
def test_integer_bounds(root: Schema, path: str, minimum: int, maximum: int) -> None:
    node = at(root, path)
    assert (node["minimum"], node["maximum"]) == (minimum, maximum)


def test_gpu_count_lower_bound_is_a_cel_rule_with_a_message(root: Schema) -> None:
    count = at(root, "spec.resources.gpu.count")
    assert "minimum" not in count  # else the schema error would hide the CEL message
    assert count["maximum"] == 16
    assert [r["rule"] for r in rules(count)] == ["self >= 1"]
    assert "spec.resources.gpu.count" in rules(count)[0]["message"]


def test_every_string_list_and_map_is_bounded(root: Schema) -> None:
    # CEL cost estimation multiplies these bounds; an unbounded one makes the API server reject the CRD.
    unbounded = []
    for path, node in walk(root):
        if node.get("x-kubernetes-preserve-unknown-fields"):
            continue
        # apiVersion and kind are out of CEL's reach; a date-time has a fixed size.
        exempt = path in ("apiVersion", "kind") or node.get("format") == "date-time"
        if node.get("type") == "string" and not exempt and "maxLength" not in node and "enum" not in node:
            unbounded.append(path)
        if node.get("type") == "array" and "maxItems" not in node:
            unbounded.append(path)
        if isinstance(node.get("additionalProperties"), Mapping) and "maxProperties" not in node:
            unbounded.append(path)
        if node.get("x-kubernetes-int-or-string") and "maxLength" not in node:
            unbounded.append(path)
    assert unbounded == []


def test_quantities_are_int_or_string(root: Schema) -> None:
    for path in ("spec.resources.cpu", "spec.resources.memory"):
        node = at(root, path)
        assert node["x-kubernetes-int-or-string"] is True
        assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}]
        assert "type" not in node
        assert re.fullmatch(node["pattern"], str(node["default"]))
        for good in ("500m", "2", "4Gi", "1.5", "512Mi"):
            assert re.fullmatch(node["pattern"], good), good
        for bad in ("lots", "-1", "4 Gi", "4GB"):
            assert not re.fullmatch(node["pattern"], bad), bad


def test_unknown_fields_are_kept_only_for_embedded_kubernetes_types(root: Schema) -> None:
    preserved = {path for path, node in walk(root) if node.get("x-kubernetes-preserve-unknown-fields")}
    assert preserved == {
        "spec.autoscaling.metrics[]",
        "spec.placement.tolerations[]",
        "spec.placement.affinity",
        "spec.env[]",
        "spec.env[].valueFrom",
    }
    for path, node in walk(root):
        if node.get("x-kubernetes-preserve-unknown-fields"):
            assert node["type"] == "object", path


def test_required_fields(root: Schema) -> None:
    assert root["required"] == ["spec"]
    assert at(root, "spec")["required"] == ["model"]
    assert at(root, "spec.model")["required"] == ["uri"]
    assert at(root, "spec.resources.gpu")["required"] == ["type"]
    assert at(root, "spec.autoscaling")["required"] == ["maxReplicas"]


def test_model_name_pattern_matches_the_contract(root: Schema) -> None:
    assert at(root, "spec.model.name")["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


def test_version_lists_are_sets(root: Schema) -> None:
    specific = at(root, "spec.model.versionPolicy.specific")
    assert specific["x-kubernetes-list-type"] == "set"
    assert (specific["minItems"], specific["maxItems"]) == (1, 32)
    assert specific["items"]["minimum"] == 0
    assert at(root, "spec.runtime.batching.allowedBatchSizes")["x-kubernetes-list-type"] == "set"


# --- status ----------------------------------------------------------------------------------------------


def test_status_fields(root: Schema) -> None:
    status = at(root, "status")
    # The CRD declares exactly the keys compute_status writes, and every phase it may set.
    assert set(status["properties"]) == OWNED_KEYS
    assert at(root, "status.phase")["enum"] == list(Phase.ALL)
    assert at(root, "status.cost.hourly")["type"] == "string"
    assert set(at(root, "status.endpoints")["properties"]) == {"grpc", "rest"}
    versions = set(at(root, "status.model.versions[]")["properties"])
    assert versions == {"version", "state", "availableReplicas", "replicas", "labels", "error", "lastError"}


def test_conditions_follow_the_api_conventions(root: Schema) -> None:
    conditions = at(root, "status.conditions")
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    # A map-keyed list needs its key required.
    assert "type" in item["required"]
    assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert item["properties"]["lastTransitionTime"]["format"] == "date-time"
    assert re.fullmatch(item["properties"]["reason"]["pattern"], "InsufficientGPU")


# --- Kopf peering -----------------------------------------------------------------------------------------


def test_kopf_peering_crds() -> None:
    docs = [d for d in yaml.safe_load_all(PEERING_PATH.read_text()) if d]
    by_kind = {d["spec"]["names"]["kind"]: d for d in docs}
    assert set(by_kind) == {"ClusterKopfPeering", "KopfPeering"}
    expected = {
        "ClusterKopfPeering": ("clusterkopfpeerings", "Cluster"),
        "KopfPeering": ("kopfpeerings", "Namespaced"),
    }
    for kind, (plural, scope) in expected.items():
        doc = by_kind[kind]
        assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
        assert doc["metadata"]["name"] == f"{plural}.kopf.dev"
        assert doc["spec"]["group"] == "kopf.dev"
        assert doc["spec"]["scope"] == scope
        assert doc["spec"]["names"]["plural"] == plural
        (version,) = doc["spec"]["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["type"] == "object"
        assert status["x-kubernetes-preserve-unknown-fields"] is True
