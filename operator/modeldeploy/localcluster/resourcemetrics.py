"""The local cluster's resource metrics: KWOK serves kubelet-style usage, metrics-server reads it.

KWOK (v0.7) plays the kubelet's `/metrics/resource` endpoint when it is given a `Metric` object, and
fills it from `ClusterResourceUsage` / `ResourceUsage` objects (sigs.k8s.io/kwok
pkg/kwok/server/metrics_resource_usage.go: a pod's own ResourceUsage wins, else the first
ClusterResourceUsage whose selector matches). metrics-server (sigs.k8s.io/metrics-server v0.8) scrapes
each node at the path named by the node annotation `metrics.k8s.io/resource-metrics-path`
(pkg/scraper/client/resource/client.go) and serves `metrics.k8s.io/v1beta1` through the API
aggregation layer, which is what `kubectl top` and the HorizontalPodAutoscaler read.

Everything here is pure (objects and argument lists); cluster.py starts the processes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from modeldeploy.localcluster.pki import Pki

RESOURCE_METRICS_PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path"
KWOK_GROUP_VERSION = "kwok.x-k8s.io/v1alpha1"
# The usage kinds KWOK reads from the API (it installs their CRDs itself), so tests change usage live.
KWOK_USAGE_CRDS = ("ClusterResourceUsage", "ResourceUsage")
# Pod annotations read by the default usage, the names KWOK's own usage-from-annotation example uses.
CPU_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
MEMORY_ANNOTATION = "kwok.x-k8s.io/usage-memory"
# metrics-server drops a container whose CPU or memory reads zero (decode.go, checkContainerMetrics), so
# every pod needs some usage; an idle TF Serving process is about this.
IDLE_CPU = "10m"
IDLE_MEMORY = "64Mi"
# metrics-server refuses less than 10s (cmd/metrics-server/app/options/options.go).
METRIC_RESOLUTION = "10s"
METRICS_API_SERVICE = "v1beta1.metrics.k8s.io"


def metrics_path(node: str) -> str:
    """The path KWOK serves a node's resource metrics on (the `{nodeName}` of the Metric's path)."""
    return f"/metrics/nodes/{node}/metrics/resource"


def _series(name: str, dimension: str, kind: str, value: str, help_text: str) -> dict[str, Any]:
    labels = {
        "node": [],
        "pod": [("namespace", "pod.metadata.namespace"), ("pod", "pod.metadata.name")],
        "container": [
            ("container", "container.name"),
            ("namespace", "pod.metadata.namespace"),
            ("pod", "pod.metadata.name"),
        ],
    }[dimension]
    series: dict[str, Any] = {"name": name, "dimension": dimension, "kind": kind, "help": help_text}
    if labels:
        series["labels"] = [{"name": n, "value": v} for n, v in labels]
    series["value"] = value
    return series


def kwok_metric() -> dict[str, Any]:
    """The Metric that makes KWOK serve what metrics-server's decoder reads (decode.go's five names)."""
    return {
        "apiVersion": KWOK_GROUP_VERSION,
        "kind": "Metric",
        "metadata": {"name": "resource-metrics"},
        "spec": {
            "path": "/metrics/nodes/{nodeName}/metrics/resource",
            "metrics": [
                _series("node_cpu_usage_seconds_total", "node", "counter", 'node.CumulativeUsage("cpu")',
                        "CPU time used by the node's pods, in core-seconds"),
                _series("node_memory_working_set_bytes", "node", "gauge", 'node.Usage("memory")',
                        "Working set of the node's pods, in bytes"),
                _series("container_start_time_seconds", "container", "gauge", "pod.SinceSecond()",
                        "Container start time, seconds since the epoch"),
                _series("container_cpu_usage_seconds_total", "container", "counter",
                        'pod.CumulativeUsage("cpu", container.name)',
                        "CPU time used by the container, in core-seconds"),
                _series("container_memory_working_set_bytes", "container", "gauge",
                        'pod.Usage("memory", container.name)', "Working set of the container, in bytes"),
            ],
        },
    }  # fmt: skip


def default_usage() -> dict[str, Any]:
    """Every pod's usage unless a ResourceUsage of its own says otherwise: idle, or its annotations."""

    def from_annotation(annotation: str, idle: str) -> dict[str, str]:
        # CEL, evaluated by KWOK per container (pkg/kwok/server/metrics_resource_usage.go).
        return {
            "expression": f'"{annotation}" in pod.metadata.annotations '
            f'? Quantity(pod.metadata.annotations["{annotation}"]) : Quantity("{idle}")'
        }

    return {
        "apiVersion": KWOK_GROUP_VERSION,
        "kind": "ClusterResourceUsage",
        "metadata": {"name": "modeldeploy-idle-usage"},
        "spec": {
            "usages": [
                {
                    "usage": {
                        "cpu": from_annotation(CPU_ANNOTATION, IDLE_CPU),
                        "memory": from_annotation(MEMORY_ANNOTATION, IDLE_MEMORY),
                    }
                }
            ]
        },
    }


def pod_usage(namespace: str, pod: str, cpu: str, memory: str = IDLE_MEMORY) -> dict[str, Any]:
    """A ResourceUsage for one pod (named after it): the simulated load of that pod's containers."""
    return {
        "apiVersion": KWOK_GROUP_VERSION,
        "kind": "ResourceUsage",
        "metadata": {"name": pod, "namespace": namespace},
        "spec": {"usages": [{"usage": {"cpu": {"value": cpu}, "memory": {"value": memory}}}]},
    }


def metrics_server_args(
    binary: Path, port: int, kubeconfig: Path, pki: Pki, resolution: str = METRIC_RESOLUTION
) -> list[str]:
    return [
        str(binary),
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--tls-cert-file={pki.loopback_serving_cert}",
        f"--tls-private-key-file={pki.loopback_serving_key}",
        # KWOK's nodes carry InternalIP 127.0.0.1 and the KWOK server's port as their kubelet port.
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        f"--kubelet-certificate-authority={pki.ca_cert}",
        f"--metric-resolution={resolution}",
        # Must stay below 90% of the resolution (options.go); KWOK answers on loopback in milliseconds.
        "--kubelet-request-timeout=5s",
    ]


def metrics_api_objects(port: int, ca_bundle_pem: bytes) -> list[dict[str, Any]]:
    """The APIService that registers metrics.k8s.io with the aggregator, and the Service it points at."""
    return aggregated_api_objects(
        "metrics.k8s.io", "v1beta1", "metrics-server", "kube-system", port, ca_bundle_pem
    )


def aggregated_api_objects(
    group: str, version: str, service: str, namespace: str, port: int, ca_bundle_pem: bytes
) -> list[dict[str, Any]]:
    """An APIService registering ``group/version`` with the aggregator, and the Service it points at.

    The Service is an ExternalName for localhost: kube-apiserver resolves such a Service to its
    external name and port (k8s.io/apiserver pkg/util/proxy ResolveCluster), so a process on the host
    serves the API, as kwokctl's binary runtime does.
    """
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": service, "namespace": namespace},
            "spec": {
                "type": "ExternalName",
                "externalName": "localhost",
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": f"{version}.{group}"},
            "spec": {
                "group": group,
                "version": version,
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "service": {"name": service, "namespace": namespace, "port": port},
                "caBundle": base64.b64encode(ca_bundle_pem).decode(),
            },
        },
    ]


def kwok_metrics_config(path: Path) -> Path:
    """Write KWOK's --config file holding the Metric (a YAML stream; JSON is YAML)."""
    path.write_text(json.dumps(kwok_metric(), indent=2) + "\n")
    return path
