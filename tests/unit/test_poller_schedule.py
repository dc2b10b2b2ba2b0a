"""The model poller looks only at models that changed or are due, never at every model on every tick."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, cast

from modeldeploy.config import ModelStatusConfig
from modeldeploy.modelstate import FIRST_STARTS_PER_TICK, ModelPoller
from modeldeploy.modelstatusapi import ModelState
from tests.support.clock import FakeClock
from tests.support.manifests import model_deployment

Key = tuple[str, str]
# An answer as the poller stores it; only these fields are read here (None: TF Serving gave none).
ANSWER = cast(ModelState, SimpleNamespace(versions=None, error=None))
READY = {
    "metadata": {"name": "p"},
    "status": {"podIP": "10.244.0.9", "conditions": [{"type": "Ready", "status": "True"}]},
}


class Recording(ModelPoller):
    """Starts no HTTP request: records which models a poll was started for."""

    started: list[Key]
    fake: FakeClock  # its clock: what record() reads for the next poll's due time

    async def _poll(self, key: Key, md: Mapping[str, Any], *pods: Any) -> None:
        self.started.append(key)
        self._running.pop(key, None)


def poller(count: int, ready: set[Key]) -> tuple[Recording, dict[Key, int], list[Key]]:
    models = {("ns", f"m{i}"): model_deployment(f"m{i}", "ns", uri="gs://b/m") for i in range(count)}
    looked: dict[Key, int] = {}
    notified: list[Key] = []

    def pods(key: Key) -> Sequence[Mapping[str, Any]]:
        looked[key] = looked.get(key, 0) + 1
        return [READY] if key in ready else []

    fake = FakeClock(now=0.0)
    made = Recording(ModelStatusConfig(), models, pods, notified.append, fake.clock())
    made.started, made.fake = [], fake
    return made, looked, notified


async def tick(p: Recording, now: float) -> None:
    p.fake.advance(now - p.fake.now)
    p.schedule(p.fake.monotonic())
    await asyncio.sleep(0)  # let the started polls run


def test_a_tick_with_nothing_due_reads_no_model() -> None:
    ready = {("ns", f"m{i}") for i in range(1000)}
    p, looked, _ = poller(1000, ready)

    async def run() -> None:
        for key in ready:
            p.changed(key)
        for _ in range(1000):
            await tick(p, 1.0)
            if len(p.started) == 1000:
                break
        assert sorted(p.started) == sorted(ready)  # every ready model is polled once
        for key in p.started:
            p.record(key, ANSWER)  # answered: next poll in poll_seconds
        looked.clear()
        await tick(p, 2.0)  # nothing is due now
        assert looked == {} and len(p.started) == 1000

    asyncio.run(run())


def test_only_changed_models_with_a_ready_pod_are_polled() -> None:
    p, _, _ = poller(3, {("ns", "m0"), ("ns", "m2")})

    async def run() -> None:
        for key in (("ns", "m0"), ("ns", "m1")):
            p.changed(key)
        await tick(p, 1.0)
        assert p.started == [("ns", "m0")]  # m1 has no ready pod; m2 never changed

    asyncio.run(run())


def test_a_model_whose_last_ready_pod_went_is_forgotten_and_reconciled() -> None:
    ready = {("ns", "m0")}
    p, _, notified = poller(1, ready)

    async def run() -> None:
        p.changed(("ns", "m0"))
        await tick(p, 1.0)
        p.record(("ns", "m0"), ANSWER)
        assert notified == [("ns", "m0")]  # a new answer
        ready.clear()
        p.changed(("ns", "m0"))  # the pod's watch event
        assert p.state(("ns", "m0")) is None and notified == [("ns", "m0")] * 2
        await tick(p, 10_000.0)
        assert p.started == [("ns", "m0")]  # not polled again

    asyncio.run(run())


def test_an_answer_that_arrives_after_the_last_ready_pod_went_is_dropped() -> None:
    ready = {("ns", "m0")}
    p, _, notified = poller(1, ready)

    async def run() -> None:
        p.changed(("ns", "m0"))
        await tick(p, 1.0)
        ready.clear()
        p.changed(("ns", "m0"))
        p.record(("ns", "m0"), ANSWER)
        assert p.state(("ns", "m0")) is None and notified == []

    asyncio.run(run())


def test_a_tick_starts_at_most_its_budget_of_polls() -> None:
    ready = {("ns", f"m{i}") for i in range(3000)}
    p, _, _ = poller(3000, ready)

    async def run() -> None:
        for key in ready:
            p.changed(key)  # e.g. a restart: every model is due at once
            p.states[key] = ANSWER  # answered before: these polls can be spread out
        budget = p.starts_per_tick()
        assert budget == 100  # twice 3,000 models per 30 s, in a 0.5 s tick
        await tick(p, 1.0)
        assert len(p.started) == budget
        await tick(p, 1.0)
        assert len(p.started) == 2 * budget and len(set(p.started)) == 2 * budget

    asyncio.run(run())


def test_models_that_await_their_first_answer_get_a_larger_budget() -> None:
    ready = {("ns", f"m{i}") for i in range(3000)}
    p, _, _ = poller(3000, ready)

    async def run() -> None:
        for key in ready:
            p.changed(key)  # a start: nothing answered yet, and each model's reconcile waits for it
        assert all(p.awaits_first_answer(key) for key in ready)
        assert p.starts_per_tick() == FIRST_STARTS_PER_TICK
        await tick(p, 1.0)
        assert len(p.started) == FIRST_STARTS_PER_TICK
        for key in ready:
            p.states[key] = ANSWER
        assert p.starts_per_tick() == 100 and not p.awaits_first_answer(("ns", "m0"))

    asyncio.run(run())
