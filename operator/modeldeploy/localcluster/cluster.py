# Over 300 lines: one control plane's start-up in dependency order, with the start step of each
# optional add-on (metrics-server, Prometheus, KEDA) beside it; their configs and parts live in pki,
# process, nodes, resourcemetrics, prometheus and keda.
"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, controller-manager, scheduler, KWOK."""

from __future__ import annotations

import json
import random
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldeploy.localcluster import keda, prometheus, resourcemetrics
from modeldeploy.localcluster.binaries import bin_dir, ensure_binaries, kubectl_path
from modeldeploy.localcluster.nodes import NodeSpec, default_pool, node_manifest
from modeldeploy.localcluster.pki import FRONT_PROXY_CLIENT_NAME, Pki, create_pki
from modeldeploy.localcluster.process import Component, ComponentError
from modeldeploy.localcluster.stages import stages_yaml

POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"  # a /16 so that benchmarks with thousands of Services do not run out
SERVICE_IP = "10.96.0.1"
START_ATTEMPTS = 3
PODS_METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/pods"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Ports:
    etcd_client: int = field(default_factory=free_port)
    etcd_peer: int = field(default_factory=free_port)
    apiserver: int = field(default_factory=free_port)
    kwok: int = field(default_factory=free_port)
    metrics_server: int = field(default_factory=free_port)
    prometheus: int = field(default_factory=free_port)
    keda_grpc: int = field(default_factory=free_port)
    keda_adapter: int = field(default_factory=free_port)
    keda_metrics: int = field(default_factory=free_port)
    keda_health: int = field(default_factory=free_port)
    keda_adapter_metrics: int = field(default_factory=free_port)


class LocalCluster:
    """Start with `start()`, stop with `stop()`; `kubeconfig` is an admin kubeconfig (system:masters)."""

    def __init__(
        self,
        workdir: Path | None = None,
        nodes: Sequence[NodeSpec] | None = None,
        apiserver_args: Sequence[str] = (),
        controller_manager_args: Sequence[str] = (),
        kwok_stages: Path | None = None,
        resource_metrics: bool = False,
        prometheus: bool = False,
        prometheus_targets: Sequence[str] = (),
        keda: bool = False,
        emulate_tfserving: bool = False,
        unpullable_images: Sequence[str] = (),
        backoff_scale: float = 1.0,
        tfserving_time_scale: float = 1.0,
    ) -> None:
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="modeldeploy-cluster-"))
        self.nodes = list(nodes) if nodes is not None else default_pool()
        self.extra_apiserver_args = list(apiserver_args)
        self.extra_controller_manager_args = list(controller_manager_args)
        # Optional KWOK config file of Stage objects; its Pod stages replace KWOK's default ones.
        self.kwok_stages = kwok_stages
        # metrics-server and KWOK's simulated usage (`kubectl top`, CPU autoscaling); off unless asked
        # for, so that clusters which do not autoscale neither build nor run metrics-server.
        self.resource_metrics = resource_metrics
        # A Prometheus server scraping the TF Serving pods (prometheus.py) and any extra host:port
        # targets, and KEDA's operator and metrics adapter (keda.py) with its CRDs: request-rate
        # autoscaling. Off unless asked for, like metrics-server.
        self.prometheus = prometheus
        self.prometheus_targets = tuple(prometheus_targets)
        self.keda = keda
        # TF Serving pods run emulated servers in the pod farm (podfarm.py), bound to loopback addresses:
        # pod IP 10.244.a.b listens on <loopback_net>.a.b. A random /16 of 127.0.0.0/8 per cluster keeps
        # clusters of parallel test sessions apart.
        self.emulate_tfserving = emulate_tfserving
        self.unpullable_images = tuple(unpullable_images)
        self.backoff_scale = backoff_scale
        self.tfserving_time_scale = tfserving_time_scale  # load times and load retry intervals
        self.loopback_net = f"127.{random.randint(100, 250)}.0.0/16"
        self.ports = Ports()
        self.components: dict[str, Component] = {}
        self.pki: Pki | None = None

    # -- paths and clients ---------------------------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def prometheus_address(self) -> str:
        return f"http://127.0.0.1:{self.ports.prometheus}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120,
        kubeconfig: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [
                kubectl_path(),
                f"--kubeconfig={kubeconfig or self.kubeconfig}",
                f"--cache-dir={self.workdir / 'kubectl-cache'}",
                *args,
            ],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def apply_objects(self, objects: Sequence[dict[str, Any]]) -> None:
        self.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}),
        )

    def install_crds(self, directory: Path, timeout: float = 60) -> None:
        """Apply CRDs and wait until discovery serves them (Established alone is not enough for kubectl)."""
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(directory))
        names = self.kubectl("get", "-f", str(directory), "-o", "name").stdout.split()
        for name in names:
            self.kubectl("wait", "--for=condition=Established", f"--timeout={timeout:.0f}s", name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            served = self.kubectl("api-resources", "-o", "name", check=False).stdout.split()
            # A CRD's object name is <plural>.<group>, the same as its name in api-resources.
            if all(name.split("/", 1)[1] in served for name in names):
                return
            time.sleep(0.3)
        raise RuntimeError(f"CRDs {names} not served by discovery within {timeout:.0f}s")

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self, timeout: float = 90) -> None:
        ensure_binaries()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start_once(timeout)
                return
            except ComponentError as error:
                self.stop()
                # Free ports are picked before use, so another process can take one in between.
                if "address already in use" in str(error) and attempt < START_ATTEMPTS:
                    self.ports = Ports()
                    continue
                raise

    def _start_once(self, timeout: float) -> None:
        if self.resource_metrics:
            ensure_binaries("metrics-server")
        if self.prometheus:
            ensure_binaries("prometheus")
        if self.keda:
            ensure_binaries("keda")
        deadline = time.monotonic() + timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.pki is None:
            self.pki = create_pki(self.workdir / "pki", SERVICE_IP)
        self._write_kubeconfig()
        self.start_etcd(deadline - time.monotonic())
        self.start_apiserver(deadline - time.monotonic())
        if self.resource_metrics:
            # Before KWOK starts, so that its usage informers find the kinds at once.
            self.install_crds(bin_dir() / "kwok-crds", deadline - time.monotonic())
        self.start_controllers()
        self.apply_objects([node_manifest(node) for node in self.nodes])
        self.wait_for_nodes_ready([node.name for node in self.nodes], deadline - time.monotonic())
        if self.resource_metrics:
            self.start_metrics_server(deadline - time.monotonic())
        if self.prometheus:
            self.start_prometheus(deadline - time.monotonic())
        if self.keda:
            self.start_keda(deadline - time.monotonic())

    def stop(self) -> None:
        # Controllers first so they do not log a storm of connection errors while the API server goes.
        for name in (
            "keda-adapter",
            "keda-operator",
            "prometheus",
            "metrics-server",
            "pod-farm",
            "kwok",
            "kube-scheduler",
            "kube-controller-manager",
            "kube-apiserver",
            "etcd",
        ):
            component = self.components.get(name)
            if component is not None:
                component.stop()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- components ----------------------------------------------------------------------------------

    def _component(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Component:
        log_path = self.workdir / "logs" / f"{name}.log"
        component = Component(name=name, argv=argv, log_path=log_path, env=env)
        self.components[name] = component
        component.start()
        return component

    def start_etcd(self, timeout: float = 30) -> None:
        client = f"http://127.0.0.1:{self.ports.etcd_client}"
        peer = f"http://127.0.0.1:{self.ports.etcd_peer}"
        etcd = self._component(
            "etcd",
            [
                str(bin_dir() / "etcd"),
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--unsafe-no-fsync",  # a throwaway cluster: durability across power loss is not needed
                "--quota-backend-bytes=8589934592",
                "--log-level=warn",
            ],
        )
        etcd.wait_until(lambda: _http_ok(f"{client}/health"), timeout, "healthy")

    def start_apiserver(self, timeout: float = 60) -> None:
        assert self.pki is not None
        pki = self.pki
        apiserver = self._component(
            "kube-apiserver",
            [
                str(bin_dir() / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.ports.etcd_client}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.ports.apiserver}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,PodSecurity,"
                "DefaultStorageClass,DefaultTolerationSeconds,MutatingAdmissionWebhook,"
                "ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,ResourceQuota,Priority",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_public_key}",
                f"--service-account-signing-key-file={pki.sa_private_key}",
                "--api-audiences=https://kubernetes.default.svc.cluster.local",
                "--allow-privileged=false",
                "--profiling=false",
                "--max-requests-inflight=800",
                "--max-mutating-requests-inflight=400",
                # The API aggregation layer (metrics.k8s.io, external metrics): kube-apiserver proxies as
                # front-proxy-client and extension servers trust the X-Remote-* headers it sets.
                f"--requestheader-client-ca-file={pki.front_proxy_ca_cert}",
                f"--requestheader-allowed-names={FRONT_PROXY_CLIENT_NAME}",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki.front_proxy_client_cert}",
                f"--proxy-client-key-file={pki.front_proxy_client_key}",
                *self.extra_apiserver_args,
            ],
        )
        apiserver.wait_until(lambda: _https_ok(self.server + "/readyz", pki), timeout, "ready")

    def start_controllers(self) -> None:
        assert self.pki is not None
        self._component(
            "kube-controller-manager",
            [
                str(bin_dir() / "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                f"--root-ca-file={self.pki.ca_cert}",
                f"--service-account-private-key-file={self.pki.sa_private_key}",
                f"--cluster-signing-cert-file={self.pki.ca_cert}",
                f"--cluster-signing-key-file={self.pki.ca_key}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                "--secure-port=0",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--concurrent-gc-syncs=40",
                "--horizontal-pod-autoscaler-sync-period=5s",
                *self.extra_controller_manager_args,
            ],
        )
        self._component(
            "kube-scheduler",
            [
                str(bin_dir() / "kube-scheduler"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
            ],
        )
        stages = self._stages_file()
        self._component(
            "kwok",
            [
                str(bin_dir() / "kwok"),
                f"--kubeconfig={self.kubeconfig}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--node-ip=127.0.0.1",
                f"--node-port={self.ports.kwok}",
                f"--cidr={POD_CIDR}",
                "--node-lease-duration-seconds=40",
                *([f"--config={stages}"] if stages else []),
                *self._kwok_metrics_args(),
            ],
        )
        if self.emulate_tfserving:
            self.start_pod_farm()

    def _stages_file(self) -> Path | None:
        if not (self.emulate_tfserving or self.unpullable_images):
            return self.kwok_stages
        path = self.workdir / "kwok-stages.yaml"
        path.write_text(stages_yaml(self.emulate_tfserving, self.unpullable_images))
        return path

    @property
    def model_store_root(self) -> Path:
        """Where the emulated model storage lives: gs://b/p is <root>/gs/b/p (see tfserving/store.py)."""
        return self.workdir / "model-store"

    def operator_config(self) -> dict[str, Any]:
        """Operator configuration this cluster needs: pod IPs map onto its loopback network, where the
        emulated pods listen (and where, without emulation, nothing does: polls are refused at once)."""
        config: dict[str, Any] = {"modelStatus": {"addressMap": {POD_CIDR: self.loopback_net}}}
        if self.keda:
            # Request-rate autoscaling through this cluster's KEDA, on its Prometheus.
            if not self.prometheus:
                raise ValueError(
                    "LocalCluster(keda=True) scales on request rate read from Prometheus: add prometheus=True"
                )
            config["autoscaling"] = {
                "requestRate": {"provider": "keda", "prometheusAddress": self.prometheus_address}
            }
        return config

    def start_pod_farm(self) -> None:
        assert self.pki is not None
        self.model_store_root.mkdir(parents=True, exist_ok=True)
        self._component(
            "pod-farm",
            [
                sys.executable,
                "-m",
                "modeldeploy.localcluster.podfarm",
                f"--server={self.server}",
                f"--ca={self.pki.ca_cert}",
                f"--cert={self.pki.admin_cert}",
                f"--key={self.pki.admin_key}",
                f"--store={self.model_store_root}",
                f"--address-map={POD_CIDR}={self.loopback_net}",
                f"--backoff-scale={self.backoff_scale}",
                f"--time-scale={self.tfserving_time_scale}",
            ],
        )

    def _kwok_metrics_args(self) -> list[str]:
        if not self.resource_metrics:
            return []
        assert self.pki is not None
        config = resourcemetrics.kwok_metrics_config(self.workdir / "kwok-metrics.yaml")
        return [
            f"--config={config}",
            f"--enable-crds={','.join(resourcemetrics.KWOK_USAGE_CRDS)}",
            # metrics-server speaks HTTPS to kubelets; KWOK's server plays them with this certificate.
            f"--tls-cert-file={self.pki.loopback_serving_cert}",
            f"--tls-private-key-file={self.pki.loopback_serving_key}",
        ]

    def start_metrics_server(self, timeout: float = 60) -> None:
        """metrics-server behind the aggregation layer, fed by KWOK's simulated usage."""
        assert self.pki is not None
        deadline = time.monotonic() + max(timeout, 1)
        self.apply_objects([resourcemetrics.default_usage()])
        server = self._component(
            "metrics-server",
            resourcemetrics.metrics_server_args(
                bin_dir() / "metrics-server", self.ports.metrics_server, self.kubeconfig, self.pki
            ),
        )
        self.apply_objects(
            resourcemetrics.metrics_api_objects(self.ports.metrics_server, self.pki.ca_cert.read_bytes())
        )
        # Through the aggregator: this fails until the APIService is Available. (The list stays empty
        # until pods run: metrics-server drops a node whose usage reads zero.)
        server.wait_until(
            lambda: self.kubectl("get", "--raw", PODS_METRICS_PATH, check=False).returncode == 0,
            deadline - time.monotonic(),
            "serving metrics.k8s.io through kube-apiserver",
        )

    def start_prometheus(self, timeout: float = 60) -> None:
        """Prometheus discovering the TF Serving pods through this API server (see prometheus.py)."""
        assert self.pki is not None
        config = self.workdir / "prometheus.yml"
        scrape = prometheus.scrape_config(
            self.server,
            self.pki.ca_cert,
            self.pki.admin_cert,
            self.pki.admin_key,
            POD_CIDR,
            self.loopback_net,
            self.prometheus_targets,
        )
        config.write_text(json.dumps(scrape, indent=2) + "\n")
        argv = prometheus.prometheus_args(
            bin_dir() / "prometheus", config, self.workdir / "prometheus-data", self.ports.prometheus
        )
        server = self._component("prometheus", argv)
        server.wait_until(lambda: prometheus.ready(self.prometheus_address), timeout, "ready")

    def start_keda(self, timeout: float = 90) -> None:
        """KEDA's CRDs, operator and metrics adapter; ready once external.metrics.k8s.io answers."""
        assert self.pki is not None
        deadline = time.monotonic() + max(timeout, 1)
        self.install_crds(bin_dir() / "keda-crds", timeout)
        certs = keda.cert_dir(self.pki, self.workdir / "keda-certs")
        self.apply_objects(keda.api_objects(self.ports.keda_adapter, self.pki.ca_cert.read_bytes()))
        env = keda.environment(self.kubeconfig)
        ports = self.ports
        operator = self._component(
            "keda-operator",
            keda.operator_args(
                bin_dir() / "keda-operator", certs, ports.keda_grpc, ports.keda_metrics, ports.keda_health
            ),
            env,
        )
        operator.wait_until(
            lambda: _http_ok(f"http://127.0.0.1:{ports.keda_health}/readyz"), deadline - time.monotonic()
        )
        adapter = self._component(
            "keda-adapter",
            keda.adapter_args(
                bin_dir() / "keda-adapter",
                self.kubeconfig,
                certs,
                ports.keda_adapter,
                ports.keda_grpc,
                ports.keda_adapter_metrics,
            ),
            env,
        )
        adapter.wait_until(
            lambda: self.kubectl("get", "--raw", keda.EXTERNAL_METRICS_PATH, check=False).returncode == 0,
            deadline - time.monotonic(),
            "serving external.metrics.k8s.io through kube-apiserver",
        )

    def restart_component(self, name: str, timeout: float = 60) -> None:
        """Stop and start one component with the same data (for fault tests)."""
        self.components[name].stop()
        if name == "etcd":
            self.start_etcd(timeout)
        elif name == "kube-apiserver":
            self.start_apiserver(timeout)
        else:
            component = self.components[name]
            component.start()

    def check_running(self) -> None:
        """Raise, naming the component and its last log lines, if any component has died."""
        for component in self.components.values():
            if component.process is not None and not component.running:
                raise component.error(f"died (exit code {component.process.returncode})")

    # -- nodes ---------------------------------------------------------------------------------------

    def add_node(self, node: NodeSpec, timeout: float = 30) -> None:
        self.nodes.append(node)
        self.apply_objects([node_manifest(node)])
        self.wait_for_nodes_ready([node.name], timeout)

    def remove_node(self, name: str) -> None:
        self.nodes = [node for node in self.nodes if node.name != name]
        self.kubectl("delete", "node", name, "--ignore-not-found", "--wait=false")

    def wait_for_nodes_ready(self, names: Sequence[str], timeout: float) -> None:
        deadline = time.monotonic() + max(timeout, 1)
        pending = set(names)
        while time.monotonic() < deadline:
            self.check_running()
            result = self.kubectl("get", "nodes", "-o", "json", check=False)
            if result.returncode == 0:
                for item in json.loads(result.stdout)["items"]:
                    conditions = item.get("status", {}).get("conditions") or []
                    if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                        pending.discard(item["metadata"]["name"])
            if not pending:
                return
            time.sleep(0.3)
        raise self.components["kwok"].error(
            f"did not make nodes {sorted(pending)} Ready within {timeout:.0f}s"
        )

    # -- kubeconfigs ---------------------------------------------------------------------------------

    def _write_kubeconfig(self) -> None:
        assert self.pki is not None
        self.kubeconfig.write_text(
            kubeconfig_text(
                self.server,
                self.pki.ca_cert,
                {"client-certificate": str(self.pki.admin_cert), "client-key": str(self.pki.admin_key)},
                user="admin",
            )
        )

    def token_kubeconfig(self, path: Path, token: str, user: str) -> Path:
        """A kubeconfig for a bearer token, e.g. a ServiceAccount's TokenRequest token."""
        assert self.pki is not None
        path.write_text(kubeconfig_text(self.server, self.pki.ca_cert, {"token": token}, user=user))
        return path

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path) -> Path:
        token = self.kubectl("create", "token", name, "-n", namespace, "--duration=24h").stdout.strip()
        return self.token_kubeconfig(path, token, user=f"{namespace}-{name}")


def kubeconfig_text(server: str, ca_cert: Path, credentials: dict[str, str], user: str) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "modeldeploy", "cluster": {"server": server, "certificate-authority": str(ca_cert)}}
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "modeldeploy", "context": {"cluster": "modeldeploy", "user": user}}],
        "current-context": "modeldeploy",
    }
    return json.dumps(config, indent=2)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def _https_ok(url: str, pki: Pki) -> bool:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    with urllib.request.urlopen(url, timeout=2, context=context) as response:
        return bool(response.status == 200)
