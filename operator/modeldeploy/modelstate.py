"""Live model state: ask TF Serving itself which versions it serves, instead of inferring it from pods.

A poller inside the operator process sends ``GET <endpoint>/v1/models/<model>`` (TF Serving's REST model
status API) for every ModelDeployment that has at least one ready pod. Requests run concurrently with short
timeouts, beside the reconcile workers, so a slow or unreachable TF Serving never delays a reconcile. When a
result differs from the last one, the poller enqueues the ModelDeployment; the reconcile then turns the
stored result into ``status.model`` and the ModelLoaded condition (and holds back version labels whose
version is not AVAILABLE yet).

The endpoint is the model's Service, ``http://{name}.{namespace}.svc:8501``, unless the operator's
configuration sets ``modelStatus.endpointOverride``: a template with the placeholders ``{name}``
(ModelDeployment name), ``{namespace}`` and ``{model}`` (TF Serving model name), e.g.
``http://127.0.0.1:8501`` for an operator run outside the cluster with a port-forward.

The gRPC ModelService would need ``get_model_status_pb2``, which imports tensorflow; REST needs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from modeldeploy.config import ModelStatusConfig

log = logging.getLogger("modeldeploy.modelstate")

DEFAULT_ENDPOINT = "http://{name}.{namespace}.svc:8501"
IN_FLIGHT_STATES = frozenset({"START", "LOADING", "UNLOADING"})
AVAILABLE = "AVAILABLE"
# How often the scheduler looks for polls that are due; polls themselves follow the configured periods.
TICK_SECONDS = 0.5
MAX_CONCURRENT_POLLS = 32
MIN_STARTS_PER_TICK = 50

Key = tuple[str, str]


@dataclass(frozen=True)
class VersionState:
    """One model version as TF Serving reports it; ``error`` is empty when error_code is OK."""

    version: int
    state: str
    error: str = ""


@dataclass(frozen=True)
class ModelState:
    """The last answer (or failure) of TF Serving for one ModelDeployment.

    ``versions`` is None when TF Serving could not be asked or gave no usable answer; ``error`` then says
    why in words that stay the same from one failed poll to the next (so the status does not churn).
    """

    model: str
    versions: tuple[VersionState, ...] | None
    error: str | None = None
    # False when nothing answered (connection refused, DNS, timeout): e.g. an operator outside the cluster
    # or a NetworkPolicy. The status then says nothing about TF Serving rather than guessing.
    reachable: bool = True

    def state_of(self, version: int) -> str | None:
        for v in self.versions or ():
            if v.version == version:
                return v.state
        return None

    def available(self, version: int) -> bool:
        return self.state_of(version) == AVAILABLE


class ModelStatusError(ValueError):
    """TF Serving's answer is not a model status."""


def parse_model_status(body: object) -> tuple[VersionState, ...]:
    """The versions in a ``GET /v1/models/<model>`` answer, sorted by version.

    The REST JSON mirrors GetModelStatusResponse: ``{"model_version_status": [{"version": "1", "state":
    "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}``. Versions are int64, which the
    JSON mapping writes as strings; ``status`` is omitted by some versions when everything is OK.
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("model_version_status"), list):
        raise ModelStatusError("no model_version_status list in the answer")
    versions = []
    for item in body["model_version_status"]:
        if not isinstance(item, Mapping):
            raise ModelStatusError("model_version_status holds a non-object")
        try:
            version = int(item.get("version", ""))
        except (TypeError, ValueError) as error:
            raise ModelStatusError(f"version {item.get('version')!r} is not an integer") from error
        state = str(item.get("state") or "UNKNOWN")
        raw_status = item.get("status")
        status: Mapping[str, Any] = raw_status if isinstance(raw_status, Mapping) else {}
        code = str(status.get("error_code") or "OK")
        message = str(status.get("error_message") or "")
        failure = "" if code == "OK" else f"{code}: {message}" if message else code
        versions.append(VersionState(version=version, state=state, error=failure))
    return tuple(sorted(versions, key=lambda v: v.version))


def endpoint_for(config: ModelStatusConfig, name: str, namespace: str, model: str) -> str:
    """The base URL (scheme, host, port) of TF Serving's REST API for one ModelDeployment."""
    template = config.endpoint_override or DEFAULT_ENDPOINT
    return template.format(name=name, namespace=namespace, model=model).rstrip("/")


def status_url(config: ModelStatusConfig, name: str, namespace: str, model: str) -> str:
    return f"{endpoint_for(config, name, namespace, model)}/v1/models/{model}"


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
    if any(v.state in IN_FLIGHT_STATES for v in state.versions):
        return True
    wanted = set(wanted_labels(md).values()) | set(specific_versions(md))
    return any(not state.available(v) for v in wanted)


def has_ready_pod(pods: Iterable[Mapping[str, Any]]) -> bool:
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        for condition in (pod.get("status") or {}).get("conditions") or ():
            if condition.get("type") == "Ready" and condition.get("status") == "True":
                return True
    return False


async def fetch_model_state(
    session: aiohttp.ClientSession, url: str, model: str, timeout: float
) -> ModelState:
    """One poll. Never raises for network or protocol trouble: the failure becomes ``error``."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            text = await response.text()
            if response.status == 404:
                # TF Serving answers 404 with {"error": "Servable not found ..."} until the model is known.
                return ModelState(model, versions=(), error=None)
            if response.status != 200:
                detail = _error_text(text)
                return ModelState(model, None, f"TF Serving at {url} answered HTTP {response.status}{detail}")
            return ModelState(model, parse_model_status(json.loads(text)))
    except TimeoutError:
        return ModelState(model, None, f"TF Serving at {url} did not answer within {timeout:g}s", False)
    except aiohttp.ClientError:
        return ModelState(model, None, f"cannot connect to TF Serving at {url}", False)
    except (ValueError, ModelStatusError) as error:
        return ModelState(
            model, None, f"TF Serving at {url} gave an answer that is not a model status: {error}"
        )


def _error_text(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return ""
    message = body.get("error") if isinstance(body, Mapping) else None
    return f": {message}" if message else ""


@dataclass
class ModelPoller:
    """Polls TF Serving for every ModelDeployment with a ready pod; started and stopped by the Controller.

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
    states: dict[Key, ModelState] = field(default_factory=dict)
    # When each watched model's next poll is due (inf while one runs); the heap orders (due, key) and may
    # hold outdated entries, which are skipped (an entry counts only while _due[key] still equals it).
    _due: dict[Key, float] = field(default_factory=dict)
    _heap: list[tuple[float, Key]] = field(default_factory=list)
    _running: dict[Key, asyncio.Task[None]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _session: aiohttp.ClientSession | None = None
    _limit: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT_POLLS))

    def start(self) -> None:
        self._session = aiohttp.ClientSession()
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
        """A ModelDeployment or one of its pods changed: start watching it, or stop and forget its state."""
        if self._pollable(key):
            if key not in self._due:
                self._set_due(key, 0.0)
        else:
            self._forget(key)

    def _pollable(self, key: Key) -> bool:
        md = self.models.get(key)
        if md is None or md.get("metadata", {}).get("deletionTimestamp"):
            return False
        return has_ready_pod(self.pods(key))

    def _forget(self, key: Key) -> None:
        self._due.pop(key, None)
        if self.states.pop(key, None) is not None and key in self.models:
            self.notify(key)  # the status should stop showing what no pod serves

    def starts_per_tick(self) -> int:
        """How many polls one tick may start: twice the steady rate (every watched model once per
        poll_seconds), at least MIN_STARTS_PER_TICK. After a restart every model is due at once; started
        together, thousands of polls and their answers held the event loop for seconds (a user's edit
        waited 3.6 s at 2,000 models); spread out, they take a slice of each tick."""
        steady = len(self._due) * TICK_SECONDS / max(self.config.poll_seconds, TICK_SECONDS)
        return max(MIN_STARTS_PER_TICK, math.ceil(2 * steady))

    def _set_due(self, key: Key, when: float) -> None:
        self._due[key] = when
        if when != float("inf"):
            heapq.heappush(self._heap, (when, key))

    async def _run(self) -> None:
        while True:
            try:
                self.schedule(time.monotonic())
            except Exception as error:  # never let the poller die; the next tick tries again
                log.warning("model poller tick failed", extra={"error": str(error)})
            await asyncio.sleep(TICK_SECONDS)

    def schedule(self, now: float) -> None:
        """Start the polls that are due, at most a tick's budget of them; forget ModelDeployments that are
        gone or have no ready pod."""
        budget = self.starts_per_tick()
        while self._heap and self._heap[0][0] <= now and budget > 0:
            due, key = heapq.heappop(self._heap)
            if self._due.get(key) != due or key in self._running:
                continue  # outdated entry: the key was rescheduled or forgotten since
            if not self._pollable(key):
                self._forget(key)
                continue
            self._set_due(key, float("inf"))  # set properly when the poll ends
            budget -= 1
            md = self.models[key]
            self._running[key] = asyncio.create_task(self._poll(key, md), name=f"modeldeploy-poll-{key}")

    async def _poll(self, key: Key, md: Mapping[str, Any]) -> None:
        assert self._session is not None
        model = model_name_of(md)
        url = status_url(self.config, key[1], key[0], model)
        try:
            async with self._limit:
                state = await fetch_model_state(self._session, url, model, self.config.timeout_seconds)
            self.record(key, state)
        except Exception as error:  # a bug must not stop this model's polls for good
            log.warning("model status poll failed", extra={"md": f"{key[0]}/{key[1]}", "error": repr(error)})
            if key in self._due:
                self._set_due(key, time.monotonic() + self.config.poll_seconds)
        finally:
            self._running.pop(key, None)

    def record(self, key: Key, state: ModelState) -> None:
        md = self.models.get(key)
        if md is None or key not in self._due:
            return  # gone, or its last ready pod went while the poll ran: the answer is out of date
        previous = self.states.get(key)
        self.states[key] = state
        busy = in_flight(md, state)
        period = self.config.in_flight_poll_seconds if busy else self.config.poll_seconds
        self._set_due(key, time.monotonic() + period)
        if previous != state:
            level = logging.WARNING if state.error else logging.DEBUG
            log.log(
                level,
                "model state changed",
                extra={"md": f"{key[0]}/{key[1]}", "versions": str(state.versions), "error": state.error},
            )
            self.notify(key)
