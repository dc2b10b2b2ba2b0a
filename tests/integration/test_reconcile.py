"""The live reconciler against the real control plane: children, rollouts, GC, restores, status."""

from __future__ import annotations

import json
from typing import Any

from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.conditions import condition, status_of
from tests.support.kubectl import Kube
from tests.support.manifests import model_deployment
from tests.support.metrics import api_writes, metric_sum
from tests.support.waits import wait_condition, wait_for, wait_ready

MD_LABEL = "serving.modeldeploy.io/model-deployment"


def model(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return model_deployment(name, namespace, uri="gs://bucket/models/half_plus_two", **spec)


def test_create_makes_every_child(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    kube.apply(model("resnet", namespace, replicas=2))
    md = wait_ready(kube, "resnet", namespace)
    uid = md["metadata"]["uid"]
    for kind, name in [("configmap", "resnet-tfserving"), ("deployment", "resnet"), ("service", "resnet"),
                       ("pdb", "resnet")]:  # fmt: skip
        obj = kube.get(kind, name, namespace)
        assert obj is not None, f"{kind}/{name} missing"
        refs = obj["metadata"]["ownerReferences"]
        assert refs[0]["uid"] == uid and refs[0]["controller"] is True
        assert obj["metadata"]["labels"][MD_LABEL] == "resnet"
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modeldeploy"
    assert kube.get("hpa", "resnet", namespace) is None
    deployment = kube.get("deployment", "resnet", namespace)
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith(":2.19.0")
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"grpc": 8500, "http": 8501}
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models/resnet"
    config = kube.get("configmap", "resnet-tfserving", namespace)
    assert (
        config is not None
        and 'base_path: "gs://bucket/models/half_plus_two"' in config["data"]["models.config"]
    )
    status = md["status"]
    assert status["readyReplicas"] == 2 and status["ready"] == "2/2"
    assert status["selector"] == f"{MD_LABEL}=resnet"
    assert status["endpoints"]["grpc"] == f"resnet.{namespace}.svc:8500"
    assert condition(status_of(md), "Ready")["status"] == "True"
    # The namespace enforces PodSecurity `restricted`: pods exist at all only if they comply.
    assert len(kube.list("pods", namespace, f"{MD_LABEL}=resnet")) == 2


def test_gpu_model_lands_on_gpu_node_and_cpu_model_does_not(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(model("gpu", namespace, resources={"gpu": {"type": "nvidia-tesla-t4", "count": 1}}))
    kube.apply(model("cpu", namespace, replicas=3))
    wait_ready(kube, "gpu", namespace)
    wait_ready(kube, "cpu", namespace)
    (gpu_pod,) = kube.list("pods", namespace, f"{MD_LABEL}=gpu")
    node = kube.get("node", gpu_pod["spec"]["nodeName"])
    assert node is not None and node["metadata"]["labels"]["nvidia.com/gpu.product"] == "Tesla-T4"
    assert gpu_pod["spec"]["containers"][0]["image"].endswith("-gpu")
    for pod in kube.list("pods", namespace, f"{MD_LABEL}=cpu"):
        cpu_node = kube.get("node", pod["spec"]["nodeName"])
        assert cpu_node is not None and "nvidia.com/gpu.product" not in cpu_node["metadata"]["labels"]
    md = kube.get("md", "gpu", namespace)
    assert md is not None and md["status"]["gpu"] == "1x nvidia-tesla-t4"


def test_version_change_rolls_pods_but_label_change_does_not(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    spec = {
        "model": {"uri": "gs://b/m", "versionPolicy": {"specific": [1, 2]}, "versionLabels": {"stable": 1}}
    }
    kube.apply(model("roll", namespace, **spec))
    wait_ready(kube, "roll", namespace)
    before = kube.get("deployment", "roll", namespace)
    assert before is not None
    spec["model"]["versionLabels"] = {"stable": 1, "canary": 2}
    kube.apply(model("roll", namespace, **spec))
    wait_for(
        lambda: (
            "canary"
            in ((kube.get("configmap", "roll-tfserving", namespace) or {}).get("data") or {}).get(
                "models.config", ""
            )
        ),
        30,
        what="the canary label in models.config",
    )
    wait_ready(kube, "roll", namespace)
    after_labels = kube.get("deployment", "roll", namespace)
    assert after_labels is not None
    assert after_labels["metadata"]["generation"] == before["metadata"]["generation"]

    kube.apply(model("roll", namespace, runtime={"version": "2.18.0"}, **spec))

    def rolled() -> bool:
        deployment = kube.get("deployment", "roll", namespace) or {}
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        return (
            image.endswith(":2.18.0")
            and deployment["metadata"]["generation"] > before["metadata"]["generation"]
        )

    wait_for(rolled, 30, what="the Deployment to take the new version")
    md = wait_ready(kube, "roll", namespace)
    pods = kube.list("pods", namespace, f"{MD_LABEL}=roll")
    assert md["status"]["updatedReplicas"] == 1
    assert all(
        p["spec"]["containers"][0]["image"].endswith(":2.18.0")
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
    )


def test_delete_garbage_collects_children(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    kube.apply(model("gone", namespace))
    wait_ready(kube, "gone", namespace)
    kube.run("delete", "md", "gone", "-n", namespace)
    wait_for(
        lambda: all(
            kube.get(k, n, namespace) is None
            for k, n in [("deployment", "gone"), ("service", "gone"), ("configmap", "gone-tfserving")]
        ),
        60,
        what="children to be garbage-collected",
    )


def test_edited_or_deleted_child_is_restored(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    kube.apply(model("heal", namespace))
    wait_ready(kube, "heal", namespace)
    kube.run("delete", "service", "heal", "-n", namespace)
    wait_for(lambda: kube.get("service", "heal", namespace), 20, what="the Service to be recreated")
    kube.run("patch", "configmap", "heal-tfserving", "-n", namespace, "--type=merge",
             "-p", json.dumps({"data": {"models.config": "garbage"}}))  # fmt: skip
    wait_for(
        lambda: (
            "garbage"
            not in ((kube.get("configmap", "heal-tfserving", namespace) or {}).get("data") or {}).get(
                "models.config", "garbage"
            )
        ),
        20,
        what="models.config to be restored",
    )


def test_kubectl_scale_changes_replicas(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    kube.apply(model("scale", namespace, replicas=1))
    wait_ready(kube, "scale", namespace)
    kube.run("scale", "md/scale", "-n", namespace, "--replicas=3")
    wait_for(
        lambda: (kube.get("deployment", "scale", namespace) or {}).get("spec", {}).get("replicas") == 3,
        30,
        what="the Deployment to have 3 replicas",
    )
    md = wait_ready(kube, "scale", namespace)
    assert md["status"]["replicas"] == 3 and md["status"]["ready"] == "3/3"


def test_hpa_owns_replicas_and_is_not_fought(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    kube.apply(model("auto", namespace, autoscaling={"minReplicas": 1, "maxReplicas": 4}))
    wait_ready(kube, "auto", namespace)
    hpa = kube.get("hpa", "auto", namespace)
    assert hpa is not None and hpa["spec"]["maxReplicas"] == 4
    deployment = kube.get("deployment", "auto", namespace, managed_fields=True)
    assert deployment is not None
    managers = [m for m in deployment["metadata"]["managedFields"] if m["manager"] == "modeldeploy"]
    assert managers and all("f:replicas" not in json.dumps(m["fieldsV1"].get("f:spec", {})) for m in managers)
    # Play the autoscaler: set replicas as the HPA would; a later reconcile must leave it alone.
    kube.run("scale", "deployment/auto", "-n", namespace, "--replicas=2")
    kube.run("annotate", "md/auto", "-n", namespace, "example.com/poke=1")
    wait_for(lambda: (kube.get("md", "auto", namespace) or {}).get("status", {}).get("replicas") == 2, 30,
             what="status to report 2 replicas")  # fmt: skip
    deployment = kube.get("deployment", "auto", namespace)
    assert deployment is not None and deployment["spec"]["replicas"] == 2


def test_invalid_update_degrades_and_keeps_children(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(model("bad", namespace))
    wait_ready(kube, "bad", namespace)
    before = kube.get("deployment", "bad", namespace)
    assert before is not None
    kube.apply(model("bad", namespace, resources={"gpu": {"type": "nvidia-quantum-9000"}}))

    says = ["spec.resources.gpu.type", "nvidia-tesla-t4"]
    wait_condition(kube, "bad", namespace, "Degraded", "True", "InvalidSpec", timeout=30, says=says)
    after = kube.get("deployment", "bad", namespace)
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    md = kube.get("md", "bad", namespace)
    assert md is not None and md["status"]["phase"] == "Degraded"
    assert md["status"]["readyReplicas"] == 1  # the old pods still serve, and status says so


def test_gpu_type_without_nodes_is_not_ready_and_says_why(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(model("h100", namespace, resources={"gpu": {"type": "nvidia-h100"}}))

    ready = wait_condition(kube, "h100", namespace, "Ready", reason="NoMatchingGPUNode", timeout=60)
    assert ready["status"] == "False"
    assert "node" in ready["message"].lower()


def test_noop_reconcile_sends_no_writes(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    kube.apply(model("quiet", namespace))
    wait_ready(kube, "quiet", namespace)
    writes = api_writes(operator)
    unchanged = metric_sum(operator, "modeldeploy_reconciles_total", result="unchanged")
    # An annotation change is a watch event on the resource but changes nothing the operator builds.
    kube.run("annotate", "md/quiet", "-n", namespace, "example.com/touched=yes")
    wait_for(
        lambda: metric_sum(operator, "modeldeploy_reconciles_total", result="unchanged") > unchanged,
        30,
        what="a reconcile of the annotated resource",
    )
    assert api_writes(operator) == writes
