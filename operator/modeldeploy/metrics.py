"""Prometheus metrics of the operator itself (TF Serving's own metrics are on each model's pods)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from modeldeploy.reasons import Phase

REGISTRY = CollectorRegistry(auto_describe=True)


RECONCILES = Counter(
    "modeldeploy_reconciles_total",
    "Reconciles of ModelDeployments by result (applied, unchanged, invalid, conflict, error, terminating).",
    ["result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "modeldeploy_reconcile_duration_seconds",
    "Wall time of one reconcile, from reading the cache to the last write.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "modeldeploy_api_requests_total",
    "Requests the operator sent to the Kubernetes API (watches excluded), by verb, resource and HTTP code.",
    ["verb", "resource", "code"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "modeldeploy_workqueue_depth",
    "ModelDeployments waiting for a reconcile worker.",
    registry=REGISTRY,
)
WORKERS_BUSY = Gauge(
    "modeldeploy_workers_busy",
    "Reconcile workers currently busy (saturation when equal to modeldeploy_workers).",
    registry=REGISTRY,
)
WORKERS = Gauge("modeldeploy_workers", "Reconcile workers configured.", registry=REGISTRY)


def count_phases(models: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """ModelDeployments by status.phase; one without a status yet counts as Pending."""
    counts = dict.fromkeys(Phase.ALL, 0)
    for md in models:
        phase = (md.get("status") or {}).get("phase") or Phase.PENDING
        counts[phase] = counts.get(phase, 0) + 1
    return counts


class _PhaseChild:
    def __init__(self, values: dict[str, float], phase: str) -> None:
        self._values = values
        self._phase = phase

    def set(self, value: float) -> None:
        self._values[self._phase] = value


class PhaseGauge(Collector):
    """`modeldeploy_model_deployments{phase}`, computed when Prometheus scrapes.

    Counting phases on every reconcile walks every ModelDeployment each time (O(N^2) over a start-up
    of N), so the controller registers its cache with `set_source` and the count runs once per scrape.
    Values set with `.labels(phase=...).set(...)` are reported while no source is registered.
    """

    name = "modeldeploy_model_deployments"
    documentation = "ModelDeployments known to the operator, by phase."

    def __init__(self) -> None:
        self._values: dict[str, float] = {}
        self._source: Callable[[], Iterable[Mapping[str, Any]]] | None = None

    def set_source(self, source: Callable[[], Iterable[Mapping[str, Any]]] | None) -> None:
        self._source = source

    def labels(self, phase: str) -> _PhaseChild:
        return _PhaseChild(self._values, phase)

    def values(self) -> dict[str, float]:
        source = self._source
        if source is None:
            return dict(self._values)
        # The scrape runs in the HTTP server's thread while the event loop may change the cache: copy
        # it (a C-level copy of a dict's values holds the GIL throughout) and retry if it changed anyway.
        for _attempt in range(3):
            try:
                models = list(source())
                break
            except RuntimeError:
                continue
        else:
            return dict(self._values)
        return {phase: float(count) for phase, count in count_phases(models).items()}

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.name, self.documentation, labels=["phase"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=["phase"])
        for phase, value in sorted(self.values().items()):
            family.add_metric([phase], value)
        yield family


MODEL_DEPLOYMENTS = PhaseGauge()
REGISTRY.register(MODEL_DEPLOYMENTS)


def serve(port: int, address: str = "0.0.0.0") -> None:
    start_http_server(port, addr=address, registry=REGISTRY)
