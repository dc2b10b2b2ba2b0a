"""Operator configuration: defaults, camelCase YAML, env overrides, and errors that name the key."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from modeldeploy.config import ConfigError, GpuType, OperatorConfig, default_config, load_config


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_defaults_follow_the_contract() -> None:
    config = default_config()
    assert config.gpu_types["nvidia-tesla-t4"].node_labels == {"nvidia.com/gpu.product": "Tesla-T4"}
    assert config.gpu_types["nvidia-l4"].node_labels == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    assert config.gpu_types["nvidia-a100"].node_labels == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"}
    assert config.gpu_types["nvidia-h100"].node_labels == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert config.gpu_resource_name == "nvidia.com/gpu"
    assert config.gpu_tolerations == (
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    )
    assert (config.default_image, config.default_version) == ("tensorflow/serving", "2.19.0")
    assert config.storage_init_image == "rclone/rclone:1.68.2"
    assert config.watch_namespaces == ()
    assert config.pricing is None
    assert config.model_status.poll_seconds == 30
    assert config.model_status.in_flight_poll_seconds == 5
    assert config.model_status.timeout_seconds == 2
    assert config.model_status.endpoint == "http://{podIP}:8501"
    assert config.model_status.address_map == ()
    assert config.progress_deadline_seconds == 600


def test_no_path_and_no_env_means_defaults() -> None:
    assert load_config(None, {}) == OperatorConfig()


def test_camel_case_yaml_keys_are_loaded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
gpuTypes:
  nvidia-l4: {nodeLabels: {cloud.google.com/gke-accelerator: nvidia-l4}}
gpuResourceName: example.com/gpu
gpuTolerations: [{key: gpu, operator: Equal, value: "true", effect: NoSchedule}]
defaultImage: mirror.example.com/tensorflow/serving
defaultVersion: "2.18.0"
storageInitImage: mirror.example.com/rclone:1
watchNamespaces: [a, b]
pricing: {currency: EUR, gpuHourly: {nvidia-l4: 0.7}, cpuHourly: 0.03, memoryGiBHourly: 0.004}
modelStatus:
  pollSeconds: 10
  inFlightPollSeconds: 1
  timeoutSeconds: 0.5
  endpoint: "https://{podIP}:8443"
  addressMap: {10.244.0.0/16: 127.62.0.0/16}
progressDeadlineSeconds: 1200
""",
    )
    config = load_config(path, {})
    # A configured gpuTypes replaces the defaults: clusters label their nodes one way.
    assert config.gpu_types == {"nvidia-l4": GpuType({"cloud.google.com/gke-accelerator": "nvidia-l4"})}
    assert config.gpu_resource_name == "example.com/gpu"
    assert config.gpu_tolerations[0]["value"] == "true"
    assert config.default_image == "mirror.example.com/tensorflow/serving"
    assert config.default_version == "2.18.0"
    assert config.storage_init_image == "mirror.example.com/rclone:1"
    assert config.watch_namespaces == ("a", "b")
    assert config.pricing is not None
    assert config.pricing.currency == "EUR"
    assert config.pricing.gpu_hourly == {"nvidia-l4": 0.7}
    assert config.pricing.memory_gib_hourly == 0.004
    assert config.model_status.endpoint == "https://{podIP}:8443"
    assert config.model_status.address_map == (
        (ipaddress.ip_network("10.244.0.0/16"), ipaddress.ip_network("127.62.0.0/16")),
    )
    assert config.model_status.timeout_seconds == 0.5
    assert config.progress_deadline_seconds == 1200


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), {}) == default_config()


def test_path_comes_from_env_when_not_given(tmp_path: Path) -> None:
    path = write(tmp_path, "defaultVersion: '2.17.0'\n")
    assert load_config(None, {"MODELDEPLOY_CONFIG": path}).default_version == "2.17.0"


def test_env_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "defaultImage: a/b\ndefaultVersion: '1'\nwatchNamespaces: [x]\n")
    environ = {
        "MODELDEPLOY_WATCH_NAMESPACES": " team-a, team-b ,,",
        "MODELDEPLOY_DEFAULT_IMAGE": "c/d",
        "MODELDEPLOY_DEFAULT_VERSION": "2",
    }
    config = load_config(path, environ)
    assert config.watch_namespaces == ("team-a", "team-b")
    assert (config.default_image, config.default_version) == ("c/d", "2")


def test_empty_watch_namespaces_env_means_all() -> None:
    assert load_config(None, {"MODELDEPLOY_WATCH_NAMESPACES": ""}).watch_namespaces == ()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("gpuTypo: {}\n", "gpuTypo"),
        ("pricing: {currency: USD, gpuHourlyy: {}}\n", "pricing.gpuHourlyy"),
        ("modelStatus: {pollSecs: 3}\n", "modelStatus.pollSecs"),
        ("gpuTypes: {t4: {labels: {a: b}}}\n", "gpuTypes.t4.labels"),
        ("gpuTolerations: [{key: a, tolerate: yes}]\n", "gpuTolerations[0].tolerate"),
    ],
)
def test_unknown_keys_are_named(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{named}: unknown key")):
        load_config(write(tmp_path, text), {})


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("progressDeadlineSeconds: soon\n", "progressDeadlineSeconds"),
        ("progressDeadlineSeconds: 1.5\n", "progressDeadlineSeconds"),
        ("watchNamespaces: default\n", "watchNamespaces"),
        ("gpuTypes: {t4: {nodeLabels: {}}}\n", "gpuTypes.t4.nodeLabels"),
        ("gpuTypes: {t4: {nodeLabels: {a: 1}}}\n", "gpuTypes.t4.nodeLabels.a"),
        ("defaultImage: ''\n", "defaultImage"),
        ("pricing: {cpuHourly: -1}\n", "pricing.cpuHourly"),
        ("- a\n- b\n", "config"),
        (
            "modelStatus: {endpoint: 'http://{name}.{namespace}.svc:8501'}\n",
            "must address one pod with {podIP}",
        ),
        ("modelStatus: {endpoint: 'http://{pod}:8501'}\n", "unknown placeholder {pod}"),
        ("modelStatus: {endpoint: 'http://{podIP:8501'}\n", "modelStatus.endpoint: not a valid template"),
        ("modelStatus: {addressMap: {10.244.0.0/16: 127.0.0.0/8}}\n", "same IP version and size"),
        (
            "modelStatus: {addressMap: {10.244.0.0/33: 127.0.0.0/16}}\n",
            "modelStatus.addressMap.10.244.0.0/33",
        ),
        ("modelStatus: {endpointOverride: 'http://x:8501'}\n", "modelStatus.endpointOverride: removed"),
    ],
)
def test_wrong_types_name_the_key(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(write(tmp_path, text), {})


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(tmp_path / "absent.yaml"), {})
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "a: [b\n"), {})
