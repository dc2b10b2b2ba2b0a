"""The model poller and its fetch against emulated TF Serving pods (in-process servers answering real HTTP on
loopback), with the poller's clock moved by the test: the periods are checked exactly, while what TF
Serving does in its own time (a file system poll finding a version, a load ending) is polled for with a
deadline. The pure parts of modelstate: tests/unit/test_modelstate.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from modeldeploy.localcluster.tfserving.store import ModelStore
from modeldeploy.modelstate import TICK_SECONDS, ModelPoller
from modeldeploy.modelstatusapi import ModelState, PodAnswer, VersionSummary, fetch_model_state
from tests.support.clock import FakeClock
from tests.support.emulated import EmulatedPod, model_status_config, start_pod
from tests.support.manifests import model_deployment
from tests.support.waits import wait_for

URI = "gs://acme/resnet"
KEY = ("vision", "resnet")


def md(**model: Any) -> dict[str, Any]:
    """vision/resnet serving URI, with ``model`` fields added (versionLabels, versionPolicy)."""
    return model_deployment("resnet", "vision", model={"uri": URI, "name": "resnet", **model})


def summary(s: ModelState, version: int) -> VersionSummary:
    return next(v for v in s.versions or () if v.version == version)


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "store")


@pytest.fixture
def pods_started() -> Iterator[list[EmulatedPod]]:
    started: list[EmulatedPod] = []
    yield started
    for p in started:
        p.stop()


@pytest.fixture
def two_pods(
    store: ModelStore, pods_started: list[EmulatedPod]
) -> tuple[dict[str, Any], EmulatedPod, EmulatedPod]:
    """vision/resnet and two of its pods, serving version 1."""
    store.add_version(URI, 1)
    body = md()
    a, b = start_pod(body, store.root), start_pod(body, store.root)
    pods_started += [a, b]
    return body, a, b


def fetch(url: str, timeout: float = 2) -> PodAnswer:
    async def go() -> PodAnswer:
        async with aiohttp.ClientSession() as session:
            return await fetch_model_state(session, url, "p", timeout)

    return asyncio.run(go())


def test_fetch_reads_emulated_tf_serving(store: ModelStore, pods_started: list[EmulatedPod]) -> None:
    store.add_version(URI, 3)
    store.add_version(
        URI, 4, error="Could not find SavedModel .pb or .pbtxt at supplied export directory path"
    )
    # TF Serving retries a failed load 5 times, 60 s apart (server.h max_num_load_retries,
    # load_retry_interval_micros): scaled down here, so that version 4 ends quickly.
    p = start_pod(md(versionPolicy={"specific": [3, 4]}), store.root, time_scale=0.001)
    pods_started.append(p)
    got = wait_for(
        lambda: (
            (answer := fetch(f"{p.url}/v1/models/resnet")).versions
            and answer.versions[-1].state == "END"
            and answer
        ),
        20,
        what="version 4 to end",
    )
    assert got.versions is not None
    assert [(v.version, v.state) for v in got.versions] == [(3, "AVAILABLE"), (4, "END")]
    assert got.versions[1].error.endswith(
        "Could not find SavedModel .pb or .pbtxt at supplied export directory path"
    )


def test_a_model_tf_serving_does_not_know_has_no_version(
    store: ModelStore, pods_started: list[EmulatedPod]
) -> None:
    store.add_version(URI, 1)
    p = start_pod(md(), store.root)
    pods_started.append(p)
    assert fetch(f"{p.url}/v1/models/other") == PodAnswer("p", ())


def test_unreachable_tf_serving_gives_a_stable_error() -> None:
    url = "http://127.0.0.1:9/v1/models/resnet"  # discard: nothing listens
    first, second = fetch(url), fetch(url)
    assert first.versions is None and first == second
    assert first.error == f"cannot connect to TF Serving at {url}"
    assert not first.reachable


async def until(check: Any, timeout: float = 10) -> None:
    """Let the event loop run until ``check()`` holds; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{check} still false after {timeout}s"
        await asyncio.sleep(0.05)


async def tick(poller: ModelPoller, clock: FakeClock, seconds: float) -> bool:
    """Move the poller's clock on by ``seconds`` and let the one tick that wakes run; True when that tick
    started a poll, which has then ended (the emulated pods' answers are real HTTP on loopback)."""
    asked = poller.requests
    clock.advance(seconds)
    await until(lambda: clock.sleeping)  # the tick ran and waits for the next one
    if poller.requests == asked and not poller._running:
        return False  # (a poll it started is running still, or has asked already)
    await until(lambda: not poller._running)
    return True


async def tick_until(
    poller: ModelPoller,
    clock: FakeClock,
    key: tuple[str, str],
    check: Any,
    period: float,
    timeout: float = 20,
) -> ModelState:
    """Tick a poll period at a time until the state meets ``check``: for what the emulated TF Serving does
    in its own time (its file system poll finds a new version, a load ends)."""
    deadline = time.monotonic() + timeout
    while (state := poller.state(key)) is None or not check(state):
        assert time.monotonic() < deadline, f"{check} still false after {timeout}s; state {state}"
        await tick(poller, clock, period)
        await asyncio.sleep(0.05)  # the emulator's own threads run meanwhile
    return state


async def first_poll(poller: ModelPoller, key: tuple[str, str]) -> ModelState:
    """Start the poller: a watched model with ready pods is due at once, at the first tick."""
    poller.start()
    await until(lambda: poller.state(key) is not None and not poller._running)
    state = poller.state(key)
    assert state is not None
    return state


def test_poller_asks_every_ready_pod_and_notifies_on_change_only(
    store: ModelStore, two_pods: tuple[dict[str, Any], EmulatedPod, EmulatedPod]
) -> None:
    body, a, b = two_pods
    key = KEY
    config = model_status_config(poll_seconds=30, in_flight_poll_seconds=30)
    live = {key: [a.pod, b.pod]}
    notified: list[tuple[str, str]] = []
    clock = FakeClock()

    async def go() -> None:
        poller = ModelPoller(config, {key: body}, lambda k: live[k], notified.append, clock.clock())
        try:
            await first_poll(poller, key)
            first = await tick_until(poller, clock, key, lambda s: s.available(1), 30)
            assert [p.pod for p in first.pods] == sorted([a.view.name, b.view.name])
            seen = poller.requests
            assert await tick(poller, clock, 30) and await tick(poller, clock, 30)
            assert poller.requests == seen + 4  # two rounds, both pods each
            assert notified == [key]  # the same answer: no new notification
            # Version 2 appears under the base path; each pod's file system poll loads it (latest: 1).
            store.add_version(URI, 2)
            await tick_until(poller, clock, key, lambda s: s.available(2), 30)
            assert len(notified) >= 2
            live[key] = []  # no ready pod: the state is dropped and a reconcile asked
            poller.changed(key)  # as the controller does on the pod's watch event
            assert poller.state(key) is None
        finally:
            await poller.stop()

    asyncio.run(go())
    assert notified[-1] == key


def test_poll_period_is_short_only_while_something_is_in_flight(
    store: ModelStore, pods_started: list[EmulatedPod]
) -> None:
    store.add_version(URI, 3)
    body = md(versionLabels={"canary": 4})  # canary names version 4, which does not exist yet
    p = start_pod(md(), store.root)
    pods_started.append(p)
    key = ("vision", "resnet")
    config = model_status_config(poll_seconds=60, in_flight_poll_seconds=1)
    clock = FakeClock()

    async def go() -> None:
        poller = ModelPoller(config, {key: body}, lambda k: [p.pod], lambda k: None, clock.clock())
        try:
            await first_poll(poller, key)
            # In flight: polled again after the short period, not before.
            assert not await tick(poller, clock, 0.5)
            assert await tick(poller, clock, 0.5)
            store.add_version(URI, 4)
            await tick_until(poller, clock, key, lambda s: s.available(4), 1)
            # Steady now: the poll that saw version 4 set the next one a full poll period away.
            assert not await tick(poller, clock, 1)
            assert not await tick(poller, clock, 58)
            assert await tick(poller, clock, 1)
        finally:
            await poller.stop()

    asyncio.run(go())


def test_a_pod_that_becomes_ready_is_asked_at_once(
    two_pods: tuple[dict[str, Any], EmulatedPod, EmulatedPod],
) -> None:
    body, a, b = two_pods
    key = KEY
    live = {key: [a.pod]}
    config = model_status_config(poll_seconds=60, in_flight_poll_seconds=60)
    clock = FakeClock()

    async def go() -> None:
        poller = ModelPoller(config, {key: body}, lambda k: live[k], lambda k: None, clock.clock())
        try:
            assert len((await first_poll(poller, key)).pods) == 1
            live[key] = [a.pod, b.pod]  # the next poll is 60 s away, but b is new
            poller.changed(key)  # as the controller does on the pod's watch event
            assert await tick(poller, clock, TICK_SECONDS)  # the next tick asks both
            both = poller.state(key)
            assert both is not None and len(both.pods) == 2
            assert both.available(1) and (summary(both, 1).available_on, summary(both, 1).polled) == (2, 2)
        finally:
            await poller.stop()

    asyncio.run(go())
