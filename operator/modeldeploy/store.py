"""The operator's cache of children and pods: what is kept of each object (slimmed, its strings interned)
and under which ModelDeployment it is filed. Pure: the informers (informer.py) feed it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from modeldeploy.api import MD_API_VERSION, MD_KIND, SELECTOR_LABEL
from modeldeploy.desired.labels import TEMPLATE_IDENTITY_ANNOTATIONS

Key = tuple[str, str]  # (namespace, ModelDeployment name)
Obj = Mapping[str, Any]
Slim = Callable[[Obj], dict[str, Any]]


# Strings up to this length are interned when cached: field names and common values ("True", "TCP",
# label keys) then exist once, not once per object as the JSON decoder makes them.
INTERN_MAX = 64


def compact(value: Any) -> Any:
    """A copy of a decoded JSON value with its keys and short strings interned.

    Every cached object is decoded separately, so without this each of thousands of Deployments carries
    its own copy of every key: interning halves what the caches hold per model (about 45 KB to 22 KB for
    a one-replica model, measured with tracemalloc on the objects the API server returns).
    """
    if isinstance(value, dict):
        return {sys.intern(k) if isinstance(k, str) else k: compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, str) and len(value) <= INTERN_MAX:
        return sys.intern(value)
    return value


def slim(body: Obj) -> dict[str, Any]:
    # managedFields are most of an object's size and the reconciler never reads them.
    obj = {k: v for k, v in body.items() if k != "metadata"}
    obj["metadata"] = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    result: dict[str, Any] = compact(obj)
    return result


def slim_pod(body: Obj) -> dict[str, Any]:
    # Status diagnosis and the model poller read only these; a full pod spec is most of a pod's size.
    meta = body["metadata"]
    slimmed = {
        k: meta[k]
        for k in ("name", "namespace", "labels", "ownerReferences", "resourceVersion", "deletionTimestamp")
        if k in meta
    }
    annotations = meta.get("annotations") or {}
    # Only the annotations that tell which pod template a pod came from (the status's READY count).
    kept = {k: annotations[k] for k in TEMPLATE_IDENTITY_ANNOTATIONS if k in annotations}
    if kept:
        slimmed["annotations"] = kept
    result: dict[str, Any] = compact(
        {
            "metadata": slimmed,
            "spec": {"nodeName": (body.get("spec") or {}).get("nodeName")},
            "status": body.get("status") or {},
        }
    )
    return result


def autoscaler_owner(obj: Obj) -> Key | None:
    """An HPA's ModelDeployment: the one controlling it, or, for the HPA KEDA makes from a ScaledObject
    (keda-hpa-<name>, controlled by that ScaledObject), the ModelDeployment the ScaledObject is named
    after. Status reads KEDA's HPA; the reconciler never takes it for its own (children_of picks by name)."""
    owner = controller_of(obj)
    if owner is not None:
        return owner
    meta = obj.get("metadata") or {}
    for ref in meta.get("ownerReferences") or ():
        keda = ref.get("kind") == "ScaledObject" and str(ref.get("apiVersion", "")).startswith("keda.sh/")
        if ref.get("controller") is True and keda and meta.get("namespace") and ref.get("name"):
            return (str(meta["namespace"]), str(ref["name"]))
    return None


def controller_ref(obj: Obj) -> Mapping[str, Any] | None:
    """The ownerReference of the ModelDeployment that controls ``obj``, if one does."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if (
            ref.get("controller") is True
            and ref.get("kind") == MD_KIND
            and ref.get("apiVersion") == MD_API_VERSION
        ):
            return dict(ref)
    return None


def controller_of(obj: Obj) -> Key | None:
    """The ModelDeployment that controls a child: its controller owner reference, never its labels.

    Labels can be copied (a renamed copy, a debug clone of the Deployment): keying by them made the cache
    alternate between the child and a look-alike, and the reconciler re-apply at every switch.
    """
    namespace = (obj.get("metadata") or {}).get("namespace")
    ref = controller_ref(obj)
    return (namespace, str(ref["name"])) if namespace and ref and ref.get("name") else None


def pod_owner(obj: Obj) -> Key | None:
    """The ModelDeployment whose Deployment runs this pod.

    Pods are controlled by a ReplicaSet named <Deployment>-<pod-template-hash>, and our Deployment is
    named after the ModelDeployment; a look-alike Deployment's pods carry the same labels but belong to a
    ReplicaSet with another name.
    """
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    namespace, owner = meta.get("namespace"), labels.get(SELECTOR_LABEL)
    if not namespace or not owner:
        return None
    replica_set = f"{owner}-{labels.get('pod-template-hash', '')}"
    for ref in meta.get("ownerReferences") or ():
        if (
            ref.get("controller") is True
            and ref.get("kind") == "ReplicaSet"
            and ref.get("name") == replica_set
        ):
            return (namespace, owner)
    return None


class Store:
    """One kind's objects by owning ModelDeployment; every mutation returns the owners it affected."""

    def __init__(self, slim: Slim = slim, owner_of: Callable[[Obj], Key | None] = controller_of) -> None:
        self._slim = slim
        self._owner_of = owner_of
        self._by_owner: dict[Key, dict[str, Obj]] = {}
        self._owner: dict[tuple[str, str], Key] = {}  # (namespace, name) -> owner, for relabels/deletes

    def get(self, key: Key) -> list[Obj]:
        objects = self._by_owner.get(key)
        return list(objects.values()) if objects else []

    def __contains__(self, key: object) -> bool:
        return key in self._by_owner

    def __len__(self) -> int:
        return len(self._owner)

    def upsert(self, body: Obj) -> set[Key]:
        affected = self.remove(body)
        owner = self._owner_of(body)
        if owner is not None:
            meta = body["metadata"]
            self._by_owner.setdefault(owner, {})[meta["name"]] = self._slim(body)
            self._owner[(meta["namespace"], meta["name"])] = owner
            affected.add(owner)
        return affected

    def remove(self, body: Obj) -> set[Key]:
        meta = body.get("metadata") or {}
        owner = self._owner.pop((meta.get("namespace", ""), meta.get("name", "")), None)
        if owner is None:
            return set()
        objects = self._by_owner.get(owner, {})
        objects.pop(meta["name"], None)
        if not objects:
            self._by_owner.pop(owner, None)
        return {owner}

    def apply(self, event_type: str, body: Obj) -> set[Key]:
        """One watch event; BOOKMARK and ERROR are the informer's business and change nothing here."""
        if event_type in ("ADDED", "MODIFIED"):
            return self.upsert(body)
        if event_type == "DELETED":
            return self.remove(body)
        return set()

    def replace(self, bodies: Iterable[Obj], namespace: str | None = None) -> set[Key]:
        """A fresh LIST of ``namespace`` (all if None): returns the owners whose objects changed."""
        before = {
            (ns, name): resource_version(obj)
            for (ns, name), owner in self._owner.items()
            if namespace is None or ns == namespace
            for obj in [self._by_owner[owner][name]]
        }
        stale = dict.fromkeys(before, True)
        affected: set[Key] = set()
        for body in bodies:
            meta = body["metadata"]
            ident = (meta["namespace"], meta["name"])
            stale.pop(ident, None)
            if before.get(ident) != resource_version(body) or self._owner_of(body) != self._owner.get(ident):
                affected |= self.upsert(body)
        for ns, gone in stale:
            affected |= self.remove({"metadata": {"namespace": ns, "name": gone}})
        return affected


def resource_version(body: Obj) -> object:
    return (body.get("metadata") or {}).get("resourceVersion")
