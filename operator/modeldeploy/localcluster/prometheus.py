"""A real Prometheus server on the local cluster, scraping the emulated TF Serving pods.

It finds the pods the way a Prometheus in a cluster does, through Kubernetes service discovery (a `pod`
role kubernetes_sd_config against the local kube-apiserver) with the relabelling of the plain scrape
job in docs/observability.md (what a PodMonitor on port `http` becomes). One rule is added: the pod IPs
KWOK hands out (10.244.a.b) are not routable here, and the pod farm binds each emulated pod to the
cluster's loopback twin of its IP (LocalCluster.loopback_net, the same address map the operator gets as
modelStatus.addressMap), so the scrape address is rewritten onto that network. Without this rule every
target would be down; everything else is what a real cluster's Prometheus sees.

Configuration and arguments are pure; cluster.py starts the process. The server runs without its web UI
assets, which only the browser pages need: scraping and the HTTP API (/api/v1/query) work.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

JOB = "tfserving"
METRICS_PATH = "/monitoring/prometheus/metrics"  # the path the operator's monitoring.config turns on
# Short, so tests see a counter move within seconds; a production scrape interval is 15-30 s.
SCRAPE_INTERVAL = "2s"
POD_LABEL_PREFIX = "__meta_kubernetes_pod_label_"


def address_relabel(pod_network: str, local_network: str) -> dict[str, Any]:
    """The relabel rule that maps a pod's IP onto the loopback network its emulated server listens on.

    Both networks are /16s (cluster.py's POD_CIDR and loopback_net): the last two octets carry over.
    """
    pods, local = ipaddress.ip_network(pod_network), ipaddress.ip_network(local_network)
    if pods.prefixlen != 16 or local.prefixlen != 16:
        raise ValueError(f"address map {pod_network} -> {local_network}: only /16 -> /16 is supported")
    pod_prefix = r"\.".join(str(pods.network_address).split(".")[:2])
    local_prefix = ".".join(str(local.network_address).split(".")[:2])
    return {
        "source_labels": ["__meta_kubernetes_pod_ip", "__meta_kubernetes_pod_container_port_number"],
        "regex": pod_prefix + r"\.(\d+)\.(\d+);(\d+)",
        "replacement": local_prefix + ".${1}.${2}:${3}",
        "target_label": "__address__",
    }


def scrape_config(
    api_server: str,
    ca: Path,
    cert: Path,
    key: Path,
    pod_network: str,
    local_network: str,
    static_targets: tuple[str, ...] = (),
) -> dict[str, Any]:
    """prometheus.yml: one job over every modeldeploy pod's `http` port, labelled as the docs' job is, and
    a job `static` for ``static_targets`` (host:port serving /metrics: tests' stand-ins for what sits in
    front of TF Serving, such as an ingress controller counting requests)."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": JOB,
                "metrics_path": METRICS_PATH,
                "kubernetes_sd_configs": [
                    {
                        "role": "pod",
                        "api_server": api_server,
                        "tls_config": {"ca_file": str(ca), "cert_file": str(cert), "key_file": str(key)},
                    }
                ],
                "relabel_configs": [
                    {
                        "source_labels": [POD_LABEL_PREFIX + "app_kubernetes_io_managed_by"],
                        "regex": "modeldeploy",
                        "action": "keep",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                        "regex": "http",
                        "action": "keep",
                    },
                    address_relabel(pod_network, local_network),
                    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
                    {
                        "source_labels": [POD_LABEL_PREFIX + "serving_modeldeploy_io_model_deployment"],
                        "target_label": "model_deployment",
                    },
                ],
            }
        ],
    }
    if static_targets:
        config["scrape_configs"].append(
            {"job_name": "static", "static_configs": [{"targets": list(static_targets)}]}
        )
    return config


def prometheus_args(binary: Path, config: Path, data: Path, port: int) -> list[str]:
    return [
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=2h",
        "--log.level=warn",
    ]


def query(address: str, promql: str, timeout: float = 5) -> list[dict[str, Any]]:
    """The result vector of an instant query (/api/v1/query); raises on an error answer."""
    url = f"{address}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus query {promql!r} failed: {body}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def ready(address: str) -> bool:
    with urllib.request.urlopen(f"{address}/-/ready", timeout=2) as response:
        return bool(response.status == 200)
