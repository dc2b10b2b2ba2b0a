"""Shared pieces of the install tests (Helm, kustomize): Helm, the operator as the installed ServiceAccount,
the samples (RBAC checks: tests/support/rbac.py; the GitOps drift check: tests/support/gitops.py).

Each install test module starts its own LocalCluster: the session cluster's operator reconciles every
namespace with the admin kubeconfig, which would hide exactly what these tests prove (that the installed
RBAC and configuration are enough).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modeldeploy.desired.deployment import CONTAINER_NAME
from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.binaries import bin_dir
from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.kubectl import Kube
from tests.support.paths import SAMPLES
from tests.support.waits import wait_for

DEADLINE = 120  # seconds; two cores are shared by several clusters


def with_cluster_settings(cluster: LocalCluster, installed: str) -> str:
    """An installed config.yaml plus the one setting the environment adds: how this machine reaches pod
    IPs (the emulated pods listen on loopback addresses), as a real cluster's network needs no setting."""
    settings = yaml.safe_load(installed) or {}
    for key, value in cluster.operator_config().items():
        settings[key] = {**(settings.get(key) or {}), **value}
    return str(yaml.safe_dump(settings))


# --- Helm -------------------------------------------------------------------------------------------


class Helm:
    """The helm binary from the local cluster build, against one cluster, with its own config dirs."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.binary = bin_dir() / "helm"  # MODELDEPLOY_BIN_DIR, else ~/.cache/modeldeploy/bin
        assert os.access(self.binary, os.X_OK), f"helm not built at {self.binary}: run tools/build.sh"
        home = cluster.workdir / "helm"
        self.env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args, "--kubeconfig", str(self.cluster.kubeconfig)],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
            env=self.env,
        )
        if check:
            assert result.returncode == 0, f"helm {' '.join(args)}: {result.stderr}"
        return result


# --- The operator as the installed ServiceAccount ----------------------------------------------------


def configmap_file(cluster: LocalCluster, namespace: str, name: str, key: str = "config.yaml") -> str:
    """One file of a ConfigMap as the install created it in the cluster."""
    configmap = Kube(cluster).json("get", "configmap", name, "-n", namespace)
    text: str = configmap["data"][key]
    return text


# Flags the test sets itself: the config file is read back from the ConfigMap, the ports are free ones.
LOCAL_FLAGS = ("--config", "--metrics-port", "--liveness-port")


@dataclass
class Installed:
    """What an install gave the operator: its namespace, ServiceAccount, configuration ConfigMap and
    command-line flags (read from the operator Deployment the install created)."""

    namespace: str
    service_account: str
    configmap: str
    args: tuple[str, ...]

    token_kubeconfig: Path | None = field(default=None, compare=False)

    def kubeconfig(self, cluster: LocalCluster) -> Path:
        """A kubeconfig with a TokenRequest token of the installed ServiceAccount: exactly its RBAC."""
        if self.token_kubeconfig is None:
            path = cluster.workdir / f"{self.namespace}-{self.service_account}-{id(self)}.kubeconfig"
            self.token_kubeconfig = cluster.service_account_kubeconfig(
                self.namespace, self.service_account, path
            )
        return self.token_kubeconfig

    def operator(self, cluster: LocalCluster, name: str) -> OperatorProcess:
        """The operator as the installed Deployment would run it (KWOK pods run no code): the
        ServiceAccount's token and the ConfigMap's config.yaml, read back from the cluster."""
        config = cluster.workdir / f"{name}.config.yaml"
        config.write_text(
            with_cluster_settings(cluster, configmap_file(cluster, self.namespace, self.configmap))
        )
        process = OperatorProcess(
            kubeconfig=self.kubeconfig(cluster),
            log_path=cluster.workdir / "logs" / f"{name}.log",
            args=self.args,
            config_path=config,
            name=name,
        )
        process.start(timeout=DEADLINE)
        return process


def rollout_status(cluster: LocalCluster, namespace: str, name: str) -> None:
    """docs/install.md's check that the operator Deployment is up (KWOK runs its pods as Ready)."""
    cluster.kubectl("-n", namespace, "rollout", "status", f"deployment/{name}", f"--timeout={DEADLINE}s")


def operator_deployment(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    deployment = Kube(cluster).get("deployment", name, namespace)
    assert deployment is not None, f"no operator Deployment {namespace}/{name}"
    return deployment


def installed_from_deployment(cluster: LocalCluster, namespace: str, name: str) -> Installed:
    """Read the ServiceAccount and the config ConfigMap from the operator Deployment the install made."""
    pod = operator_deployment(cluster, namespace, name)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (container,) = (c for c in pod["containers"] if c["name"] == "operator")
    assert "--config=/etc/modeldeploy/config.yaml" in container["args"], container["args"]
    mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mount["config"] == "/etc/modeldeploy", mount
    args = tuple(a for a in container["args"] if a.split("=", 1)[0] not in LOCAL_FLAGS)
    return Installed(namespace, pod["serviceAccountName"], volumes["config"]["configMap"]["name"], args)


# --- Samples ------------------------------------------------------------------------------------------


def load_all(text: str) -> list[dict[str, Any]]:
    """The documents of a YAML stream, without the empty ones."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return load_all(path.read_text())


def sample_models() -> list[tuple[Path, dict[str, Any]]]:
    """(file, ModelDeployment) for every model in manifests/samples/."""
    found = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        found += [(path, doc) for doc in load_yaml_docs(path) if doc["kind"] == "ModelDeployment"]
    assert len(found) >= 3, found
    return found


def model_phases(cluster: LocalCluster, namespace: str) -> dict[str, str]:
    items = Kube(cluster).json("get", "md", "-A")["items"]  # docs/install.md's `kubectl get md -A`
    return {
        i["metadata"]["name"]: (i.get("status") or {}).get("phase", "")
        for i in items
        if i["metadata"]["namespace"] == namespace
    }


def wait_until_samples_ready(cluster: LocalCluster, started: float) -> float:
    """Wait until every sample model's status.phase is Ready; the seconds since `started`."""
    wanted = {doc["metadata"]["name"] for _, doc in sample_models()}
    namespace = sample_models()[0][1]["metadata"]["namespace"]

    def ready() -> bool:
        phases = model_phases(cluster, namespace)
        return wanted <= phases.keys() and all(phases[n] == "Ready" for n in wanted)

    wait_for(ready, DEADLINE, interval=0.5, what=f"samples Ready: {model_phases(cluster, namespace)}")
    return time.monotonic() - started


def wait_until_samples_run(cluster: LocalCluster, image: str) -> None:
    """Every sample's TF Serving container runs `image` (GPU models its -gpu tag) and the samples are
    Ready again: what a new defaultImage/defaultVersion in the operator configuration does."""
    wanted = {}
    for _, sample in sample_models():
        gpu = "gpu" in (sample["spec"].get("resources") or {})
        wanted[sample["metadata"]["name"]] = image + ("-gpu" if gpu else "")
    namespace = sample_models()[0][1]["metadata"]["namespace"]

    def images() -> dict[str, str]:
        found = {}
        for name in wanted:
            pod = (Kube(cluster).get("deployment", name, namespace) or {})["spec"]["template"]["spec"]
            found[name] = next(c["image"] for c in pod["containers"] if c["name"] == CONTAINER_NAME)
        return found

    wait_for(lambda: images() == wanted, DEADLINE, interval=0.5, what=f"samples on {image}")
    wait_until_samples_ready(cluster, time.monotonic())


def assert_nothing_forbidden(operator_log: str) -> None:
    """Nothing the operator tried was refused by RBAC."""
    assert "Forbidden" not in operator_log and " 403" not in operator_log, operator_log[-3000:]


def children_of(cluster: LocalCluster, namespace: str, name: str) -> dict[str, list[str]]:
    """Kind -> names of the objects a ModelDeployment owns (by ownerReference)."""
    found: dict[str, list[str]] = {}
    kinds = "deployments,services,configmaps,networkpolicies"
    items = Kube(cluster).json("get", kinds, "-n", namespace)["items"]
    for item in items:
        owners = item["metadata"].get("ownerReferences") or []
        if any(o["kind"] == "ModelDeployment" and o["name"] == name for o in owners):
            found.setdefault(item["kind"], []).append(item["metadata"]["name"])
    return found
