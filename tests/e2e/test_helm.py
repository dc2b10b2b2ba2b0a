"""`helm install` the chart on a local cluster of this module's own and run the operator exactly as the
chart configures it: the chart's ServiceAccount (a TokenRequest token, so the chart's RBAC is all it has),
the chart's ConfigMap and the flags of the chart's Deployment (KWOK pods run no code, so the process runs
here). Then the samples become Ready, the RBAC is least privilege, a GitOps sync sees no drift, Argo CD's
health check judges live statuses, `helm upgrade` and `helm uninstall` behave, and the namespaced mode
(`watchNamespaces`) works with its smaller RBAC.

The tests run in file order against one release; the last ones uninstall it.
Set MODELDEPLOY_CAPTURE_FIXTURES=1 to rewrite tests/fixtures/argocd/ from the live statuses.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.argocd import FIXTURES, HEALTH_KEY, argocd_health
from tests.support.clusters import private_cluster
from tests.support.conditions import status_of, summary
from tests.support.gitops import assert_no_drift, field_managers_of_user_fields
from tests.support.install import (
    DEADLINE,
    Helm,
    Installed,
    assert_nothing_forbidden,
    children_of,
    configmap_file,
    installed_from_deployment,
    operator_deployment,
    rollout_status,
    sample_models,
    wait_until_samples_ready,
    wait_until_samples_run,
)
from tests.support.kubectl import Kube
from tests.support.manifests import model_deployment
from tests.support.paths import CHART, CRDS, MD_CRD, ROOT, SAMPLES
from tests.support.rbac import assert_least_privilege, can_i
from tests.support.waits import wait_for, wait_ready

RELEASE = "modeldeploy"
NAMESPACE = "modeldeploy-system"
SAMPLES_NS = "modeldeploy-samples"
GITOPS_MANAGER = "argocd-controller"  # the field manager Argo CD's server-side apply uses
CAPTURE = os.environ.get("MODELDEPLOY_CAPTURE_FIXTURES") == "1"


@dataclass
class Release:
    cluster: LocalCluster
    helm: Helm
    installed: Installed
    install_to_ready_seconds: float
    operator: OperatorProcess | None = None
    uninstalled: bool = False
    logs: list[str] = field(default_factory=list)

    def start_operator(self) -> None:
        self.installed = installed_from_deployment(self.cluster, NAMESPACE, RELEASE)
        self.operator = self.installed.operator(self.cluster, f"operator-{len(self.logs)}")
        self.logs.append(str(self.operator.component.log_path))

    def stop_operator(self) -> None:
        if self.operator is not None:
            self.operator.stop()
            self.operator = None

    def uninstall(self) -> None:
        if not self.uninstalled:
            self.helm("uninstall", RELEASE, "-n", NAMESPACE)
            self.stop_operator()
            self.uninstalled = True

    def log_text(self) -> str:
        return "".join(Path(p).read_text() for p in self.logs)


@pytest.fixture(scope="module")
def helm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with private_cluster(tmp_path_factory.mktemp("helm-cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def helm(helm_cluster: LocalCluster) -> Helm:
    return Helm(helm_cluster)


@pytest.fixture(scope="module")
def release(helm_cluster: LocalCluster, helm: Helm) -> Iterator[Release]:
    """docs/install.md's Helm path, then the samples applied the way Argo CD applies them."""
    started = time.monotonic()
    helm_cluster.kubectl("create", "namespace", NAMESPACE)
    helm_cluster.kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE)
    rollout_status(helm_cluster, NAMESPACE, RELEASE)
    installed = installed_from_deployment(helm_cluster, NAMESPACE, RELEASE)
    rel = Release(helm_cluster, helm, installed, 0.0)
    rel.start_operator()
    try:
        helm_cluster.kubectl(
            "apply", "--server-side", f"--field-manager={GITOPS_MANAGER}", "-f", str(SAMPLES)
        )
        rel.install_to_ready_seconds = wait_until_samples_ready(helm_cluster, started)
        print(f"helm install to samples Ready: {rel.install_to_ready_seconds:.1f}s")
        yield rel
    finally:
        rel.stop_operator()


def test_install_runs_the_samples_with_the_charts_identity(release: Release) -> None:
    cluster = release.cluster
    assert release.installed == Installed(NAMESPACE, RELEASE, f"{RELEASE}-config", ("--log-format=json",))
    assert release.install_to_ready_seconds < DEADLINE
    assert Kube(cluster).get("crd", MD_CRD) is not None, "the chart's crds/ were not installed"
    for _, sample in sample_models():
        children = children_of(cluster, SAMPLES_NS, sample["metadata"]["name"])
        assert set(children) == {"Deployment", "Service", "ConfigMap", "NetworkPolicy"}, children
    # The operator really ran as the ServiceAccount, and nothing it tried was forbidden.
    whoami = Kube(cluster).json("auth", "whoami", kubeconfig=release.installed.kubeconfig(cluster))
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{NAMESPACE}:{RELEASE}"
    assert_nothing_forbidden(release.log_text())


def test_cluster_wide_rbac_is_least_privilege(release: Release) -> None:
    kubeconfig = release.installed.kubeconfig(release.cluster)
    asked = assert_least_privilege(
        release.cluster, kubeconfig, watched=[None, SAMPLES_NS, "default"], unwatched=[]
    )
    assert asked > 100


def test_gitops_sync_sees_no_drift_after_reconcile(release: Release) -> None:
    assert assert_no_drift(release.cluster, GITOPS_MANAGER) == len(sample_models())
    for _, sample in sample_models():
        live = release.cluster.kubectl(
            "get", "md", sample["metadata"]["name"], "-n", SAMPLES_NS, "--show-managed-fields", "-o", "json"
        ).stdout
        owners = field_managers_of_user_fields(json.loads(live))
        assert owners == {GITOPS_MANAGER}, f"{sample['metadata']['name']}: user fields owned by {owners}"


# --- Argo CD health of live statuses -----------------------------------------------------------------


def _wait_for_status(
    cluster: LocalCluster, name: str, test: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        md = Kube(cluster).get("modeldeployment", name, SAMPLES_NS)
        status = (md or {}).get("status") or {}
        if md and status.get("observedGeneration") == md["metadata"]["generation"] and test(md):
            return md
        return None

    return wait_for(probe, DEADLINE, interval=0.5, what=f"{name}: {what}")


def _fixture_form(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as a fixture: what health.lua reads, without server bookkeeping."""
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {k: meta[k] for k in ("name", "namespace", "generation")},
        "spec": obj["spec"],
        **({"status": obj["status"]} if "status" in obj else {}),
    }


def _shape(obj: dict[str, Any]) -> tuple[Any, ...]:
    status = obj.get("status") or {}
    return (
        obj["metadata"]["generation"],
        status.get("observedGeneration"),
        status.get("phase"),
        summary(status_of(obj)),
    )


# fixture name -> what it shows; the objects are captured below
CAPTURED = {
    "ready": "A sample model, reconciled and Ready.",
    "progressing-insufficient-gpu": "Pods cannot be scheduled: 8 GPUs per replica, nodes have 4.",
    "degraded-invalid-spec": "A GPU type the operator configuration does not list: InvalidSpec.",
    "generation-not-observed": "spec changed while the operator was down: observedGeneration behind.",
    "created-no-status": "Created while the operator was down: only the CRD's default status.",
}


def test_argocd_health_of_live_statuses(release: Release) -> None:
    cluster = release.cluster
    live: dict[str, dict[str, Any]] = {}
    live["ready"] = _wait_for_status(
        cluster,
        "half-plus-two",
        # Ready, and emulated TF Serving's answer is in (the poll may land just after the pods are ready).
        lambda md: (
            md["status"]["phase"] == "Ready" and summary(status_of(md)).get("ModelLoaded", ("",))[0] == "True"
        ),
        "Ready with ModelLoaded",
    )
    # Pods that cannot be scheduled (T4 nodes have 4 GPUs), and a GPU type the configuration lacks.
    for name, gpu_type, count in (("too-many-gpus", "nvidia-tesla-t4", 8), ("unknown-gpu", "nvidia-v100", 1)):
        gpu = {"type": gpu_type, "count": count}
        model = model_deployment(name, SAMPLES_NS, resources={"cpu": "1", "memory": "1Gi", "gpu": gpu})
        cluster.apply_objects([model])
    for name, model, (kind, status, reason) in (
        ("progressing-insufficient-gpu", "too-many-gpus", ("Ready", "False", "InsufficientGPU")),
        ("degraded-invalid-spec", "unknown-gpu", ("Degraded", "True", "InvalidSpec")),
    ):
        live[name] = _wait_for_status(
            cluster,
            model,
            lambda md, k=kind, want=(status, reason): summary(status_of(md)).get(k) == want,
            f"{kind} {status} {reason}",
        )
    release.stop_operator()
    try:
        patch = {"spec": {"replicas": 2}}
        cluster.kubectl(
            "patch", "md", "too-many-gpus", "-n", SAMPLES_NS, "--type=merge", "-p", json.dumps(patch)
        )
        live["generation-not-observed"] = (
            Kube(cluster).get("modeldeployment", "too-many-gpus", SAMPLES_NS) or {}
        )
        cluster.apply_objects([model_deployment("created-while-down", SAMPLES_NS)])
        live["created-no-status"] = (
            Kube(cluster).get("modeldeployment", "created-while-down", SAMPLES_NS) or {}
        )
    finally:
        release.start_operator()

    verdicts = {name: argocd_health(obj) for name, obj in live.items()}
    ready, progressing, degraded = (live[n]["status"]["conditions"] for n in list(CAPTURED)[:3])
    message = {
        name: {c["type"]: c["message"] for c in conditions}
        for name, conditions in zip(list(CAPTURED)[:3], (ready, progressing, degraded), strict=True)
    }
    assert verdicts == {
        "ready": ("Healthy", message["ready"]["Ready"]),
        "progressing-insufficient-gpu": ("Progressing", message["progressing-insufficient-gpu"]["Ready"]),
        "degraded-invalid-spec": ("Degraded", message["degraded-invalid-spec"]["Degraded"]),
        "generation-not-observed": ("Progressing", "Waiting for the operator to observe generation 2"),
        "created-no-status": ("Progressing", "Waiting for the operator to observe generation 1"),
    }
    assert "cannot be scheduled" in verdicts["progressing-insufficient-gpu"][1]
    assert "spec.resources.gpu.type" in verdicts["degraded-invalid-spec"][1]

    for name, obj in live.items():
        path = FIXTURES / f"{name}.yaml"
        if CAPTURE:
            header = f"# {CAPTURED[name]}\n# Captured from the local cluster by tests/e2e/test_helm.py.\n"
            path.write_text(header + yaml.safe_dump(_fixture_form(obj), sort_keys=False))
        fixture = yaml.safe_load(path.read_text())
        assert _shape(fixture) == _shape(obj), f"{path.name} no longer matches the live status; recapture"
        assert argocd_health(fixture)[0] == verdicts[name][0]

    # The operator, back, catches up with both.
    _wait_for_status(cluster, "created-while-down", lambda md: md["status"]["phase"] == "Ready", "Ready")
    _wait_for_status(cluster, "too-many-gpus", lambda md: True, "generation 2 observed")
    cluster.kubectl("delete", "md", "too-many-gpus", "unknown-gpu", "created-while-down", "-n", SAMPLES_NS)


def test_argocd_cm_patch_command_from_the_docs(release: Release) -> None:
    cluster = release.cluster
    cluster.kubectl("create", "namespace", "argocd")
    cluster.kubectl(
        "-n", "argocd", "create", "configmap", "argocd-cm", "--from-literal=url=https://argocd.example"
    )
    cluster.kubectl(
        *("-n", "argocd", "patch", "configmap", "argocd-cm", "--type", "merge"),
        *("--patch-file", str(ROOT / "argocd" / "argocd-cm-patch.yaml")),
    )
    data = Kube(cluster).json("-n", "argocd", "get", "configmap", "argocd-cm")["data"]
    health = (ROOT / "argocd" / "health.lua").read_text()
    assert data == {"url": "https://argocd.example", HEALTH_KEY: health}


# --- helm upgrade ------------------------------------------------------------------------------------


def _revision(release: Release) -> int:
    status = json.loads(release.helm("status", RELEASE, "-n", NAMESPACE, "-o", "json").stdout)
    revision: int = status["version"]
    return revision


def _upgrade(release: Release, *values: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """docs/install.md's upgrade command, with --set for each of `values`."""
    sets = [arg for value in values for arg in ("--set", value)]
    return release.helm("upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--reuse-values", *sets, check=check)


def test_helm_upgrade_rejects_bad_values_and_keeps_the_release(release: Release) -> None:
    before = _revision(release)
    two = _upgrade(release, "replicas=2", check=False)
    assert two.returncode != 0 and "peering.enabled=true" in two.stderr, two.stderr
    typo = _upgrade(release, "watchNamespaces=team-a", check=False)
    assert typo.returncode != 0 and "/watchNamespaces" in typo.stderr, typo.stderr
    assert _revision(release) == before


def test_helm_upgrade_changes_config_and_replicas(release: Release) -> None:
    cluster = release.cluster
    before = operator_deployment(cluster, NAMESPACE, RELEASE)
    # docs/install.md: helm upgrade does not touch crds/, so the new CRDs go first, server-side, taking
    # the fields over from helm's install (a plain server-side apply of a changed CRD conflicts).
    new_crds = cluster.workdir / "new-crds"
    new_crds.mkdir()
    crd = yaml.safe_load((CRDS / "serving.modeldeploy.io_modeldeployments.yaml").read_text())
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] = "A changed description."
    (new_crds / "crd.yaml").write_text(yaml.safe_dump(crd))
    plain = cluster.kubectl("apply", "--server-side", "-f", str(new_crds), check=False)
    assert plain.returncode != 0 and "conflict" in plain.stderr, plain.stderr
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(new_crds))
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    _upgrade(
        release,
        "config.defaultVersion=2.18.0",
        "config.progressDeadlineSeconds=300",
        "replicas=2",
        "peering.enabled=true",
    )
    assert _revision(release) == 2
    after = operator_deployment(cluster, NAMESPACE, RELEASE)
    annotations = [
        d["spec"]["template"]["metadata"]["annotations"]["checksum/config"] for d in (before, after)
    ]
    assert annotations[0] != annotations[1], "a config change must roll the operator pods"
    assert after["spec"]["replicas"] == 2
    assert Kube(cluster).get("clusterkopfpeerings.kopf.dev", "modeldeploy") is not None

    # The chart's Deployment now runs the operator peered, with the new config: so does the local one.
    release.stop_operator()
    release.start_operator()
    assert "--peering=modeldeploy" in release.installed.args
    config = yaml.safe_load(configmap_file(cluster, NAMESPACE, release.installed.configmap))
    assert config["defaultVersion"] == "2.18.0" and config["progressDeadlineSeconds"] == 300

    wait_until_samples_run(cluster, "tensorflow/serving:2.18.0")
    for _, sample in sample_models():
        deployment = Kube(cluster).get("deployment", sample["metadata"]["name"], SAMPLES_NS) or {}
        assert deployment["spec"]["progressDeadlineSeconds"] == 300
    assert_nothing_forbidden(release.log_text())


# --- helm uninstall ----------------------------------------------------------------------------------


def test_helm_uninstall_keeps_the_crd_and_the_models(release: Release) -> None:
    cluster = release.cluster
    kubeconfig = release.installed.kubeconfig(cluster)
    children = {
        sample["metadata"]["name"]: children_of(cluster, SAMPLES_NS, sample["metadata"]["name"])
        for _, sample in sample_models()
    }
    release.uninstall()
    for kind, name, ns in (
        ("deployment", RELEASE, NAMESPACE),
        ("serviceaccount", RELEASE, NAMESPACE),
        ("configmap", f"{RELEASE}-config", NAMESPACE),
        ("clusterrole", RELEASE, None),
        ("clusterrolebinding", RELEASE, None),
        ("clusterkopfpeering.kopf.dev", "modeldeploy", None),
    ):
        assert Kube(cluster).get(kind, name, ns) is None, f"{kind} {name} survived helm uninstall"
    assert Kube(cluster).get("crd", MD_CRD) is not None, (
        "helm uninstall removed the CRD (and every model with it)"
    )
    for name, owned in children.items():
        md = Kube(cluster).get("modeldeployment", name, SAMPLES_NS)
        assert md is not None and md["status"]["phase"] == "Ready", name
        assert children_of(cluster, SAMPLES_NS, name) == owned
    # The old token no longer works: the ServiceAccount is gone.
    denied = cluster.kubectl("get", "md", "-A", kubeconfig=kubeconfig, check=False)
    assert denied.returncode != 0 and "Unauthorized" in denied.stderr, denied.stderr
    # Without the operator a model can still be deleted (no finalizer left behind); its children go too.
    cluster.kubectl("delete", "md", "half-plus-two-canary", "-n", SAMPLES_NS, "--timeout=60s")
    wait_for(
        lambda: not children_of(cluster, SAMPLES_NS, "half-plus-two-canary"),
        DEADLINE,
        what="garbage collection of the deleted model's children",
    )


# --- watchNamespaces ---------------------------------------------------------------------------------


HA_INSTALL = (
    *("upgrade", "--install", RELEASE, str(CHART), "-n", NAMESPACE),
    *("--set", "replicas=2", "--set", "peering.enabled=true", "--set", "watchNamespaces={team-a,team-b}"),
)


def test_namespaced_mode_watches_only_its_namespaces(release: Release, helm_cluster: LocalCluster) -> None:
    release.uninstall()  # one operator per cluster: the cluster-wide release must be gone
    cluster, helm = helm_cluster, release.helm
    for ns in ("team-a", "team-b", "team-c"):
        cluster.kubectl("create", "namespace", ns)
    # docs/install.md's high-availability install watching two namespaces, verbatim.
    helm(*HA_INSTALL)
    installed = installed_from_deployment(cluster, NAMESPACE, RELEASE)
    assert installed.args == ("--log-format=json", "--peering=modeldeploy")
    assert operator_deployment(cluster, NAMESPACE, RELEASE)["spec"]["replicas"] == 2
    for ns in ("team-a", "team-b"):
        assert Kube(cluster).get("kopfpeerings.kopf.dev", "modeldeploy", ns) is not None
    kubeconfig = installed.kubeconfig(cluster)
    assert_least_privilege(
        cluster, kubeconfig, watched=["team-a", "team-b"], unwatched=["team-c", SAMPLES_NS, NAMESPACE]
    )
    for verb in ("list", "watch"):
        assert not can_i(cluster, kubeconfig, verb, "modeldeployments.serving.modeldeploy.io", None)
    assert can_i(cluster, kubeconfig, "patch", "kopfpeerings.kopf.dev", "team-a")
    assert not can_i(cluster, kubeconfig, "patch", "clusterkopfpeerings.kopf.dev", None)

    models = [model_deployment("m", ns) for ns in ("team-a", "team-b", "team-c")]
    cluster.apply_objects(models)
    operator = installed.operator(cluster, "operator-namespaced")
    try:
        for ns in ("team-a", "team-b"):
            wait_ready(Kube(cluster), "m", ns, DEADLINE)
        # By then the operator has listed and handled both watched namespaces; team-c is not its business.
        # Only the CRD's default status: the operator never wrote one.
        unwatched = (Kube(cluster).get("modeldeployment", "m", "team-c") or {}).get("status")
        assert unwatched == {"observedGeneration": 0, "phase": "Pending"}, unwatched
        assert children_of(cluster, "team-c", "m") == {}
        log = Path(operator.component.log_path).read_text()
        assert_nothing_forbidden(log)
        assert "team-c" not in log
    finally:
        operator.stop()
