"""The local cluster's Prometheus and KEDA: their configuration and arguments, without starting them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modeldeploy.localcluster import keda, prometheus


def relabel(rule: dict[str, object], values: list[str]) -> str | None:
    """Prometheus's replace action for one rule: ';'-joined source labels, anchored regex, $N groups."""
    match = re.fullmatch(str(rule["regex"]), ";".join(values))
    if match is None:
        return None
    return re.sub(r"\$\{(\d+)\}", lambda m: match.group(int(m.group(1))), str(rule["replacement"]))


def test_pod_ips_map_onto_the_loopback_network_the_pod_farm_binds() -> None:
    rule = prometheus.address_relabel("10.244.0.0/16", "127.201.0.0/16")
    assert rule["target_label"] == "__address__"
    assert relabel(rule, ["10.244.3.17", "8501"]) == "127.201.3.17:8501"
    # Another network's address is left alone (the rule does not match).
    assert relabel(rule, ["10.2444.3.17", "8501"]) is None
    assert relabel(rule, ["192.168.3.17", "8501"]) is None


def test_only_equal_sized_16_networks_map() -> None:
    with pytest.raises(ValueError, match="/16"):
        prometheus.address_relabel("10.244.0.0/24", "127.201.0.0/24")


def test_scrape_job_keeps_modeldeploy_pods_on_the_http_port_with_the_documented_labels() -> None:
    config = prometheus.scrape_config(
        "https://127.0.0.1:6443", Path("ca"), Path("c"), Path("k"), "10.244.0.0/16", "127.9.0.0/16", ("h:1",)
    )
    job, extra = config["scrape_configs"]
    assert job["metrics_path"] == "/monitoring/prometheus/metrics"
    (sd,) = job["kubernetes_sd_configs"]
    assert (sd["role"], sd["api_server"]) == ("pod", "https://127.0.0.1:6443")
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert {"__address__", "namespace", "pod", "model_deployment"} <= targets
    keeps = {r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"}
    assert keeps == {"modeldeploy", "http"}
    assert extra["static_configs"] == [{"targets": ["h:1"]}]


def test_keda_runs_watching_every_namespace_with_its_objects_in_keda() -> None:
    env = keda.environment(Path("/k"))
    assert env["WATCH_NAMESPACE"] == "" and env["KEDA_CLUSTER_OBJECT_NAMESPACE"] == "keda"
    operator = keda.operator_args(Path("op"), Path("/certs"), 1, 2, 3)
    adapter = keda.adapter_args(Path("ad"), Path("/k"), Path("/certs"), 4, 1, 5)
    # The adapter reaches the operator's gRPC metrics service where it listens.
    assert "--metrics-service-bind-address=127.0.0.1:1" in operator
    assert "--metrics-service-address=127.0.0.1:1" in adapter
    assert "--enable-cert-rotation=false" in operator and "--cert-dir=/certs" in adapter
    namespace, service, api = keda.api_objects(4, b"pem")
    assert namespace["metadata"]["name"] == "keda"
    assert api["metadata"]["name"] == "v1beta1.external.metrics.k8s.io"
    assert api["spec"]["service"] == {"name": "keda-metrics-apiserver", "namespace": "keda", "port": 4}
    assert service["spec"]["externalName"] == "localhost"
