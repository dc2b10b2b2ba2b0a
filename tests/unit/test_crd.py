"""Static checks of the CRDs in crds/: what `kubectl explain`, `kubectl get` and `kubectl scale` rely on.

The API server itself (CEL compilation, cost estimation, structural schema) is exercised by the cluster
tests; here we check the contract without one. CEL regexes are simple enough that Python's `re` agrees
with RE2 on them, so the uri rules are also tried on examples.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from modeldeploy.reasons import Phase
from modeldeploy.statuspatch import OWNED_KEYS

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "serving.modeldeploy.io_modeldeployments.yaml"
PEERING_PATH = ROOT / "crds" / "kopf-peering.yaml"

Schema = Mapping[str, Any]


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(CRD_PATH.read_text()) if d]
    assert len(docs) == 1
    return dict(docs[0])


@pytest.fixture(scope="module")
def version(crd: dict[str, Any]) -> dict[str, Any]:
    versions = crd["spec"]["versions"]
    assert len(versions) == 1
    return dict(versions[0])


@pytest.fixture(scope="module")
def root(version: dict[str, Any]) -> Schema:
    return dict(version["schema"]["openAPIV3Schema"])


def at(root: Schema, path: str) -> Schema:
    """The schema at a dotted path; `[]` steps into array items, e.g. spec.env[].name."""
    node = root
    for part in path.split("."):
        is_items = part.endswith("[]")
        node = node["properties"][part.removesuffix("[]")]
        if is_items:
            node = node["items"]
    return node


def walk(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node below `schema` with its path (properties, array items, map values)."""
    for name, child in schema.get("properties", {}).items():
        child_path = f"{path}.{name}" if path else name
        yield child_path, child
        yield from walk(child, child_path)
    if "items" in schema:
        yield f"{path}[]", schema["items"]
        yield from walk(schema["items"], f"{path}[]")
    additional = schema.get("additionalProperties")
    if isinstance(additional, Mapping):
        yield f"{path}{{}}", additional
        yield from walk(additional, f"{path}{{}}")


def rules(schema: Schema) -> list[dict[str, str]]:
    return [dict(r) for r in schema.get("x-kubernetes-validations", [])]


def all_rules(root: Schema) -> Iterator[tuple[str, dict[str, str]]]:
    for rule in rules(root):
        yield "<root>", rule
    for path, node in walk(root):
        for rule in rules(node):
            yield path, rule


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


# --- CEL rules --------------------------------------------------------------------------------------------


def test_every_rule_has_a_message_naming_its_field(root: Schema) -> None:
    for path, rule in all_rules(root):
        message = rule.get("message", "")
        assert re.match(r"(spec|metadata)\.[A-Za-z.]+", message), f"{path}: {message!r}"


def test_replicas_and_autoscaling_are_exclusive(root: Schema) -> None:
    (rule,) = rules(at(root, "spec"))
    assert "has(self.replicas)" in rule["rule"] and "has(self.autoscaling)" in rule["rule"]
    assert "spec.replicas" in rule["message"] and "spec.autoscaling" in rule["message"]


def test_min_replicas_not_above_max(root: Schema) -> None:
    rule, zero = rules(at(root, "spec.autoscaling"))
    assert "self.minReplicas <= self.maxReplicas" in rule["rule"]
    assert "minReplicas" in rule["message"] and "maxReplicas" in rule["message"]
    # Scale to zero only with a request-rate target: CPU cannot wake a model with no pods.
    assert "has(self.requestsPerSecond)" in zero["rule"]
    assert "spec.autoscaling.minReplicas" in zero["message"] and "requestsPerSecond" in zero["message"]


def test_version_labels_point_into_specific(root: Schema) -> None:
    rule, _ = rules(at(root, "spec.model"))
    assert "self.versionPolicy.specific" in rule["rule"]
    assert "self.versionLabels" in rule["rule"]
    assert "spec.model.versionPolicy.specific" in rule["message"]


def test_version_policy_has_exactly_one_choice(root: Schema) -> None:
    (rule,) = rules(at(root, "spec.model.versionPolicy"))
    for choice in ("latest", "specific", "all"):
        assert f"has(self.{choice})" in rule["rule"]
    assert "== 1" in rule["rule"]
    assert "exactly one" in rule["message"]


def test_version_label_names_are_checked(root: Schema) -> None:
    (rule,) = rules(at(root, "spec.model.versionLabels"))
    assert "^[a-z][a-z0-9_-]{0,62}$" in rule["rule"]
    assert at(root, "spec.model.versionLabels")["maxProperties"] == 32


def test_allowed_batch_sizes_end_at_max_batch_size(root: Schema) -> None:
    (rule,) = rules(at(root, "spec.runtime.batching"))
    assert "self.allowedBatchSizes[size(self.allowedBatchSizes) - 1] == self.maxBatchSize" in rule["rule"]
    (sorted_rule,) = rules(at(root, "spec.runtime.batching.allowedBatchSizes"))
    assert sorted_rule["rule"] == "self.isSorted()"


def test_managed_flags_are_rejected(root: Schema) -> None:
    (rule,) = rules(at(root, "spec.runtime.args"))
    pattern = re.search(r"matches\('([^']*)'\)", rule["rule"])
    assert pattern is not None
    managed = [
        "port",
        "grpc_port",
        "rest_api_port",
        "model_config_file",
        "model_config_file_poll_wait_seconds",
        "monitoring_config_file",
        "enable_batching",
        "batching_parameters_file",
        "model_name",
        "model_base_path",
    ]
    for flag in managed:
        assert re.search(pattern.group(1), f"--{flag}=1"), flag
        assert re.search(pattern.group(1), f"--{flag}"), flag
    for allowed in ("--portability=1", "--model_name_suffix=x", "--enable_model_warmup"):
        assert not re.search(pattern.group(1), allowed), allowed


def uri_accepted(root: Schema, uri: str) -> bool:
    """Evaluates the uri rules the way CEL does, for the two shapes they use."""
    for rule in rules(at(root, "spec.model.uri")):
        text = rule["rule"]
        patterns = re.findall(r"matches\('([^']*)'\)", text)
        if text.startswith("!self.startsWith('pvc://') ||"):
            ok = not uri.startswith("pvc://") or bool(re.search(patterns[0], uri))
        else:
            assert text == f"self.matches('{patterns[0]}')", text
            ok = bool(re.search(patterns[0], uri))
        if not ok:
            return False
    return True


@pytest.mark.parametrize(
    "uri",
    [
        "gs://acme-models/resnet",
        "s3://bucket/models/resnet",
        "http://models.internal/resnet.tar",
        "https://example.com/resnet",
        "pvc://models/resnet",
        "pvc://my-claim/a/b/c",
    ],
)
def test_uri_rules_accept(root: Schema, uri: str) -> None:
    assert uri_accepted(root, uri)


@pytest.mark.parametrize(
    "uri",
    ["ftp://host/x", "gs:/bucket", "/local/path", "resnet", "pvc://models", "pvc://models/", "GS://b/x"],
)
def test_uri_rules_reject(root: Schema, uri: str) -> None:
    assert not uri_accepted(root, uri)


def test_uri_messages_name_the_schemes_and_the_pvc_form(root: Schema) -> None:
    messages = " ".join(r["message"] for r in rules(at(root, "spec.model.uri")))
    for scheme in ("gs://", "s3://", "pvc://", "http://", "https://"):
        assert scheme in messages
    assert "pvc://<claim>/<path-in-claim>" in messages


def test_name_fits_the_service_and_label_limits(root: Schema) -> None:
    (rule,) = rules(root)
    assert "size(self.metadata.name) <= 63" in rule["rule"]
    assert "DNS-1035" in rule["message"]


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
