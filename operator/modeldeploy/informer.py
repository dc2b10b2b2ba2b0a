"""Our own informers for the children and pods: LIST, then WATCH from the list's resourceVersion.

Kopf runs a worker per watched object and, while it fills an index at start-up, wakes every waiting
worker per indexed object; at thousands of children that cost minutes and hundreds of MB after a
restart. The operator needs far less: per ModelDeployment the current (slimmed) objects of each kind and
a nudge when they change. So Kopf keeps only the ModelDeployments, and children and pods come from here:
one LIST (paginated) and one long WATCH per kind (per namespace in namespaced mode), re-listing when the
API server answers 410 Gone and reconnecting with backoff on any other error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modeldeploy.desired.labels import MODEL_DEPLOYMENT_LABEL, TEMPLATE_IDENTITY_ANNOTATIONS
from modeldeploy.kube import MD_API_VERSION, MD_KIND, ApiError, KubeClient

log = logging.getLogger("modeldeploy.informer")

# Every child and pod carries this label (desired/labels.py child_labels); the RBAC grants list+watch.
MANAGED_SELECTOR = "app.kubernetes.io/managed-by=modeldeploy"
# Small pages, one LIST at a time (Informers.list_slots): at start-up every kind is listed at once and the
# raw pages, not the slimmed cache, set the operator's peak memory. Extra requests cost little.
PAGE_SIZE = 100
WATCH_SECONDS = 300  # the server ends each watch after this; we re-watch from the last resourceVersion
# Bookmarks come about once a minute, so this much silence on a watch means a dead connection.
WATCH_SILENCE_SECONDS = WATCH_SECONDS + 30
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0

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


@dataclass(frozen=True)
class Resource:
    api_version: str  # "v1", "apps/v1", ...
    plural: str
    kind: str
    slim: Slim = slim
    owner_of: Callable[[Obj], Key | None] | None = None  # None: controller_of

    @property
    def kind_key(self) -> tuple[str, str]:
        return (self.api_version, self.kind)

    def path(self, namespace: str | None) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        return f"{prefix}/namespaces/{namespace}/{self.plural}" if namespace else f"{prefix}/{self.plural}"


CHILDREN: tuple[Resource, ...] = (
    Resource("v1", "configmaps", "ConfigMap"),
    Resource("v1", "services", "Service"),
    Resource("apps/v1", "deployments", "Deployment"),
    Resource(
        "autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", owner_of=autoscaler_owner
    ),
    Resource("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    Resource("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy"),
)
PODS = Resource("v1", "pods", "Pod", slim_pod)
# Watched only when the operator renders ScaledObjects (request-rate provider keda): without KEDA's CRD
# the watch would fail for ever.
SCALED_OBJECTS = Resource("keda.sh/v1alpha1", "scaledobjects", "ScaledObject")


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
    namespace, owner = meta.get("namespace"), labels.get(MODEL_DEPLOYMENT_LABEL)
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
            (ns, name): _version(obj)
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
            if before.get(ident) != _version(body) or self._owner_of(body) != self._owner.get(ident):
                affected |= self.upsert(body)
        for ns, gone in stale:
            affected |= self.remove({"metadata": {"namespace": ns, "name": gone}})
        return affected


def _version(body: Obj) -> object:
    return (body.get("metadata") or {}).get("resourceVersion")


class Gone(Exception):
    """The resourceVersion we watch from is too old: LIST again."""


@dataclass
class Informer:
    """LIST + WATCH of one kind in one namespace (or all), feeding a Store and a change callback."""

    client: KubeClient
    resource: Resource
    store: Store
    on_change: Callable[[Key], None]
    namespace: str | None = None
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    resource_version: str | None = None
    list_slots: asyncio.Semaphore | None = None

    async def run(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            try:
                if self.resource_version is None:
                    async with self.list_slots or contextlib.nullcontext():
                        await self.list()
                started = time.monotonic()
                await self.watch()
                delay = BACKOFF_FIRST
                if time.monotonic() - started < 1:
                    # A watch the server ends at once (e.g. while it shuts down) must not become a hot loop.
                    await asyncio.sleep(BACKOFF_FIRST)
            except Gone:
                self.resource_version = None  # re-list at once: the 410 is an answer, not a failure
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the API server may be away or restarting: keep trying
                if isinstance(error, ApiError) and error.status == 404 and self.resource_version is None:
                    # The API server does not serve this kind (an optional CRD such as KEDA's is not
                    # installed): none of these objects exist, so the empty cache is complete and must not
                    # hold up every reconcile. Keep asking, in case the CRD is installed later.
                    self.synced.set()
                log.warning(
                    "watch failed, retrying",
                    extra={"resource": self.resource.plural, "error": str(error), "retry_in": delay},
                )
                await asyncio.sleep(delay)
                delay = min(BACKOFF_MAX, delay * 2)

    async def list(self) -> None:
        path = self.resource.path(self.namespace)
        params = {"labelSelector": MANAGED_SELECTOR, "limit": str(PAGE_SIZE)}
        bodies: list[Obj] = []
        while True:
            page = await self.client.request("list", "GET", path, self.resource.plural, params=params)
            # Slim per page so that only one page of full objects is alive at a time.
            # LIST items carry no apiVersion/kind (watch events do); the reconciler compares both alike.
            kind = {"apiVersion": self.resource.api_version, "kind": self.resource.kind}
            bodies.extend(self.resource.slim({**item, **kind}) for item in page["items"])
            meta = page.get("metadata") or {}
            if not meta.get("continue"):
                break
            params = {**params, "continue": meta["continue"]}
        self._notify(self.store.replace(bodies, self.namespace))
        self.resource_version = meta["resourceVersion"]
        self.synced.set()

    async def watch(self) -> None:
        assert self.resource_version is not None
        params = {
            "labelSelector": MANAGED_SELECTOR,
            "resourceVersion": self.resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        path = self.resource.path(self.namespace)
        events = self.client.watch(path, self.resource.plural, params, WATCH_SILENCE_SECONDS)
        try:
            # aclosing: a 410 raised mid-stream must release the connection now, not at garbage collection.
            async with contextlib.aclosing(events):
                async for event in events:
                    self.handle(event)
        except ApiError as error:
            if error.status == 410:
                raise Gone() from error
            raise

    def handle(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type", "")
        body = event.get("object") or {}
        if kind == "ERROR":
            if body.get("code") == 410:
                raise Gone()
            raise RuntimeError(f"watch error: {body.get('message', body)}")
        version = _version(body)
        if isinstance(version, str):
            self.resource_version = version
        self._notify(self.store.apply(kind, body))

    def _notify(self, keys: Iterable[Key]) -> None:
        for key in keys:
            self.on_change(key)


@dataclass
class Informers:
    """All informers of the operator; ``synced`` is set once every one has finished its first LIST."""

    client: KubeClient
    on_change: Callable[[Key], None]
    namespaces: tuple[str, ...] = ()
    extra_children: tuple[Resource, ...] = ()  # e.g. SCALED_OBJECTS, per the operator configuration
    children: dict[tuple[str, str], Store] = field(default_factory=dict)
    pods: Store = field(default_factory=lambda: Store(slim_pod, pod_owner))
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    list_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    _informers: list[Informer] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        kinds = (*CHILDREN, *self.extra_children)
        for resource in kinds:
            self.children[resource.kind_key] = Store(resource.slim, resource.owner_of or controller_of)
        pairs = [(r, self.children[r.kind_key]) for r in kinds] + [(PODS, self.pods)]
        for resource, store in pairs:
            for namespace in self.namespaces or (None,):
                informer = Informer(self.client, resource, store, self._changed, namespace)
                informer.list_slots = self.list_slots
                self._informers.append(informer)

    def _changed(self, key: Key) -> None:
        self.on_change(key)

    def start(self) -> None:
        started = time.monotonic()
        for informer in self._informers:
            name = f"modeldeploy-informer-{informer.resource.plural}-{informer.namespace or 'all'}"
            self._tasks.append(asyncio.create_task(informer.run(), name=name))
        self._tasks.append(asyncio.create_task(self._wait_synced(started), name="modeldeploy-informers-sync"))

    async def _wait_synced(self, started: float) -> None:
        await asyncio.gather(*(informer.synced.wait() for informer in self._informers))
        self.synced.set()
        log.info(
            "caches synced",
            extra={
                "objects": sum(len(s) for s in self.children.values()),
                "pods": len(self.pods),
                "seconds": round(time.monotonic() - started, 2),
            },
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
