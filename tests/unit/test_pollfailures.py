"""Thousands of models failing their first model status poll make one log line, not one each; a model
whose known state turns into an error is still logged on its own."""

from __future__ import annotations

import asyncio
import logging

import pytest

from modeldeploy.config import ModelStatusConfig
from modeldeploy.modelstate import ModelPoller
from modeldeploy.modelstatusapi import ModelState, PodAnswer
from modeldeploy.pollfailures import MAX_WAIT_SECONDS, QUIET_SECONDS, FirstPollFailures

Key = tuple[str, str]
LOG = logging.getLogger("test.pollfailures")
READY = {
    "metadata": {"name": "p"},
    "status": {"podIP": "10.244.0.9", "conditions": [{"type": "Ready", "status": "True"}]},
}


def refused(pod: str) -> ModelState:
    return ModelState("m", (PodAnswer(pod, None, f"cannot connect to TF Serving at http://{pod}", False),))


def served(pod: str) -> ModelState:
    return ModelState("m", (PodAnswer(pod, ()),))


def test_a_burst_is_reported_once_it_is_quiet_with_the_count_and_a_few_names(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = FirstPollFailures(LOG)
    with caplog.at_level(logging.INFO, logger=LOG.name):
        for i in range(5000):
            failures.add(("ns", f"m{i}"), "cannot connect", now=i / 1000)
        failures.report(now=5.0)  # still arriving
        assert caplog.records == []
        failures.report(now=4.999 + QUIET_SECONDS)
        failures.report(now=10.0)  # nothing new: nothing more to say
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.__dict__["models"] == 5000
    assert record.__dict__["examples"].startswith("ns/m0: cannot connect; ns/m1: cannot connect; ns/m2")


def test_a_long_burst_is_still_reported_every_so_often(caplog: pytest.LogCaptureFixture) -> None:
    failures = FirstPollFailures(LOG)
    with caplog.at_level(logging.INFO, logger=LOG.name):
        now = 0.0
        while now <= MAX_WAIT_SECONDS:
            failures.add(("ns", f"m{now}"), "timed out", now)
            failures.report(now)
            now += QUIET_SECONDS / 2
    assert len(caplog.records) == 1


def test_the_poller_summarises_first_failures_and_logs_later_ones_per_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    models = {("ns", f"m{i}"): {"metadata": {"name": f"m{i}", "namespace": "ns"}} for i in range(100)}
    poller = ModelPoller(ModelStatusConfig(), models, lambda key: [READY], lambda key: None)

    async def run() -> None:
        for key in models:
            poller.changed(key)
            poller.record(key, refused(key[1]))  # e.g. just after a start: nothing known before
        poller.record(("ns", "m1"), served("m1"))
        poller.record(("ns", "m1"), refused("m1"))  # a known state turns into an error
        poller.first_failures.report(float("inf"))

    with caplog.at_level(logging.DEBUG, logger="modeldeploy.modelstate"):
        asyncio.run(run())
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.getMessage(), r.__dict__.get("md"), r.__dict__.get("models")) for r in warnings] == [
        ("model state changed", "ns/m1", None),
        ("model status could not be read on the first poll", None, 100),
    ]
    assert sum(1 for r in caplog.records if r.getMessage() == "model state changed") == 102


def test_one_failure_turning_into_another_is_not_news(caplog: pytest.LogCaptureFixture) -> None:
    models = {("ns", "m"): {"metadata": {"name": "m", "namespace": "ns"}}}
    poller = ModelPoller(ModelStatusConfig(), models, lambda key: [READY], lambda key: None)

    async def run() -> None:
        poller.changed(("ns", "m"))
        poller.record(("ns", "m"), served("m-1"))
        poller.record(("ns", "m"), refused("m-1"))  # news: it answered before
        poller.record(("ns", "m"), refused("m-2"))  # a rollout's new pod fails the same way

    with caplog.at_level(logging.DEBUG, logger="modeldeploy.modelstate"):
        asyncio.run(run())
    levels = [r.levelno for r in caplog.records if r.getMessage() == "model state changed"]
    assert levels == [logging.DEBUG, logging.WARNING, logging.DEBUG]
