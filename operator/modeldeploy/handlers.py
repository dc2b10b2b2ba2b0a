"""Kopf registration only: ModelDeployment events feed the controller's queue; no logic lives here.

Children and pods are not Kopf's: our informers (informer.py) list and watch them, started and stopped
with the operator. A standby replica keeps its informers running while paused: they only read, its
workers are held by the PeeringGate, and when it takes over its caches are already warm, so the new
active replica reconciles at once instead of waiting for thousands of objects to be listed again.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from modeldeploy.config import OperatorConfig, RequestRateProvider
from modeldeploy.controller import Controller
from modeldeploy.informer import SCALED_OBJECTS, Informers, slim
from modeldeploy.kube import ApiError, KubeClient, credentials_from_kopf
from modeldeploy.workqueue import Key

log = logging.getLogger("modeldeploy.peering")

GROUP = "serving.modeldeploy.io"
VERSION = "v1alpha1"

# Peering (active/standby replicas). A replica's heartbeat is valid for PEERING_LIFETIME seconds and Kopf
# renews it every 1-5 s (lifetime minus 5-10 s, at least 1 s), so a killed active replica is declared dead,
# and a standby takes over, at most PEERING_LIFETIME seconds after its last heartbeat. Kopf's default (60 s)
# would leave models unreconciled for up to a minute; much lower would make a replica stalled by a long GC
# pause or a slow API server lose its turn. One heartbeat PATCH every few seconds per replica is cheap.
PEERING_LIFETIME = 10
# How often the reconcile workers re-check whether this replica is the active one (see PeeringGate).
PEERING_POLL_SECONDS = 1.0
# Kopf's LIST page size for ModelDeployments, and how long its per-object worker waits for more events.
KOPF_LIST_PAGE = 500
KOPF_WORKER_IDLE_SECONDS = 0.5


class Runtime:
    """What the handlers share: set by `configure` before Kopf starts."""

    config: OperatorConfig | None = None
    workers: int = 8
    controller: Controller | None = None
    credentials: Any = None
    identity: str | None = None
    namespaces: tuple[str, ...] = ()
    gate: PeeringGate | None = None
    informers: Informers | None = None


def configure(
    config: OperatorConfig, workers: int, identity: str | None = None, namespaces: list[str] | None = None
) -> None:
    Runtime.config = config
    Runtime.workers = workers
    Runtime.identity = identity
    Runtime.namespaces = tuple(namespaces or ())


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


def _controller() -> Controller:
    assert Runtime.controller is not None, "the operator's start-up handler has not run"
    return Runtime.controller


@kopf.on.login()
def login(**kwargs: Any) -> Any:
    # Kopf and our client use the same identity; start-up (which runs first) already logged in.
    if Runtime.credentials is None:
        Runtime.credentials = kopf.login_via_client(**kwargs)
    return Runtime.credentials


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **kwargs: Any) -> None:
    assert Runtime.config is not None
    # Our own Events describe what changed; Kopf's per-handler events would be noise and extra writes.
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    # At thousands of ModelDeployments (a restart lists them all, a mass create sends them all): list in
    # pages, so one huge response is never decoded at once, and let Kopf's per-object worker (which keeps
    # its last raw event) exit soon after our handler, which only hands the object to the queue, returns.
    settings.watching.chunk_size = KOPF_LIST_PAGE
    settings.queueing.idle_timeout = KOPF_WORKER_IDLE_SECONDS
    if Runtime.credentials is None:
        Runtime.credentials = kopf.login_via_client(settings=settings, **kwargs)
    # A reconcile writes up to three children at once (converge.ROUNDS), beside the Event senders and the
    # informers' LISTs: with two connections per worker, workers queued for a connection.
    client = KubeClient(credentials_from_kopf(Runtime.credentials), pool_size=max(8, Runtime.workers * 4))
    controller = PeeredController(config=Runtime.config, client=client, workers=Runtime.workers)
    keda = Runtime.config.request_rate.provider == RequestRateProvider.KEDA
    informers = Informers(
        client=client,
        on_change=controller.child_changed,
        namespaces=Runtime.namespaces,
        extra_children=(SCALED_OBJECTS,) if keda else (),
    )
    controller.caches.children = informers.children
    controller.caches.pods = informers.pods
    controller.synced = informers.synced
    Runtime.controller = controller
    Runtime.informers = informers
    if not settings.peering.standalone:
        settings.peering.lifetime = PEERING_LIFETIME
        if settings.peering.clusterwide:
            path = f"/apis/kopf.dev/v1/clusterkopfpeerings/{settings.peering.name}"
        else:
            # Namespaced peering objects live in each watched namespace; gate on the first of them.
            namespace = Runtime.namespaces[0] if Runtime.namespaces else "default"
            path = f"/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings/{settings.peering.name}"
        assert Runtime.identity is not None, "peering needs the identity given to Kopf"
        gate = PeeringGate(
            client=client,
            path=path,
            identity=Runtime.identity,
            priority=settings.peering.priority,
            controller=controller,
        )
        controller.gate = gate
        Runtime.gate = gate
        gate.start()
    informers.start()
    controller.start()


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    if Runtime.gate is not None:
        await Runtime.gate.stop()
    if Runtime.informers is not None:
        await Runtime.informers.stop()
    if Runtime.controller is not None:
        await Runtime.controller.stop()


@kopf.on.probe(id="workqueue")
def queue_depth(**_: Any) -> int:
    return len(_controller().queue) if Runtime.controller else 0


@kopf.on.event(GROUP, VERSION, "modeldeployments")
def model_changed(**kwargs: Any) -> None:
    key = (kwargs["namespace"], kwargs["name"])
    _controller().model_changed(key, None if kwargs["type"] == "DELETED" else slim(kwargs["body"]))
