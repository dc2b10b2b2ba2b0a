"""What `kubectl kustomize` and `helm template` render from the kustomize base and the Helm chart, without a
cluster: the operator's Deployment, its least-privilege RBAC, the chart's modes and its refusals.

They run the `kubectl` and `helm` binaries ($MODELDEPLOY_BIN_DIR, default ~/.cache/modeldeploy/bin;
tools/build.sh builds them) and fail without them. The same files read as files: tests/unit/test_delivery.py.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster.binaries import bin_dir, kubectl_path
from tests.support.install import load_all
from tests.support.paths import CHART, CRDS, MANIFESTS, ROOT

Doc = dict[str, Any]
Rule = tuple[str, str, str]  # (apiGroup, resource, verb)

RW = ("get", "list", "watch", "create", "patch", "update", "delete")
READ = ("get", "list", "watch")


def _rules(groups: str, resources: Iterable[str], verbs: Iterable[str]) -> set[Rule]:
    return {(groups, r, v) for r in resources for v in verbs}


# Everything the operator may do in the namespaces it watches, and nothing more.
NAMESPACED_RULES = (
    _rules("serving.modeldeploy.io", ["modeldeployments"], ["get", "list", "watch", "patch"])
    | _rules("serving.modeldeploy.io", ["modeldeployments/status"], ["get", "patch", "update"])
    | _rules("serving.modeldeploy.io", ["modeldeployments/finalizers"], ["update"])
    | _rules("", ["configmaps", "services"], RW)
    | _rules("apps", ["deployments"], RW)
    | _rules("autoscaling", ["horizontalpodautoscalers"], RW)
    | _rules("keda.sh", ["scaledobjects"], RW)
    | _rules("policy", ["poddisruptionbudgets"], RW)
    | _rules("networking.k8s.io", ["networkpolicies"], RW)
    | _rules("", ["pods"], READ)
    | _rules("", ["events"], ["create", "patch"])
    | _rules("events.k8s.io", ["events"], ["create", "patch"])
    | _rules("kopf.dev", ["kopfpeerings"], ["get", "list", "watch", "patch"])
)
CLUSTER_READ_RULES = _rules("", ["nodes", "namespaces"], READ) | _rules(
    "apiextensions.k8s.io", ["customresourcedefinitions"], READ
)
CLUSTER_WIDE_RULES = (
    NAMESPACED_RULES
    | CLUSTER_READ_RULES
    | _rules("kopf.dev", ["clusterkopfpeerings"], ["get", "list", "watch", "patch"])
)


# --- helpers ------------------------------------------------------------------------------------------


def of_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: Iterable[Doc], kind: str) -> Doc:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def rule_set(role: Mapping[str, Any]) -> set[Rule]:
    out: set[Rule] = set()
    for rule in role["rules"]:
        assert "nonResourceURLs" not in rule and "resourceNames" not in rule, rule
        for group in rule["apiGroups"]:
            out |= _rules(group, rule["resources"], rule["verbs"])
    return out


def assert_no_secrets_no_wildcards(role: Mapping[str, Any]) -> None:
    name = role["metadata"]["name"]
    for group, resource, verb in rule_set(role):
        assert "*" not in (group, resource, verb), f"{name}: wildcard in {(group, resource, verb)}"
        assert resource.split("/")[0] != "secrets", f"{name}: grants {verb} on secrets"


def assert_pod_is_restricted(pod_spec: Mapping[str, Any]) -> None:
    """The PodSecurity 'restricted' profile, plus a read-only root filesystem with a writable /tmp."""
    pod_sc = pod_spec["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert isinstance(pod_sc["runAsUser"], int) and pod_sc["runAsUser"] > 0
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    for container in pod_spec["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True
        tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]]
        assert "privileged" not in sc and "hostPath" not in str(pod_spec["volumes"])


def assert_operator_container(pod_spec: Mapping[str, Any]) -> Mapping[str, Any]:
    (container,) = pod_spec["containers"]
    args = container["args"]
    assert "--config=/etc/modeldeploy/config.yaml" in args
    assert "--liveness-port=8081" in args
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/modeldeploy"]["readOnly"] is True
    probe = container["livenessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert probe["path"] == "/healthz" and ports[probe["port"]] == 8081
    assert ports["metrics"] == 8080
    assert "command" not in container, "the image's ENTRYPOINT (modeldeploy run) must be kept"
    return dict(container)


def config_of(configmap: Mapping[str, Any]) -> Any:
    """Parse an operator ConfigMap's config.yaml with the operator's own loader."""
    from modeldeploy.config import config_from_mapping

    return config_from_mapping(yaml.safe_load(configmap["data"]["config.yaml"]))


# --- kustomize base -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kustomize_docs() -> list[Doc]:
    kubectl = kubectl_path()  # fails, saying how to get kubectl, when there is none
    out = subprocess.run(
        [kubectl, "kustomize", str(MANIFESTS)], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    return load_all(out.stdout)


def test_kustomize_base_renders_the_operator(kustomize_docs: list[Doc]) -> None:
    kinds = sorted(d["kind"] for d in kustomize_docs if d["kind"] != "CustomResourceDefinition")
    assert kinds == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Service",
            "NetworkPolicy",
        ]
    )
    crds = {d["metadata"]["name"] for d in of_kind(kustomize_docs, "CustomResourceDefinition")}
    sources = {d["metadata"]["name"] for p in CRDS.glob("*.yaml") for d in load_all(p.read_text())}
    assert crds == sources
    assert {"modeldeployments.serving.modeldeploy.io", "clusterkopfpeerings.kopf.dev"} <= crds


def test_kustomize_operator_deployment(kustomize_docs: list[Doc]) -> None:
    deployment = one(kustomize_docs, "Deployment")
    namespace = one(kustomize_docs, "Namespace")["metadata"]["name"]
    assert deployment["metadata"]["namespace"] == namespace
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = deployment["spec"]["template"]["spec"]
    assert_pod_is_restricted(pod)
    assert_operator_container(pod)
    configmap = one(kustomize_docs, "ConfigMap")
    assert {"name": "config", "configMap": {"name": configmap["metadata"]["name"]}} in pod["volumes"]
    service_account = one(kustomize_docs, "ServiceAccount")
    assert pod["serviceAccountName"] == service_account["metadata"]["name"]
    assert config_of(configmap).watch_namespaces == ()


def test_kustomize_rbac_is_least_privilege(kustomize_docs: list[Doc]) -> None:
    role = one(kustomize_docs, "ClusterRole")
    assert_no_secrets_no_wildcards(role)
    assert rule_set(role) == CLUSTER_WIDE_RULES
    binding = one(kustomize_docs, "ClusterRoleBinding")
    service_account = one(kustomize_docs, "ServiceAccount")["metadata"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": service_account["name"], "namespace": service_account["namespace"]}
    ]


# --- Helm chart ---------------------------------------------------------------------------------------


def helm_binary() -> str:
    helm = bin_dir() / "helm"
    assert os.access(helm, os.X_OK), f"helm is not built at {helm}: run tools/build.sh"
    return str(helm)


def kubernetes_version() -> str:
    """The local cluster's version (tools/versions.env): what `helm install` will see there."""
    versions = (ROOT / "tools" / "versions.env").read_text()
    match = re.search(r"^KUBERNETES_VERSION=(v[0-9.]+)$", versions, re.MULTILINE)
    assert match, "tools/versions.env has no KUBERNETES_VERSION"
    return match.group(1)


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    # helm template assumes an old default Kubernetes version unless told: pass the cluster's.
    if args[0] == "template" and not any(a.startswith("--kube-version") for a in args):
        args = (*args, "--kube-version", kubernetes_version())
    return subprocess.run(
        [helm_binary(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HELM_CACHE_HOME": "/tmp/modeldeploy-helm-cache"},
    )


def helm_template(*args: str, namespace: str = "modeldeploy-system") -> list[Doc]:
    out = helm("template", "modeldeploy", str(CHART), "--namespace", namespace, *args)
    assert out.returncode == 0, out.stderr
    return load_all(out.stdout)


def test_helm_lint_is_clean() -> None:
    out = helm("lint", "--strict", str(CHART))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 chart(s) failed" in out.stdout


def test_helm_chart_refuses_old_clusters() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["kubeVersion"] == ">=1.29.0-0"
    out = helm("template", "modeldeploy", str(CHART), "--kube-version", "v1.28.9")
    assert out.returncode != 0 and "kubeVersion" in out.stderr


def test_helm_default_install_is_cluster_wide() -> None:
    docs = helm_template()
    role = one(docs, "ClusterRole")
    assert_no_secrets_no_wildcards(role)
    assert rule_set(role) == CLUSTER_WIDE_RULES
    assert of_kind(docs, "Role") == [] and of_kind(docs, "ServiceMonitor") == []
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert_pod_is_restricted(pod)
    container = assert_operator_container(pod)
    assert not any(a.startswith("--peering") for a in container["args"])
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert container["image"] == "ghcr.io/modeldeploy/modeldeploy:0.1.0"
    config = config_of(one(docs, "ConfigMap"))
    assert config.watch_namespaces == ()
    assert "nvidia-tesla-t4" in config.gpu_types and config.pricing is not None
    assert one(docs, "Service")["spec"]["ports"][0]["port"] == 8080


def test_helm_rbac_equals_kustomize_rbac(kustomize_docs: list[Doc]) -> None:
    assert rule_set(one(helm_template(), "ClusterRole")) == rule_set(one(kustomize_docs, "ClusterRole"))


def test_helm_namespaced_mode() -> None:
    docs = helm_template("--set", "watchNamespaces={team-a,team-b}")
    roles = of_kind(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    for role in roles:
        assert_no_secrets_no_wildcards(role)
        assert rule_set(role) == NAMESPACED_RULES
    bindings = of_kind(docs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["subjects"][0]["namespace"] == "modeldeploy-system"
    cluster_role = one(docs, "ClusterRole")
    assert_no_secrets_no_wildcards(cluster_role)
    assert rule_set(cluster_role) == CLUSTER_READ_RULES | _rules("kopf.dev", ["clusterkopfpeerings"], READ)
    assert config_of(one(docs, "ConfigMap")).watch_namespaces == ("team-a", "team-b")


@pytest.mark.parametrize("values", sorted((CHART / "ci").glob("*-values.yaml")), ids=lambda p: p.name)
def test_helm_ci_values_render(values: Path) -> None:
    docs = helm_template("--values", str(values))
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert_operator_container(pod)
    config_of(one(docs, "ConfigMap"))


def test_helm_peering_for_replicas() -> None:
    docs = helm_template("--set", "replicas=2", "--set", "peering.enabled=true")
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert "--peering=modeldeploy" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert one(docs, "ClusterKopfPeering")["metadata"]["name"] == "modeldeploy"
    namespaced = helm_template("--set", "peering.enabled=true", "--set", "watchNamespaces={team-a}")
    assert [p["metadata"]["namespace"] for p in of_kind(namespaced, "KopfPeering")] == ["team-a"]


def test_helm_service_monitor() -> None:
    docs = helm_template("--set", "metrics.serviceMonitor.enabled=true")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_helm_config_change_rolls_the_operator() -> None:
    def checksum(*args: str) -> str:
        pod = one(helm_template(*args), "Deployment")["spec"]["template"]
        return str(pod["metadata"]["annotations"]["checksum/config"])

    assert checksum() != checksum("--set", "config.defaultVersion=2.18.0")
    assert checksum() != checksum("--set", "watchNamespaces={team-a}")


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (["--set", "replicas=-1"], "replicas"),
        (["--set", "watchNamespaces=foo"], "watchNamespaces"),
        (["--set", "watchNamespaces={Not_A_Namespace}"], "watchNamespaces"),
        (["--set", "config.gpuTyeps.x.nodeLabels.a=b"], "gpuTyeps"),
        (["--set", "config.pricing.cpuHourly=-1"], "cpuHourly"),
        (["--set", "logFormat=xml"], "logFormat"),
        (["--set", "metrics.port=0"], "port"),
        (["--set", "imagee.tag=x"], "imagee"),
        (["--set", "replicas=2"], "peering.enabled"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v),
)
def test_helm_rejects_bad_values_naming_the_path(args: list[str], path: str) -> None:
    out = helm("template", "modeldeploy", str(CHART), *args)
    assert out.returncode != 0, f"{args} was accepted"
    assert path in out.stderr, out.stderr
