"""Operator configuration: one typed object, loaded once at start-up.

The chart mounts the YAML at /etc/modeldeploy/config.yaml; the path comes from --config or
MODELDEPLOY_CONFIG. A few settings can be overridden by environment variables so that a Helm value
or a `kubectl set env` can change them without editing the ConfigMap.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

CONFIG_ENV = "MODELDEPLOY_CONFIG"
DEFAULT_POD_ENDPOINT = "http://{podIP}:8501"
ENDPOINT_PLACEHOLDERS = ("podIP", "podName", "name", "namespace", "model")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    """The operator configuration is unreadable or invalid; the message names the key."""


@dataclass(frozen=True)
class GpuType:
    """How a GPU type is found on nodes: the labels its nodes carry."""

    node_labels: Mapping[str, str]


@dataclass(frozen=True)
class Pricing:
    """Optional price table for the cost estimate in status (per hour, per replica)."""

    currency: str = "USD"
    gpu_hourly: Mapping[str, float] = field(default_factory=dict)
    cpu_hourly: float = 0.0  # per vCPU
    memory_gib_hourly: float = 0.0


@dataclass(frozen=True)
class ModelStatusConfig:
    """How the operator polls TF Serving's model status API."""

    poll_seconds: float = 30
    in_flight_poll_seconds: float = 5
    timeout_seconds: float = 2
    # TF Serving's REST base URL in one pod; placeholders {podIP}, {podName}, {name}, {namespace}, {model}.
    endpoint: str = DEFAULT_POD_ENDPOINT
    # Pod IP prefixes swapped before polling (source network -> target network of the same size).
    address_map: tuple[tuple[IPNetwork, IPNetwork], ...] = ()


def _default_gpu_types() -> dict[str, GpuType]:
    # Labels published by NVIDIA GPU Feature Discovery; clusters using other labels override gpuTypes.
    products = {
        "nvidia-tesla-t4": "Tesla-T4",
        "nvidia-l4": "NVIDIA-L4",
        "nvidia-a100": "NVIDIA-A100-SXM4-40GB",
        "nvidia-h100": "NVIDIA-H100-80GB-HBM3",
    }
    return {name: GpuType({"nvidia.com/gpu.product": p}) for name, p in products.items()}


def _default_gpu_tolerations() -> tuple[Mapping[str, Any], ...]:
    return ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)


@dataclass(frozen=True)
class OperatorConfig:
    gpu_types: Mapping[str, GpuType] = field(default_factory=_default_gpu_types)
    gpu_resource_name: str = "nvidia.com/gpu"
    gpu_tolerations: tuple[Mapping[str, Any], ...] = field(default_factory=_default_gpu_tolerations)
    default_image: str = "tensorflow/serving"
    default_version: str = "2.19.0"
    storage_init_image: str = "rclone/rclone:1.68.2"
    watch_namespaces: tuple[str, ...] = ()  # empty = all namespaces
    pricing: Pricing | None = None
    model_status: ModelStatusConfig = field(default_factory=ModelStatusConfig)
    progress_deadline_seconds: int = 600


def default_config() -> OperatorConfig:
    return OperatorConfig()


# --- YAML parsing -------------------------------------------------------------------------------------


def _mapping(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{key}: must be a mapping with string keys")
    return value


def _check_keys(value: Mapping[str, Any], key: str, allowed: set[str]) -> None:
    for k in value:
        if k not in allowed:
            where = f"{key}.{k}" if key else k
            raise ConfigError(f"{where}: unknown key (known keys: {', '.join(sorted(allowed))})")


def _str(value: object, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: must be a non-empty string")
    return value


def _number(value: object, key: str, *, integer: bool = False) -> float:
    ok = isinstance(value, int) or (isinstance(value, float) and not integer)
    if isinstance(value, bool) or not isinstance(value, int | float) or not ok or value < 0:
        kind = "integer" if integer else "number"
        raise ConfigError(f"{key}: must be a non-negative {kind}")
    return value


def _str_map(value: object, key: str) -> dict[str, str]:
    m = _mapping(value, key)
    return {k: _str(v, f"{key}.{k}") for k, v in m.items()}


def _gpu_types(value: object) -> dict[str, GpuType]:
    out = {}
    for name, entry in _mapping(value, "gpuTypes").items():
        entry_map = _mapping(entry, f"gpuTypes.{name}")
        _check_keys(entry_map, f"gpuTypes.{name}", {"nodeLabels"})
        labels = _str_map(entry_map.get("nodeLabels", {}), f"gpuTypes.{name}.nodeLabels")
        if not labels:
            raise ConfigError(f"gpuTypes.{name}.nodeLabels: must name at least one node label")
        out[name] = GpuType(labels)
    return out


def _tolerations(value: object) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list):
        raise ConfigError("gpuTolerations: must be a list of tolerations")
    allowed = {"key", "operator", "value", "effect", "tolerationSeconds"}
    out = []
    for i, item in enumerate(value):
        tol = _mapping(item, f"gpuTolerations[{i}]")
        _check_keys(tol, f"gpuTolerations[{i}]", allowed)
        out.append(dict(tol))
    return tuple(out)


def _namespaces(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError("watchNamespaces: must be a list of namespace names")
    return tuple(_str(v, f"watchNamespaces[{i}]") for i, v in enumerate(value))


def _pricing(value: object) -> Pricing:
    m = _mapping(value, "pricing")
    _check_keys(m, "pricing", {"currency", "gpuHourly", "cpuHourly", "memoryGiBHourly"})
    gpu = _mapping(m.get("gpuHourly", {}), "pricing.gpuHourly")
    return Pricing(
        currency=_str(m.get("currency", "USD"), "pricing.currency"),
        gpu_hourly={k: _number(v, f"pricing.gpuHourly.{k}") for k, v in gpu.items()},
        cpu_hourly=_number(m.get("cpuHourly", 0.0), "pricing.cpuHourly"),
        memory_gib_hourly=_number(m.get("memoryGiBHourly", 0.0), "pricing.memoryGiBHourly"),
    )


def _endpoint(value: object) -> str:
    template = _str(value, "modelStatus.endpoint")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise ConfigError(f"modelStatus.endpoint: not a valid template: {error}") from error
    unknown = sorted(names - set(ENDPOINT_PLACEHOLDERS))
    if unknown:
        known = ", ".join("{" + n + "}" for n in ENDPOINT_PLACEHOLDERS)
        raise ConfigError(f"modelStatus.endpoint: unknown placeholder {{{unknown[0]}}} (known: {known})")
    if "podIP" not in names and "podName" not in names:
        raise ConfigError(
            "modelStatus.endpoint: must address one pod with {podIP} (e.g. http://{podIP}:8501): every "
            "replica loads versions on its own, so a Service address would answer for a random replica"
        )
    return template


def _address_map(value: object) -> tuple[tuple[IPNetwork, IPNetwork], ...]:
    out = []
    for source, target in _mapping(value, "modelStatus.addressMap").items():
        key = f"modelStatus.addressMap.{source}"
        try:
            pair = (ipaddress.ip_network(source), ipaddress.ip_network(_str(target, key)))
        except ValueError as error:
            raise ConfigError(f"{key}: {error} (write networks such as 10.244.0.0/16)") from error
        if pair[0].version != pair[1].version or pair[0].prefixlen != pair[1].prefixlen:
            raise ConfigError(
                f"{key}: {target} must be a network of the same IP version and size as {source}"
            )
        out.append(pair)
    return tuple(out)


def _model_status(value: object) -> ModelStatusConfig:
    m = _mapping(value, "modelStatus")
    keys = {"pollSeconds", "inFlightPollSeconds", "timeoutSeconds", "endpoint", "addressMap"}
    if "endpointOverride" in m:
        raise ConfigError(
            "modelStatus.endpointOverride: removed; the operator asks every ready pod, so set "
            "modelStatus.endpoint to a template with {podIP} (default http://{podIP}:8501)"
        )
    _check_keys(m, "modelStatus", keys)
    d = ModelStatusConfig()
    return ModelStatusConfig(
        poll_seconds=_number(m.get("pollSeconds", d.poll_seconds), "modelStatus.pollSeconds"),
        in_flight_poll_seconds=_number(
            m.get("inFlightPollSeconds", d.in_flight_poll_seconds), "modelStatus.inFlightPollSeconds"
        ),
        timeout_seconds=_number(m.get("timeoutSeconds", d.timeout_seconds), "modelStatus.timeoutSeconds"),
        endpoint=_endpoint(m.get("endpoint", d.endpoint)),
        address_map=_address_map(m.get("addressMap", {})),
    )


# camelCase YAML key -> (dataclass field, converter)
_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "gpuTypes": ("gpu_types", _gpu_types),
    "gpuResourceName": ("gpu_resource_name", lambda v: _str(v, "gpuResourceName")),
    "gpuTolerations": ("gpu_tolerations", _tolerations),
    "defaultImage": ("default_image", lambda v: _str(v, "defaultImage")),
    "defaultVersion": ("default_version", lambda v: _str(v, "defaultVersion")),
    "storageInitImage": ("storage_init_image", lambda v: _str(v, "storageInitImage")),
    "watchNamespaces": ("watch_namespaces", _namespaces),
    "pricing": ("pricing", lambda v: None if v is None else _pricing(v)),
    "modelStatus": ("model_status", _model_status),
    "progressDeadlineSeconds": (
        "progress_deadline_seconds",
        lambda v: int(_number(v, "progressDeadlineSeconds", integer=True)),
    ),
}


def config_from_mapping(data: Mapping[str, Any]) -> OperatorConfig:
    """Build the configuration from already-parsed YAML (camelCase keys)."""
    data = _mapping(data, "config")
    _check_keys(data, "", set(_FIELDS))
    values = {attr: convert(data[key]) for key, (attr, convert) in _FIELDS.items() if key in data}
    return OperatorConfig(**values)


def _env_overrides(config: OperatorConfig, environ: Mapping[str, str]) -> OperatorConfig:
    changes: dict[str, Any] = {}
    if "MODELDEPLOY_WATCH_NAMESPACES" in environ:
        names = environ["MODELDEPLOY_WATCH_NAMESPACES"].split(",")
        changes["watch_namespaces"] = tuple(n.strip() for n in names if n.strip())
    if environ.get("MODELDEPLOY_DEFAULT_IMAGE"):
        changes["default_image"] = environ["MODELDEPLOY_DEFAULT_IMAGE"]
    if environ.get("MODELDEPLOY_DEFAULT_VERSION"):
        changes["default_version"] = environ["MODELDEPLOY_DEFAULT_VERSION"]
    return dataclasses.replace(config, **changes)


def load_config(path: str | None, environ: Mapping[str, str]) -> OperatorConfig:
    """Read the YAML file at `path` (or $MODELDEPLOY_CONFIG; none = defaults), then apply env overrides."""
    path = path or environ.get(CONFIG_ENV) or None
    config = default_config()
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f)
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
        if data is not None:  # an empty file means "all defaults"
            try:
                config = config_from_mapping(data)
            except ConfigError as e:
                raise ConfigError(f"config file {path}: {e}") from e
    return _env_overrides(config, environ)
