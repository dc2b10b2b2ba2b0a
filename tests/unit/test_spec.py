"""parse_spec: defaults, CRD-equivalent checks and the semantic checks the CRD cannot do."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from modeldeploy.config import default_config
from modeldeploy.spec import ModelDeploymentSpec, SpecError, parse_spec

CONFIG = default_config()


def base() -> dict[str, Any]:
    return {"model": {"uri": "gs://acme-models/resnet"}}


def parse(spec: dict[str, Any], name: str = "resnet", namespace: str = "vision") -> ModelDeploymentSpec:
    return parse_spec(name, namespace, spec, CONFIG)


def with_(path: str, value: Any) -> dict[str, Any]:
    """base() with the dotted `path` set to `value`."""
    spec = base()
    node = spec
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return spec


def error_of(spec: Any, name: str = "resnet", namespace: str = "vision") -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(name, namespace, spec, CONFIG)
    return info.value


def test_minimal_spec_gets_every_default() -> None:
    md = parse(base())
    assert (md.name, md.namespace, md.model.name) == ("resnet", "vision", "resnet")
    assert md.model.version_policy.kind == "latest" and md.model.version_policy.latest == 1
    assert md.runtime.image == "tensorflow/serving" and md.runtime.version == "2.19.0"
    assert md.runtime.model_config_poll_seconds == 30 and md.runtime.batching is None
    assert (md.resources.cpu, md.resources.memory, md.resources.gpu) == ("1", "2Gi", None)
    assert md.replicas == 1 and md.autoscaling is None
    assert md.gpu_summary() is None and md.wanted_replicas() == 1


def test_full_design_example_parses() -> None:
    spec = {
        "model": {
            "uri": "gs://acme-models/resnet",
            "name": "resnet",
            "versionPolicy": {"specific": [3, 4]},
            "versionLabels": {"stable": 3, "canary": 4},
        },
        "runtime": {
            "version": "2.19.0",
            "image": "tensorflow/serving",
            "batching": {"maxBatchSize": 32, "batchTimeoutMicros": 2000, "numBatchThreads": 4},
            "args": ["--enable_model_warmup=true", "--tensorflow_intra_op_parallelism=4"],
        },
        "resources": {"cpu": 2, "memory": "4Gi", "gpu": {"count": 2, "type": "nvidia-tesla-t4"}},
        "autoscaling": {"minReplicas": 2, "maxReplicas": 8, "targetCPUUtilization": 70, "metrics": []},
        "placement": {"nodeSelector": {"pool": "inference"}, "tolerations": [], "affinity": {}},
        "serviceAccountName": "model-reader",
        "env": [{"name": "AWS_REGION", "value": "eu-west-1"}],
    }
    md = parse(spec)
    assert md.model.version_policy.versions == (3, 4)
    assert md.model.version_labels == {"stable": 3, "canary": 4}
    assert md.resources.cpu == "2"  # int-or-string normalised
    assert md.gpu_summary() == "2x nvidia-tesla-t4"
    assert md.autoscaling is not None and md.autoscaling.target_cpu_utilization == 70
    assert md.wanted_replicas() == 2
    assert md.runtime.args == ("--enable_model_warmup=true", "--tensorflow_intra_op_parallelism=4")


def test_parsed_spec_does_not_alias_the_input() -> None:
    spec = with_("env", [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}])
    original = copy.deepcopy(spec)
    md = parse(spec)
    spec["env"][0]["valueFrom"]["secretKeyRef"]["name"] = "changed"
    assert md.env[0]["valueFrom"]["secretKeyRef"]["name"] == "s"
    assert original != spec


def test_pvc_uri_parts() -> None:
    md = parse(with_("model.uri", "pvc://models-claim/resnet/v2/"))
    assert (md.model.scheme, md.model.pvc_claim, md.model.pvc_path) == ("pvc", "models-claim", "resnet/v2")
    assert parse(with_("model.uri", "pvc://models-claim")).model.pvc_path == ""


def test_unknown_gpu_type_lists_known_types_and_the_config_fix() -> None:
    error = error_of(with_("resources.gpu", {"type": "a100x"}))
    assert error.field == "spec.resources.gpu.type"
    assert "unknown GPU type 'a100x'" in error.message
    assert "nvidia-a100, nvidia-h100, nvidia-l4, nvidia-tesla-t4" in error.message
    assert "gpuTypes" in error.fix
    assert str(error) == f"{error.field}: {error.message} ({error.fix})"
    assert error.message_with_fix() == f"{error.message} ({error.fix})"


@pytest.mark.parametrize(
    ("args", "index", "flag"),
    [
        (["--port=9000"], 0, "port"),
        (["--enable_model_warmup=true", "--grpc_port=1"], 1, "grpc_port"),
        (["--rest_api_port", "9001"], 0, "rest_api_port"),
        (["--model_config_file /x"], 0, "model_config_file"),
        (["-model_base_path=/m"], 0, "model_base_path"),
        (["--model_name=x"], 0, "model_name"),
        (["--enable_batching"], 0, "enable_batching"),
        (["--noenable_batching"], 0, "enable_batching"),
        (["--batching_parameters_file=/b"], 0, "batching_parameters_file"),
        (["--monitoring_config_file=/m"], 0, "monitoring_config_file"),
        (["--model_config_file_poll_wait_seconds=5"], 0, "model_config_file_poll_wait_seconds"),
    ],
)
def test_managed_flags_are_rejected_in_every_form(args: list[str], index: int, flag: str) -> None:
    error = error_of(with_("runtime.args", args))
    assert error.field == f"spec.runtime.args[{index}]"
    assert f"--{flag} is managed by the operator" in error.message


@pytest.mark.parametrize("arg", ["warmup", "--flag value", "--", "", "-single_dash=1"])
def test_malformed_args_are_rejected(arg: str) -> None:
    assert error_of(with_("runtime.args", ["--ok=1", arg])).field == "spec.runtime.args[1]"


@pytest.mark.parametrize(
    ("path", "value", "field", "fragment"),
    [
        ("model.uri", "ftp://host/m", "spec.model.uri", "no supported scheme"),
        ("model.uri", "gs:///m", "spec.model.uri", "no bucket"),
        ("model.uri", "pvc://Bad_Claim/m", "spec.model.uri", "not a valid PersistentVolumeClaim name"),
        ("model.uri", "pvc://claim/a/../b", "spec.model.uri", "'..'"),
        ("model.uri", "s3://bucket/with space", "spec.model.uri", "contains a space at position 16"),
        ("model.uri", "gs://bucket/m\n", "spec.model.uri", "contains a newline at position 13"),
        ("model.uri", "\tgs://bucket/m", "spec.model.uri", "contains a tab at position 0"),
        ("model.uri", 5, "spec.model.uri", "must be a non-empty string"),
        ("model.name", "-bad", "spec.model.name", "not a valid TF Serving model name"),
        ("model.versionPolicy", {}, "spec.model.versionPolicy", "exactly one"),
        ("model.versionPolicy", {"latest": 1, "all": {}}, "spec.model.versionPolicy", "exactly one"),
        ("model.versionPolicy", {"latest": 0}, "spec.model.versionPolicy.latest", "out of range"),
        ("model.versionPolicy", {"latest": True}, "spec.model.versionPolicy.latest", "must be an integer"),
        ("model.versionPolicy", {"specific": []}, "spec.model.versionPolicy.specific", "0 items"),
        ("model.versionPolicy", {"specific": [1, 1]}, "spec.model.versionPolicy.specific", "more than once"),
        ("model.versionPolicy", {"specific": list(range(33))}, "spec.model.versionPolicy.specific", "33"),
        ("model.versionPolicy", {"all": {"x": 1}}, "spec.model.versionPolicy.all", "no settings"),
        ("model.versionPolicy", {"newest": 1}, "spec.model.versionPolicy.newest", "unknown field"),
        ("model.versionLabels", {"Stable": 1}, "spec.model.versionLabels.Stable", "version label name"),
        ("model.versionLabels", {"stable": -1}, "spec.model.versionLabels.stable", "out of range"),
        ("model.versionLabels", ["stable"], "spec.model.versionLabels", "must be an object"),
        ("model.typo", 1, "spec.model.typo", "unknown field"),
        ("runtime.image", "tensorflow/serving:2.19.0", "spec.runtime.image", "includes a tag"),
        ("runtime.image", "Bad Image", "spec.runtime.image", "not a valid image repository"),
        ("runtime.version", "2.19.0 gpu", "spec.runtime.version", "not a valid image tag"),
        ("runtime.version", 2.19, "spec.runtime.version", "non-empty string"),
        ("runtime.modelConfigPollSeconds", 0, "spec.runtime.modelConfigPollSeconds", "out of range"),
        ("runtime.modelConfigPollSeconds", 3601, "spec.runtime.modelConfigPollSeconds", "out of range"),
        ("runtime.args", "--a=1", "spec.runtime.args", "must be a list"),
        ("runtime.batching", {"maxBatchSize": 0}, "spec.runtime.batching.maxBatchSize", "out of range"),
        ("runtime.batching", {"batchTimeoutMicros": -1}, "spec.runtime.batching.batchTimeoutMicros", "range"),
        ("runtime.batching", {"numBatchThreads": 1025}, "spec.runtime.batching.numBatchThreads", "range"),
        ("runtime.batching", {"maxEnqueuedBatches": 0}, "spec.runtime.batching.maxEnqueuedBatches", "range"),
        (
            "runtime.batching",
            {"maxBatchSize": 32, "allowedBatchSizes": [8, 8, 32]},
            "spec.runtime.batching.allowedBatchSizes",
            "strictly increasing",
        ),
        (
            "runtime.batching",
            {"maxBatchSize": 32, "allowedBatchSizes": [8, 16]},
            "spec.runtime.batching.allowedBatchSizes",
            "must equal maxBatchSize",
        ),
        (
            "runtime.batching",
            {"allowedBatchSizes": [8]},
            "spec.runtime.batching.allowedBatchSizes",
            "must equal maxBatchSize",
        ),
        ("resources.cpu", "two", "spec.resources.cpu", "not a Kubernetes quantity"),
        ("resources.cpu", "0", "spec.resources.cpu", "greater than zero"),
        ("resources.cpu", 0.5, "spec.resources.cpu", "must be a quantity"),
        ("resources.cpu", "-1", "spec.resources.cpu", "not a Kubernetes quantity"),
        ("resources.memory", "4GB", "spec.resources.memory", "not a Kubernetes quantity"),
        ("resources.memory", "512m", "spec.resources.memory", "milli-bytes"),
        ("resources.gpu", {"count": 1}, "spec.resources.gpu.type", "is required"),
        ("resources.gpu", {"type": "nvidia-l4", "count": 0}, "spec.resources.gpu.count", "out of range"),
        ("resources.gpu", {"type": "nvidia-l4", "count": 17}, "spec.resources.gpu.count", "out of range"),
        ("replicas", -1, "spec.replicas", "out of range"),
        ("replicas", 1001, "spec.replicas", "out of range"),
        ("replicas", "2", "spec.replicas", "must be an integer"),
        ("autoscaling", {"minReplicas": 2}, "spec.autoscaling.maxReplicas", "is required"),
        ("autoscaling", {"minReplicas": 5, "maxReplicas": 2}, "spec.autoscaling.minReplicas", "greater than"),
        (
            "autoscaling",
            {"maxReplicas": 2, "targetCPUUtilization": 101},
            "spec.autoscaling.targetCPUUtilization",
            "",
        ),
        (
            "autoscaling",
            {"maxReplicas": 2, "metrics": [{"type": "Bogus"}]},
            "spec.autoscaling.metrics[0].type",
            "",
        ),
        (
            "autoscaling",
            {"maxReplicas": 2, "metrics": [{"type": "Pods"}]},
            "spec.autoscaling.metrics[0].pods",
            "",
        ),
        ("placement", {"nodeSelector": {"pool": 1}}, "spec.placement.nodeSelector.pool", "label value"),
        (
            "placement",
            {"nodeSelector": {"bad key!": "x"}},
            "spec.placement.nodeSelector.bad key!",
            "label key",
        ),
        ("placement", {"tolerations": [{"operator": "Maybe"}]}, "spec.placement.tolerations[0].operator", ""),
        ("placement", {"tolerations": [{"effect": "Never"}]}, "spec.placement.tolerations[0].effect", ""),
        ("placement", {"tolerations": [{"keys": "a"}]}, "spec.placement.tolerations[0].keys", "unknown"),
        ("placement", {"affinity": {"nodeAfinity": {}}}, "spec.placement.affinity.nodeAfinity", "unknown"),
        ("placement", {"affinity": []}, "spec.placement.affinity", "must be an object"),
        ("serviceAccountName", "Model_Reader", "spec.serviceAccountName", "DNS subdomain"),
        ("env", [{"name": "A", "value": 1}], "spec.env[0].value", 'quote it, e.g. "1"'),
        ("env", [{"name": "A", "value": "1", "valueFrom": {}}], "spec.env[0]", "both value and valueFrom"),
        ("env", [{"value": "1"}], "spec.env[0].name", "is required"),
        ("env", [{"name": "A=B"}], "spec.env[0].name", "environment variable name"),
        ("extra", 1, "spec.extra", "unknown field"),
    ],
)
def test_invalid_fields_are_named(path: str, value: Any, field: str, fragment: str) -> None:
    error = error_of(with_(path, value))
    assert error.field == field
    assert fragment in error.message + error.fix


def test_version_label_must_point_at_a_listed_specific_version() -> None:
    spec = with_("model.versionPolicy", {"specific": [3, 4]})
    spec["model"]["versionLabels"] = {"stable": 3, "canary": 5}
    error = error_of(spec)
    assert error.field == "spec.model.versionLabels.canary"
    assert "version 5" in error.message and "[3, 4]" in error.message


def test_version_labels_are_free_with_latest_and_all_policies() -> None:
    for policy in ({"latest": 2}, {"all": {}}):
        spec = with_("model.versionPolicy", policy)
        spec["model"]["versionLabels"] = {"stable": 99}
        assert parse(spec).model.version_labels == {"stable": 99}


def test_replicas_and_autoscaling_are_mutually_exclusive() -> None:
    spec = with_("autoscaling", {"maxReplicas": 3})
    spec["replicas"] = 2
    error = error_of(spec)
    assert error.field == "spec.replicas" and "spec.autoscaling" in error.message


def test_user_node_selector_cannot_contradict_the_gpu_type() -> None:
    spec = with_("resources.gpu", {"type": "nvidia-l4"})
    spec["placement"] = {"nodeSelector": {"nvidia.com/gpu.product": "Tesla-T4"}}
    assert error_of(spec).field == "spec.placement.nodeSelector.nvidia.com/gpu.product"


@pytest.mark.parametrize(
    ("name", "field"), [("Resnet", "metadata.name"), ("a.b", "metadata.name"), ("x" * 64, "metadata.name")]
)
def test_metadata_name_must_be_a_service_name(name: str, field: str) -> None:
    assert error_of(base(), name=name).field == field


@pytest.mark.parametrize("namespace", ["0models", "models", "a", "9" * 63, "a-1"])
def test_namespaces_are_dns_1123_labels(namespace: str) -> None:
    # Kubernetes accepts namespaces that start with a digit; the Service rule applies to names only.
    assert parse_spec("resnet", namespace, base(), CONFIG).namespace == namespace


@pytest.mark.parametrize("namespace", ["Models", "-a", "a-", "a.b", "a" * 64, "", "mödels"])
def test_invalid_namespaces_are_refused(namespace: str) -> None:
    error = error_of(base(), namespace=namespace)
    assert error.field == "metadata.namespace"


def test_name_error_says_which_derived_name_breaks_which_rule() -> None:
    error = error_of(base(), name="0resnet")
    assert error.field == "metadata.name"
    assert "Service name '0resnet'" in error.message and "DNS-1035" in error.message


@pytest.mark.parametrize("spec", [None, [], "spec", 3, {"model": None}, {"model": []}])
def test_malformed_spec_shapes_are_spec_errors(spec: Any) -> None:
    assert error_of(spec).field in ("spec", "spec.model")


@pytest.mark.parametrize("memory", ["2Gi", "2G", "2147483648", "1.5Gi", "1e9", 2147483648])
def test_valid_memory_quantities(memory: Any) -> None:
    assert parse(with_("resources.memory", memory)).resources.memory == str(memory)


@pytest.mark.parametrize("cpu", ["500m", "1", "0.5", "2.", ".5", 4])
def test_valid_cpu_quantities(cpu: Any) -> None:
    assert parse(with_("resources.cpu", cpu)).resources.cpu == str(cpu)


def test_empty_env_value_is_dropped_like_the_api_server_does() -> None:
    assert parse(with_("env", [{"name": "A", "value": ""}])).env == ({"name": "A"},)


def test_nulls_mean_defaults() -> None:
    spec = {
        "model": {"uri": "gs://b/m", "name": None, "versionPolicy": None},
        "runtime": None,
        "replicas": None,
    }
    md = parse(spec)
    assert md.model.name == "resnet" and md.replicas == 1
