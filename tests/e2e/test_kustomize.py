"""`kubectl apply -k manifests/` on a local cluster of this module's own, with the operator run as the
base's ServiceAccount (a TokenRequest token), with the generated ConfigMap's config.yaml and the
Deployment's flags. The samples become Ready, the RBAC is least privilege, a GitOps sync sees no drift,
and docs/install.md's overlay (another image, a replaced configuration) upgrades the operator.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.clusters import private_cluster
from tests.support.gitops import assert_no_drift
from tests.support.install import (
    Installed,
    assert_nothing_forbidden,
    children_of,
    installed_from_deployment,
    operator_deployment,
    rollout_status,
    sample_models,
    wait_until_samples_ready,
    wait_until_samples_run,
)
from tests.support.kubectl import Kube
from tests.support.paths import MANIFESTS, MD_CRD, ROOT, SAMPLES
from tests.support.rbac import assert_least_privilege

NAMESPACE = "modeldeploy-system"
SAMPLES_NS = "modeldeploy-samples"


@dataclass
class Install:
    cluster: LocalCluster
    installed: Installed
    operator: OperatorProcess
    install_to_ready_seconds: float


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    """docs/install.md's kubectl path: the base, then the samples."""
    with private_cluster(tmp_path_factory.mktemp("kustomize-cluster")) as cluster:
        started = time.monotonic()
        cluster.kubectl("apply", "--server-side", "-k", str(MANIFESTS))
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{MD_CRD}")
        rollout_status(cluster, NAMESPACE, "modeldeploy")
        installed = installed_from_deployment(cluster, NAMESPACE, "modeldeploy")
        state = Install(cluster, installed, installed.operator(cluster, "operator-kustomize"), 0.0)
        try:
            cluster.kubectl("apply", "-f", str(SAMPLES))
            state.install_to_ready_seconds = wait_until_samples_ready(cluster, started)
            print(f"kubectl apply -k to samples Ready: {state.install_to_ready_seconds:.1f}s")
            yield state
        finally:
            state.operator.stop()


def test_apply_k_runs_the_samples_with_the_bases_identity(install: Install) -> None:
    cluster, installed = install.cluster, install.installed
    assert installed.namespace == NAMESPACE and installed.service_account == "modeldeploy"
    assert installed.configmap.startswith("modeldeploy-config-"), "the generated ConfigMap has a hash suffix"
    assert installed.args == ("--log-format=json",)
    for _, sample in sample_models():
        children = children_of(cluster, SAMPLES_NS, sample["metadata"]["name"])
        assert set(children) == {"Deployment", "Service", "ConfigMap", "NetworkPolicy"}, children
    whoami = Kube(cluster).json("auth", "whoami", kubeconfig=installed.kubeconfig(cluster))
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{NAMESPACE}:modeldeploy"
    assert_nothing_forbidden(Path(install.operator.component.log_path).read_text())


def test_rbac_is_least_privilege(install: Install) -> None:
    kubeconfig = install.installed.kubeconfig(install.cluster)
    assert_least_privilege(install.cluster, kubeconfig, watched=[None, SAMPLES_NS], unwatched=[])


def test_gitops_sync_sees_no_drift_after_reconcile(install: Install) -> None:
    # The samples were applied client-side (kubectl apply -f); Argo CD then syncs them server-side.
    assert assert_no_drift(install.cluster) == len(sample_models())


def test_overlay_from_the_docs_upgrades_image_and_config(install: Install, tmp_path: Path) -> None:
    cluster = install.cluster
    overlay = tmp_path / "my-cluster"
    overlay.mkdir()
    config = yaml.safe_load((MANIFESTS / "operator" / "config.yaml").read_text())
    config["defaultVersion"] = "2.18.0"
    (overlay / "config.yaml").write_text(yaml.safe_dump(config))
    # docs/install.md's example, with the path to the base made relative to this overlay.
    (overlay / "kustomization.yaml").write_text(
        OVERLAY.replace("../manifests", os.path.relpath(MANIFESTS, overlay))
    )
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(overlay))  # docs: Upgrading

    upgraded = installed_from_deployment(cluster, NAMESPACE, "modeldeploy")
    assert upgraded.configmap != install.installed.configmap, "a new config must roll the operator"
    deployment = operator_deployment(cluster, NAMESPACE, "modeldeploy")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/mirror/modeldeploy:0.1.0"

    install.operator.stop()
    install.operator = upgraded.operator(cluster, "operator-kustomize-upgraded")
    wait_until_samples_run(cluster, "tensorflow/serving:2.18.0")
    assert_nothing_forbidden(Path(install.operator.component.log_path).read_text())


def _docs_overlay() -> str:
    """The overlay example in docs/install.md, verbatim."""
    text = (ROOT / "docs" / "install.md").read_text()
    start = text.index("# my-cluster/kustomization.yaml\n")
    return text[start : text.index("```", start)]


OVERLAY = _docs_overlay()
