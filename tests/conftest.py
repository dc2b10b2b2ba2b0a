"""Shared fixtures: one real local control plane per test session, started only if a test asks for it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.nodes import NodeSpec
from modeldeploy.localcluster.operator_process import OperatorProcess

ROOT = Path(__file__).resolve().parents[1]


class Kube:
    """kubectl against the test cluster, returning parsed JSON."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster

    def run(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        return self.cluster.kubectl(*args, input=input, check=check)

    def get(
        self, kind: str, name: str, namespace: str | None = None, managed_fields: bool = False
    ) -> dict[str, Any] | None:
        ns = ["-n", namespace] if namespace else []
        extra = ["--show-managed-fields"] if managed_fields else []
        result = self.cluster.kubectl("get", kind, name, *ns, *extra, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr or "not found" in result.stderr:
                return None
            raise RuntimeError(result.stderr)
        obj: dict[str, Any] = json.loads(result.stdout)
        return obj

    def list(self, kind: str, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        sel = ["-l", selector] if selector else []
        out = self.cluster.kubectl("get", kind, "-n", namespace, *sel, "-o", "json").stdout
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items

    def apply(self, obj: dict[str, Any] | str, check: bool = True) -> Any:
        text = obj if isinstance(obj, str) else json.dumps(obj)
        return self.cluster.kubectl("apply", "-f", "-", input=text, check=check)

    def create(self, obj: dict[str, Any] | str, check: bool = True) -> Any:
        text = obj if isinstance(obj, str) else json.dumps(obj)
        return self.cluster.kubectl("create", "-f", "-", input=text, check=check)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(workdir=tmp_path_factory.mktemp("cluster"))
    local.start()
    try:
        local.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        local.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/modeldeployments.serving.modeldeploy.io",
        )
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def kube(cluster: LocalCluster) -> Kube:
    return Kube(cluster)


@pytest.fixture(scope="session")
def operator(cluster: LocalCluster) -> Iterator[OperatorProcess]:
    """The operator, running with the admin kubeconfig (the e2e tests run it with the chart's RBAC)."""
    process = OperatorProcess(
        kubeconfig=cluster.kubeconfig, log_path=cluster.workdir / "logs" / "operator.log"
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def make_namespace(kube: Kube, prefix: str = "t", enforce: str = "restricted") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": enforce}},
        }
    )
    return name


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A fresh namespace enforcing PodSecurity `restricted`, so insecure pods fail for real."""
    name = make_namespace(kube)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)


@contextmanager
def own_cluster(
    workdir: Path,
    config: Path | None = None,
    kwok_stages: Path | None = None,
    nodes: Sequence[NodeSpec] | None = None,
    crds: Sequence[Path] = (),
    resource_metrics: bool = False,
) -> Iterator[Kube]:
    """A cluster and operator of a test module's own: for an operator configuration, KWOK pod stages, more
    CRDs (installed after ours) or the resource metrics pipeline the session cluster must not get."""
    cluster_dir = workdir / "cluster"
    with LocalCluster(
        workdir=cluster_dir, nodes=nodes, kwok_stages=kwok_stages, resource_metrics=resource_metrics
    ) as cluster:
        for directory in (ROOT / "crds", *crds):
            cluster.install_crds(directory)
        operator = OperatorProcess(cluster.kubeconfig, workdir / "operator.log", config_path=config)
        operator.start()
        try:
            yield Kube(cluster)
        finally:
            operator.stop()
