"""Active/standby replicas: Kopf's peering decides which replica is active; the PeeringGate keeps the
reconcile workers of a standby idle by the same rule."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modeldeploy.controller import Controller
from modeldeploy.kube import ApiError, KubeClient
from modeldeploy.workqueue import Key

log = logging.getLogger("modeldeploy.peering")

# Peering (active/standby replicas). A replica's heartbeat is valid for PEERING_LIFETIME seconds and Kopf
# renews it every 1-5 s (lifetime minus 5-10 s, at least 1 s), so a killed active replica is declared dead,
# and a standby takes over, at most PEERING_LIFETIME seconds after its last heartbeat. Kopf's default (60 s)
# would leave models unreconciled for up to a minute; much lower would make a replica stalled by a long GC
# pause or a slow API server lose its turn. One heartbeat PATCH every few seconds per replica is cheap.
PEERING_LIFETIME = 10
# How often the reconcile workers re-check whether this replica is the active one (see PeeringGate).
PEERING_POLL_SECONDS = 1.0


def peering_active(status: Mapping[str, Any], identity: str, priority: int, now: datetime.datetime) -> bool:
    """Kopf's rule: a replica works only while no other live peer has the same or a higher priority."""
    for peer, info in status.items():
        if peer == identity or not isinstance(info, Mapping):
            continue
        try:
            lastseen = datetime.datetime.fromisoformat(str(info["lastseen"]))
            lifetime = datetime.timedelta(seconds=int(info.get("lifetime", 60)))
            peer_priority = int(info.get("priority", 0))
        except (KeyError, TypeError, ValueError):
            continue
        if lastseen.tzinfo is None:
            lastseen = lastseen.replace(tzinfo=datetime.UTC)
        if lastseen + lifetime > now and peer_priority >= priority:
            return False
    return True


@dataclass
class PeeringGate:
    """Keeps the reconcile workers of a standby replica idle.

    Kopf pauses its own watches when another replica has the lead, but our workers run beside Kopf and
    would otherwise keep reconciling from caches that are no longer updated (retries, resyncs). The gate
    reads the same peering object as Kopf, applies the same rule, and while paused drops the cached
    ModelDeployments: Kopf re-lists everything when it resumes, which refills them.
    """

    client: KubeClient
    path: str
    identity: str
    priority: int
    controller: Controller
    active: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="modeldeploy-peering-gate")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def check(self) -> None:
        try:
            body = await self.client.request("get", "GET", self.path, "kopfpeerings")
        except ApiError as error:
            # Without the peering object Kopf stays paused too (peering is mandatory when named).
            if error.status != 404:
                raise
            body = None
        now = datetime.datetime.now(datetime.UTC)
        active = body is not None and peering_active(
            body.get("status") or {}, self.identity, self.priority, now
        )
        if active and not self.active.is_set():
            log.info("peering: active, this replica reconciles", extra={"identity": self.identity})
            self.active.set()
        elif not active and self.active.is_set():
            log.info("peering: paused, another replica is active", extra={"identity": self.identity})
            self.active.clear()
            self.controller.caches.models.clear()

    async def _run(self) -> None:
        first = True
        while True:
            try:
                await self.check()
            except Exception as error:  # the API server may be away; keep the last decision
                log.warning("peering: check failed", extra={"error": str(error)})
            if first and not self.active.is_set():
                log.info("peering: paused, another replica is active", extra={"identity": self.identity})
            first = False
            await asyncio.sleep(PEERING_POLL_SECONDS)


@dataclass
class PeeredController(Controller):
    """A Controller whose workers wait while this replica is a standby."""

    gate: PeeringGate | None = None

    async def process(self, key: Key) -> None:
        if self.gate is not None:
            await self.gate.active.wait()
        await super().process(key)


def peering_path(name: str, clusterwide: bool, namespaces: tuple[str, ...]) -> str:
    """The peering object Kopf heartbeats into (the gate reads the same one)."""
    if clusterwide:
        return f"/apis/kopf.dev/v1/clusterkopfpeerings/{name}"
    # Namespaced peering objects live in each watched namespace; gate on the first of them.
    namespace = namespaces[0] if namespaces else "default"
    return f"/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings/{name}"
