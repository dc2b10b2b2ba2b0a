"""A model whose pods are being asked for the first time is reconciled once TF Serving's answer is in, so
that its status is written once with the model's state, not once without it and again with it (after a
restart: every model, twice)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from modeldeploy import controller as controller_module
from modeldeploy.config import ModelStatusConfig, load_config
from modeldeploy.controller import FIRST_ANSWER_WAIT_SECONDS, Controller
from modeldeploy.kube import Credentials, KubeClient
from modeldeploy.modelstate import ModelPoller
from modeldeploy.modelstatusapi import ModelState, PodAnswer
from modeldeploy.reconcile import Outcome

KEY = ("ns", "m")
READY = {
    "metadata": {"name": "m-pod"},
    "status": {"podIP": "10.244.0.9", "conditions": [{"type": "Ready", "status": "True"}]},
}


def controller(reconciled: list[Any], monkeypatch: pytest.MonkeyPatch) -> Controller:
    async def recording(md: Any, *args: Any, model_state: Any = None, **kwargs: Any) -> Outcome:
        reconciled.append(model_state)
        return Outcome(result="unchanged")

    monkeypatch.setattr(controller_module, "reconcile", recording)
    client = KubeClient(Credentials(server="https://127.0.0.1:1"))  # never used: reconcile is replaced
    made = Controller(config=load_config(None, {}), client=client)
    made.caches.models[KEY] = {
        "metadata": {"name": "m", "namespace": "ns", "uid": "u"},
        "spec": {},
        # What the operator wrote before a restart: the model's state, asked then.
        "status": {"model": {"name": "m", "versions": [{"version": 1, "state": "AVAILABLE"}]}},
    }
    made.poller = ModelPoller(ModelStatusConfig(), made.caches.models, lambda key: [READY], made.queue.add)
    return made


def test_the_reconcile_waits_for_the_first_answer_and_runs_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    reconciled: list[Any] = []
    answer = ModelState("m", (PodAnswer("m-pod", ()),))

    async def run() -> None:
        made = controller(reconciled, monkeypatch)
        assert made.poller is not None
        made.poller.changed(KEY)  # its pod became ready: the poller will ask it
        await made.process(KEY)
        assert reconciled == []
        made.poller.record(KEY, answer)  # enqueues the model
        assert len(made.queue) == 1
        await made.process(KEY)
        assert reconciled == [answer]
        made.queue.cancel_timers()

    asyncio.run(run())


def test_without_an_answer_it_reconciles_after_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    reconciled: list[Any] = []
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])  # nothing in the test sleeps

    async def run() -> None:
        made = controller(reconciled, monkeypatch)
        assert made.poller is not None
        made.poller.changed(KEY)
        await made.process(KEY)
        clock[0] += FIRST_ANSWER_WAIT_SECONDS / 2
        await made.process(KEY)  # e.g. a child's event meanwhile
        assert reconciled == []
        clock[0] += FIRST_ANSWER_WAIT_SECONDS / 2
        await made.process(KEY)  # the timer set at the first wait
        assert reconciled == [None]
        made.queue.cancel_timers()

    asyncio.run(run())


def test_a_model_without_ready_pods_is_reconciled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reconciled: list[Any] = []

    async def run() -> None:
        made = controller(reconciled, monkeypatch)
        made.poller = ModelPoller(ModelStatusConfig(), made.caches.models, lambda key: [], made.queue.add)
        made.poller.changed(KEY)
        await made.process(KEY)
        assert reconciled == [None]

    asyncio.run(run())


def test_a_new_model_is_not_held_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its status says nothing about the model yet: nothing would be dropped and written back."""
    reconciled: list[Any] = []

    async def run() -> None:
        made = controller(reconciled, monkeypatch)
        made.caches.models[KEY] = {**made.caches.models[KEY], "status": {"phase": "Progressing"}}
        assert made.poller is not None
        made.poller.changed(KEY)
        await made.process(KEY)
        assert reconciled == [None]

    asyncio.run(run())
