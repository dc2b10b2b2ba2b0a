"""Shared fixtures: one real local control plane per test session, started only if a test asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.clusters import make_namespace, seed_common_models, write_operator_config
from tests.support.kubeapi import RawApi
from tests.support.kubectl import Kube
from tests.support.paths import CRDS


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(workdir=tmp_path_factory.mktemp("cluster"), emulate_tfserving=True)
    local.start()
    seed_common_models(local.model_store_root)
    try:
        local.install_crds(CRDS)
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def kube(cluster: LocalCluster) -> Kube:
    return Kube(cluster)


@pytest.fixture(scope="session")
def api(cluster: LocalCluster) -> RawApi:
    """Direct API calls to the session cluster, for tests that send hundreds or need a path kubectl lacks."""
    return RawApi(cluster.kubeconfig)


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


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A fresh namespace enforcing PodSecurity `restricted`, so insecure pods fail for real."""
    name = make_namespace(kube)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)
