"""Client traffic for one model on the local cluster: predict requests at a steady rate, spread over the
model's ready pods as the Service would spread them, and counted like an ingress controller counts them.

The count is served on a /metrics page of its own (``modeldeploy_test_client_requests_total`` by
namespace, model_deployment and outcome) for the cluster's Prometheus to scrape: it stands in for what
sits in front of TF Serving in a real cluster (an ingress controller, a mesh). Unlike TF Serving's own
counter it exists while the model has no pods, which is what lets KEDA wake a model scaled to zero.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from modeldeploy.desired.labels import selector_string
from modeldeploy.localcluster.cluster import POD_CIDR, LocalCluster
from modeldeploy.localcluster.podfarm import parse_address_map
from modeldeploy.modelstatusapi import translate_address

METRIC = "modeldeploy_test_client_requests_total"
# The activation query of the operator configuration for this counter ({namespace}/{name} filled in).
ACTIVATION_QUERY = f'sum(rate({METRIC}{{{{namespace="{{namespace}}", model_deployment="{{name}}"}}}}[30s]))'


def ready_pod_addresses(cluster: LocalCluster, namespace: str, name: str) -> list[str]:
    """host:8501 of the model's ready pods, on the loopback network the pod farm binds them to."""
    mapping = parse_address_map([f"{POD_CIDR}={cluster.loopback_net}"])
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector_string(name), "-o", "json")
    addresses = []
    for pod in json.loads(out.stdout)["items"]:
        status = pod.get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or ())
        if ready and status.get("podIP") and not pod["metadata"].get("deletionTimestamp"):
            addresses.append(f"{translate_address(mapping, status['podIP'])}:8501")
    return sorted(addresses)


class ClientTraffic:
    """``port`` serves /metrics from the start (give it to the cluster's Prometheus); set ``cluster``
    before ``send_to``; ``close`` ends both."""

    def __init__(self) -> None:
        self.cluster: LocalCluster | None = None
        self.counts: Counter[tuple[str, str, str]] = Counter()  # (namespace, name, outcome) -> requests
        self._lock = threading.Lock()
        self._target: tuple[str, str] | None = None
        self._rate = 0.0
        self._stop = threading.Event()
        traffic = self

        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = traffic.metrics_page().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self.port: int = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._sender = threading.Thread(target=self._send_loop, daemon=True)
        self._sender.start()

    def metrics_page(self) -> str:
        lines = [f"# TYPE {METRIC} counter"]
        with self._lock:
            for (namespace, name, outcome), count in sorted(self.counts.items()):
                labels = f'namespace="{namespace}",model_deployment="{name}",outcome="{outcome}"'
                lines.append(f"{METRIC}{{{labels}}} {count}")
        return "\n".join(lines) + "\n"

    def send_to(self, namespace: str, name: str, rate: float) -> None:
        """Send ``rate`` predict requests per second to the model (0 stops)."""
        with self._lock:
            self._target, self._rate = (namespace, name), rate

    def outcome_counts(self, namespace: str, name: str) -> dict[str, int]:
        with self._lock:
            return {o: c for (n, m, o), c in self.counts.items() if (n, m) == (namespace, name)}

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._sender.join(10)

    def _send_loop(self) -> None:
        addresses: list[str] = []
        refreshed_at = 0.0
        sent = 0
        while not self._stop.is_set():
            with self._lock:
                target, rate = self._target, self._rate
            if target is None or rate <= 0 or self.cluster is None:
                self._stop.wait(0.2)
                continue
            now = time.monotonic()
            if now - refreshed_at > 1.0:
                addresses = ready_pod_addresses(self.cluster, *target)
                refreshed_at = now
            outcome = "failed"
            if addresses:
                address = addresses[sent % len(addresses)]
                outcome = "ok" if _predict(address, target[1]) else "failed"
            sent += 1
            with self._lock:
                self.counts[(*target, outcome)] += 1
            self._stop.wait(max(0.0, 1.0 / rate - (time.monotonic() - now)))


def _predict(address: str, model: str) -> bool:
    body = json.dumps({"instances": [1.0]}).encode()
    request = urllib.request.Request(f"http://{address}/v1/models/{model}:predict", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status) == 200
    except Exception:
        return False
