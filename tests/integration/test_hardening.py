"""Model pod hardening on a real API server: the NetworkPolicy child (applied, admitted as built, removed
when the operator configuration turns it off, restored when turned on), the service-account token and
the storage credentials as the pods the controllers create carry them, image digests and the model
volume's size limit. A cluster of this module's own, because one test restarts the operator with
another configuration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.clusters import make_namespace
from tests.support.kubectl import Kube
from tests.support.manifests import model_deployment
from tests.support.metrics import metric_sum
from tests.support.paths import ROOT
from tests.support.waits import wait_condition, wait_for, wait_ready

DEADLINE = 120
DIGEST = "sha256:" + "ab" * 32
SELECTOR = "serving.modeldeploy.io/model-deployment"


class Hardening:
    """The module's cluster and its operator, which a test may restart with another configuration."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.kube = Kube(cluster)
        self.operator: OperatorProcess | None = None
        self.runs = 0

    def start_operator(self, config: dict[str, Any]) -> None:
        self.stop_operator()
        self.runs += 1
        path = self.cluster.workdir / f"operator-{self.runs}.yaml"
        path.write_text(yaml.safe_dump(config))
        log = self.cluster.workdir / "logs" / f"operator-{self.runs}.log"
        self.operator = OperatorProcess(self.cluster.kubeconfig, log, config_path=path)
        self.operator.start(timeout=DEADLINE)

    def stop_operator(self) -> None:
        if self.operator is not None:
            self.operator.stop()
            self.operator = None


@pytest.fixture(scope="module")
def hardening(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hardening]:
    with LocalCluster(workdir=tmp_path_factory.mktemp("hardening")) as cluster:
        cluster.install_crds(ROOT / "crds")
        h = Hardening(cluster)
        h.start_operator({})
        try:
            yield h
        finally:
            h.stop_operator()


def one_pod(kube: Kube, name: str, namespace: str) -> dict[str, Any]:
    pods: list[dict[str, Any]] = wait_for(
        lambda: kube.list("pods", namespace, f"{SELECTOR}={name}"), DEADLINE, what=f"a pod of {name}"
    )
    return pods[0]


def network_policy(kube: Kube, name: str, namespace: str) -> dict[str, Any] | None:
    return kube.get("networkpolicy", name, namespace)


def test_network_policy_is_applied_owned_and_admitted_as_built(hardening: Hardening) -> None:
    kube = hardening.kube
    ns = make_namespace(kube)
    # The namespace label matches no namespace: allowed, and it simply admits no one.
    peers = [
        {"namespaceSelector": {"matchLabels": {"team": "nobody-has-this-label"}}},
        {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}},
    ]
    # Written non-canonically: empty parts that the API server does not store.
    written = [*peers, {"namespaceSelector": {"matchLabels": {}}, "podSelector": {"matchExpressions": []}}]
    peers.append({"namespaceSelector": {}, "podSelector": {}})
    kube.apply(model_deployment("guarded", ns, access={"from": written}))
    policy = wait_for(lambda: network_policy(kube, "guarded", ns), DEADLINE, what="the NetworkPolicy")
    owners = policy["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"], o["controller"]) for o in owners] == [("ModelDeployment", "guarded", True)]
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {SELECTOR: "guarded"}}
    assert spec["policyTypes"] == ["Ingress"]
    clients, internal = spec["ingress"]
    assert clients["from"] == peers  # stored as built: nothing for the next reconcile to re-apply
    assert sorted(p["port"] for p in clients["ports"]) == [8500, 8501]
    assert [p["port"] for p in internal["ports"]] == [8501]
    wait_ready(kube, "guarded", ns, DEADLINE)
    # What the API server stored holds what the operator builds: a reconcile for another change (a second
    # replica: the Deployment and a PodDisruptionBudget) sends no write for the policy.
    assert hardening.operator is not None
    policy_writes = metric_sum(
        hardening.operator, "modeldeploy_api_requests_total", resource="networkpolicies", verb="apply"
    )
    kube.run("patch", "md", "guarded", "-n", ns, "--type=merge", "-p", '{"spec": {"replicas": 2}}')
    wait_for(lambda: kube.get("pdb", "guarded", ns), DEADLINE, what="the second replica's budget")
    wait_ready(kube, "guarded", ns, DEADLINE)
    assert metric_sum(
        hardening.operator, "modeldeploy_api_requests_total", resource="networkpolicies", verb="apply"
    ) == (policy_writes)


def test_another_writers_edit_of_the_policy_is_undone(hardening: Hardening) -> None:
    kube = hardening.kube
    ns = make_namespace(kube)
    kube.apply(model_deployment("edited", ns))
    wait_for(lambda: network_policy(kube, "edited", ns), DEADLINE, what="the NetworkPolicy")
    # Someone opens the model to every namespace by hand.
    patch = '{"spec": {"ingress": [{"from": [{"namespaceSelector": {}}]}]}}'
    kube.run("patch", "networkpolicy", "edited", "-n", ns, "--type=merge", "-p", patch)

    def restored() -> bool:
        ingress = ((network_policy(kube, "edited", ns) or {}).get("spec") or {}).get("ingress") or []
        return bool(ingress) and ingress[0]["from"] == [{"podSelector": {}}]

    wait_for(restored, DEADLINE, what="the operator to restore its NetworkPolicy")


def test_model_pods_get_no_token_unless_their_service_account_holds_storage_credentials(
    hardening: Hardening,
) -> None:
    kube = hardening.kube
    ns = make_namespace(kube)
    kube.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "model-reader", "namespace": ns}}
    )
    kube.apply(model_deployment("anonymous", ns))
    kube.apply(model_deployment("reader", ns, serviceAccountName="model-reader"))
    # The ServiceAccount admission plugin adds the token volume only where automounting is on.
    anonymous = one_pod(kube, "anonymous", ns)["spec"]
    assert anonymous["automountServiceAccountToken"] is False
    assert not [v for v in anonymous.get("volumes", []) if v["name"].startswith("kube-api-access")]
    reader = one_pod(kube, "reader", ns)["spec"]
    assert reader["serviceAccountName"] == "model-reader"
    assert [v for v in reader["volumes"] if v["name"].startswith("kube-api-access")]
    wait_ready(kube, "anonymous", ns, DEADLINE)


def test_storage_credentials_reach_only_the_copier(hardening: Hardening) -> None:
    kube = hardening.kube
    ns = make_namespace(kube)
    secret = {"secretKeyRef": {"name": "s3-credentials", "key": "secret"}}
    env = [
        {"name": "AWS_REGION", "value": "eu-west-1"},
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": secret},
    ]
    # 1.5Gi is stored as 1536Mi: the operator must see that as the same limit, not as drift to re-apply.
    kube.apply(
        model_deployment("fetched", ns, model={"uri": "s3://acme/models/fetched", "size": "1.5Gi"}, env=env)
    )
    pod = one_pod(kube, "fetched", ns)["spec"]
    (copier,) = pod["initContainers"]
    (server,) = pod["containers"]
    assert {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": secret} in copier["env"]
    assert "env" not in server
    (volume,) = [v for v in pod["volumes"] if v["name"] == "model-store"]
    assert volume["emptyDir"] == {"sizeLimit": "1536Mi"}
    wait_ready(kube, "fetched", ns, DEADLINE)
    assert hardening.operator is not None
    writes = metric_sum(
        hardening.operator, "modeldeploy_api_requests_total", resource="deployments", verb="apply"
    )
    kube.run("patch", "md", "fetched", "-n", ns, "--type=merge", "-p", '{"spec": {"replicas": 0}}')
    wait_for(lambda: (kube.get("deployment", "fetched", ns) or {})["spec"]["replicas"] == 0, DEADLINE)
    # Exactly the one write that scaled it: no further re-apply of an equal sizeLimit.
    wait_ready(kube, "fetched", ns, DEADLINE)
    assert (
        metric_sum(hardening.operator, "modeldeploy_api_requests_total", resource="deployments", verb="apply")
        == writes + 1
    )


def test_a_digest_pinned_image_reaches_the_pods_and_a_bad_one_is_refused(hardening: Hardening) -> None:
    kube = hardening.kube
    ns = make_namespace(kube)
    kube.apply(model_deployment("pinned", ns, runtime={"image": f"registry.example.com/serving@{DIGEST}"}))
    pod = one_pod(kube, "pinned", ns)["spec"]
    assert pod["containers"][0]["image"] == f"registry.example.com/serving:2.19.0@{DIGEST}"
    wait_ready(kube, "pinned", ns, DEADLINE)
    refused = kube.apply(
        model_deployment("bad-digest", ns, runtime={"image": "tensorflow/serving@sha256:1234"}), check=False
    )
    assert refused.returncode != 0 and "spec.runtime.image" in refused.stderr, refused.stderr


def test_a_size_limit_below_the_declared_size_is_refused_naming_the_field(hardening: Hardening) -> None:
    kube = hardening.kube
    ns = make_namespace(kube)
    model = {"uri": "s3://acme/m", "size": "10Gi", "sizeLimit": "10000Mi"}  # 10000Mi < 10Gi = 10240Mi
    refused = kube.apply(model_deployment("too-small", ns, model=model), check=False)
    assert refused.returncode != 0 and "spec.model.sizeLimit" in refused.stderr, refused.stderr
    assert kube.get("md", "too-small", ns) is None


def test_turning_network_policies_off_deletes_them_and_on_restores_them(hardening: Hardening) -> None:
    kube = hardening.kube
    ns = make_namespace(kube)
    kube.apply(model_deployment("switched", ns))
    wait_for(lambda: network_policy(kube, "switched", ns), DEADLINE, what="the NetworkPolicy")
    wait_ready(kube, "switched", ns, DEADLINE)
    deployment = kube.get("deployment", "switched", ns) or {}
    try:
        hardening.start_operator({"networkPolicy": {"enabled": False}})
        wait_for(lambda: network_policy(kube, "switched", ns) is None, DEADLINE, what="the policy deleted")
        wait_ready(kube, "switched", ns, DEADLINE)
        # Only the policy went: the pods were not rolled.
        after = kube.get("deployment", "switched", ns) or {}
        assert after["metadata"]["generation"] == deployment["metadata"]["generation"]
    finally:
        hardening.start_operator({})
    wait_for(lambda: network_policy(kube, "switched", ns), DEADLINE, what="the policy restored")


def test_a_foreign_policy_of_the_same_name_keeps_the_pods_from_starting_unguarded(
    hardening: Hardening,
) -> None:
    kube = hardening.kube
    ns = make_namespace(kube)
    # Someone's own policy, opening the name's pods to every namespace.
    foreign = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "taken", "namespace": ns},
        "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]},
    }
    kube.create(foreign)
    kube.apply(model_deployment("taken", ns))

    message = wait_condition(kube, "taken", ns, "Degraded", "True", "OwnershipConflict", DEADLINE)["message"]
    assert message.startswith("NetworkPolicy taken already exists") and "creates no Deployment" in message
    assert kube.get("deployment", "taken", ns) is None
    left = kube.get("networkpolicy", "taken", ns) or {}
    assert "ownerReferences" not in left["metadata"] and left["spec"]["podSelector"] == {}
    # Once the name is free, the operator's own policy and then the pods follow.
    kube.run("delete", "networkpolicy", "taken", "-n", ns)
    kube.run("annotate", "md", "taken", "-n", ns, "example.com/retry=now")
    wait_ready(kube, "taken", ns, DEADLINE)
    assert (network_policy(kube, "taken", ns) or {})["metadata"]["ownerReferences"][0]["name"] == "taken"
