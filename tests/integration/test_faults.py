"""Faults under a running operator on its own control plane: SIGKILL mid-reconcile, API server and etcd
restarts, changes made while the operator is down, and a concurrent writer fighting over a child.

Times to converge after each fault are printed (pytest -s) and written to <tmp>/fault-timings.json."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.clusters import write_operator_config
from tests.support.kubectl import Kube
from tests.support.manifests import model_deployment
from tests.support.metrics import metric_sum
from tests.support.paths import ROOT
from tests.support.waits import wait_for

MD_LABEL = "serving.modeldeploy.io/model-deployment"
MANAGED = "app.kubernetes.io/managed-by=modeldeploy"
MODELS = 50
TIMEOUT = 240  # 2 shared cores, several clusters: generous, the measured times are reported separately
SMALL = {"cpu": "10m", "memory": "32Mi"}  # 50+ models must fit on the two KWOK CPU nodes


def small_model(name: str, namespace: str) -> dict[str, Any]:
    return model_deployment(name, namespace, uri="gs://bucket/models/half_plus_two", resources=SMALL)


class Timings:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.values: dict[str, float] = {}

    def record(self, what: str, seconds: float) -> None:
        self.values[what] = round(seconds, 2)
        print(f"\n[faults] {what}: {seconds:.2f}s")
        self.path.write_text(json.dumps(self.values, indent=2))


@pytest.fixture(scope="module")
def fault_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(workdir=tmp_path_factory.mktemp("faults-cluster")) as cluster:
        cluster.install_crds(ROOT / "crds")
        yield cluster


@pytest.fixture(scope="module")
def fkube(fault_cluster: LocalCluster) -> Kube:
    return Kube(fault_cluster)


@pytest.fixture(scope="module")
def timings(tmp_path_factory: pytest.TempPathFactory) -> Timings:
    return Timings(tmp_path_factory.mktemp("faults") / "fault-timings.json")


@pytest.fixture(scope="module")
def fop(fault_cluster: LocalCluster) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        kubeconfig=fault_cluster.kubeconfig,
        log_path=fault_cluster.workdir / "logs" / "operator.log",
        args=["--workers=8"],
        config_path=write_operator_config(fault_cluster, fault_cluster.workdir / "operator-config.json"),
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def fns(fkube: Kube) -> str:
    name = f"faults-{uuid.uuid4().hex[:6]}"
    fkube.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
        }
    )
    return name


def names() -> list[str]:
    return [f"m{i:02d}" for i in range(MODELS)]


def all_ready(kube: Kube, namespace: str, expected: int) -> bool | str:
    """True when all are Ready at their generation; else a falsy summary is not possible, so the probe
    returns False and keeps the summary of the laggards in LAST for the failure message."""
    mds = kube.list("md", namespace)
    lagging = {
        md["metadata"]["name"]: (
            (md.get("status") or {}).get("phase"),
            (md.get("status") or {}).get("message"),
        )
        for md in mds
        if (md.get("status") or {}).get("phase") != "Ready"
        or md["status"].get("observedGeneration") != md["metadata"]["generation"]
    }
    LAST[:] = [f"{len(mds)} models; not ready: {dict(list(lagging.items())[:5])}"]
    return len(mds) == expected and not lagging


LAST: list[str] = []


def deployment_replicas(kube: Kube, name: str, namespace: str) -> int | None:
    deployment = kube.get("deployment", name, namespace)
    return None if deployment is None else int(deployment["spec"]["replicas"])


def md_converged(kube: Kube, name: str, namespace: str, replicas: int) -> bool:
    md = kube.get("md", name, namespace) or {}
    status = md.get("status") or {}
    return (
        deployment_replicas(kube, name, namespace) == replicas
        and status.get("observedGeneration") == md["metadata"]["generation"]
        and status.get("phase") == "Ready"
        and status.get("readyReplicas") == replicas
    )


def assert_exact_children(kube: Kube, namespace: str) -> None:
    """Exactly one ConfigMap, Deployment and Service per ModelDeployment, each controlled by it; nothing
    managed by us that no ModelDeployment owns."""
    uids = {md["metadata"]["name"]: md["metadata"]["uid"] for md in kube.list("md", namespace)}
    for kind, suffix in [("configmap", "-tfserving"), ("deployment", ""), ("service", "")]:
        items = kube.list(kind, namespace, MANAGED)
        owners: dict[str, list[str]] = {}
        for obj in items:
            owner = obj["metadata"]["labels"][MD_LABEL]
            owners.setdefault(owner, []).append(obj["metadata"]["name"])
            refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]
            assert len(refs) == 1, f"{kind}/{obj['metadata']['name']} has controllers {refs}"
            assert refs[0]["kind"] == "ModelDeployment" and refs[0]["name"] == owner
            assert refs[0]["uid"] == uids.get(owner), f"{kind}/{obj['metadata']['name']} is orphaned"
        assert sorted(owners) == sorted(uids), f"{kind}: owners {sorted(owners)} != models {sorted(uids)}"
        for owner, objs in owners.items():
            assert objs == [owner + suffix], f"{kind} for {owner}: {objs}"
    # Exactly the replicas asked for: no duplicate ReplicaSets or pods left running beside the Deployment.
    pods = kube.list("pods", namespace, MANAGED)
    running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    want = sum(int(md["spec"].get("replicas", 1)) for md in kube.list("md", namespace))
    assert len(running) == want, f"{len(running)} pods for {want} replicas"


def test_sigkill_mid_reconcile_then_restart_converges_without_duplicates(
    fault_cluster: LocalCluster, fkube: Kube, fop: OperatorProcess, fns: str, timings: Timings
) -> None:
    fop.start()
    items = [small_model(n, fns) for n in names()]
    fkube.apply({"apiVersion": "v1", "kind": "List", "items": items})
    # Kill it once it is visibly busy with the batch, but before it has finished.
    wait_for(
        lambda: metric_sum(fop, "modeldeploy_reconciles_total") >= 5,
        120,
        interval=0.05,
        what="the operator to start reconciling",
    )
    fop.kill()
    done_before_kill = sum(
        1 for md in fkube.list("md", fns) if (md.get("status") or {}).get("phase") == "Ready"
    )
    print(f"\n[faults] killed with {done_before_kill}/{MODELS} Ready")
    assert done_before_kill < MODELS, "the kill came too late to interrupt anything"
    started = time.monotonic()
    fop.start()
    try:
        wait_for(lambda: all_ready(fkube, fns, MODELS), TIMEOUT, what=f"{MODELS} ModelDeployments Ready")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{LAST}\noperator log:\n{fop.log_tail(30)}") from None
    timings.record("sigkill_restart_50_models_ready", time.monotonic() - started)
    assert_exact_children(fkube, fns)


def test_change_while_operator_down_is_reconciled_on_start(
    fkube: Kube, fop: OperatorProcess, fns: str, timings: Timings
) -> None:
    fop.kill()
    fkube.run("patch", "md", "m00", "-n", fns, "--type=merge", "-p", '{"spec": {"replicas": 2}}')
    started = time.monotonic()
    fop.start()
    wait_for(lambda: md_converged(fkube, "m00", fns, 2), TIMEOUT, what="m00 scaled to 2 after restart")
    timings.record("change_while_down_applied_after_start", time.monotonic() - started)
    assert_exact_children(fkube, fns)


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_control_plane_restart_under_running_operator(
    fault_cluster: LocalCluster, fkube: Kube, fop: OperatorProcess, fns: str, timings: Timings, component: str
) -> None:
    assert fop.component.running
    target = "m01" if component == "kube-apiserver" else "m02"
    fresh = f"after-{component.split('-')[-1]}"
    fault_cluster.restart_component(component)
    # Changes made right after the restart: the operator's watches must reconnect to see them.
    restarted = time.monotonic()
    fkube.run("patch", "md", target, "-n", fns, "--type=merge", "-p", '{"spec": {"replicas": 3}}')
    fkube.apply(small_model(fresh, fns))
    wait_for(
        lambda: md_converged(fkube, target, fns, 3) and md_converged(fkube, fresh, fns, 1),
        TIMEOUT,
        what=f"changes after the {component} restart to be applied",
    )
    timings.record(f"{component}_restart_changes_applied", time.monotonic() - restarted)
    assert fop.component.running, f"the operator died:\n{fop.log_tail()}"
    assert fop.healthy()
    assert_exact_children(fkube, fns)


def test_intruder_keeps_its_own_field_and_loses_ours(
    fault_cluster: LocalCluster, fkube: Kube, fop: OperatorProcess, fns: str, timings: Timings
) -> None:
    name = "m03"
    wait_for(lambda: md_converged(fkube, name, fns, 1), TIMEOUT, what=f"{name} Ready")
    patch: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": fns, "labels": {"intruder.example.com/team": "red"}},
        "spec": {"replicas": 4},
    }
    fault_cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=intruder",
        "--force-conflicts",
        "-f",
        "-",
        input=json.dumps(patch),
    )
    started = time.monotonic()

    def restored() -> dict[str, Any] | None:
        deployment = fkube.get("deployment", name, fns, managed_fields=True)
        return deployment if deployment and deployment["spec"]["replicas"] == 1 else None

    deployment = wait_for(restored, TIMEOUT, what="the operator to take spec.replicas back")
    timings.record("intruder_overwrite_reverted", time.monotonic() - started)
    assert deployment["metadata"]["labels"]["intruder.example.com/team"] == "red"
    managers = {
        entry["manager"]: json.dumps(entry.get("fieldsV1"))
        for entry in deployment["metadata"]["managedFields"]
    }
    assert "intruder.example.com/team" in managers["intruder"]
    assert "f:replicas" not in managers["intruder"], "the intruder still owns spec.replicas"
    assert "f:replicas" in managers["modeldeploy"]
    # And it stays that way: no fight over the label on the next reconciles.
    wait_for(lambda: md_converged(fkube, name, fns, 1), TIMEOUT, what=f"{name} Ready again")
    final = fkube.get("deployment", name, fns)
    assert final is not None and final["metadata"]["labels"]["intruder.example.com/team"] == "red"
