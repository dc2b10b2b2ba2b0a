"""Live model state: ask TF Serving itself, on every ready pod, which versions it serves.

A poller inside the operator process sends ``GET <endpoint>/v1/models/<model>`` (TF Serving's REST model
status API) to each ready pod of every ModelDeployment. Requests run concurrently with short timeouts,
beside the reconcile workers, so a slow or unreachable TF Serving never delays a reconcile. The answers of
one ModelDeployment's pods form one ``ModelState``; when it differs from the last one, the poller enqueues
the ModelDeployment, and the reconcile turns it into ``status.model`` and the ModelLoaded condition (and
holds back moving a version label until its version is AVAILABLE on every ready pod).

Each pod is asked at its own address, because every replica loads versions on its own: through the
Service one random replica would answer, and a label could move while the other replicas still lack its
version. The endpoint is the template ``modelStatus.endpoint`` (default ``http://{podIP}:8501``; also
``{podName}``, ``{name}``, ``{namespace}``, ``{model}``). ``modelStatus.addressMap`` rewrites pod IPs
first (``{"10.244.0.0/16": "127.62.0.0/16"}`` keeps the host bits and swaps the prefix), for a pod network
the operator reaches through a translation, such as the local cluster's emulated pods on loopback.

The gRPC ModelService would need ``get_model_status_pb2``, which imports tensorflow; REST needs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from modeldeploy.config import ModelStatusConfig
from modeldeploy.modelstatusapi import ModelState, PodAnswer, fetch_model_state, status_url
from modeldeploy.pollfailures import FirstPollFailures

log = logging.getLogger("modeldeploy.modelstate")

IN_FLIGHT_STATES = frozenset({"START", "LOADING", "UNLOADING"})
# How often the scheduler looks for polls that are due; polls themselves follow the configured periods.
TICK_SECONDS = 0.5
MAX_CONCURRENT_POLLS = 32
MIN_STARTS_PER_TICK = 50
FIRST_STARTS_PER_TICK = 500

Key = tuple[str, str]


def model_name_of(md: Mapping[str, Any]) -> str:
    model = (md.get("spec") or {}).get("model") or {}
    name = model.get("name") if isinstance(model, Mapping) else None
    return str(name or md["metadata"]["name"])


def wanted_labels(md: Mapping[str, Any]) -> dict[str, int]:
    """spec.model.versionLabels as written (unvalidated; invalid entries are skipped)."""
    model = (md.get("spec") or {}).get("model") or {}
    raw = model.get("versionLabels") if isinstance(model, Mapping) else None
    labels = {}
    for label, version in (raw or {}).items() if isinstance(raw, Mapping) else ():
        with contextlib.suppress(TypeError, ValueError):
            labels[str(label)] = int(version)
    return labels


def specific_versions(md: Mapping[str, Any]) -> tuple[int, ...]:
    model = (md.get("spec") or {}).get("model") or {}
    policy = model.get("versionPolicy") if isinstance(model, Mapping) else None
    listed = policy.get("specific") if isinstance(policy, Mapping) else None
    out = []
    for v in listed if isinstance(listed, list) else ():
        with contextlib.suppress(TypeError, ValueError):
            out.append(int(v))
    return tuple(out)


def in_flight(md: Mapping[str, Any], state: ModelState | None) -> bool:
    """Whether something is changing: a version loads or unloads, a label or listed version waits."""
    if state is None or state.versions is None:
        return False
    if any(v.state in IN_FLIGHT_STATES for p in state.answered for v in p.versions or ()):
        return True
    wanted = set(wanted_labels(md).values()) | set(specific_versions(md))
    return any(not state.available(v) for v in wanted)


def ready_pods(pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Pods TF Serving can be asked in: Ready, not terminating, with an IP; sorted by name."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        if meta.get("deletionTimestamp") or not status.get("podIP"):
            continue
        for condition in status.get("conditions") or ():
            if condition.get("type") == "Ready" and condition.get("status") == "True":
                out.append(pod)
                break
    return sorted(out, key=lambda p: str((p.get("metadata") or {}).get("name")))


def _names(pods: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str((p.get("metadata") or {}).get("name")) for p in pods]


def has_ready_pod(pods: Iterable[Mapping[str, Any]]) -> bool:
    return bool(ready_pods(pods))


@dataclass(frozen=True)
class Clock:
    """Where the poller reads the time and waits between ticks: the real monotonic clock and asyncio's
    sleep, unless a test moves a clock of its own."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass
class ModelPoller:
    """Polls TF Serving in every ready pod of every ModelDeployment; started and stopped by the Controller.

    ``models`` and ``pods`` are the controller's caches (read-only here); ``notify`` is called with the
    key of a ModelDeployment whose model state changed (the controller enqueues a reconcile). The
    controller calls ``changed`` whenever a ModelDeployment or one of its pods changes (and for every
    model at each resync): the poller looks at a model only then and when its next poll is due, never at
    all models on every tick, which at thousands of models cost a good part of a core.
    """

    config: ModelStatusConfig
    models: Mapping[Key, Mapping[str, Any]]
    pods: Callable[[Key], Sequence[Mapping[str, Any]]]
    notify: Callable[[Key], None]
    clock: Clock = field(default_factory=Clock)
    states: dict[Key, ModelState] = field(default_factory=dict)
    requests: int = 0  # status requests sent, for tests and debugging
    # When each watched model's next poll is due (inf while one runs); the heap orders (due, key) and may
    # hold outdated entries, which are skipped (an entry counts only while _due[key] still equals it).
    _due: dict[Key, float] = field(default_factory=dict)
    _heap: list[tuple[float, Key]] = field(default_factory=list)
    _running: dict[Key, asyncio.Task[None]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _session: aiohttp.ClientSession | None = None
    _limit: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT_POLLS))
    first_failures: FirstPollFailures = field(default_factory=lambda: FirstPollFailures(log))

    def start(self) -> None:
        # A fresh connection per poll: pod IPs are reused, and a kept-alive connection could still reach
        # whatever held the address before (polls are few: keep-alive would save little).
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        for key in list(self.models):
            self.changed(key)
        self._task = asyncio.create_task(self._run(), name="modeldeploy-model-poller")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()
        if self._session is not None:
            await self._session.close()

    def state(self, key: Key) -> ModelState | None:
        return self.states.get(key)

    def poll_soon(self, key: Key) -> None:
        """Poll at the next tick (the spec changed: new labels or versions may now be in flight)."""
        if key in self._due:
            self._set_due(key, 0.0)

    def changed(self, key: Key) -> None:
        """A ModelDeployment or one of its pods changed: start watching it, ask its pods now when the set
        of ready pods is not the one last asked (a pod became ready), or stop and forget its state."""
        pods = self._ready(key)
        if not pods:
            self._forget(key)
            return
        asked = self._asked(key)
        if key not in self._due or (key not in self._running and asked not in (None, _names(pods))):
            self._set_due(key, 0.0)

    def _ready(self, key: Key) -> list[Mapping[str, Any]]:
        md = self.models.get(key)
        if md is None or md.get("metadata", {}).get("deletionTimestamp"):
            return []
        return ready_pods(self.pods(key))

    def _forget(self, key: Key) -> None:
        self._due.pop(key, None)
        if self.states.pop(key, None) is not None and key in self.models:
            self.notify(key)  # the status should stop showing what no pod serves

    def starts_per_tick(self) -> int:
        """How many polls one tick may start: twice the steady rate (every watched model once per
        poll_seconds), at least MIN_STARTS_PER_TICK. After a restart every model is due at once; started
        together, thousands of polls and their answers held the event loop for seconds (a user's edit
        waited 3.6 s at 2,000 models); spread out, they take a slice of each tick. Models that await
        their first answer get up to FIRST_STARTS_PER_TICK: their reconciles wait for it (see
        awaits_first_answer), so spreading those polls out would only delay them."""
        steady = len(self._due) * TICK_SECONDS / max(self.config.poll_seconds, TICK_SECONDS)
        first = min(len(self._due) - len(self.states), FIRST_STARTS_PER_TICK)
        return max(MIN_STARTS_PER_TICK, math.ceil(2 * steady), first)

    def awaits_first_answer(self, key: Key) -> bool:
        """Whether this model's ready pods are to be asked, or being asked, for the first time (since the
        start, or since it last had no ready pod); their answer enqueues it (``notify``)."""
        return key in self._due and key not in self.states

    def _set_due(self, key: Key, when: float) -> None:
        self._due[key] = when
        if when != float("inf"):
            heapq.heappush(self._heap, (when, key))

    async def _run(self) -> None:
        while True:
            try:
                now = self.clock.monotonic()
                self.schedule(now)
                self.first_failures.report(now)
            except Exception as error:  # never let the poller die; the next tick tries again
                log.warning("model poller tick failed", extra={"error": str(error)})
            await self.clock.sleep(TICK_SECONDS)

    def schedule(self, now: float) -> None:
        """Start the polls that are due, at most a tick's budget of them; forget ModelDeployments that are
        gone or have no ready pod."""
        budget = self.starts_per_tick()
        while self._heap and self._heap[0][0] <= now and budget > 0:
            due, key = heapq.heappop(self._heap)
            if self._due.get(key) != due or key in self._running:
                continue  # outdated entry: the key was rescheduled or forgotten since
            pods = self._ready(key)
            if not pods:
                self._forget(key)
                continue
            self._set_due(key, float("inf"))  # set properly when the poll ends
            budget -= 1
            md = self.models[key]
            self._running[key] = asyncio.create_task(
                self._poll(key, md, pods), name=f"modeldeploy-poll-{key}"
            )

    def _asked(self, key: Key) -> list[str] | None:
        state = self.states.get(key)
        return [p.pod for p in state.pods] if state is not None else None

    async def _poll(self, key: Key, md: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> None:
        try:
            answers = await asyncio.gather(*(self._ask(key, md, pod) for pod in pods))
            self.record(key, ModelState(model_name_of(md), tuple(answers)))
        except Exception as error:  # a bug must not stop this model's polls for good
            log.warning("model status poll failed", extra={"md": f"{key[0]}/{key[1]}", "error": repr(error)})
            if key in self._due:
                self._set_due(key, self.clock.monotonic() + self.config.poll_seconds)
        finally:
            self._running.pop(key, None)
            self.changed(key)  # pods that became ready or went while the poll ran

    async def _ask(self, key: Key, md: Mapping[str, Any], pod: Mapping[str, Any]) -> PodAnswer:
        assert self._session is not None
        model = model_name_of(md)
        url = status_url(self.config, pod, key[1], key[0], model)
        async with self._limit:
            self.requests += 1
            name = str(pod["metadata"]["name"])
            return await fetch_model_state(self._session, url, name, self.config.timeout_seconds)

    def record(self, key: Key, state: ModelState) -> None:
        md = self.models.get(key)
        if md is None or key not in self._due:
            return  # gone, or its last ready pod went while the poll ran: the answer is out of date
        previous = self.states.get(key)
        self.states[key] = state
        busy = in_flight(md, state)
        period = self.config.in_flight_poll_seconds if busy else self.config.poll_seconds
        self._set_due(key, self.clock.monotonic() + period)
        if previous != state:
            first_failure = previous is None and state.error is not None
            if first_failure:
                self.first_failures.add(key, str(state.error), self.clock.monotonic())
            # A WARNING when a model that answered stops answering; one failure turning into another (a
            # new pod name after a rollout) is no news to whoever read the first.
            newly_failing = state.error is not None and previous is not None and previous.error is None
            level = logging.WARNING if newly_failing else logging.DEBUG
            log.log(
                level,
                "model state changed",
                extra={"md": f"{key[0]}/{key[1]}", "versions": str(state.versions), "error": state.error},
            )
            self.notify(key)
