"""Prometheus metrics of the operator itself (TF Serving's own metrics are on each model's pods)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    "modeldeploy_reconciles_total",
    "Reconciles of ModelDeployments by result (applied, unchanged, invalid, error).",
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
MODEL_DEPLOYMENTS = Gauge(
    "modeldeploy_model_deployments",
    "ModelDeployments known to the operator, by phase.",
    ["phase"],
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


def serve(port: int, address: str = "0.0.0.0") -> None:
    start_http_server(port, addr=address, registry=REGISTRY)
