"""Security on the real API server: PodSecurity `restricted` for model pods and the operator's own pod,
least-privilege RBAC for the operator's ServiceAccount, and user secrets that travel only by reference."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from modeldeploy.api import CHILD_KINDS, SELECTOR_LABEL
from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.conftest import ROOT, Kube, make_namespace
from tests.manifests import model_deployment
from tests.polling import wait_for

MD_LABEL = SELECTOR_LABEL
SMALL = {"cpu": "10m", "memory": "32Mi"}


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_model_pods_pass_restricted_for_gpu_pvc_and_s3_storage(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    # `namespace` enforces PodSecurity restricted: a non-compliant pod would never be created.
    kube.apply(
        model_deployment(
            "gpu",
            namespace,
            uri="gs://bucket/models/resnet",
            resources={**SMALL, "gpu": {"type": "nvidia-tesla-t4", "count": 1}},
        )
    )
    kube.apply(model_deployment("pvc", namespace, uri="pvc://models/resnet", resources=SMALL))
    kube.apply(model_deployment("s3", namespace, uri="s3://bucket/models/resnet", resources=SMALL))
    for name in ("gpu", "pvc", "s3"):
        pods = wait_for(
            lambda name=name: kube.list("pods", namespace, f"{MD_LABEL}={name}"),
            120,
            what=f"a pod for {name} in a restricted namespace",
        )
        spec = pods[0]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
    # Storage that needs an init container (s3) or a volume (pvc) got one and still passed.
    s3_pod = kube.list("pods", namespace, f"{MD_LABEL}=s3")[0]
    assert s3_pod["spec"].get("initContainers"), "s3:// should download with an init container"
    pvc_pod = kube.list("pods", namespace, f"{MD_LABEL}=pvc")[0]
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pvc_pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == ["models"]


def test_operator_pod_passes_restricted(kube: Kube) -> None:
    namespace = make_namespace(kube, prefix="opsec")
    try:
        (deployment,) = [d for d in load(ROOT / "manifests" / "operator" / "deployment.yaml")]
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "modeldeploy", "namespace": namespace},
            }
        )
        template = deployment["spec"]["template"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "operator-podsecurity",
                "namespace": namespace,
                "labels": template["metadata"].get("labels", {}),
            },
            "spec": template["spec"],
        }
        result = kube.run("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
        assert result.returncode == 0, result.stderr
        assert "violate" not in result.stderr.lower(), result.stderr
        # The check is real: a privileged variant of the same pod is refused in this namespace.
        bad = json.loads(json.dumps(pod))
        bad["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
        refused = kube.run("create", "--dry-run=server", "-f", "-", input=json.dumps(bad), check=False)
        assert refused.returncode != 0 and "restricted" in refused.stderr
    finally:
        kube.run("delete", "namespace", namespace, "--wait=false", check=False)


# (verb, resource, allowed) for the operator's ServiceAccount, cluster-wide.
SHOULD = [
    *[(v, "modeldeployments.serving.modeldeploy.io", True) for v in ("get", "list", "watch", "patch")],
    ("patch", "modeldeployments.serving.modeldeploy.io/status", True),
    ("update", "modeldeployments.serving.modeldeploy.io/finalizers", True),
    *[
        (v, r, True)
        # Every child kind the operator always renders (ScaledObjects only with provider keda).
        for r in (kind.resource for kind in CHILD_KINDS if kind.watch == "always")
        for v in ("get", "list", "watch", "create", "patch", "update", "delete")
    ],
    *[(v, r, True) for r in ("pods", "nodes", "namespaces") for v in ("get", "list", "watch")],
    ("create", "events", True),
    ("create", "events.events.k8s.io", True),
    *[(v, "clusterkopfpeerings.kopf.dev", True) for v in ("get", "list", "watch", "patch")],
    ("list", "customresourcedefinitions.apiextensions.k8s.io", True),
]
SHOULD_NOT = [
    *[(v, "secrets", False) for v in ("get", "list", "watch", "create", "update", "patch", "delete")],
    ("create", "modeldeployments.serving.modeldeploy.io", False),
    ("delete", "modeldeployments.serving.modeldeploy.io", False),
    ("update", "modeldeployments.serving.modeldeploy.io", False),
    *[(v, "pods", False) for v in ("create", "delete", "patch", "update")],
    ("create", "pods/exec", False),
    ("create", "pods/eviction", False),
    ("patch", "deployments.apps/scale", False),
    ("get", "pods/log", False),
    ("create", "serviceaccounts/token", False),
    *[(v, "serviceaccounts", False) for v in ("get", "create")],
    *[
        (v, r, False)
        for r in (
            "roles.rbac.authorization.k8s.io",
            "clusterroles.rbac.authorization.k8s.io",
            "rolebindings.rbac.authorization.k8s.io",
            "clusterrolebindings.rbac.authorization.k8s.io",
        )
        for v in ("create", "bind", "escalate")
    ],
    ("impersonate", "users", False),
    ("impersonate", "serviceaccounts", False),
    *[(v, "customresourcedefinitions.apiextensions.k8s.io", False) for v in ("create", "update", "delete")],
    *[(v, r, False) for r in ("nodes", "namespaces") for v in ("create", "update", "patch", "delete")],
    ("create", "persistentvolumeclaims", False),
    ("get", "persistentvolumeclaims", False),
    ("create", "jobs.batch", False),
    ("create", "daemonsets.apps", False),
    ("create", "statefulsets.apps", False),
    ("delete", "events", False),
    ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io", False),
    ("create", "certificatesigningrequests.certificates.k8s.io", False),
    ("create", "tokenreviews.authentication.k8s.io", False),
    ("delete", "clusterkopfpeerings.kopf.dev", False),
    ("*", "*", False),
    ("get", "nonexistent.example.com", False),
]


@pytest.fixture(scope="module")
def operator_account(kube: Kube) -> str:
    """The manifests' ServiceAccount, ClusterRole and binding, installed under unique names."""
    namespace = f"rbac-{uuid.uuid4().hex[:6]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    unique = f"modeldeploy-{namespace}"
    for path in sorted((ROOT / "manifests" / "rbac").glob("*.yaml")):
        for doc in load(path):
            if doc["kind"] == "ServiceAccount":
                doc["metadata"]["namespace"] = namespace
            else:
                doc["metadata"]["name"] = unique
            if doc["kind"] == "ClusterRoleBinding":
                doc["roleRef"]["name"] = unique
                for subject in doc["subjects"]:
                    subject["namespace"] = namespace
            kube.apply(doc)
    return f"system:serviceaccount:{namespace}:modeldeploy"


@pytest.mark.parametrize(("verb", "resource", "allowed"), SHOULD + SHOULD_NOT)
def test_operator_rbac_is_least_privilege(
    kube: Kube, operator_account: str, verb: str, resource: str, allowed: bool
) -> None:
    # -A: in every namespace (the operator is bound cluster-wide).
    # kubectl reads TYPE/NAME, so subresources go in --subresource.
    kind, _, subresource = resource.partition("/")
    sub = [f"--subresource={subresource}"] if subresource else []
    result = kube.run("auth", "can-i", verb, kind, *sub, f"--as={operator_account}", "-A", check=False)
    answer = result.stdout.strip()
    assert answer in {"yes", "no"}, result.stderr
    assert (answer == "yes") == allowed, f"can-i {verb} {resource}: {answer}"


def test_cluster_role_has_no_wildcards_and_no_secrets() -> None:
    (role,) = load(ROOT / "manifests" / "rbac" / "cluster-role.yaml")
    for rule in role["rules"]:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule.get(key, []), rule
        assert "secrets" not in rule["resources"]


def test_secret_values_travel_only_by_reference(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s3-credentials", "namespace": namespace},
            "stringData": {"AWS_SECRET_ACCESS_KEY": canary},
        }
    )
    env = [
        {
            "name": "AWS_SECRET_ACCESS_KEY",
            "valueFrom": {"secretKeyRef": {"name": "s3-credentials", "key": "AWS_SECRET_ACCESS_KEY"}},
        },
        {"name": "AWS_REGION", "value": "eu-west-1"},
    ]
    kube.apply(
        model_deployment("secretive", namespace, uri="s3://bucket/models/resnet", env=env, resources=SMALL)
    )
    # A second model whose secret reference is broken, so that status and events have reason to talk.
    broken = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s3-credentials", "key": "missing"}}}]
    kube.apply(
        model_deployment("broken", namespace, uri="s3://bucket/models/resnet", env=broken, resources=SMALL)
    )

    def settled() -> bool:
        mds = [kube.get("md", n, namespace) or {} for n in ("secretive", "broken")]
        return all((md.get("status") or {}).get("observedGeneration") for md in mds) and bool(
            kube.list("pods", namespace, f"{MD_LABEL}=secretive")
        )

    wait_for(settled, 120, what="both models reconciled and pods created")
    deployment = kube.get("deployment", "secretive", namespace)
    assert deployment is not None
    pod_spec = deployment["spec"]["template"]["spec"]
    refs = [
        e
        for c in pod_spec["containers"] + pod_spec.get("initContainers", [])
        for e in c.get("env", [])
        if e["name"] == "AWS_SECRET_ACCESS_KEY"
    ]
    assert refs and all("valueFrom" in e and "value" not in e for e in refs), refs
    places = {
        "modeldeployments": kube.run("get", "md", "-n", namespace, "-o", "json").stdout,
        "events": kube.run("get", "events", "-n", namespace, "-o", "json").stdout,
        "configmaps": kube.run("get", "configmaps", "-n", namespace, "-o", "json").stdout,
        "deployments": kube.run("get", "deployments", "-n", namespace, "-o", "json").stdout,
        "pods": kube.run("get", "pods", "-n", namespace, "-o", "json").stdout,
        "operator log": operator.component.log_path.read_text(errors="replace"),
    }
    assert "s3-credentials" in places["deployments"]
    leaks = [where for where, text in places.items() if canary in text]
    assert not leaks, f"the secret value leaked into {leaks}"
