"""Reconcile workers: take keys off the work queue, read the caches, reconcile, log, retry with backoff."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modeldeploy import metrics
from modeldeploy.api import HORIZONTAL_POD_AUTOSCALER
from modeldeploy.config import OperatorConfig
from modeldeploy.kube import KubeClient
from modeldeploy.modelstate import ModelPoller
from modeldeploy.names import child_name
from modeldeploy.plan import ChildKey, Children
from modeldeploy.reasons import ConditionType
from modeldeploy.reconcile import reconcile
from modeldeploy.store import Store, controller_of, controller_ref, pod_owner, slim, slim_pod
from modeldeploy.workqueue import Key, Priority, WorkQueue

log = logging.getLogger("modeldeploy.controller")

RESYNC_SECONDS = 300.0
CONFLICT_RETRY_CAP_SECONDS = 60.0
# A reconcile that applied children leaves status to the reconcile their watch events trigger; this
# follow-up makes sure status is written even if no event arrives (an apply that changed nothing).
STATUS_FOLLOW_UP_SECONDS = 2.0
# How long a reconcile waits for the model's first model-status answer at most (see _awaits_first_answer).
FIRST_ANSWER_WAIT_SECONDS = 10.0


@dataclass
class Caches:
    """What the workers read, keyed by (namespace, ModelDeployment name).

    ModelDeployments come from Kopf's events; children and pods from our informers' stores (see
    informer.py), which the workers wait for (``Controller.synced``) so that the first reconcile after a
    start already sees the children that exist and does not re-apply them blindly.
    """

    models: dict[Key, Mapping[str, Any]] = field(default_factory=dict)
    children: Mapping[ChildKey, Store] = field(default_factory=dict)
    pods: Store = field(default_factory=lambda: Store(slim_pod, pod_owner))

    def remember(self, applied: Iterable[Mapping[str, Any]]) -> None:
        """Write what we just applied through to the cache, unless the watch already brought newer.

        Otherwise a reconcile that runs before the watch event arrives (one child's event wakes it while
        another's is in flight) sees a child missing and applies it again.
        """
        for obj in applied:
            store = self.children.get((obj.get("apiVersion", ""), obj.get("kind", "")))
            owner = controller_of(obj)
            if store is None or owner is None:
                continue
            name = obj["metadata"]["name"]
            cached = [c for c in store.get(owner) if c["metadata"]["name"] == name]
            if not cached or _older(cached[0], obj):
                store.upsert(obj)

    def update_model(self, key: Key, body: Mapping[str, Any]) -> None:
        """Keep the newer of the cached ModelDeployment and ``body`` (a watch event, or the answer to our
        own status write). Writing our status through means the next reconcile compares with what we
        wrote, not with a watch event still in flight; otherwise it writes the same status again, a
        `kubectl get -w` row with nothing new."""
        cached = self.models.get(key)
        if cached is None or not _older(body, cached):
            self.models[key] = body

    def children_of(self, key: Key, uid: str | None = None) -> Children:
        """The children this ModelDeployment controls; with ``uid``, only those whose controller
        reference carries that UID (a deleted and re-created ModelDeployment's old children are not)."""
        objects: dict[ChildKey, Mapping[str, Any]] = {}
        for kind, store in self.children.items():
            # Only the child under its own name: a renamed copy that kept the owner reference claims the
            # same controller, and taking either would make the cache alternate between them.
            name = child_name(kind[1], key[1])
            for obj in store.get(key):
                if obj["metadata"]["name"] == name and (
                    uid is None or (controller_ref(obj) or {}).get("uid") == uid
                ):
                    objects[kind] = obj
        return Children(objects=objects, pods=self.pods.get(key), keda_autoscaler=self._keda_hpa(key))

    def _keda_hpa(self, key: Key) -> Mapping[str, Any] | None:
        """KEDA's HPA for this ModelDeployment's ScaledObject (informer.autoscaler_owner files it here)."""
        store = self.children.get(HORIZONTAL_POD_AUTOSCALER.key)
        name = f"keda-hpa-{key[1]}"
        return next((o for o in store.get(key) if o["metadata"]["name"] == name), None) if store else None


@dataclass
class Controller:
    config: OperatorConfig
    client: KubeClient
    workers: int = 8
    queue: WorkQueue = field(default_factory=WorkQueue)
    caches: Caches = field(default_factory=Caches)
    # Set once the children and pods caches hold a full LIST; None when there is nothing to wait for.
    synced: asyncio.Event | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    poller: ModelPoller | None = None
    _first_answer_deadlines: dict[Key, float] = field(default_factory=dict)

    def pods_of(self, key: Key) -> list[Mapping[str, Any]]:
        return self.caches.pods.get(key)

    def start(self) -> None:
        metrics.WORKERS.set(self.workers)
        # Counted from the cache when Prometheus scrapes, not by walking every model after each reconcile.
        metrics.MODEL_DEPLOYMENTS.set_source(self.caches.models.values)
        # TF Serving's model status, polled beside the workers; a changed answer enqueues a reconcile.
        self.poller = ModelPoller(
            config=self.config.model_status,
            models=self.caches.models,
            pods=self.pods_of,
            notify=self.queue.add,
        )
        self.poller.start()
        for number in range(self.workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"modeldeploy-worker-{number}"))
        self._tasks.append(asyncio.create_task(self._resync(), name="modeldeploy-resync"))

    async def stop(self) -> None:
        self.queue.cancel_timers()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        metrics.MODEL_DEPLOYMENTS.set_source(None)
        if self.poller is not None:
            await self.poller.stop()
        await self.client.close()

    def model_changed(self, key: Key, body: Mapping[str, Any] | None) -> None:
        if body is None:
            self.caches.models.pop(key, None)
            self.queue.forget(key)
            self._first_answer_deadlines.pop(key, None)
            if self.poller is not None:
                self.poller.changed(key)
            return
        before = self.caches.models.get(key)
        self.caches.update_model(key, body)
        edited = before is not None and _generation(before) != _generation(body)
        if self.poller is not None:
            self.poller.changed(key)
            if edited:
                self.poller.poll_soon(key)  # new labels or versions: ask TF Serving again without waiting
        # A user's edit of a known ModelDeployment goes before the backlog; a first sight of one (a
        # create, or the listing after a restart) and status-only events wait their turn.
        self.queue.add(key, Priority.EDIT if edited else Priority.BACKGROUND)

    def child_changed(self, key: Key) -> None:
        # Children seen before their ModelDeployment (at start-up) are picked up by its own event.
        if key in self.caches.models:
            self.queue.add(key)
            if self.poller is not None:
                self.poller.changed(key)  # a pod became ready or went away

    async def _resync(self) -> None:
        # A slow safety net for anything a watch missed; a no-op reconcile writes nothing.
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            for key in list(self.caches.models):
                self.queue.add(key)
                if self.poller is not None:
                    self.poller.changed(key)

    async def _worker(self) -> None:
        # ModelDeployment events that arrive earlier just queue: reconciling before the children are
        # known would re-apply every child of every model after each restart.
        if self.synced is not None:
            await self.synced.wait()
        while True:
            key = await self.queue.get()
            metrics.WORKERS_BUSY.inc()
            try:
                await self.process(key)
            finally:
                metrics.WORKERS_BUSY.dec()
                self.queue.done(key)

    def _awaits_first_answer(self, key: Key, md: Mapping[str, Any]) -> bool:
        """Whether to leave this reconcile to the model's first model-status answer, which the poller
        enqueues. A status computed before it has nothing to say about the model: where the status shows
        the model's state (after a start, every model's), it would drop status.model's versions and the
        ModelLoaded condition, and the answer bring them back, two writes per model. Waits
        FIRST_ANSWER_WAIT_SECONDS at most (a poll that fails for a bug never answers)."""
        if self.poller is None or not shows_model_state(md) or not self.poller.awaits_first_answer(key):
            self._first_answer_deadlines.pop(key, None)
            return False
        now = time.monotonic()
        deadline = self._first_answer_deadlines.get(key)
        if deadline is None:
            self._first_answer_deadlines[key] = now + FIRST_ANSWER_WAIT_SECONDS
            self.queue.add_after(key, FIRST_ANSWER_WAIT_SECONDS)
            return True
        return now < deadline

    async def process(self, key: Key) -> None:
        md = self.caches.models.get(key)
        if (
            md is None
            or md.get("metadata", {}).get("deletionTimestamp")
            or self._awaits_first_answer(key, md)
        ):
            return
        started = time.monotonic()
        try:
            state = self.poller.state(key) if self.poller is not None else None
            outcome = await reconcile(
                md,
                self.caches.children_of(key, md.get("metadata", {}).get("uid")),
                self.config,
                self.client,
                model_state=state,
            )
        except Exception as error:
            duration = time.monotonic() - started
            metrics.RECONCILES.labels(result="error").inc()
            metrics.RECONCILE_SECONDS.observe(duration)
            delay = self.queue.add_rate_limited(key)
            log.warning(
                "reconcile failed",
                extra={
                    "md": f"{key[0]}/{key[1]}",
                    "error": str(error),
                    "retry_in": round(delay, 1),
                    "duration_ms": round(duration * 1000, 1),
                },
            )
            return
        duration = time.monotonic() - started
        metrics.RECONCILES.labels(result=outcome.result).inc()
        metrics.RECONCILE_SECONDS.observe(duration)
        if outcome.result in ("error", "conflict"):
            # Retried with backoff: the object in the way is not watched, so only retries notice it go.
            self.queue.add_rate_limited(
                key, cap=CONFLICT_RETRY_CAP_SECONDS if outcome.result == "conflict" else 300.0
            )
        else:
            self.queue.forget(key)
        if outcome.status_deferred:
            self.queue.add_after(key, STATUS_FOLLOW_UP_SECONDS)
        self.caches.remember(outcome.applied)
        if outcome.written is not None:
            self.caches.update_model(key, slim(outcome.written))
        if outcome.changed or outcome.status_written or outcome.result != "unchanged":
            log.info(
                "reconciled",
                extra={
                    "md": f"{key[0]}/{key[1]}",
                    "result": outcome.result,
                    "changed": outcome.changed,
                    "status_written": outcome.status_written,
                    "phase": outcome.phase,
                    "error": outcome.error,
                    "duration_ms": round(duration * 1000, 1),
                },
            )
        else:
            log.debug(
                "reconciled",
                extra={
                    "md": f"{key[0]}/{key[1]}",
                    "result": outcome.result,
                    "duration_ms": round(duration * 1000, 1),
                },
            )


def shows_model_state(md: Mapping[str, Any]) -> bool:
    """Whether the status holds what TF Serving said about the model (status.py: model.versions, and
    the ModelLoaded condition)."""
    status = md.get("status") or {}
    conditions = status.get("conditions") or ()
    return "versions" in (status.get("model") or {}) or any(
        c.get("type") == ConditionType.MODEL_LOADED for c in conditions
    )


def _generation(md: Mapping[str, Any] | None) -> object:
    return (md or {}).get("metadata", {}).get("generation")


def _older(cached: Mapping[str, Any], fresh: Mapping[str, Any]) -> bool:
    # resourceVersions are etcd revisions; when one is not a number, trust the watch and keep the cache.
    try:
        return int(cached["metadata"]["resourceVersion"]) < int(fresh["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return False
