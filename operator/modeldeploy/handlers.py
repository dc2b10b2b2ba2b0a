"""Kopf registration only: ModelDeployment events feed the controller's queue; no logic lives here.

Children and pods are not Kopf's: our informers (informer.py) list and watch them, started and stopped
with the operator. A standby replica keeps its informers running while paused: they only read, its
workers are held by the PeeringGate, and when it takes over its caches are already warm, so the new
active replica reconciles at once instead of waiting for thousands of objects to be listed again.
"""

from __future__ import annotations

from typing import Any

import kopf

from modeldeploy.api import GROUP, MD_PLURAL, VERSION
from modeldeploy.config import OperatorConfig, RequestRateProvider
from modeldeploy.controller import Controller
from modeldeploy.informer import SCALED_OBJECTS, Informers
from modeldeploy.kube import KubeClient, credentials_from_kopf
from modeldeploy.peering import PEERING_LIFETIME, PeeredController, PeeringGate, peering_path
from modeldeploy.store import slim

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
        path = peering_path(settings.peering.name, settings.peering.clusterwide, Runtime.namespaces)
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


@kopf.on.event(GROUP, VERSION, MD_PLURAL)
def model_changed(**kwargs: Any) -> None:
    key = (kwargs["namespace"], kwargs["name"])
    _controller().model_changed(key, None if kwargs["type"] == "DELETED" else slim(kwargs["body"]))
