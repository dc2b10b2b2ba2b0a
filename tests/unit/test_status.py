"""compute_status: observed children -> phase, conditions, counts and endpoints of a ModelDeployment.

Pod problems: test_poddiagnosis.py; ModelLoaded: test_modelloaded.py; the status patch: test_statuspatch.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from modeldeploy import reasons
from modeldeploy.reasons import Phase
from modeldeploy.statuspatch import status_changed, status_patch
from tests.support.conditions import condition, summary
from tests.support.crd_schema import CRD_PATH
from tests.support.status_scenarios import (
    LATER,
    NOW_TEXT,
    SCHEDULER_NO_GPU,
    assert_fits_schema,
    deadline_exceeded,
    gpu_spec,
    make_deployment,
    make_md,
    make_pod,
    run,
)

# --- healthy states ---------------------------------------------------------------------------------------


def test_all_replicas_ready_is_ready() -> None:
    status = run()
    assert status["phase"] == Phase.READY
    assert summary(status) == {
        "Ready": ("True", reasons.MINIMUM_REPLICAS_AVAILABLE),
        "Available": ("True", reasons.MINIMUM_REPLICAS_AVAILABLE),
        "Progressing": ("True", reasons.NEW_REPLICA_SET_AVAILABLE),
        "Degraded": ("False", reasons.AS_EXPECTED),
        "Reconciling": ("False", reasons.AS_EXPECTED),
        "Stalled": ("False", reasons.AS_EXPECTED),
    }
    assert status["ready"] == "2/2"
    assert (status["replicas"], status["readyReplicas"], status["updatedReplicas"]) == (2, 2, 2)
    assert "resnet" in condition(status, "Ready")["message"]


def test_counts_selector_endpoints_and_generation() -> None:
    status = run(make_md(generation=7), deployment=make_deployment(generation=3, observed=3))
    assert status["observedGeneration"] == 7
    assert status["selector"] == "serving.modeldeploy.io/model-deployment=resnet"
    assert status["endpoints"] == {
        "grpc": "resnet.vision.svc:8500",
        "rest": "http://resnet.vision.svc:8501/v1/models/resnet",
    }
    assert status["model"] == {"name": "resnet"}
    assert all(c["observedGeneration"] == 7 for c in status["conditions"])
    assert all(c["lastTransitionTime"] == NOW_TEXT for c in status["conditions"])


def test_model_name_is_used_in_rest_endpoint_and_defaults_to_metadata_name() -> None:
    named = run(model_name="resnet_v2")
    assert named["endpoints"]["rest"].endswith("/v1/models/resnet_v2")
    assert named["model"]["name"] == "resnet_v2"
    assert run(model_name="")["model"]["name"] == "resnet"


def test_gpu_summary_is_shown_only_for_gpu_models() -> None:
    assert run(gpu_summary="1x nvidia-tesla-t4")["gpu"] == "1x nvidia-tesla-t4"
    assert "gpu" not in run(gpu_summary=None)


def test_later_fields_pass_through_when_known() -> None:
    versions = [{"version": 3, "state": "AVAILABLE", "labels": ["stable"]}]
    status = run(model_versions=versions, cost={"hourly": "1.23", "currency": "USD"})
    assert status["model"] == {"name": "resnet", "versions": versions}
    assert status["cost"] == {"hourly": "1.23", "currency": "USD"}
    assert "cost" not in run()


def test_scaled_to_zero_is_ready_but_not_available() -> None:
    status = run(
        deployment=make_deployment(spec_replicas=0, replicas=0, ready=0, updated=0, available=0),
        wants_replicas=0,
    )
    assert status["phase"] == Phase.READY
    assert condition(status, "Ready")["reason"] == reasons.SCALED_TO_ZERO
    assert condition(status, "Ready")["status"] == "True"
    assert condition(status, "Available")["status"] == "False"
    assert "spec.replicas" in condition(status, "Ready")["message"]
    assert status["ready"] == "0/0"


def test_scaling_to_zero_is_not_ready_while_pods_remain() -> None:
    status = run(
        deployment=make_deployment(spec_replicas=0, replicas=1, ready=1, updated=1, available=1),
        wants_replicas=0,
    )
    assert condition(status, "Ready")["status"] == "False"


def test_autoscaled_wants_what_the_hpa_set_on_the_deployment() -> None:
    spec = {"model": {"uri": "gs://acme/resnet"}, "autoscaling": {"minReplicas": 1, "maxReplicas": 8}}
    deployment = make_deployment(spec_replicas=4, replicas=4, ready=4, updated=4, available=4)
    status = run(make_md(spec=spec), deployment=deployment, wants_replicas=1)
    assert status["ready"] == "4/4"
    assert status["phase"] == Phase.READY


# --- on the way ------------------------------------------------------------------------------------------


def test_no_deployment_yet_is_pending_and_reconciling() -> None:
    status = run(deployment=None)
    assert status["phase"] == Phase.PENDING
    assert summary(status)["Ready"] == ("False", reasons.RECONCILING)
    assert summary(status)["Progressing"] == ("True", reasons.RECONCILING)
    assert summary(status)["Degraded"] == ("False", reasons.AS_EXPECTED)
    assert status["ready"] == "0/2"
    assert status["replicas"] == 0


def test_deployment_not_yet_observed_by_its_controller_is_not_ready() -> None:
    # Counts look perfect, but they describe the previous Deployment spec.
    status = run(deployment=make_deployment(generation=2, observed=1))
    assert summary(status)["Ready"] == ("False", reasons.REPLICA_SET_UPDATING)
    assert summary(status)["Progressing"] == ("True", reasons.REPLICA_SET_UPDATING)


def test_new_deployment_without_status_is_pending() -> None:
    deployment = make_deployment(replicas=0, ready=0, updated=0, available=0, observed=None)
    status = run(deployment=deployment)
    assert status["phase"] == Phase.PENDING
    assert condition(status, "Ready")["status"] == "False"


def test_pods_loading_the_model_are_progressing() -> None:
    deployment = make_deployment(ready=0, available=0)
    pods = [make_pod("resnet-a", ready=False), make_pod("resnet-b", ready=False)]
    status = run(deployment=deployment, pods=pods)
    assert status["phase"] == Phase.PROGRESSING
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reasons.MODEL_LOADING)
    assert "/v1/models/resnet" in ready["message"]
    assert summary(status)["Available"] == ("False", reasons.REPLICAS_UNAVAILABLE)


def test_rolling_update_keeps_serving_and_is_progressing() -> None:
    # Old ReplicaSet still serves 2; one new pod exists and is not ready yet.
    deployment = make_deployment(replicas=3, ready=2, updated=1, available=2)
    status = run(deployment=deployment)
    assert status["phase"] == Phase.PROGRESSING
    assert summary(status)["Ready"] == ("False", reasons.ROLLOUT_IN_PROGRESS)
    assert summary(status)["Available"] == ("True", reasons.MINIMUM_REPLICAS_AVAILABLE)
    progressing = condition(status, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", reasons.ROLLOUT_IN_PROGRESS)
    assert "READY counts the replaced ones of 2" in progressing["message"]


def test_all_updated_but_old_pods_remaining_is_not_ready() -> None:
    deployment = make_deployment(replicas=3, ready=3, updated=2, available=3)
    assert condition(run(deployment=deployment), "Ready")["status"] == "False"


def test_updated_but_not_available_is_not_ready() -> None:
    deployment = make_deployment(ready=1, available=1)
    status = run(deployment=deployment)
    assert summary(status)["Ready"] == ("False", reasons.REPLICAS_UNAVAILABLE)
    assert condition(status, "Available")["message"].startswith("At least 1 of 2 wanted replica(s) serve")
    assert status["phase"] == Phase.PROGRESSING


def test_more_replicas_wanted_than_the_deployment_has_is_not_ready() -> None:
    status = run(wants_replicas=3)
    assert condition(status, "Ready")["status"] == "False"
    assert status["ready"] == "2/3"


# --- invalid spec and apply errors ------------------------------------------------------------------------


def test_invalid_spec_with_running_children_is_degraded_and_honest_about_readiness() -> None:
    status = run(
        make_md(generation=2),
        spec_error="unknown GPU type 'a100x' (known types: nvidia-tesla-t4, nvidia-l4)",
        spec_error_field="spec.resources.gpu.type",
        wants_replicas=0,
    )
    assert status["phase"] == Phase.DEGRADED
    degraded = condition(status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", reasons.INVALID_SPEC)
    assert degraded["message"].startswith("Invalid spec: spec.resources.gpu.type: unknown GPU type 'a100x'")
    assert "known types" in degraded["message"]
    assert "last valid spec" in degraded["message"]
    # Generation 2 is not in effect: Ready is False with the reason; Available says the old spec serves.
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reasons.INVALID_SPEC)
    assert "Generation 2 is not in effect" in ready["message"]
    assert "spec.resources.gpu.type" in ready["message"]
    assert "The previous spec still serves (see Available)." in ready["message"]
    assert summary(status)["Available"] == ("True", reasons.MINIMUM_REPLICAS_AVAILABLE)
    # The READY column counts the pods of the last applied spec; PHASE says Degraded.
    assert status["ready"] == "2/2"
    assert summary(status)["Progressing"] == ("False", reasons.INVALID_SPEC)
    assert summary(status)["Stalled"] == ("True", reasons.INVALID_SPEC)
    assert summary(status)["Reconciling"][0] == "False"
    assert "endpoints" in status


def test_invalid_spec_without_children_is_failed() -> None:
    status = run(
        deployment=None,
        spec_error="must be at least 1 (remove spec.resources.gpu to run on CPU)",
        spec_error_field="spec.resources.gpu.count",
        wants_replicas=0,
    )
    assert status["phase"] == Phase.FAILED
    assert summary(status) == {
        "Ready": ("False", reasons.INVALID_SPEC),
        "Available": ("False", reasons.INVALID_SPEC),
        "Progressing": ("False", reasons.INVALID_SPEC),
        "Degraded": ("True", reasons.INVALID_SPEC),
        "Reconciling": ("False", reasons.INVALID_SPEC),
        "Stalled": ("True", reasons.INVALID_SPEC),
    }
    assert "spec.resources.gpu.count: must be at least 1" in condition(status, "Degraded")["message"]
    assert "Nothing is deployed" in condition(status, "Degraded")["message"]
    assert "endpoints" not in status


def test_spec_error_already_naming_its_field_is_not_prefixed_twice() -> None:
    status = run(
        deployment=None,
        spec_error="spec.model.uri: unsupported scheme 'ftp' (use gs, s3, pvc, http or https)",
        spec_error_field="spec.model.uri",
    )
    assert condition(status, "Degraded")["message"].count("spec.model.uri") == 1


def test_apply_failure_without_children_is_degraded() -> None:
    status = run(deployment=None, apply_error="admission webhook denied the request: no GPUs here")
    assert status["phase"] == Phase.DEGRADED
    assert summary(status)["Degraded"] == ("True", reasons.APPLY_FAILED)
    assert summary(status)["Ready"] == ("False", reasons.APPLY_FAILED)
    assert "admission webhook denied" in condition(status, "Degraded")["message"]


def test_apply_failure_with_children_keeps_readiness_of_what_runs() -> None:
    status = run(apply_error="conflict")
    assert status["phase"] == Phase.DEGRADED
    assert summary(status)["Ready"] == ("False", reasons.APPLY_FAILED)
    assert "previous spec still serves" in condition(status, "Ready")["message"]
    assert summary(status)["Available"][0] == "True"
    assert summary(status)["Progressing"] == ("False", reasons.APPLY_FAILED)


# --- the status fits the CRD (the API server prunes what its schema does not declare) ------------------


STATUS_SCENARIOS: dict[str, dict[str, Any]] = {
    "ready": {"gpu_summary": "1x nvidia-l4", "cost": {"hourly": "0.70", "currency": "USD"}},
    "versions": {"model_versions": [{"version": 1, "state": "AVAILABLE", "labels": ["stable"], "error": ""}]},
    "failed": {"deployment": None, "spec_error": "bad", "spec_error_field": "spec.model.uri"},
    "degraded": {"deployment": make_deployment(conditions=[deadline_exceeded()], ready=0, available=0)},
}


@pytest.mark.parametrize("scenario", sorted(STATUS_SCENARIOS))
def test_status_fits_the_crd_status_schema(scenario: str) -> None:
    crd = yaml.safe_load(CRD_PATH.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert_fits_schema(run(**STATUS_SCENARIOS[scenario]), schema, "status")


# --- issue 15: Ready means "the latest generation is in effect"; READY counts current replicas -------------


def with_template(deployment: dict[str, Any], restart_hash: str) -> dict[str, Any]:
    annotations = {"serving.modeldeploy.io/restart-hash": restart_hash}
    deployment["spec"]["template"] = {"metadata": {"annotations": annotations}}
    return deployment


def pod_of(name: str, restart_hash: str, **kwargs: Any) -> dict[str, Any]:
    pod = make_pod(name, **kwargs)
    pod["metadata"]["annotations"] = {"serving.modeldeploy.io/restart-hash": restart_hash}
    return pod


def test_surge_counts_only_ready_pods_of_the_new_template() -> None:
    # replicas 2, maxSurge 1: both old pods and one new pod are ready; the column said 3/2 (or 2/1) before.
    deployment = with_template(make_deployment(replicas=3, ready=3, updated=1, available=3), "new")
    pods = [pod_of("resnet-old-a", "old"), pod_of("resnet-old-b", "old"), pod_of("resnet-new-a", "new")]
    status = run(deployment=deployment, pods=pods)
    assert status["ready"] == "1/2"
    assert summary(status)["Ready"] == ("False", reasons.ROLLOUT_IN_PROGRESS)
    assert summary(status)["Reconciling"] == ("True", reasons.ROLLOUT_IN_PROGRESS)
    available = condition(status, "Available")
    assert available["status"] == "True"
    assert "Some of them run an earlier spec" in available["message"]


def test_pending_gpu_rollout_shows_no_current_replica_while_the_old_ones_serve() -> None:
    deployment = with_template(
        make_deployment(spec_replicas=3, replicas=4, ready=3, updated=1, available=3), "new"
    )
    pods = [pod_of(f"resnet-old-{i}", "old") for i in range(3)]
    pods.append(pod_of("resnet-new-a", "new", unschedulable=SCHEDULER_NO_GPU))
    status = run(
        make_md(spec={**gpu_spec(), "replicas": 3}), deployment=deployment, pods=pods, wants_replicas=3
    )
    assert status["ready"] == "0/3"
    assert summary(status)["Ready"] == ("False", reasons.INSUFFICIENT_GPU)
    assert summary(status)["Reconciling"] == ("True", reasons.INSUFFICIENT_GPU)
    assert summary(status)["Stalled"][0] == "False"  # a cluster autoscaler may still add a GPU node
    assert summary(status)["Available"][0] == "True"
    assert status["phase"] == Phase.PROGRESSING


def test_scaling_down_is_not_ready_and_the_column_never_exceeds_the_wanted_count() -> None:
    deployment = make_deployment(spec_replicas=3, replicas=13, ready=13, updated=13, available=13)
    md = make_md(spec={"model": {"uri": "gs://acme/resnet"}, "replicas": 3})
    status = run(md, deployment=deployment, wants_replicas=3)
    assert status["ready"] == "3/3"
    assert summary(status)["Ready"] == ("False", reasons.SCALING_DOWN)
    assert "Scaling down to 3 replica(s)" in condition(status, "Ready")["message"]


@pytest.mark.parametrize(
    ("spec", "available", "expected"),
    [
        # Autoscaled to 20, 13 serve: at least minReplicas serve, so the model is available.
        ({"autoscaling": {"minReplicas": 2, "maxReplicas": 30}}, 13, "True"),
        ({"autoscaling": {"minReplicas": 15, "maxReplicas": 30}}, 13, "False"),
        # Fixed 20 replicas: the PodDisruptionBudget's floor is 19.
        ({"replicas": 20}, 13, "False"),
        ({"replicas": 20}, 19, "True"),
    ],
)
def test_available_means_the_minimum_replicas_serve(
    spec: dict[str, Any], available: int, expected: str
) -> None:
    deployment = make_deployment(
        spec_replicas=20, replicas=20, ready=available, updated=20, available=available
    )
    md = make_md(spec={"model": {"uri": "gs://acme/resnet"}, **spec})
    status = run(md, deployment=deployment, wants_replicas=20)
    assert condition(status, "Available")["status"] == expected
    assert "of 20 wanted replica(s) serve" in condition(status, "Available")["message"]
    assert condition(status, "Ready")["status"] == "False"


def test_two_replicas_with_one_serving_is_available() -> None:
    status = run(deployment=make_deployment(ready=1, available=1))
    assert summary(status)["Available"] == ("True", reasons.MINIMUM_REPLICAS_AVAILABLE)
    assert summary(status)["Ready"] == ("False", reasons.REPLICAS_UNAVAILABLE)


def test_a_waiting_version_label_keeps_ready_false_until_tf_serving_serves_it() -> None:
    versions = [{"version": 3, "state": "AVAILABLE"}, {"version": 4, "state": "LOADING"}]
    labels = [{"name": "canary", "version": 4, "state": "LOADING", "appliedVersion": 3}]
    status = run(model_versions=versions, model_labels=labels)
    assert summary(status)["Ready"] == ("False", reasons.LABEL_WAITING)
    assert summary(status)["Reconciling"] == ("True", reasons.LABEL_WAITING)
    assert status["phase"] == Phase.PROGRESSING


def test_progress_deadline_stalls_the_reconcile() -> None:
    deployment = make_deployment(
        replicas=3, ready=2, updated=1, available=2, conditions=[deadline_exceeded()]
    )
    status = run(deployment=deployment)
    assert summary(status)["Stalled"] == ("True", reasons.PROGRESS_DEADLINE_EXCEEDED)
    assert summary(status)["Reconciling"][0] == "False"


def test_ready_true_names_the_generation_in_effect() -> None:
    status = run(make_md(generation=5))
    assert "run generation 5" in condition(status, "Ready")["message"]


def test_counts_alone_do_not_make_a_write_but_ride_along_with_one() -> None:
    # One more pod of a rollout is updated: only the raw counts move, so no status write (and no
    # `kubectl get -w` row with nothing new); a ready replica on the new spec moves READY and is written.
    before = run(deployment=make_deployment(replicas=3, ready=2, updated=1, available=2))
    counts_only = run(
        make_md(status=before), deployment=make_deployment(replicas=3, ready=2, updated=2, available=2)
    )
    assert status_patch(before, counts_only) == {"updatedReplicas": 2}
    assert not status_changed(before, counts_only)
    done = run(make_md(status=before), now=LATER)
    assert status_changed(before, done)
    assert status_patch(before, done)["ready"] == "2/2"


def test_tf_serving_without_an_available_version_does_not_hold_ready_back_on_its_own() -> None:
    # Ready pods passed GET /v1/models/<model>; ModelLoaded says what TF Serving answered, Ready stays True.
    status = run(model_versions=[])
    assert summary(status)["ModelLoaded"] == ("False", reasons.MODEL_LOADING)
    assert summary(status)["Ready"] == ("True", reasons.MINIMUM_REPLICAS_AVAILABLE)


def test_a_listed_version_not_available_holds_ready_back() -> None:
    versions = [{"version": 3, "state": "AVAILABLE"}, {"version": 4, "state": "LOADING"}]
    status = run(model_versions=versions, expected_versions=(3, 4))
    assert summary(status)["Ready"] == ("False", reasons.MODEL_LOADING)
