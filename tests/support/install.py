"""Shared pieces of the install tests (Helm, kustomize): a private cluster, the operator as the installed
ServiceAccount, the samples, `kubectl auth can-i` tables, the GitOps drift check and Argo CD's health check.

Each install test module starts its own LocalCluster: the session cluster's operator reconciles every
namespace with the admin kubeconfig, which would hide exactly what these tests prove (that the installed
RBAC and configuration are enough).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modeldeploy.desired.deployment import CONTAINER_NAME
from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.binaries import bin_dir
from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.kubectl import Kube
from tests.support.paths import SAMPLES
from tests.support.waits import wait_for

DEADLINE = 120  # seconds; two cores are shared by several clusters


def with_cluster_settings(cluster: LocalCluster, installed: str) -> str:
    """An installed config.yaml plus the one setting the environment adds: how this machine reaches pod
    IPs (the emulated pods listen on loopback addresses), as a real cluster's network needs no setting."""
    settings = yaml.safe_load(installed) or {}
    for key, value in cluster.operator_config().items():
        settings[key] = {**(settings.get(key) or {}), **value}
    return str(yaml.safe_dump(settings))


def kubectl_json(cluster: LocalCluster, *args: str, kubeconfig: Path | None = None) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json", kubeconfig=kubeconfig).stdout)


# --- Helm -------------------------------------------------------------------------------------------


class Helm:
    """The helm binary from the local cluster build, against one cluster, with its own config dirs."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.binary = bin_dir() / "helm"  # MODELDEPLOY_BIN_DIR, else ~/.cache/modeldeploy/bin
        assert os.access(self.binary, os.X_OK), f"helm not built at {self.binary}: run tools/build.sh"
        home = cluster.workdir / "helm"
        self.env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args, "--kubeconfig", str(self.cluster.kubeconfig)],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
            env=self.env,
        )
        if check:
            assert result.returncode == 0, f"helm {' '.join(args)}: {result.stderr}"
        return result


# --- The operator as the installed ServiceAccount ----------------------------------------------------


def configmap_file(cluster: LocalCluster, namespace: str, name: str, key: str = "config.yaml") -> str:
    """One file of a ConfigMap as the install created it in the cluster."""
    configmap = kubectl_json(cluster, "get", "configmap", name, "-n", namespace)
    text: str = configmap["data"][key]
    return text


# Flags the test sets itself: the config file is read back from the ConfigMap, the ports are free ones.
LOCAL_FLAGS = ("--config", "--metrics-port", "--liveness-port")


@dataclass
class Installed:
    """What an install gave the operator: its namespace, ServiceAccount, configuration ConfigMap and
    command-line flags (read from the operator Deployment the install created)."""

    namespace: str
    service_account: str
    configmap: str
    args: tuple[str, ...]

    token_kubeconfig: Path | None = field(default=None, compare=False)

    def kubeconfig(self, cluster: LocalCluster) -> Path:
        """A kubeconfig with a TokenRequest token of the installed ServiceAccount: exactly its RBAC."""
        if self.token_kubeconfig is None:
            path = cluster.workdir / f"{self.namespace}-{self.service_account}-{id(self)}.kubeconfig"
            self.token_kubeconfig = cluster.service_account_kubeconfig(
                self.namespace, self.service_account, path
            )
        return self.token_kubeconfig

    def operator(self, cluster: LocalCluster, name: str) -> OperatorProcess:
        """The operator as the installed Deployment would run it (KWOK pods run no code): the
        ServiceAccount's token and the ConfigMap's config.yaml, read back from the cluster."""
        config = cluster.workdir / f"{name}.config.yaml"
        config.write_text(
            with_cluster_settings(cluster, configmap_file(cluster, self.namespace, self.configmap))
        )
        process = OperatorProcess(
            kubeconfig=self.kubeconfig(cluster),
            log_path=cluster.workdir / "logs" / f"{name}.log",
            args=self.args,
            config_path=config,
            name=name,
        )
        process.start(timeout=DEADLINE)
        return process


def rollout_status(cluster: LocalCluster, namespace: str, name: str) -> None:
    """docs/install.md's check that the operator Deployment is up (KWOK runs its pods as Ready)."""
    cluster.kubectl("-n", namespace, "rollout", "status", f"deployment/{name}", f"--timeout={DEADLINE}s")


def operator_deployment(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    deployment = Kube(cluster).get("deployment", name, namespace)
    assert deployment is not None, f"no operator Deployment {namespace}/{name}"
    return deployment


def installed_from_deployment(cluster: LocalCluster, namespace: str, name: str) -> Installed:
    """Read the ServiceAccount and the config ConfigMap from the operator Deployment the install made."""
    pod = operator_deployment(cluster, namespace, name)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (container,) = (c for c in pod["containers"] if c["name"] == "operator")
    assert "--config=/etc/modeldeploy/config.yaml" in container["args"], container["args"]
    mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mount["config"] == "/etc/modeldeploy", mount
    args = tuple(a for a in container["args"] if a.split("=", 1)[0] not in LOCAL_FLAGS)
    return Installed(namespace, pod["serviceAccountName"], volumes["config"]["configMap"]["name"], args)


# --- Samples ------------------------------------------------------------------------------------------


def load_all(text: str) -> list[dict[str, Any]]:
    """The documents of a YAML stream, without the empty ones."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return load_all(path.read_text())


def sample_models() -> list[tuple[Path, dict[str, Any]]]:
    """(file, ModelDeployment) for every model in manifests/samples/."""
    found = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        found += [(path, doc) for doc in load_yaml_docs(path) if doc["kind"] == "ModelDeployment"]
    assert len(found) >= 3, found
    return found


def model_phases(cluster: LocalCluster, namespace: str) -> dict[str, str]:
    items = kubectl_json(cluster, "get", "md", "-A")["items"]  # docs/install.md's `kubectl get md -A`
    return {
        i["metadata"]["name"]: (i.get("status") or {}).get("phase", "")
        for i in items
        if i["metadata"]["namespace"] == namespace
    }


def wait_until_samples_ready(cluster: LocalCluster, started: float) -> float:
    """Wait until every sample model's status.phase is Ready; the seconds since `started`."""
    wanted = {doc["metadata"]["name"] for _, doc in sample_models()}
    namespace = sample_models()[0][1]["metadata"]["namespace"]

    def ready() -> bool:
        phases = model_phases(cluster, namespace)
        return wanted <= phases.keys() and all(phases[n] == "Ready" for n in wanted)

    wait_for(ready, DEADLINE, interval=0.5, what=f"samples Ready: {model_phases(cluster, namespace)}")
    return time.monotonic() - started


def wait_until_samples_run(cluster: LocalCluster, image: str) -> None:
    """Every sample's TF Serving container runs `image` (GPU models its -gpu tag) and the samples are
    Ready again: what a new defaultImage/defaultVersion in the operator configuration does."""
    wanted = {}
    for _, sample in sample_models():
        gpu = "gpu" in (sample["spec"].get("resources") or {})
        wanted[sample["metadata"]["name"]] = image + ("-gpu" if gpu else "")
    namespace = sample_models()[0][1]["metadata"]["namespace"]

    def images() -> dict[str, str]:
        found = {}
        for name in wanted:
            pod = (Kube(cluster).get("deployment", name, namespace) or {})["spec"]["template"]["spec"]
            found[name] = next(c["image"] for c in pod["containers"] if c["name"] == CONTAINER_NAME)
        return found

    wait_for(lambda: images() == wanted, DEADLINE, interval=0.5, what=f"samples on {image}")
    wait_until_samples_ready(cluster, time.monotonic())


def assert_nothing_forbidden(operator_log: str) -> None:
    """Nothing the operator tried was refused by RBAC."""
    assert "Forbidden" not in operator_log and " 403" not in operator_log, operator_log[-3000:]


def children_of(cluster: LocalCluster, namespace: str, name: str) -> dict[str, list[str]]:
    """Kind -> names of the objects a ModelDeployment owns (by ownerReference)."""
    found: dict[str, list[str]] = {}
    kinds = "deployments,services,configmaps,networkpolicies"
    items = kubectl_json(cluster, "get", kinds, "-n", namespace)["items"]
    for item in items:
        owners = item["metadata"].get("ownerReferences") or []
        if any(o["kind"] == "ModelDeployment" and o["name"] == name for o in owners):
            found.setdefault(item["kind"], []).append(item["metadata"]["name"])
    return found


# --- RBAC -------------------------------------------------------------------------------------------

# What the reconciler does in a namespace it watches (kopf's own patches included).
RECONCILER_NEEDS: tuple[tuple[str, str], ...] = (
    ("get", "modeldeployments.serving.modeldeploy.io"),
    ("list", "modeldeployments.serving.modeldeploy.io"),
    ("watch", "modeldeployments.serving.modeldeploy.io"),
    ("patch", "modeldeployments.serving.modeldeploy.io"),
    ("patch", "modeldeployments.serving.modeldeploy.io/status"),
    ("create", "deployments.apps"),
    ("patch", "deployments.apps"),
    ("delete", "deployments.apps"),
    ("watch", "deployments.apps"),
    ("create", "services"),
    ("patch", "services"),
    ("create", "configmaps"),
    ("patch", "configmaps"),
    ("create", "horizontalpodautoscalers.autoscaling"),
    ("delete", "horizontalpodautoscalers.autoscaling"),
    ("create", "poddisruptionbudgets.policy"),
    ("delete", "poddisruptionbudgets.policy"),
    ("create", "networkpolicies.networking.k8s.io"),
    ("delete", "networkpolicies.networking.k8s.io"),
    ("watch", "networkpolicies.networking.k8s.io"),
    ("list", "pods"),
    ("watch", "pods"),
    ("create", "events"),
    ("create", "events.events.k8s.io"),
)

# What it must never do, even in a namespace it watches.
NEVER_IN_NAMESPACE: tuple[tuple[str, str], ...] = (
    ("get", "secrets"),
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "modeldeployments.serving.modeldeploy.io"),
    ("update", "modeldeployments.serving.modeldeploy.io"),
    ("delete", "modeldeployments.serving.modeldeploy.io"),
    ("create", "pods"),
    ("delete", "pods"),
    ("patch", "pods"),
    ("create", "pods/exec"),
    ("get", "pods/log"),
    ("create", "statefulsets.apps"),
    ("patch", "daemonsets.apps"),
    ("create", "replicasets.apps"),
    ("create", "jobs.batch"),
    ("create", "roles.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("patch", "serviceaccounts"),
    ("create", "serviceaccounts/token"),
    ("create", "persistentvolumeclaims"),
    ("delete", "events"),
    ("create", "ingresses.networking.k8s.io"),
)

CLUSTER_READS: tuple[tuple[str, str], ...] = (
    ("list", "nodes"),
    ("watch", "nodes"),
    ("list", "namespaces"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
)

NEVER_CLUSTER_WIDE: tuple[tuple[str, str], ...] = (
    ("patch", "nodes"),
    ("delete", "nodes"),
    ("create", "namespaces"),
    ("delete", "namespaces"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("bind", "clusterroles.rbac.authorization.k8s.io"),
    ("escalate", "clusterroles.rbac.authorization.k8s.io"),
    ("impersonate", "serviceaccounts"),
    ("create", "certificatesigningrequests.certificates.k8s.io"),
    ("create", "mutatingwebhookconfigurations.admissionregistration.k8s.io"),
    ("list", "secrets"),
)


# Asked with `kubectl auth can-i` too (wherever the tables above ask them).
CLI_SPOT_CHECKS = (
    ("get", "secrets"),
    ("delete", "modeldeployments.serving.modeldeploy.io"),
    ("patch", "modeldeployments.serving.modeldeploy.io/status"),
    ("patch", "nodes"),
    ("create", "statefulsets.apps"),
)


def can_i(cluster: LocalCluster, kubeconfig: Path, verb: str, resource: str, namespace: str | None) -> bool:
    """`kubectl auth can-i` with the ServiceAccount's own token; `resource` may end in /subresource."""
    resource, _, sub = resource.partition("/")
    where = ["-n", namespace] if namespace else ["--all-namespaces"]
    subresource = [f"--subresource={sub}"] if sub else []
    result = cluster.kubectl(
        "auth", "can-i", verb, resource, *subresource, *where, kubeconfig=kubeconfig, check=False
    )
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), f"can-i {verb} {resource}: {result.stdout}{result.stderr}"
    return answer == "yes"


def _review(verb: str, resource: str, namespace: str | None) -> dict[str, Any]:
    name, _, sub = resource.partition("/")
    plural, _, group = name.partition(".")
    attributes = {"verb": verb, "resource": plural, "group": group, "subresource": sub}
    if namespace:
        attributes["namespace"] = namespace
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }


def access_table(
    cluster: LocalCluster, kubeconfig: Path, checks: Iterable[tuple[str, str, str | None]]
) -> dict[tuple[str, str, str | None], bool]:
    """(verb, resource[/subresource], namespace or None for all namespaces / cluster scope) -> allowed.
    The SelfSubjectAccessReviews `kubectl auth can-i` makes, asked in one request with the token."""
    keys = list(checks)
    reviews = {"apiVersion": "v1", "kind": "List", "items": [_review(*key) for key in keys]}
    out = cluster.kubectl(
        "create",
        "-f",
        "-",
        "-o",
        "jsonpath={.status.allowed}{'\\n'}",
        input=json.dumps(reviews),
        kubeconfig=kubeconfig,
    ).stdout.split()
    assert set(out) <= {"true", "false"}, out
    return {key: answer == "true" for key, answer in zip(keys, out, strict=True)}


def assert_least_privilege(
    cluster: LocalCluster, kubeconfig: Path, watched: Sequence[str | None], unwatched: Sequence[str]
) -> int:
    """The reconciler's needs are granted where it watches (None: every namespace) and nothing else is:
    no Secrets, no other kinds, no writes beyond the reconciler's, nothing in unwatched namespaces.
    Returns how many questions were asked."""
    expected: dict[tuple[str, str, str | None], bool] = {}
    for namespace in watched:
        expected |= {(v, r, namespace): True for v, r in RECONCILER_NEEDS}
        expected |= {(v, r, namespace): False for v, r in NEVER_IN_NAMESPACE}
    for namespace in unwatched:
        expected |= {(v, r, namespace): False for v, r in RECONCILER_NEEDS + NEVER_IN_NAMESPACE}
    expected |= {(v, r, None): True for v, r in CLUSTER_READS}
    expected |= {(v, r, None): False for v, r in NEVER_CLUSTER_WIDE}
    actual = access_table(cluster, kubeconfig, expected)
    # The same answers from the command line, for the headline questions.
    for key in [k for k in expected if k[:2] in CLI_SPOT_CHECKS]:
        assert can_i(cluster, kubeconfig, *key) == actual[key], key
    wrong = {key: allowed for key, allowed in actual.items() if allowed != expected[key]}
    assert not wrong, "can-i answers that differ from least privilege (True = allowed): " + "; ".join(
        f"{v} {r} in {ns or 'all namespaces'}: {allowed}" for (v, r, ns), allowed in wrong.items()
    )
    return len(expected)


# --- GitOps drift -----------------------------------------------------------------------------------


def user_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {
        "spec": obj.get("spec"),
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
    }


def is_subset(want: Any, have: Any) -> bool:
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(k in have and is_subset(v, have[k]) for k, v in want.items())
    return bool(want == have)


def assert_no_drift(cluster: LocalCluster, field_manager: str = "argocd-controller") -> int:
    """What a GitOps tool sees after the operator reconciled the samples: a server-side dry-run apply of
    the original manifests changes no spec, label or annotation, and every value the user set is live
    as written. Returns how many models were compared."""
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        f"--field-manager={field_manager}",
        "-f",
        str(SAMPLES),
        "-o",
        "json",
    )
    dry = json.loads(result.stdout)
    predicted = {
        (i["metadata"]["namespace"], i["metadata"]["name"]): i
        for i in dry.get("items", [dry])
        if i["kind"] == "ModelDeployment"
    }
    compared = 0
    for _, manifest in sample_models():
        key = (manifest["metadata"]["namespace"], manifest["metadata"]["name"])
        live = Kube(cluster).get("modeldeployment", key[1], key[0])
        assert live is not None, key
        assert (live.get("status") or {}).get("phase") == "Ready", (
            f"{key} not reconciled: {live.get('status')}"
        )
        assert user_fields(predicted[key]) == user_fields(live), f"{key}: a sync would change the live object"
        assert predicted[key]["metadata"]["generation"] == live["metadata"]["generation"], key
        assert is_subset(user_fields(manifest), user_fields(live)), f"{key}: live differs from Git"
        compared += 1
    return compared


def field_managers_of_user_fields(obj: Mapping[str, Any]) -> set[str]:
    """Managers that own anything under spec, labels or annotations."""
    owners = set()
    for entry in obj["metadata"].get("managedFields") or []:
        fields = entry.get("fieldsV1") or {}
        meta = fields.get("f:metadata") or {}
        if "f:spec" in fields or "f:labels" in meta or "f:annotations" in meta:
            owners.add(entry["manager"])
    return owners
