"""Model pod hardening: the NetworkPolicy, the service-account token, where storage credentials go, the
model volume's size limit and image digests; each on by default and each with its opt-out."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from modeldeploy.config import ConfigError, ModelPodsConfig, NetworkPolicyConfig, config_from_mapping
from modeldeploy.config import default_config as default_operator_config
from modeldeploy.desired import build_children, build_deployment, build_network_policy
from modeldeploy.spec import ModelDeploymentSpec, SpecError, parse_spec

CONFIG = default_operator_config()
DIGEST = "sha256:" + "0123456789abcdef" * 4
S3_ENV = [
    {"name": "AWS_REGION", "value": "eu-west-1"},
    {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "secret"}}},
]


def md(config: Any = CONFIG, **spec: Any) -> ModelDeploymentSpec:
    spec.setdefault("model", {"uri": "gs://acme-models/resnet"})
    return parse_spec("resnet", "vision", spec, config)


def policy(m: ModelDeploymentSpec, config: Any = CONFIG) -> dict[str, Any]:
    built = build_network_policy(m, config)
    assert built is not None
    return built


def pod(m: ModelDeploymentSpec, config: Any = CONFIG) -> dict[str, Any]:
    spec: dict[str, Any] = build_deployment(m, config)["spec"]["template"]["spec"]
    return spec


def with_model_pods(**changes: bool) -> Any:
    return dataclasses.replace(CONFIG, model_pods=dataclasses.replace(ModelPodsConfig(), **changes))


# --- NetworkPolicy ---------------------------------------------------------------------------------------


def test_default_policy_admits_own_namespace_to_both_ports_and_operator_and_scraper_to_rest() -> None:
    p = policy(md())
    assert p["apiVersion"] == "networking.k8s.io/v1" and p["metadata"]["name"] == "resnet"
    assert p["spec"]["podSelector"] == {"matchLabels": {"serving.modeldeploy.io/model-deployment": "resnet"}}
    assert p["spec"]["policyTypes"] == ["Ingress"]
    clients, internal = p["spec"]["ingress"]
    assert clients["from"] == [{"podSelector": {}}]  # pods of the model's own namespace only
    assert {port["port"] for port in clients["ports"]} == {8500, 8501}
    assert {port["port"] for port in internal["ports"]} == {8501}
    assert internal["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "modeldeploy-system"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "modeldeploy"}},
        },
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]


def test_access_rules_replace_the_default() -> None:
    peers = [
        {"namespaceSelector": {"matchLabels": {"team": "web"}}},
        {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]}},
    ]
    clients = policy(md(access={"from": peers}))["spec"]["ingress"][0]
    assert clients["from"] == peers


def test_empty_selector_parts_are_left_out_as_the_api_server_stores_them() -> None:
    peers = [{"namespaceSelector": {"matchLabels": {}, "matchExpressions": []}, "podSelector": {}}]
    stored = [{"namespaceSelector": {}, "podSelector": {}}]
    assert policy(md(access={"from": peers}))["spec"]["ingress"][0]["from"] == stored


def test_a_selector_that_matches_nothing_is_allowed() -> None:
    # A label no namespace carries admits no one; that is the user's choice, not an error.
    peers = [{"namespaceSelector": {"matchLabels": {"no-such-label": "anywhere"}}}]
    assert policy(md(access={"from": peers}))["spec"]["ingress"][0]["from"] == peers


def test_empty_access_admits_only_operator_and_scraper() -> None:
    # An ingress rule with an empty `from` would admit everyone; an empty list must mean no client rule.
    (internal,) = policy(md(access={"from": []}))["spec"]["ingress"]
    assert {port["port"] for port in internal["ports"]} == {8501}


def test_no_peers_at_all_denies_all_ingress() -> None:
    config = dataclasses.replace(
        CONFIG, network_policy=NetworkPolicyConfig(operator_peers=(), scraper_peers=())
    )
    spec = policy(md(config, access={"from": []}), config)["spec"]
    assert "ingress" not in spec and spec["policyTypes"] == ["Ingress"]


def test_policy_is_dropped_when_turned_off() -> None:
    config = config_from_mapping({"networkPolicy": {"enabled": False}})
    assert build_network_policy(md(config), config) is None
    assert "NetworkPolicy" not in [c["kind"] for c in build_children(md(config), config)]


@pytest.mark.parametrize(
    ("access", "field"),
    [
        ({"from": [{}]}, "spec.access.from[0]"),
        ({"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}, "spec.access.from[0].ipBlock"),
        ({"from": {"podSelector": {}}}, "spec.access.from"),
        ({"allow": []}, "spec.access.allow"),
        ({"from": [{"podSelector": {"matchLabels": {"bad key!": "x"}}}]}, "spec.access.from[0].podSelector"),
        ({"from": [{"podSelector": {"matchLabels": []}}]}, "spec.access.from[0].podSelector.matchLabels"),
        (
            {"from": [{"podSelector": {"matchExpressions": ""}}]},
            "spec.access.from[0].podSelector.matchExpressions",
        ),
        (
            {"from": [{"podSelector": {"matchExpressions": [{"key": "a", "operator": "Equals"}]}}]},
            "spec.access.from[0].podSelector.matchExpressions[0].operator",
        ),
        (
            {"from": [{"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}]},
            "spec.access.from[0].podSelector.matchExpressions[0].values",
        ),
        (
            {"from": [{"namespaceSelector": {"matchLabels": {"team": "ünïcode"}}}]},
            "spec.access.from[0].namespaceSelector.matchLabels.team",
        ),
    ],
)
def test_bad_access_rules_name_the_field(access: Any, field: str) -> None:
    with pytest.raises(SpecError) as e:
        md(access=access)
    assert e.value.field.startswith(field), e.value


def test_operator_and_scraper_peers_are_configurable_and_checked() -> None:
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}}]
    config = config_from_mapping({"networkPolicy": {"operatorPeers": peers, "scraperPeers": []}})
    assert policy(md(config), config)["spec"]["ingress"][1]["from"] == peers
    with pytest.raises(ConfigError, match=r"networkPolicy.scraperPeers\[0\]"):
        config_from_mapping({"networkPolicy": {"scraperPeers": [{"ipBlock": {}}]}})
    with pytest.raises(ConfigError, match=r"networkPolicy\.enabled"):
        config_from_mapping({"networkPolicy": {"enabled": "no"}})


# --- token and credentials ---------------------------------------------------------------------------


def test_model_pods_mount_no_token_unless_a_service_account_is_named() -> None:
    assert pod(md())["automountServiceAccountToken"] is False
    named = pod(md(serviceAccountName="model-reader"))
    assert named["serviceAccountName"] == "model-reader" and "automountServiceAccountToken" not in named
    config = with_model_pods(automount_service_account_token=True)
    assert "automountServiceAccountToken" not in pod(md(config), config)


def test_storage_credentials_reach_the_copier_only() -> None:
    m = md(model={"uri": "s3://acme/models/resnet"}, env=S3_ENV)
    spec = pod(m)
    (init,) = spec["initContainers"]
    (server,) = spec["containers"]
    assert all(e in init["env"] for e in S3_ENV)
    assert "env" not in server
    config = with_model_pods(credentials_in_copier_only=False)
    assert (
        pod(md(config, model={"uri": "s3://acme/models/resnet"}, env=S3_ENV), config)["containers"][0]["env"]
        == S3_ENV
    )


def test_models_tf_serving_reads_itself_keep_their_env_on_the_server() -> None:
    # gs:// is read by TF Serving: it is the one that needs the credentials.
    (server,) = pod(md(env=S3_ENV[:1]))["containers"]
    assert server["env"] == S3_ENV[:1]


# --- model volume size -------------------------------------------------------------------------------


def model_volume(m: ModelDeploymentSpec, config: Any = CONFIG) -> dict[str, Any]:
    return next(v for v in pod(m, config)["volumes"] if v["name"] == "model-store")


def test_copied_model_volume_has_a_size_limit() -> None:
    s3 = {"uri": "s3://acme/models/resnet"}
    assert model_volume(md(model=s3)) == {"name": "model-store", "emptyDir": {"sizeLimit": "20Gi"}}
    assert model_volume(md(model={**s3, "size": "3Gi"}))["emptyDir"] == {"sizeLimit": "3Gi"}
    sized = {**s3, "size": "3Gi", "sizeLimit": "3072Mi"}  # equal in value: accepted
    assert model_volume(md(model=sized))["emptyDir"] == {"sizeLimit": "3072Mi"}
    config = with_model_pods(model_volume_size_limit=False)
    assert model_volume(md(config, model=s3), config)["emptyDir"] == {}


@pytest.mark.parametrize(
    ("model", "field", "words"),
    [
        (
            {"size": "10Gi", "sizeLimit": "9Gi"},
            "spec.model.sizeLimit",
            "smaller than the declared model size",
        ),
        ({"size": "1G", "sizeLimit": "999M"}, "spec.model.sizeLimit", "smaller"),
        ({"sizeLimit": "lots"}, "spec.model.sizeLimit", "not a Kubernetes quantity"),
        ({"size": "5m"}, "spec.model.size", "milli-bytes"),
        ({"size": 0}, "spec.model.size", "greater than zero"),
        ({"size": "3u"}, "spec.model.size", "not a number of bytes"),
        ({"size": "1Gi", "sizeLimit": "2n"}, "spec.model.sizeLimit", "not a number of bytes"),
    ],
)
def test_bad_sizes_name_the_field(model: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(SpecError) as e:
        md(model={"uri": "s3://acme/models/resnet", **model})
    assert e.value.field == field and words in str(e.value)


# --- image digests -----------------------------------------------------------------------------------


def server_image(m: ModelDeploymentSpec) -> str:
    image: str = pod(m)["containers"][0]["image"]
    return image


def test_image_digest_pins_the_pod_image() -> None:
    m = md(runtime={"image": f"registry.acme.io/serving@{DIGEST}", "version": "2.19.0"})
    assert m.runtime.image == "registry.acme.io/serving" and m.runtime.digest == DIGEST
    assert server_image(m) == f"registry.acme.io/serving:2.19.0@{DIGEST}"
    gpu = md(
        runtime={"image": f"tensorflow/serving@{DIGEST}"}, resources={"gpu": {"type": "nvidia-tesla-t4"}}
    )
    assert server_image(gpu) == f"tensorflow/serving:2.19.0-gpu@{DIGEST}"


def test_changing_the_digest_rolls_the_pods() -> None:
    first = build_deployment(md(runtime={"image": f"tensorflow/serving@{DIGEST}"}), CONFIG)
    other = DIGEST[:-1] + "1"
    second = build_deployment(md(runtime={"image": f"tensorflow/serving@{other}"}), CONFIG)
    annotations = [d["spec"]["template"]["metadata"]["annotations"] for d in (first, second)]
    assert annotations[0] != annotations[1]


@pytest.mark.parametrize(
    "image",
    [
        "tensorflow/serving@sha256:abc",
        "tensorflow/serving@sha256:" + "0" * 63,
        "tensorflow/serving@sha256:" + "0" * 65,
        "tensorflow/serving@sha256:" + "A" * 64,
        "tensorflow/serving@sha512:" + "0" * 64,
        "tensorflow/serving@",
        f"tensorflow/serving@{DIGEST}@{DIGEST}",
    ],
)
def test_bad_digests_are_refused_naming_the_field(image: str) -> None:
    with pytest.raises(SpecError) as e:
        md(runtime={"image": image})
    assert e.value.field == "spec.runtime.image" and "digest" in str(e.value)


def test_a_tag_with_a_digest_is_still_refused() -> None:
    with pytest.raises(SpecError, match="includes a tag"):
        md(runtime={"image": f"tensorflow/serving:2.19.0@{DIGEST}"})


def test_size_limits_compare_by_value_as_the_api_server_stores_them() -> None:
    from modeldeploy.drift import holds_object

    # The API server stores 1.5Gi as 1536Mi: the same limit, which must not look like drift forever.
    built = build_deployment(md(model={"uri": "s3://acme/m", "sizeLimit": "1.5Gi"}), CONFIG)

    def live(limit: str) -> dict[str, Any]:
        copy = json.loads(json.dumps(built))
        (volume,) = [v for v in copy["spec"]["template"]["spec"]["volumes"] if v["name"] == "model-store"]
        volume["emptyDir"]["sizeLimit"] = limit
        return copy

    assert holds_object(built, live("1536Mi"))
    assert not holds_object(built, live("1537Mi"))
