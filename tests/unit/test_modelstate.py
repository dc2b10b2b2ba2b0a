"""Live model state: TF Serving's REST status JSON -> versions, the poller, and label hold-back."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from modeldeploy.config import ModelStatusConfig, OperatorConfig
from modeldeploy.desired.configmap import models_config_text
from modeldeploy.modelstate import (
    ModelPoller,
    ModelState,
    ModelStatusError,
    VersionState,
    endpoint_for,
    fetch_model_state,
    in_flight,
    parse_model_status,
    status_url,
)
from modeldeploy.reconcile import applied_labels, desired_for, labels_to_apply, model_observations
from modeldeploy.spec import parse_spec
from tests.standin import TFServingStandIn

CONFIG = OperatorConfig()


@pytest.fixture
def standin() -> Iterator[TFServingStandIn]:
    server = TFServingStandIn().start()
    yield server
    server.stop()


def md(labels: dict[str, int] | None = None, specific: list[int] | None = None) -> dict[str, Any]:
    model: dict[str, Any] = {"uri": "gs://acme/resnet"}
    if labels is not None:
        model["versionLabels"] = labels
    if specific is not None:
        model["versionPolicy"] = {"specific": specific}
    return {
        "metadata": {"name": "resnet", "namespace": "vision", "uid": "u1", "generation": 1},
        "spec": {"model": model},
    }


def ready_pod() -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def state(*versions: tuple[int, str]) -> ModelState:
    return ModelState("resnet", tuple(VersionState(v, s) for v, s in versions))


# --- the REST JSON ----------------------------------------------------------------------------------------


def test_parse_tf_serving_model_status_json() -> None:
    body = {
        "model_version_status": [
            {"version": "4", "state": "LOADING", "status": {"error_code": "OK", "error_message": ""}},
            {"version": "3", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
            {
                "version": "5",
                "state": "END",
                "status": {"error_code": "NOT_FOUND", "error_message": "Could not find SavedModel .pb"},
            },
            {"version": "2", "state": "END"},  # status omitted: OK
        ]
    }
    assert parse_model_status(body) == (
        VersionState(2, "END"),
        VersionState(3, "AVAILABLE"),
        VersionState(4, "LOADING"),
        VersionState(5, "END", "NOT_FOUND: Could not find SavedModel .pb"),
    )


@pytest.mark.parametrize(
    "body", [None, [], {}, {"model_version_status": "x"}, {"model_version_status": [{"version": "x"}]}]
)
def test_answers_that_are_not_a_model_status_are_rejected(body: object) -> None:
    with pytest.raises(ModelStatusError):
        parse_model_status(body)


def test_endpoint_defaults_to_the_service_and_can_be_overridden_by_template() -> None:
    default = ModelStatusConfig()
    assert status_url(default, "resnet", "vision", "rn") == "http://resnet.vision.svc:8501/v1/models/rn"
    local = ModelStatusConfig(endpoint_override="http://127.0.0.1:9000/")
    assert endpoint_for(local, "resnet", "vision", "rn") == "http://127.0.0.1:9000"
    custom = ModelStatusConfig(endpoint_override="http://{model}-{name}.{namespace}.example:8501")
    assert endpoint_for(custom, "resnet", "vision", "rn") == "http://rn-resnet.vision.example:8501"


def test_in_flight_while_loading_or_a_label_or_listed_version_waits() -> None:
    assert not in_flight(md(), None)
    assert not in_flight(md(), state((3, "AVAILABLE")))
    assert in_flight(md(), state((3, "AVAILABLE"), (4, "LOADING")))
    assert in_flight(md(), state((3, "UNLOADING")))
    assert in_flight(md(labels={"canary": 4}), state((3, "AVAILABLE")))
    assert in_flight(md(specific=[3, 4]), state((3, "AVAILABLE")))
    assert not in_flight(md(labels={"stable": 3}, specific=[3]), state((3, "AVAILABLE")))


# --- one poll against the stand-in ----------------------------------------------------------------------


def fetch(url: str, timeout: float = 2) -> ModelState:
    async def go() -> ModelState:
        async with aiohttp.ClientSession() as session:
            return await fetch_model_state(session, url, "resnet", timeout)

    return asyncio.run(go())


def test_fetch_reads_the_standin_like_tf_serving(standin: TFServingStandIn) -> None:
    standin.set_version("resnet", 3, "AVAILABLE")
    standin.set_version("resnet", 4, "END", "NOT_FOUND", "no SavedModel")
    got = fetch(f"{standin.url}/v1/models/resnet")
    assert got == ModelState(
        "resnet", (VersionState(3, "AVAILABLE"), VersionState(4, "END", "NOT_FOUND: no SavedModel"))
    )


def test_unknown_model_is_known_to_have_no_version(standin: TFServingStandIn) -> None:
    assert fetch(f"{standin.url}/v1/models/resnet") == ModelState("resnet", ())


def test_unreachable_tf_serving_gives_a_stable_error() -> None:
    from modeldeploy.localcluster.cluster import free_port

    url = f"http://127.0.0.1:{free_port()}/v1/models/resnet"
    first, second = fetch(url), fetch(url)
    assert first.versions is None
    assert first == second
    assert first.error == f"cannot connect to TF Serving at {url}"
    assert not first.reachable
    # Nothing answered: the status says nothing about TF Serving (no guess, no churn).
    assert model_observations(md(), spec_of(md()), first, []) == {}
    answered = ModelState("resnet", None, "TF Serving at x answered HTTP 503")
    assert model_observations(md(), spec_of(md()), answered, []) == {"model_status_error": answered.error}


# --- the poller -------------------------------------------------------------------------------------------


def test_poller_polls_ready_models_and_notifies_on_change_only(standin: TFServingStandIn) -> None:
    config = ModelStatusConfig(poll_seconds=0.3, in_flight_poll_seconds=0.3, endpoint_override=standin.url)
    standin.set_version("resnet", 3, "LOADING")
    models: dict[tuple[str, str], Any] = {("vision", "resnet"): md(), ("vision", "idle"): md()}
    pods = {("vision", "resnet"): [ready_pod()], ("vision", "idle"): []}
    notified: list[tuple[str, str]] = []

    async def go() -> ModelPoller:
        poller = ModelPoller(config, models, lambda key: pods[key], notified.append)
        poller.start()
        try:
            deadline = time.monotonic() + 10
            while standin.polls("resnet") < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert notified == [("vision", "resnet")]  # LOADING, then unchanged
            standin.set_version("resnet", 3, "AVAILABLE")
            while len(notified) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert notified == [("vision", "resnet")] * 2
            assert poller.state(("vision", "resnet")) == state((3, "AVAILABLE"))
            pods[("vision", "resnet")] = []  # no ready pod: the state is dropped and a reconcile asked
            poller.changed(("vision", "resnet"))  # as the controller does on the pod's watch event
            while len(notified) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert poller.state(("vision", "resnet")) is None
        finally:
            await poller.stop()
        return poller

    asyncio.run(go())
    assert notified == [("vision", "resnet")] * 3
    assert standin.polls("idle") == 0  # no ready pod, no poll


def test_poll_period_is_short_only_while_something_is_in_flight(standin: TFServingStandIn) -> None:
    config = ModelStatusConfig(poll_seconds=60, in_flight_poll_seconds=0.2, endpoint_override=standin.url)
    standin.set_version("resnet", 3, "AVAILABLE")
    models = {("vision", "resnet"): md(labels={"canary": 4})}  # canary waits for version 4

    async def go() -> None:
        poller = ModelPoller(config, models, lambda key: [ready_pod()], lambda key: None)
        poller.start()
        try:
            deadline = time.monotonic() + 10
            while standin.polls("resnet") < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert standin.polls("resnet") >= 3  # in flight: every 0.2 s
            standin.set_version("resnet", 4, "AVAILABLE")
            while not poller.state(("vision", "resnet")) or not poller.state(("vision", "resnet")).available(
                4
            ):  # type: ignore[union-attr]
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            settled = standin.polls("resnet")
            await asyncio.sleep(1.0)  # steady now: the next poll is 60 s away
            assert standin.polls("resnet") == settled
        finally:
            await poller.stop()

    asyncio.run(go())


# --- label hold-back --------------------------------------------------------------------------------------


def spec_of(body: dict[str, Any]) -> Any:
    return parse_spec("resnet", "vision", body["spec"], CONFIG)


def test_labels_are_written_as_specified_when_tf_serving_was_not_asked() -> None:
    spec = spec_of(md(labels={"stable": 3, "canary": 4}))
    assert labels_to_apply(spec, None, None) == {"stable": 3, "canary": 4}
    unreachable = ModelState("resnet", None, "cannot connect", reachable=False)
    assert labels_to_apply(spec, {"stable": 3}, unreachable) == {"stable": 3, "canary": 4}


def test_label_keeps_its_previous_version_until_the_new_one_is_available() -> None:
    spec = spec_of(md(labels={"stable": 3, "canary": 4}))
    applied = {"stable": 3, "canary": 3}
    assert labels_to_apply(spec, applied, state((3, "AVAILABLE"), (4, "LOADING"))) == {
        "stable": 3,
        "canary": 3,
    }
    assert labels_to_apply(spec, applied, state((3, "AVAILABLE"), (4, "AVAILABLE"))) == {
        "stable": 3,
        "canary": 4,
    }


def test_new_label_for_a_version_not_loaded_is_left_out() -> None:
    spec = spec_of(md(labels={"stable": 3, "canary": 4}))
    assert labels_to_apply(spec, {"stable": 3}, state((3, "AVAILABLE"))) == {"stable": 3}


def test_previous_version_dropped_from_the_policy_is_not_kept() -> None:
    spec = spec_of(md(labels={"canary": 5}, specific=[4, 5]))
    assert labels_to_apply(spec, {"canary": 3}, state((3, "AVAILABLE"), (4, "AVAILABLE"))) == {}


def test_desired_configmap_holds_the_label_back_and_status_says_so() -> None:
    body = md(labels={"stable": 3, "canary": 4}, specific=[3, 4])
    old_spec = spec_of(md(labels={"stable": 3, "canary": 3}, specific=[3, 4]))
    live = {"data": {"models.config": models_config_text(old_spec)}}
    from modeldeploy.reconcile import Children

    loading = state((3, "AVAILABLE"), (4, "LOADING"))
    spec, desired, error = desired_for(body, CONFIG, Children(objects={("v1", "ConfigMap"): live}), loading)
    assert error is None and spec is not None
    configmap = next(o for o in desired if o["kind"] == "ConfigMap")
    assert applied_labels(configmap) == {"stable": 3, "canary": 3}
    observed = model_observations(body, spec_of(body), loading, desired)
    assert observed["model_versions"] == [
        {"version": 3, "state": "AVAILABLE", "labels": ["canary", "stable"]},
        {"version": 4, "state": "LOADING"},
    ]
    assert observed["model_labels"] == [
        {"name": "canary", "version": 4, "state": "LOADING", "appliedVersion": 3},
        {"name": "stable", "version": 3, "state": "AVAILABLE", "appliedVersion": 3},
    ]
    assert observed["expected_versions"] == (3, 4)


def test_standin_answers_the_documented_label_urls(standin: TFServingStandIn) -> None:
    """The docs' REST example: the stand-in answers the documented label URL like TF Serving."""
    standin.set_version("docs-d", 4, "AVAILABLE")
    standin.set_labels("docs-d", {"canary": 4})
    with urllib.request.urlopen(f"{standin.url}/v1/models/docs-d/labels/canary", timeout=5) as response:
        body = json.loads(response.read())
    assert body == {
        "model_version_status": [
            {"version": "4", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    request = urllib.request.Request(
        f"{standin.url}/v1/models/docs-d/labels/canary:predict",
        data=json.dumps({"instances": [[1.0, 2.0]]}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read()) == {"predictions": [[1.0, 2.0]]}
