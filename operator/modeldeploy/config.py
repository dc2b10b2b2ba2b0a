# Over 300 lines: the one typed configuration object and its loader, section by section (STYLE.md).
"""Operator configuration: one typed object, loaded once at start-up.

The chart mounts the YAML at /etc/modeldeploy/config.yaml; the path comes from --config or
MODELDEPLOY_CONFIG. A few settings can be overridden by environment variables so that a Helm value
or a `kubectl set env` can change them without editing the ConfigMap.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from modeldeploy.api import HTTP_PORT
from modeldeploy.spec_fields import SpecError, network_peer

CONFIG_ENV = "MODELDEPLOY_CONFIG"
DEFAULT_POD_ENDPOINT = f"http://{{podIP}}:{HTTP_PORT}"
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


class RequestRateProvider:
    """What serves TF Serving's request rate to the autoscaler (autoscaling.requestRate.provider)."""

    NONE = "none"  # request-rate autoscaling is refused with a message naming this setting
    KEDA = "keda"  # a KEDA ScaledObject with a Prometheus trigger; allows scale to zero
    CUSTOM_METRICS = "customMetrics"  # a plain HPA with a Pods metric served by a custom metrics adapter

    ALL = (NONE, KEDA, CUSTOM_METRICS)


# TF Serving's request counter (tensorflow/serving .../servables/tensorflow/util.cc, "request_count",
# exported under the :tensorflow:serving: prefix on the monitoring path); a model's pods are picked by the
# labels the scrape job copies from the pod (docs/observability.md) and by TF Serving's model_name label.
DEFAULT_REQUEST_RATE_QUERY = (
    'sum(rate({{__name__=":tensorflow:serving:request_count", namespace="{namespace}", '
    'model_deployment="{name}", model_name="{model}"}}[1m]))'
)


@dataclass(frozen=True)
class RequestRateConfig:
    """How a ModelDeployment's spec.autoscaling.requestsPerSecond becomes an autoscaler."""

    provider: str = RequestRateProvider.NONE
    # keda: the Prometheus that scrapes the TF Serving pods, and the PromQL of one model's total rate
    # ({namespace}, {name}, {model} are filled in per ModelDeployment).
    prometheus_address: str | None = None
    query: str = DEFAULT_REQUEST_RATE_QUERY
    # customMetrics: the Pods metric the adapter serves per pod, in requests per second.
    metric_name: str = "tensorflow_serving_requests_per_second"
    # keda: how often KEDA asks Prometheus (its own default; while a model is at zero replicas this is
    # the floor of the wake-up delay).
    polling_interval_seconds: int = 30
    # keda: the model's total rate at or below which KEDA counts it idle (the trigger's
    # activationThreshold), which only decides between zero and one replica. TF Serving counts every
    # /v1 request, so one idle replica shows its readiness probe (every 5 s) and the operator's status
    # poll (every modelStatus.pollSeconds): about 0.23 per second, below this default.
    idle_requests_per_second: float = 0.5
    # keda: PromQL of the same model's request rate counted in front of TF Serving (an ingress
    # controller, a mesh, a gateway). It is the only signal that exists while a model has no pods, so
    # without it a model scaled to zero is not woken by requests ({namespace}, {name}, {model} filled in).
    activation_query: str | None = None


def _namespace_peer(namespace: str, pod_labels: Mapping[str, str] | None = None) -> Mapping[str, Any]:
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
    if pod_labels:
        peer["podSelector"] = {"matchLabels": dict(pod_labels)}
    return peer


@dataclass(frozen=True)
class NetworkPolicyConfig:
    """The NetworkPolicy each ModelDeployment gets. Besides the clients spec.access admits, the operator
    (it polls TF Serving's REST status API on each pod) and the metrics scraper reach the REST port."""

    enabled: bool = True
    # The kustomize base and the chart's default namespace; the chart fills in its release's namespace.
    operator_peers: tuple[Mapping[str, Any], ...] = (
        _namespace_peer("modeldeploy-system", {"app.kubernetes.io/name": "modeldeploy"}),
    )
    scraper_peers: tuple[Mapping[str, Any], ...] = (_namespace_peer("monitoring"),)


@dataclass(frozen=True)
class ModelPodsConfig:
    """Hardening of the model pods; each is on by default and can be turned off here."""

    # false: automountServiceAccountToken: false unless spec.serviceAccountName is set (storage credentials).
    automount_service_account_token: bool = False
    # spec.env goes only to the copier init container when one fetches the model.
    credentials_in_copier_only: bool = True
    # The emptyDir a copied model lands in gets sizeLimit spec.model.sizeLimit.
    model_volume_size_limit: bool = True


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
    request_rate: RequestRateConfig = field(default_factory=RequestRateConfig)
    network_policy: NetworkPolicyConfig = field(default_factory=NetworkPolicyConfig)
    model_pods: ModelPodsConfig = field(default_factory=ModelPodsConfig)


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
    # YAML's .inf and .nan are floats too; no setting means anything with them.
    if isinstance(value, bool) or not isinstance(value, int | float) or not ok or not 0 <= value < math.inf:
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


def _request_rate(value: object) -> RequestRateConfig:
    key = "autoscaling.requestRate"
    m = _mapping(value, key)
    _check_keys(
        m,
        key,
        {
            "provider",
            "prometheusAddress",
            "query",
            "metricName",
            "pollingIntervalSeconds",
            "idleRequestsPerSecond",
            "activationQuery",
        },
    )
    d = RequestRateConfig()
    provider = _str(m.get("provider", d.provider), f"{key}.provider")
    if provider not in RequestRateProvider.ALL:
        raise ConfigError(f"{key}.provider: {provider!r} is not one of {', '.join(RequestRateProvider.ALL)}")
    address = m.get("prometheusAddress")
    address = None if address is None else _str(address, f"{key}.prometheusAddress")
    if provider == RequestRateProvider.KEDA and address is None:
        raise ConfigError(
            f"{key}.prometheusAddress: required with provider keda (the Prometheus that scrapes TF Serving, "
            "e.g. http://prometheus.monitoring.svc:9090)"
        )
    query = _query_template(m.get("query", d.query), f"{key}.query")
    activation = m.get("activationQuery")
    polling = int(
        _number(
            m.get("pollingIntervalSeconds", d.polling_interval_seconds),
            f"{key}.pollingIntervalSeconds",
            integer=True,
        )
    )
    if polling < 1:
        raise ConfigError(f"{key}.pollingIntervalSeconds: must be at least 1")
    return RequestRateConfig(
        provider=provider,
        prometheus_address=address,
        query=query,
        metric_name=_str(m.get("metricName", d.metric_name), f"{key}.metricName"),
        polling_interval_seconds=polling,
        idle_requests_per_second=_number(
            m.get("idleRequestsPerSecond", d.idle_requests_per_second), f"{key}.idleRequestsPerSecond"
        ),
        activation_query=None
        if activation is None
        else _query_template(activation, f"{key}.activationQuery"),
    )


def _query_template(value: object, key: str) -> str:
    query = _str(value, key)
    try:
        query.format(namespace="ns", name="md", model="m")
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(
            f"{key}: only {{namespace}}, {{name}} and {{model}} may be substituted (write {{{{ and "
            f"}}}} for literal braces): {e}"
        ) from e
    return query


def _autoscaling(value: object) -> RequestRateConfig:
    m = _mapping(value, "autoscaling")
    _check_keys(m, "autoscaling", {"requestRate"})
    return _request_rate(m.get("requestRate", {}))


def _bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: must be true or false")
    return value


def _peers(value: object, key: str) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{key}: must be a list of NetworkPolicy peers (namespaceSelector/podSelector)")
    try:
        return tuple(network_peer(p, f"{key}[{i}]") for i, p in enumerate(value))
    except SpecError as e:
        raise ConfigError(str(e)) from e


def _network_policy(value: object) -> NetworkPolicyConfig:
    m = _mapping(value, "networkPolicy")
    _check_keys(m, "networkPolicy", {"enabled", "operatorPeers", "scraperPeers"})
    d = NetworkPolicyConfig()
    return NetworkPolicyConfig(
        enabled=_bool(m.get("enabled", d.enabled), "networkPolicy.enabled"),
        operator_peers=_peers(m["operatorPeers"], "networkPolicy.operatorPeers")
        if m.get("operatorPeers") is not None
        else d.operator_peers,
        scraper_peers=_peers(m["scraperPeers"], "networkPolicy.scraperPeers")
        if m.get("scraperPeers") is not None
        else d.scraper_peers,
    )


_MODEL_PODS_KEYS = {
    "automountServiceAccountToken": "automount_service_account_token",
    "credentialsInCopierOnly": "credentials_in_copier_only",
    "modelVolumeSizeLimit": "model_volume_size_limit",
}


def _model_pods(value: object) -> ModelPodsConfig:
    m = _mapping(value, "modelPods")
    _check_keys(m, "modelPods", set(_MODEL_PODS_KEYS))
    return ModelPodsConfig(
        **{attr: _bool(m[k], f"modelPods.{k}") for k, attr in _MODEL_PODS_KEYS.items() if k in m}
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
    "autoscaling": ("request_rate", _autoscaling),
    "progressDeadlineSeconds": (
        "progress_deadline_seconds",
        lambda v: int(_number(v, "progressDeadlineSeconds", integer=True)),
    ),
    "networkPolicy": ("network_policy", _network_policy),
    "modelPods": ("model_pods", _model_pods),
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
