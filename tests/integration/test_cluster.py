"""The local control plane is real: CRD validation, scale subresource, GPU scheduling, PodSecurity."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from modeldeploy.localcluster import LocalCluster
from tests.support.conditions import condition
from tests.support.kubectl import Kube
from tests.support.manifests import model_deployment
from tests.support.waits import wait_for

model = model_deployment


def test_crd_is_established_and_explains_fields(kube: Kube) -> None:
    crd = kube.get("crd", "modeldeployments.serving.modeldeploy.io")
    assert crd is not None
    assert condition(crd["status"], "Established")["status"] == "True"

    def explained() -> str:
        # The API server publishes a new CRD's OpenAPI a moment after it is Established.
        result = kube.run("explain", "md.spec.resources.gpu", check=False)
        return str(result.stdout) if result.returncode == 0 else ""

    explained = wait_for(explained, 30, what="kubectl explain md.spec.resources.gpu")
    assert "count" in explained and "type" in explained
    assert "DESCRIPTION" in explained.upper()


def test_valid_model_is_accepted_with_defaults(kube: Kube, namespace: str) -> None:
    kube.apply(model("defaults", namespace, resources={"gpu": {"type": "nvidia-tesla-t4"}}))
    stored = kube.get("md", "defaults", namespace)
    assert stored is not None
    spec = stored["spec"]
    assert spec["model"]["versionPolicy"] == {"latest": 1}
    assert spec["resources"]["cpu"] == "1"
    assert spec["resources"]["memory"] == "2Gi"
    assert spec["resources"]["gpu"]["count"] == 1
    assert "replicas" not in spec  # the operator defaults it, so autoscaling can be set later


BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    ("min-above-max", {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}, "minReplicas"),
    ("replicas-and-autoscaling", {"replicas": 2, "autoscaling": {"maxReplicas": 3}}, "spec.autoscaling"),
    (
        "label-outside-specific",
        {"model": {"uri": "gs://b/m", "versionPolicy": {"specific": [1, 2]}, "versionLabels": {"canary": 3}}},
        "versionLabels",
    ),
    ("gpu-count-zero", {"resources": {"gpu": {"count": 0, "type": "nvidia-tesla-t4"}}}, "gpu.count"),
    ("bad-scheme", {"model": {"uri": "ftp://host/model"}}, "model.uri"),
    ("no-scheme", {"model": {"uri": "/models/resnet"}}, "model.uri"),
    (
        "two-policies",
        {"model": {"uri": "gs://b/m", "versionPolicy": {"latest": 1, "all": {}}}},
        "versionPolicy",
    ),
]


@pytest.mark.parametrize(("case", "spec", "field"), BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_cel_rules_reject_bad_manifests(
    kube: Kube, namespace: str, case: str, spec: dict[str, Any], field: str
) -> None:
    body = model(case, namespace)
    body["spec"].update(copy.deepcopy(spec))
    result = kube.create(body, check=False)
    assert result.returncode != 0, f"{case} was accepted"
    assert "Invalid" in result.stderr or "invalid" in result.stderr
    assert field in result.stderr, result.stderr
    assert kube.get("md", case, namespace) is None


def test_scale_subresource(kube: Kube, namespace: str) -> None:
    kube.apply(model("scaled", namespace, replicas=1))
    kube.run("scale", "md/scaled", "-n", namespace, "--replicas=3")
    stored = kube.get("md", "scaled", namespace)
    assert stored is not None and stored["spec"]["replicas"] == 3
    scale = json.loads(
        kube.run(
            "get",
            "--raw",
            f"/apis/serving.modeldeploy.io/v1alpha1/namespaces/{namespace}/modeldeployments/scaled/scale",
        ).stdout
    )
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3


def test_gpu_deployment_lands_on_a_gpu_node(kube: Kube, namespace: str) -> None:
    labels = {"app": "gpu-probe"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gpu-probe", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "nodeSelector": {"nvidia.com/gpu.product": "Tesla-T4"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [
                        {
                            "name": "main",
                            "image": "busybox",
                            "resources": {"limits": {"nvidia.com/gpu": "1"}},
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }
    kube.apply(deployment)

    def available() -> bool:
        return (
            condition(kube.status("deployment", "gpu-probe", namespace), "Available").get("status") == "True"
        )

    wait_for(available, 60, what="the GPU Deployment to become Available")
    pods = kube.list("pods", namespace, "app=gpu-probe")
    assert len(pods) == 1
    node = kube.get("node", pods[0]["spec"]["nodeName"])
    assert node is not None
    assert node["metadata"]["labels"]["nvidia.com/gpu.product"] == "Tesla-T4"
    assert pods[0]["status"]["phase"] == "Running"


def test_pod_security_restricted_is_enforced(kube: Kube, namespace: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root-pod", "namespace": namespace},
        # Fine under `baseline`; `restricted` wants non-root, no escalation, no capabilities, seccomp.
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    result = kube.create(pod, check=False)
    assert result.returncode != 0
    assert "violates PodSecurity" in result.stderr and "restricted" in result.stderr


def test_rbac_is_on(cluster: LocalCluster, kube: Kube, namespace: str) -> None:
    kube.run("create", "serviceaccount", "nobody", "-n", namespace)
    kubeconfig = cluster.service_account_kubeconfig(
        namespace, "nobody", cluster.workdir / "nobody.kubeconfig"
    )
    result = cluster.kubectl("get", "secrets", "-n", namespace, check=False, kubeconfig=kubeconfig)
    assert result.returncode != 0 and "forbidden" in result.stderr.lower()
