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
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modeldeploy.api import CHILD_KINDS, MANAGED_SELECTOR, POD, SCALED_OBJECT, ApiKind, ChildKind
from modeldeploy.kube import ApiError, KubeClient
from modeldeploy.store import (
    Key,
    Obj,
    Slim,
    Store,
    autoscaler_owner,
    controller_of,
    pod_owner,
    resource_version,
    slim,
    slim_pod,
)

log = logging.getLogger("modeldeploy.informer")

# Small pages, one LIST at a time (Informers.list_slots): at start-up every kind is listed at once and the
# raw pages, not the slimmed cache, set the operator's peak memory. Extra requests cost little.
PAGE_SIZE = 100
WATCH_SECONDS = 300  # the server ends each watch after this; we re-watch from the last resourceVersion
# Bookmarks come about once a minute, so this much silence on a watch means a dead connection.
WATCH_SILENCE_SECONDS = WATCH_SECONDS + 30
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


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


def resource_of(kind: ApiKind) -> Resource:
    """The informer's view of a registry kind (api.py): its path, how it is slimmed and filed."""
    if kind == POD:
        return Resource(kind.api_version, kind.plural, kind.kind, slim_pod)
    owner_of = autoscaler_owner if isinstance(kind, ChildKind) and kind.cache_owner == "autoscaler" else None
    return Resource(kind.api_version, kind.plural, kind.kind, owner_of=owner_of)


CHILDREN: tuple[Resource, ...] = tuple(resource_of(k) for k in CHILD_KINDS if k.watch == "always")
PODS = resource_of(POD)
# Watched only when the operator renders ScaledObjects (request-rate provider keda): without KEDA's CRD
# the watch would fail for ever.
SCALED_OBJECTS = resource_of(SCALED_OBJECT)


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
        version = resource_version(body)
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
