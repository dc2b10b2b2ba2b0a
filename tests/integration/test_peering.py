"""Two operator replicas with Kopf peering on their own control plane: one works, the other waits;
killing the active one hands over within a bounded time (measured, printed, written to JSON)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

import pytest

from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.operator_process import OperatorProcess
from modeldeploy.peering import PEERING_LIFETIME
from tests.conftest import ROOT, Kube, write_operator_config
from tests.manifests import model_deployment
from tests.polling import wait_for

PEERING = "modeldeploy-test"
TIMEOUT = 180


@pytest.fixture(scope="module")
def peer_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(workdir=tmp_path_factory.mktemp("peering-cluster")) as cluster:
        cluster.install_crds(ROOT / "crds")
        cluster.kubectl(
            "apply",
            "-f",
            "-",
            input=json.dumps(
                {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": PEERING}}
            ),
        )
        yield cluster


def reconciles(operator: OperatorProcess) -> float:
    total = 0.0
    for line in operator.metrics_text().splitlines():
        match = re.match(r"modeldeploy_reconciles_total\{[^}]*\} ([0-9.e+]+)$", line)
        if match:
            total += float(match.group(1))
    return total


def replicas_applied(kube: Kube, name: str, namespace: str, replicas: int) -> bool:
    deployment = kube.get("deployment", name, namespace) or {}
    md = kube.get("md", name, namespace) or {}
    return (deployment.get("spec") or {}).get("replicas") == replicas and (md.get("status") or {}).get(
        "observedGeneration"
    ) == md["metadata"]["generation"]


def test_one_replica_acts_and_the_other_takes_over_when_it_dies(
    peer_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kube = Kube(peer_cluster)
    namespace = f"peer-{uuid.uuid4().hex[:6]}"
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
        }
    )
    logs = peer_cluster.workdir / "logs"
    # No --priority: replicas draw random priorities, as the chart's replicas do.
    replicas = [
        OperatorProcess(
            kubeconfig=peer_cluster.kubeconfig,
            log_path=logs / f"operator-{i}.log",
            args=[f"--peering={PEERING}"],
            name=f"operator-{i}",
            config_path=write_operator_config(peer_cluster, logs / "operator-config.json"),
        )
        for i in range(2)
    ]
    try:
        for replica in replicas:
            replica.start()
        # Both heartbeats recorded before any work arrives, so the loser never starts on it.
        wait_for(
            lambda: len((kube.get("clusterkopfpeering", PEERING) or {}).get("status") or {}) == 2,
            60,
            what="both replicas in the peering object",
        )
        for i in range(3):
            kube.apply(model_deployment(f"m{i}", namespace, uri="gs://b/models/m"))
        for i in range(3):
            wait_for(lambda i=i: replicas_applied(kube, f"m{i}", namespace, 1), TIMEOUT, what=f"m{i}")

        counts = [reconciles(r) for r in replicas]
        active = [i for i, c in enumerate(counts) if c > 0]
        assert len(active) == 1, f"reconciles per replica: {counts}"
        leader, standby = replicas[active[0]], replicas[1 - active[0]]
        assert "paused" in standby.log_tail(200).lower(), standby.log_tail(40)

        # A change is handled by the leader alone.
        kube.run("patch", "md", "m0", "-n", namespace, "--type=merge", "-p", '{"spec": {"replicas": 2}}')
        wait_for(lambda: replicas_applied(kube, "m0", namespace, 2), TIMEOUT, what="m0 scaled by the leader")
        assert reconciles(standby) == 0, "the standby reconciled while the leader was alive"
        assert reconciles(leader) > counts[active[0]]

        # Kill the leader without a goodbye (no final heartbeat); change a model at once.
        leader.kill()
        killed = time.monotonic()
        kube.run("patch", "md", "m1", "-n", namespace, "--type=merge", "-p", '{"spec": {"replicas": 2}}')
        wait_for(
            lambda: replicas_applied(kube, "m1", namespace, 2),
            TIMEOUT,
            interval=0.2,
            what="the standby to take over and apply m1's change",
        )
        handover = time.monotonic() - killed
        print(f"\n[peering] handover after SIGKILL of the leader: {handover:.2f}s")
        out = tmp_path_factory.mktemp("peering") / "peering-timings.json"
        out.write_text(json.dumps({"handover_seconds": round(handover, 2), "lifetime": PEERING_LIFETIME}))
        assert reconciles(standby) > 0
        # Bounded: the dead leader's heartbeat expires after PEERING_LIFETIME; the rest is the re-list and
        # one reconcile on a loaded machine.
        assert handover < PEERING_LIFETIME + 30, f"handover took {handover:.1f}s"
        assert "active" in standby.log_tail(400).lower()
    finally:
        for replica in replicas:
            replica.stop()
