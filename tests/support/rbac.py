"""What the installed operator's ServiceAccount may do, asked of the API server (`kubectl auth can-i` and
SelfSubjectAccessReviews): what the reconciler needs is granted in the namespaces it watches, nothing
more."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from modeldeploy.localcluster import LocalCluster

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
