"""Local clusters for tests: the models every cluster's emulated store holds, the operator's configuration
for a cluster, fresh namespaces, and clusters of a test module's own (the session cluster lives in
tests/conftest.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.nodes import NodeSpec
from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.kubectl import Kube
from tests.support.paths import CRDS, SAMPLES

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
    seed_model_store(root, SAMPLES)


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
        for directory in (CRDS, *crds):
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


@contextmanager
def private_cluster(workdir: Path) -> Iterator[LocalCluster]:
    """A LocalCluster of this module's own, without CRDs (the install under test brings them); its TF
    Serving pods run the emulator, with the samples' and the common test models' versions."""
    cluster = LocalCluster(workdir=workdir, emulate_tfserving=True)
    cluster.start()
    seed_common_models(cluster.model_store_root)
    try:
        yield cluster
    finally:
        cluster.stop()
