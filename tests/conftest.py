"""Shared fixtures: one real local control plane per test session, started only if a test asks for it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

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


# Base paths the tests use without caring about versions: each holds versions 1 to 5 in the emulated
# model store, so that TF Serving pods load them. Tests about missing or broken versions use their own URIs.
SEEDED_URIS = (
    "gs://bucket/models/resnet",
    "gs://bucket/models/half_plus_two",
    "gs://bucket/models/healthy",
    "gs://bucket/models/m",
    "gs://bucket/m",
    "gs://b/m",
    "gs://b/models/m",
    "s3://bucket/models/resnet",
    "pvc://models/resnet",
)
SEEDED_VERSIONS = range(1, 6)


def seed_common_models(root: Path) -> None:
    # Imported here: unit tests that need no cluster must not need the emulator package either.
    from modeldeploy.localcluster.samples import seed_model_store
    from modeldeploy.localcluster.tfserving.store import ModelStore

    store = ModelStore(root)
    for uri in SEEDED_URIS:
        for number in SEEDED_VERSIONS:
            store.add_version(uri, number)
    seed_model_store(root, ROOT / "manifests" / "samples")


def write_operator_config(cluster: LocalCluster, path: Path, **settings: Any) -> Path:
    """The operator's configuration file: what the cluster needs (the emulated pods' address map) plus
    ``settings`` (camelCase keys; nested mappings merge, e.g. modelStatus entries)."""
    config: dict[str, Any] = merged(cluster.operator_config(), settings)
    path.write_text(json.dumps(config))
    return path


def merged(base: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` over ``base``; mappings merge key by key at every level."""
    out = dict(base)
    for key, value in settings.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(workdir=tmp_path_factory.mktemp("cluster"), emulate_tfserving=True)
    local.start()
    seed_common_models(local.model_store_root)
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
        kubeconfig=cluster.kubeconfig,
        log_path=cluster.workdir / "logs" / "operator.log",
        config_path=write_operator_config(cluster, cluster.workdir / "operator-config.json"),
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
    **cluster_options: Any,
) -> Iterator[Kube]:
    """A cluster and operator of a test module's own: for an operator configuration, KWOK pod stages, more
    CRDs (installed after ours), the resource metrics pipeline or emulated TF Serving settings
    (``cluster_options``, see LocalCluster) the session cluster must not get. ``config`` (YAML or JSON)
    gets the cluster's own settings added (its pod address map)."""
    config = config or workdir / "operator-config.yaml"
    local = LocalCluster(workdir=workdir / "cluster", nodes=nodes, kwok_stages=kwok_stages, **cluster_options)
    with local as cluster:
        for directory in (ROOT / "crds", *crds):
            cluster.install_crds(directory)
        if cluster.emulate_tfserving:
            seed_common_models(cluster.model_store_root)
        settings = (yaml.safe_load(config.read_text()) if config.exists() else None) or {}
        write_operator_config(cluster, config, **settings)
        operator = OperatorProcess(cluster.kubeconfig, workdir / "operator.log", config_path=config)
        operator.start()
        try:
            yield Kube(cluster)
        finally:
            operator.stop()
