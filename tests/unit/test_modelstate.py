"""Live model state: TF Serving's REST status JSON -> versions, per-pod polling and aggregation across
replicas, label hold-back, and which load errors still count. TF Serving is the emulator, in-process."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from modeldeploy.config import ModelStatusConfig, OperatorConfig
from modeldeploy.desired.configmap import models_config_text
from modeldeploy.modelstate import in_flight, ready_pods
from modeldeploy.modelstatusapi import (
    ModelState,
    ModelStatusError,
    PodAnswer,
    VersionState,
    endpoint_for,
    parse_model_status,
    status_url,
    translate_address,
)
from modeldeploy.plan import Children, ModelObservations, current_failure, model_observations, plan_for
from modeldeploy.spec import parse_spec
from modeldeploy.versionlabels import LabelPlan, applied_labels, labels_to_apply, plan_labels
from tests.support.manifests import model_deployment

CONFIG = OperatorConfig()
URI = "gs://acme/resnet"


def md(labels: dict[str, int] | None = None, specific: list[int] | None = None) -> dict[str, Any]:
    model: dict[str, Any] = {"uri": URI, "name": "resnet"}
    if labels is not None:
        model["versionLabels"] = labels
    if specific is not None:
        model["versionPolicy"] = {"specific": specific}
    md = model_deployment("resnet", "vision", model=model)
    md["metadata"].update(uid="u1", generation=1)
    return md


def pod(name: str = "p", ip: str = "10.244.0.7", ready: bool = True) -> dict[str, Any]:
    status = "True" if ready else "False"
    return {
        "metadata": {"name": name},
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": status}]},
    }


def state(*versions: tuple[int, str], pods: int = 1) -> ModelState:
    """The same answer from ``pods`` replicas."""
    answer = tuple(VersionState(v, s) for v, s in versions)
    return ModelState("resnet", tuple(PodAnswer(f"p{i}", answer) for i in range(pods)))


def spec_of(body: dict[str, Any]) -> Any:
    return parse_spec("resnet", "vision", body["spec"], CONFIG)


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


def test_each_pod_is_asked_at_its_own_address() -> None:
    default = ModelStatusConfig()
    assert (
        status_url(default, pod(ip="10.244.3.9"), "resnet", "vision", "rn")
        == "http://10.244.3.9:8501/v1/models/rn"
    )
    assert endpoint_for(default, pod(ip="fd00::7"), "resnet", "vision", "rn") == "http://[fd00::7]:8501"
    custom = ModelStatusConfig(endpoint="https://{podName}.{name}.{namespace}.example:9000/")
    assert (
        endpoint_for(custom, pod("p-1"), "resnet", "vision", "rn") == "https://p-1.resnet.vision.example:9000"
    )


def test_the_address_map_swaps_the_network_and_keeps_the_host_bits() -> None:
    mapped = ModelStatusConfig(
        address_map=((ipaddress.ip_network("10.244.0.0/16"), ipaddress.ip_network("127.62.0.0/16")),)
    )
    assert translate_address(mapped, "10.244.1.2") == "127.62.1.2"
    assert translate_address(mapped, "10.245.1.2") == "10.245.1.2"  # outside the map: unchanged
    assert translate_address(mapped, "not-an-ip") == "not-an-ip"
    assert endpoint_for(mapped, pod(ip="10.244.0.0"), "r", "v", "m") == "http://127.62.0.0:8501"


def test_only_ready_running_pods_with_an_ip_are_asked() -> None:
    deleting = pod("d")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    no_ip = pod("n")
    del no_ip["status"]["podIP"]
    chosen = ready_pods([pod("b"), pod("a"), pod("x", ready=False), deleting, no_ip])
    assert [p["metadata"]["name"] for p in chosen] == ["a", "b"]


def test_in_flight_while_loading_or_a_label_or_listed_version_waits() -> None:
    assert not in_flight(md(), None)
    assert not in_flight(md(), state((3, "AVAILABLE")))
    assert in_flight(md(), state((3, "AVAILABLE"), (4, "LOADING")))
    assert in_flight(md(), state((3, "UNLOADING")))
    assert in_flight(md(labels={"canary": 4}), state((3, "AVAILABLE")))
    assert in_flight(md(specific=[3, 4]), state((3, "AVAILABLE")))
    assert not in_flight(md(labels={"stable": 3}, specific=[3]), state((3, "AVAILABLE")))


# --- aggregation across replicas --------------------------------------------------------------------------


def three_pods_one_failing() -> ModelState:
    good = (VersionState(3, "AVAILABLE"), VersionState(4, "AVAILABLE"))
    bad = (VersionState(3, "AVAILABLE"), VersionState(4, "END", "UNKNOWN: corrupt variables"))
    return ModelState("resnet", (PodAnswer("a", good), PodAnswer("b", good), PodAnswer("c", bad)))


def test_a_version_counts_as_available_only_on_every_ready_pod() -> None:
    s = three_pods_one_failing()
    assert s.available(3) and not s.available(4)
    v3, v4 = s.versions or ()
    assert (v3.state, v3.available_on, v3.polled) == ("AVAILABLE", 3, 3)
    assert (v4.state, v4.available_on, v4.polled) == ("END", 2, 3)
    assert v4.errors == ("c: UNKNOWN: corrupt variables",)


def test_a_pod_that_does_not_answer_holds_back_every_version() -> None:
    up = PodAnswer("a", (VersionState(3, "AVAILABLE"),))
    down = PodAnswer("b", None, "cannot connect to TF Serving at http://x", reachable=False)
    s = ModelState("resnet", (up, down))
    assert s.versions is not None and s.error is None
    assert not s.available(3)
    assert s.versions[0].available_on == 1 and s.versions[0].polled == 2


def test_unreachable_on_every_pod_gives_model_loaded_unknown_with_the_reason() -> None:
    down = ModelState(
        "resnet",
        tuple(PodAnswer(n, None, f"cannot connect to TF Serving at http://{n}", False) for n in ("a", "b")),
    )
    assert down.versions is None and not down.reachable
    assert down.error == "pod a: cannot connect to TF Serving at http://a (and 1 more ready pods)"
    assert model_observations(spec_of(md()), down, LabelPlan()) == ModelObservations(error=down.error)


def test_the_label_does_not_move_while_one_replica_lacks_the_version() -> None:
    spec = spec_of(md(labels={"canary": 4}))
    assert labels_to_apply(spec, {"canary": 3}, three_pods_one_failing()) == {"canary": 3}
    labels = plan_labels(spec, {"canary": 3}, three_pods_one_failing())
    assert labels.held == {"canary": "version 4 is not AVAILABLE on every ready pod: keeps version 3"}
    observed = model_observations(spec, three_pods_one_failing(), labels)
    assert observed.versions is not None
    v4 = observed.versions[1]
    assert (v4["availableReplicas"], v4["replicas"]) == (2, 3)
    assert v4["error"] == "on pod c: UNKNOWN: corrupt variables"


# --- label hold-back --------------------------------------------------------------------------------------


def test_labels_are_written_as_specified_when_tf_serving_was_not_asked() -> None:
    spec = spec_of(md(labels={"stable": 3, "canary": 4}))
    assert labels_to_apply(spec, None, None) == {"stable": 3, "canary": 4}
    unreachable = ModelState("resnet", (PodAnswer("a", None, "cannot connect", reachable=False),))
    assert labels_to_apply(spec, {"stable": 3}, unreachable) == {"stable": 3, "canary": 4}


def test_moving_a_label_waits_until_the_new_version_is_available_everywhere() -> None:
    spec = spec_of(md(labels={"stable": 3, "canary": 4}))
    applied = {"stable": 3, "canary": 3}
    loading = state((3, "AVAILABLE"), (4, "LOADING"), pods=2)
    assert labels_to_apply(spec, applied, loading) == {"stable": 3, "canary": 3}
    ready = state((3, "AVAILABLE"), (4, "AVAILABLE"), pods=2)
    assert labels_to_apply(spec, applied, ready) == {"stable": 3, "canary": 4}


def test_a_new_label_may_name_a_version_still_loading() -> None:
    """The pods run with --allow_version_labels_for_unavailable_models: an unused label may point at a
    version that is not loaded yet (server_core.cc), so it is written at once."""
    spec = spec_of(md(labels={"stable": 3, "canary": 4}))
    assert labels_to_apply(spec, {"stable": 3}, state((3, "AVAILABLE"))) == {"stable": 3, "canary": 4}


def test_previous_version_dropped_from_the_policy_is_not_kept() -> None:
    spec = spec_of(md(labels={"canary": 5}, specific=[4, 5]))
    assert labels_to_apply(spec, {"canary": 3}, state((3, "AVAILABLE"), (4, "AVAILABLE"))) == {}


def test_desired_configmap_holds_the_label_back_and_status_says_so() -> None:
    body = md(labels={"stable": 3, "canary": 4}, specific=[3, 4])
    old_spec = spec_of(md(labels={"stable": 3, "canary": 3}, specific=[3, 4]))
    live = {"data": {"models.config": models_config_text(old_spec)}}
    loading = state((3, "AVAILABLE"), (4, "LOADING"), pods=2)
    planned = plan_for(body, CONFIG, Children(objects={("v1", "ConfigMap"): live}), loading)
    assert planned.spec_error is None and planned.spec is not None
    assert planned.labels.asked == {"stable": 3, "canary": 4}
    assert planned.labels.applied == {"stable": 3, "canary": 3}
    configmap = next(o for o in planned.apply if o["kind"] == "ConfigMap")
    assert applied_labels(configmap) == {"stable": 3, "canary": 3}
    observed = planned.model
    assert observed.versions == [
        {
            "version": 3,
            "state": "AVAILABLE",
            "availableReplicas": 2,
            "replicas": 2,
            "labels": ["canary", "stable"],
        },
        {"version": 4, "state": "LOADING", "availableReplicas": 0, "replicas": 2},
    ]
    assert observed.labels == [
        {"name": "canary", "version": 4, "state": "LOADING", "appliedVersion": 3},
        {"name": "stable", "version": 3, "state": "AVAILABLE", "appliedVersion": 3},
    ]
    assert observed.expected_versions == (3, 4)


# --- which load errors still count ------------------------------------------------------------------------


def failed(version: int, *others: tuple[int, str]) -> ModelState:
    answer = (
        VersionState(version, "END", "NOT_FOUND: no SavedModel"),
        *(VersionState(v, s) for v, s in others),
    )
    return ModelState("resnet", (PodAnswer("a", tuple(sorted(answer, key=lambda v: v.version))),))


def summary(s: ModelState, version: int) -> Any:
    return next(v for v in s.versions or () if v.version == version)


def test_a_failed_version_counts_until_a_newer_one_is_available() -> None:
    spec = spec_of(md())
    broken = failed(2, (1, "AVAILABLE"))
    assert current_failure(spec, broken, summary(broken, 2))
    fixed = failed(2, (1, "AVAILABLE"), (3, "AVAILABLE"))
    assert not current_failure(spec, fixed, summary(fixed, 2))
    observed = model_observations(spec, fixed, LabelPlan())
    assert observed.versions is not None
    entry = observed.versions[1]
    assert "error" not in entry and entry["lastError"] == "on pod a: NOT_FOUND: no SavedModel"
    loading = failed(2, (1, "AVAILABLE"), (3, "LOADING"))
    assert current_failure(spec, loading, summary(loading, 2))


def test_a_failed_version_no_longer_wanted_stops_counting() -> None:
    s = failed(2, (1, "AVAILABLE"))
    assert current_failure(spec_of(md(specific=[1, 2])), s, summary(s, 2))
    assert not current_failure(spec_of(md(specific=[1])), s, summary(s, 2))
