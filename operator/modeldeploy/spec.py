# Over 300 lines: the typed spec and one parser per CRD section in schema order (validators: spec_fields).
"""Parse, default and validate a ModelDeployment spec into typed, immutable values.

Everything the CRD schema checks is checked again here, because `modeldeploy render` runs offline where
no API server validates anything, plus the semantic rules the schema cannot express (GPU types known to
this operator, flags the operator manages, labels pointing at versions that will never be loaded, ...).
Any input of any shape either parses or raises SpecError naming the field and the fix; nothing else.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modeldeploy import spec_fields as rules
from modeldeploy.config import OperatorConfig, RequestRateProvider
from modeldeploy.quantity import parse_quantity
from modeldeploy.spec_fields import SpecError as SpecError  # re-exported: the contract names spec.SpecError

DEFAULT_MODEL_SIZE_LIMIT = "20Gi"  # spec.model.sizeLimit when neither it nor spec.model.size is set
# spec.access absent: clients in the model's own namespace only (an empty podSelector, no namespaceSelector).
DEFAULT_ACCESS: tuple[Mapping[str, Any], ...] = ({"podSelector": {}},)
UINT32_MAX = 2**32 - 1  # ModelVersionPolicy.Latest.num_versions is a uint32
INT64_MAX = 2**63 - 1  # model versions and version labels are int64 in the protos


@dataclass(frozen=True)
class VersionPolicy:
    kind: str  # "latest" | "specific" | "all"
    latest: int = 1
    versions: tuple[int, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    uri: str
    name: str
    version_policy: VersionPolicy = field(default_factory=lambda: VersionPolicy("latest", 1))
    version_labels: Mapping[str, int] = field(default_factory=dict)
    size: str | None = None  # declared size of the model's files (a quantity), if given
    size_limit: str = DEFAULT_MODEL_SIZE_LIMIT  # sizeLimit of the emptyDir a copied model lands in

    @property
    def scheme(self) -> str:
        return self.uri.split("://", 1)[0]

    @property
    def pvc_claim(self) -> str:
        """The claim of a pvc://<claim>/<path> URI ("" for other schemes)."""
        return self.uri[len("pvc://") :].split("/", 1)[0] if self.scheme == "pvc" else ""

    @property
    def pvc_path(self) -> str:
        """The path inside the claim of a pvc:// URI, without slashes at either end."""
        if self.scheme != "pvc":
            return ""
        rest = self.uri[len("pvc://") :].split("/", 1)
        return rest[1].strip("/") if len(rest) > 1 else ""


@dataclass(frozen=True)
class Batching:
    """TF Serving batching parameters; None means TF Serving's own default."""

    max_batch_size: int | None = None
    batch_timeout_micros: int | None = None
    num_batch_threads: int | None = None
    max_enqueued_batches: int | None = None
    allowed_batch_sizes: tuple[int, ...] = ()


@dataclass(frozen=True)
class RuntimeSpec:
    image: str
    version: str
    batching: Batching | None = None
    args: tuple[str, ...] = ()
    model_config_poll_seconds: int = 30
    digest: str | None = None  # "sha256:<hex>" when spec.runtime.image pins one


@dataclass(frozen=True)
class GpuRequest:
    count: int
    type: str


@dataclass(frozen=True)
class Resources:
    cpu: str = "1"
    memory: str = "2Gi"
    gpu: GpuRequest | None = None


@dataclass(frozen=True)
class Autoscaling:
    """spec.autoscaling. CPU mode by default; request-rate mode when ``requests_per_second`` is set.

    ``target_cpu_utilization`` is None only in request-rate mode without an explicit CPU target.
    """

    max_replicas: int
    min_replicas: int = 1
    target_cpu_utilization: int | None = 80
    metrics: tuple[Mapping[str, Any], ...] = ()
    requests_per_second: str | None = None  # per replica, a decimal quantity string (e.g. "50", "0.5")
    scale_down_stabilization_seconds: int | None = None  # None: the autoscaler's default (300 s)


@dataclass(frozen=True)
class Placement:
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    affinity: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelDeploymentSpec:
    """A validated ModelDeployment: its identity plus its defaulted spec."""

    name: str
    namespace: str
    model: ModelSpec
    runtime: RuntimeSpec
    resources: Resources = field(default_factory=Resources)
    replicas: int = 1  # meaningless when autoscaling is set (the HPA owns the count)
    autoscaling: Autoscaling | None = None
    placement: Placement = field(default_factory=Placement)
    service_account_name: str | None = None
    env: tuple[Mapping[str, Any], ...] = ()
    # NetworkPolicy peers (namespaceSelector and/or podSelector) admitted to the gRPC and REST ports.
    access: tuple[Mapping[str, Any], ...] = DEFAULT_ACCESS

    def wanted_replicas(self) -> int:
        """The replica count the user asks for; with autoscaling, the floor the HPA keeps."""
        return self.autoscaling.min_replicas if self.autoscaling is not None else self.replicas

    def gpu_summary(self) -> str | None:
        """Per-replica GPUs for status, e.g. "1x nvidia-tesla-t4"; None for CPU-only models."""
        gpu = self.resources.gpu
        return None if gpu is None else f"{gpu.count}x {gpu.type}"


# --- parsing ------------------------------------------------------------------------------------------

_SPEC_KEYS = {
    "model",
    "runtime",
    "resources",
    "replicas",
    "autoscaling",
    "placement",
    "serviceAccountName",
    "env",
    "access",
}
_BATCHING_KEYS = {
    "maxBatchSize",
    "batchTimeoutMicros",
    "numBatchThreads",
    "maxEnqueuedBatches",
    "allowedBatchSizes",
}


def _get(m: Mapping[str, Any], key: str, default: object) -> Any:
    """m[key], or `default` when absent or null (the API server drops nulls; YAML users write them)."""
    value = m.get(key)
    return default if value is None else value


def _int(m: Mapping[str, Any], key: str, f: str, lo: int, hi: int, default: int) -> int:
    return default if m.get(key) is None else rules.integer(m[key], f"{f}.{key}", lo, hi)


def _opt_int(m: Mapping[str, Any], key: str, f: str, lo: int, hi: int) -> int | None:
    return None if m.get(key) is None else rules.integer(m[key], f"{f}.{key}", lo, hi)


def _version_policy(value: object, f: str) -> VersionPolicy:
    if value is None:
        return VersionPolicy("latest", 1)
    m = rules.obj(value, f)
    if len(m) != 1:
        raise SpecError(f, "must set exactly one of latest, specific, all", "e.g. versionPolicy: {latest: 1}")
    rules.known_keys(m, f, {"latest", "specific", "all"})
    if "latest" in m:
        return VersionPolicy("latest", latest=rules.integer(m["latest"], f"{f}.latest", 1, UINT32_MAX))
    if "all" in m:
        if m["all"] is not None and rules.obj(m["all"], f"{f}.all"):
            raise SpecError(f"{f}.all", "takes no settings", "write all: {}")
        return VersionPolicy("all")
    items = rules.array(m["specific"], f"{f}.specific", 1, 32)
    versions = tuple(rules.integer(v, f"{f}.specific[{i}]", 0, INT64_MAX) for i, v in enumerate(items))
    if len(set(versions)) != len(versions):
        raise SpecError(f"{f}.specific", "lists a version more than once", "list each version once")
    return VersionPolicy("specific", versions=versions)


def _model(value: object, name: str) -> ModelSpec:
    f = "spec.model"
    m = rules.obj(value, f, required=True)
    rules.known_keys(m, f, {"uri", "name", "versionPolicy", "versionLabels", "size", "sizeLimit"})
    uri = rules.model_uri(m.get("uri"), f"{f}.uri")
    model_name = name if m.get("name") is None else rules.model_name(m["name"], f"{f}.name")
    policy = _version_policy(m.get("versionPolicy"), f"{f}.versionPolicy")
    labels: dict[str, int] = {}
    for label, raw in rules.obj(_get(m, "versionLabels", {}), f"{f}.versionLabels").items():
        lf = f"{f}.versionLabels.{label}"
        version = rules.integer(raw, lf, 0, INT64_MAX)
        labels[rules.version_label(label, lf)] = version
        if policy.kind == "specific" and version not in policy.versions:
            raise SpecError(
                lf,
                f"points at version {version}, which versionPolicy.specific {list(policy.versions)} "
                "never loads",
                f"add {version} to spec.model.versionPolicy.specific or point the label at a listed version",
            )
    size, size_limit = _model_size(m, f)
    return ModelSpec(
        uri=uri,
        name=model_name,
        version_policy=policy,
        version_labels=labels,
        size=size,
        size_limit=size_limit,
    )


def _model_size(m: Mapping[str, Any], f: str) -> tuple[str | None, str]:
    """(declared size, emptyDir sizeLimit): the limit defaults to the declared size, else 20Gi."""
    size = None if m.get("size") is None else _bytes(m["size"], f"{f}.size")
    if m.get("sizeLimit") is None:
        return size, size or DEFAULT_MODEL_SIZE_LIMIT
    limit = _bytes(m["sizeLimit"], f"{f}.sizeLimit")
    if size is not None and (parse_quantity(limit) or 0) < (parse_quantity(size) or 0):
        raise SpecError(
            f"{f}.sizeLimit",
            f"{limit} is smaller than the declared model size spec.model.size {size}",
            f"raise spec.model.sizeLimit to at least {size}, or remove it (it defaults to spec.model.size)",
        )
    return size, limit


def _bytes(value: object, f: str) -> str:
    text = rules.quantity(value, f, memory=True)
    if parse_quantity(text) is None or text[-1:] in ("n", "u"):
        raise SpecError(f, f"{text!r} is not a number of bytes", 'e.g. "3Gi" or "500M"')
    return text


def _access(value: object) -> tuple[Mapping[str, Any], ...]:
    f = "spec.access"
    if value is None:
        return DEFAULT_ACCESS
    m = rules.obj(value, f)
    rules.known_keys(m, f, {"from"})
    if m.get("from") is None:
        return DEFAULT_ACCESS
    peers = rules.array(m["from"], f"{f}.from", 0, 32)
    return tuple(rules.network_peer(p, f"{f}.from[{i}]") for i, p in enumerate(peers))


def _batching(value: object) -> Batching | None:
    f = "spec.runtime.batching"
    if value is None:
        return None
    m = rules.obj(value, f)
    rules.known_keys(m, f, _BATCHING_KEYS)
    b = Batching(
        max_batch_size=_opt_int(m, "maxBatchSize", f, 1, 65536),
        batch_timeout_micros=_opt_int(m, "batchTimeoutMicros", f, 0, 60_000_000),
        num_batch_threads=_opt_int(m, "numBatchThreads", f, 1, 1024),
        max_enqueued_batches=_opt_int(m, "maxEnqueuedBatches", f, 1, 1_000_000),
    )
    if m.get("allowedBatchSizes") is None:
        return b
    af = f"{f}.allowedBatchSizes"
    sizes = tuple(
        rules.integer(v, f"{af}[{i}]", 1, 65536)
        for i, v in enumerate(rules.array(m["allowedBatchSizes"], af, 1))
    )
    if any(x >= y for x, y in itertools.pairwise(sizes)):
        raise SpecError(
            af, f"must be strictly increasing, got {list(sizes)}", "sort the sizes and drop duplicates"
        )
    if b.max_batch_size is None or sizes[-1] != b.max_batch_size:
        raise SpecError(
            af,
            f"last element {sizes[-1]} must equal maxBatchSize ({b.max_batch_size})",
            f"set spec.runtime.batching.maxBatchSize: {sizes[-1]} or end the list with maxBatchSize",
        )
    return dataclasses.replace(b, allowed_batch_sizes=sizes)


def _runtime(value: object, config: OperatorConfig) -> RuntimeSpec:
    f = "spec.runtime"
    m = rules.obj({} if value is None else value, f)
    rules.known_keys(m, f, {"version", "image", "batching", "args", "modelConfigPollSeconds"})
    image, digest = (
        (config.default_image, None) if m.get("image") is None else rules.image(m["image"], f"{f}.image")
    )
    version = (
        config.default_version if m.get("version") is None else rules.image_tag(m["version"], f"{f}.version")
    )
    raw_args = rules.array(_get(m, "args", []), f"{f}.args")
    args = tuple(rules.server_arg(a, f"{f}.args[{i}]") for i, a in enumerate(raw_args))
    poll = _int(m, "modelConfigPollSeconds", f, 1, 3600, 30)
    return RuntimeSpec(
        image, version, _batching(m.get("batching")), args, model_config_poll_seconds=poll, digest=digest
    )


def _resources(value: object, config: OperatorConfig) -> Resources:
    f = "spec.resources"
    m = rules.obj({} if value is None else value, f)
    rules.known_keys(m, f, {"cpu", "memory", "gpu"})
    cpu = "1" if m.get("cpu") is None else rules.quantity(m["cpu"], f"{f}.cpu", memory=False)
    memory = "2Gi" if m.get("memory") is None else rules.quantity(m["memory"], f"{f}.memory", memory=True)
    if m.get("gpu") is None:
        return Resources(cpu=cpu, memory=memory)
    g = rules.obj(m["gpu"], f"{f}.gpu")
    rules.known_keys(g, f"{f}.gpu", {"count", "type"})
    count = _int(g, "count", f"{f}.gpu", 1, 16, 1)
    gpu_type = rules.string(g.get("type"), f"{f}.gpu.type")
    if gpu_type not in config.gpu_types:
        known = ", ".join(sorted(config.gpu_types)) or "none"
        raise SpecError(
            f"{f}.gpu.type",
            f"unknown GPU type {gpu_type!r}; known types: {known}",
            "use a known type, or add it to the operator's gpuTypes config",
        )
    return Resources(cpu=cpu, memory=memory, gpu=GpuRequest(count=count, type=gpu_type))


_AUTOSCALING_KEYS = {
    "minReplicas",
    "maxReplicas",
    "targetCPUUtilization",
    "requestsPerSecond",
    "scaleDownStabilizationSeconds",
    "metrics",
}


def _autoscaling(value: object, config: OperatorConfig) -> Autoscaling | None:
    f = "spec.autoscaling"
    if value is None:
        return None
    m = rules.obj(value, f)
    rules.known_keys(m, f, _AUTOSCALING_KEYS)
    if m.get("maxReplicas") is None:
        raise SpecError(f"{f}.maxReplicas", "is required", "set the most replicas the autoscaler may create")
    high = rules.integer(m["maxReplicas"], f"{f}.maxReplicas", 1, 1000)
    low = _int(m, "minReplicas", f, 0, 1000, 1)
    if low > high:
        raise SpecError(
            f"{f}.minReplicas", f"{low} is greater than maxReplicas {high}", "lower it or raise maxReplicas"
        )
    rps = None
    if m.get("requestsPerSecond") is not None:
        rps = rules.quantity(m["requestsPerSecond"], f"{f}.requestsPerSecond", memory=False)
    if low == 0:
        _check_scale_to_zero(config, rps, f"{f}.minReplicas")
    if rps is not None:
        _check_request_rate_provider(config, f"{f}.requestsPerSecond")
    # In request-rate mode the CPU target is added only when asked for: without metrics-server a CPU
    # metric would keep the autoscaler from ever scaling down.
    target = _opt_int(m, "targetCPUUtilization", f, 1, 100)
    if target is None and rps is None:
        target = 80
    window = _opt_int(m, "scaleDownStabilizationSeconds", f, 0, 3600)
    metrics = rules.array(_get(m, "metrics", []), f"{f}.metrics")
    checked = tuple(rules.metric(x, f"{f}.metrics[{i}]") for i, x in enumerate(metrics))
    if checked and rps is not None and config.request_rate.provider == RequestRateProvider.KEDA:
        raise SpecError(
            f"{f}.metrics",
            "cannot be combined with requestsPerSecond under the KEDA provider (KEDA builds its own "
            "HorizontalPodAutoscaler from triggers, not from MetricSpecs)",
            "remove spec.autoscaling.metrics, or remove requestsPerSecond to scale with a plain HPA",
        )
    return Autoscaling(
        min_replicas=low,
        max_replicas=high,
        target_cpu_utilization=target,
        metrics=checked,
        requests_per_second=rps,
        scale_down_stabilization_seconds=window,
    )


def _check_request_rate_provider(config: OperatorConfig, f: str) -> None:
    if config.request_rate.provider == RequestRateProvider.NONE:
        raise SpecError(
            f,
            "needs a request-rate metrics provider, and this operator has none configured",
            "install KEDA and Prometheus and set the operator's autoscaling.requestRate.provider: keda (with "
            "prometheusAddress), or serve the rate through a custom metrics adapter and set provider: "
            "customMetrics; or remove requestsPerSecond to scale on CPU",
        )


def _check_scale_to_zero(config: OperatorConfig, rps: str | None, f: str) -> None:
    if rps is None or config.request_rate.provider != RequestRateProvider.KEDA:
        why = "needs requestsPerSecond" if rps is None else "needs the KEDA request-rate provider"
        raise SpecError(
            f,
            f"0 (scale to zero) {why}: a HorizontalPodAutoscaler cannot scale from zero, and nothing "
            "would wake the model",
            "set minReplicas to 1 or more, or set requestsPerSecond with the operator's "
            "autoscaling.requestRate.provider: keda",
        )


def _placement(value: object, resources: Resources, config: OperatorConfig) -> Placement:
    f = "spec.placement"
    m = rules.obj({} if value is None else value, f)
    rules.known_keys(m, f, {"nodeSelector", "tolerations", "affinity"})
    selector = rules.node_selector(_get(m, "nodeSelector", {}), f"{f}.nodeSelector")
    if resources.gpu is not None:
        for key, want in config.gpu_types[resources.gpu.type].node_labels.items():
            if key in selector and selector[key] != want:
                raise SpecError(
                    f"{f}.nodeSelector.{key}",
                    f"{selector[key]!r} conflicts with GPU type {resources.gpu.type} ({key}={want})",
                    "remove it; the operator selects GPU nodes from spec.resources.gpu.type",
                )
    tolerations = rules.array(_get(m, "tolerations", []), f"{f}.tolerations")
    affinity = _get(m, "affinity", {})
    return Placement(
        node_selector=selector,
        tolerations=tuple(rules.toleration(t, f"{f}.tolerations[{i}]") for i, t in enumerate(tolerations)),
        affinity=rules.affinity(affinity, f"{f}.affinity"),
    )


def parse_spec(
    name: str, namespace: str, spec: Mapping[str, Any], config: OperatorConfig
) -> ModelDeploymentSpec:
    """Validate and default one ModelDeployment; raises SpecError (only) for the first problem found."""
    name = rules.child_name(name, "metadata.name")
    # Kubernetes validates namespace names as DNS-1123 labels (they may start with a digit).
    namespace = rules.dns1123_label(namespace, "metadata.namespace")
    m = rules.obj(spec, "spec", required=True)
    rules.known_keys(m, "spec", _SPEC_KEYS)
    model = _model(m.get("model"), name)
    runtime = _runtime(m.get("runtime"), config)
    resources = _resources(m.get("resources"), config)
    autoscaling = _autoscaling(m.get("autoscaling"), config)
    replicas = 1
    if m.get("replicas") is not None:
        replicas = rules.integer(m["replicas"], "spec.replicas", 0, 1000)
        if autoscaling is not None:
            raise SpecError(
                "spec.replicas",
                "cannot be set together with spec.autoscaling",
                "remove spec.replicas (the autoscaler sets the count) or remove spec.autoscaling",
            )
    sa = m.get("serviceAccountName")
    env = rules.array(_get(m, "env", []), "spec.env")
    return ModelDeploymentSpec(
        name=name,
        namespace=namespace,
        model=model,
        runtime=runtime,
        resources=resources,
        replicas=replicas,
        autoscaling=autoscaling,
        placement=_placement(m.get("placement"), resources, config),
        service_account_name=None if sa is None else rules.dns_subdomain(sa, "spec.serviceAccountName"),
        # Deep copies: the frozen spec must not share mutable state with the caller's manifest.
        env=tuple(copy.deepcopy(rules.env_var(e, f"spec.env[{i}]")) for i, e in enumerate(env)),
        access=_access(m.get("access")),
    )
