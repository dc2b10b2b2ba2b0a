"""Objects the operator did not create are never taken over: a same-named object is reported on the
ModelDeployment, left untouched (and survives the ModelDeployment's deletion), and nothing that depends
on it is created. A child of ours that lost its labels is still ours and is restored."""

from __future__ import annotations

import asyncio
from typing import Any

from modeldeploy.kube import ApiError, Credentials, KubeClient
from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.kubectl import Kube
from tests.support.manifests import model_deployment
from tests.support.settle import assert_quiet
from tests.support.waits import wait_condition, wait_for, wait_ready


def user_service(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def test_a_users_service_is_reported_left_alone_and_survives_the_model(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.create(user_service("websvc", namespace))
    before = kube.get("service", "websvc", namespace)
    assert before is not None
    kube.apply(model_deployment("websvc", namespace, uri="gs://b/m"))
    condition = wait_condition(kube, "websvc", namespace, "Degraded", "True", "OwnershipConflict", 60)
    assert condition["message"].startswith("Service websvc already exists and this ModelDeployment does not")
    assert "delete or rename that Service" in condition["message"]
    described = kube.run("describe", "md", "websvc", "-n", namespace).stdout
    assert "OwnershipConflict" in described and "Service websvc already exists" in described
    print("\n" + described)
    # The Deployment does not depend on the Service: it is created and serves once the Service is free.
    wait_for(lambda: kube.get("deployment", "websvc", namespace), 30, what="the Deployment")
    assert_quiet(kube, operator, "websvc", namespace, result="conflict")
    after = kube.get("service", "websvc", namespace)
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"]["selector"] == {"app": "web"} and "ownerReferences" not in after["metadata"]

    kube.run("delete", "md", "websvc", "-n", namespace)
    wait_for(
        lambda: kube.get("deployment", "websvc", namespace) is None, 60, what="the Deployment to be collected"
    )
    survivor = kube.get("service", "websvc", namespace)
    assert survivor is not None and survivor["metadata"]["uid"] == before["metadata"]["uid"]


def test_a_users_configmap_blocks_the_deployment_until_it_is_removed(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    meta = {"name": "mine-tfserving", "namespace": namespace}
    user_data = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"secret": "keep"}}
    kube.create(user_data)
    kube.apply(model_deployment("mine", namespace, uri="gs://b/m", replicas=2))
    condition = wait_condition(kube, "mine", namespace, "Degraded", "True", "OwnershipConflict", 60)
    assert "ConfigMap mine-tfserving already exists" in condition["message"]
    assert "creates no Deployment or PodDisruptionBudget" in condition["message"]
    assert_quiet(kube, operator, "mine", namespace, result="conflict")
    assert kube.get("deployment", "mine", namespace) is None and kube.get("pdb", "mine", namespace) is None
    config = kube.get("configmap", "mine-tfserving", namespace)
    assert config is not None and config["data"] == {"secret": "keep"}
    assert kube.get("service", "mine", namespace) is not None  # independent of the ConfigMap

    # The user frees the name; the next reconcile (a retry, or any change) creates the rest.
    kube.run("delete", "configmap", "mine-tfserving", "-n", namespace)
    kube.run("annotate", "md", "mine", "-n", namespace, "example.com/retry=now")
    md = wait_ready(kube, "mine", namespace)
    assert md["status"]["readyReplicas"] == 2


def test_a_child_that_lost_its_labels_is_restored_not_reported(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(model_deployment("relabel", namespace, uri="gs://b/m"))
    wait_ready(kube, "relabel", namespace)
    uid = (kube.get("service", "relabel", namespace) or {})["metadata"]["uid"]
    kube.run("label", "service", "relabel", "-n", namespace, "app.kubernetes.io/managed-by-")

    def relabelled() -> bool:
        service = kube.get("service", "relabel", namespace) or {}
        return (service.get("metadata", {}).get("labels") or {}).get(
            "app.kubernetes.io/managed-by"
        ) == "modeldeploy"

    kube.run("annotate", "md", "relabel", "-n", namespace, "example.com/poke=1")
    wait_for(relabelled, 30, what="the Service's labels to be restored")
    service = kube.get("service", "relabel", namespace)
    assert service is not None and service["metadata"]["uid"] == uid
    wait_ready(kube, "relabel", namespace)
    assert_quiet(kube, operator, "relabel", namespace)


def admin_client(cluster: LocalCluster) -> KubeClient:
    assert cluster.pki is not None
    return KubeClient(
        Credentials(
            server=cluster.server,
            ca_path=str(cluster.pki.ca_cert),
            certificate_path=str(cluster.pki.admin_cert),
            private_key_path=str(cluster.pki.admin_key),
        )
    )


def test_a_create_only_apply_creates_or_leaves_a_taken_name_untouched(
    kube: Kube, cluster: LocalCluster, namespace: str
) -> None:
    """What converge relies on instead of looking every name up before creating it."""
    kube.create(user_service("taken", namespace))
    before = kube.get("service", "taken", namespace)
    assert before is not None
    ours = {
        **user_service("taken", namespace),
        "spec": {"selector": {"app": "ours"}, "ports": [{"port": 8500}]},
    }
    free = {**ours, "metadata": {"name": "free", "namespace": namespace}}

    async def attempt() -> tuple[list[ApiError], dict[str, Any]]:
        client = admin_client(cluster)
        refusals = []
        try:
            for dry_run in (True, False):
                try:
                    await client.apply(ours, create_only=True, dry_run=dry_run)
                except ApiError as error:
                    refusals.append(error)
            return refusals, await client.apply(free, create_only=True)
        finally:
            await client.close()

    refusals, created = asyncio.run(attempt())
    assert [error.name_taken for error in refusals] == [True, True]
    after = kube.get("service", "taken", namespace)
    assert after is not None and after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"]["selector"] == {"app": "web"}
    assert created["spec"]["selector"] == {"app": "ours"}
    managers = [(m["manager"], m["operation"]) for m in created["metadata"]["managedFields"]]
    assert managers == [("modeldeploy", "Apply")]  # later applies own and prune every field
