"""The CRD's CEL rules, read without a cluster: each names its field in its message and says what it
refuses. The API server compiles and runs them in the cluster tests; CEL regexes are simple enough that
Python's `re` agrees with RE2 on them, so the uri rules are also tried on examples here."""

from __future__ import annotations

import re

import pytest

from tests.support.crd_schema import Schema, all_rules, at, rules


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
