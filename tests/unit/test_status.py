"""compute_status: observed children -> phase, conditions, counts and endpoints of a ModelDeployment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from modeldeploy import reasons
from modeldeploy.reasons import ConditionType, Phase
from modeldeploy.status import Observed, compute_status
from modeldeploy.statuspatch import status_changed, status_patch

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
NOW_TEXT = "2025-01-01T12:00:00Z"
LATER_TEXT = "2025-01-01T12:05:00Z"
CRD = Path(__file__).resolve().parents[2] / "crds" / "serving.modeldeploy.io_modeldeployments.yaml"
GPU_SPEC = {"count": 1, "type": "nvidia-tesla-t4"}
SCHEDULER_NO_GPU = (
    "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available."
)
SCHEDULER_NO_LABEL = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."


# --- builders ---------------------------------------------------------------------------------------------


def make_md(
    *,
    generation: int = 1,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    md: dict[str, Any] = {
        "apiVersion": "serving.modeldeploy.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "resnet", "namespace": "vision", "generation": generation},
        "spec": spec if spec is not None else {"model": {"uri": "gs://acme/resnet"}, "replicas": 2},
    }
    if status is not None:
        md["status"] = status
    return md


def make_deployment(
    *,
    spec_replicas: int = 2,
    replicas: int = 2,
    ready: int = 2,
    updated: int = 2,
    available: int = 2,
    generation: int = 1,
    observed: int | None = 1,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "replicas": replicas,
        "readyReplicas": ready,
        "updatedReplicas": updated,
        "availableReplicas": available,
        "conditions": conditions or [],
    }
    if observed is not None:
        status["observedGeneration"] = observed
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "resnet", "namespace": "vision", "generation": generation},
        "spec": {"replicas": spec_replicas},
        "status": status,
    }


def deadline_exceeded() -> dict[str, Any]:
    return {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "resnet-7d9f8" has timed out progressing.',
    }


def make_pod(
    name: str = "resnet-7d9f8-aaaaa",
    *,
    phase: str = "Running",
    ready: bool = True,
    unschedulable: str | None = None,
    waiting: dict[str, Any] | None = None,
    last_terminated: dict[str, Any] | None = None,
    init: dict[str, Any] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    conditions: list[dict[str, Any]]
    if unschedulable is not None:
        phase = "Pending"
        conditions = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable}
        ]
    else:
        conditions = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ]
    container: dict[str, Any] = {
        "name": "tfserving",
        "image": "tensorflow/serving:2.19.0",
        "ready": ready,
        "state": {"waiting": waiting} if waiting else {"running": {}},
    }
    if last_terminated:
        container["lastState"] = {"terminated": last_terminated}
    status: dict[str, Any] = {"phase": phase, "conditions": conditions}
    if unschedulable is None:
        status["containerStatuses"] = [container]
    if init is not None:
        status["initContainerStatuses"] = [{"name": "model-fetch", "image": "rclone/rclone:1.68.2", **init}]
    metadata: dict[str, Any] = {"name": name, "namespace": "vision"}
    if deleting:
        metadata["deletionTimestamp"] = "2025-01-01T11:59:00Z"
    return {"metadata": metadata, "spec": {"nodeName": None if unschedulable else "node-1"}, "status": status}


def observed(**kwargs: Any) -> Observed:
    values: dict[str, Any] = {"deployment": make_deployment(), "model_name": "resnet", "wants_replicas": 2}
    values.update(kwargs)
    return Observed(**values)


def run(md: dict[str, Any] | None = None, now: datetime = NOW, **kwargs: Any) -> dict[str, Any]:
    status = compute_status(md if md is not None else make_md(), observed(**kwargs), now)
    assert_well_formed(status)
    return status


def condition(status: Mapping[str, Any], kind: str) -> dict[str, Any]:
    matches = [c for c in status["conditions"] if c["type"] == kind]
    assert len(matches) == 1, f"expected one {kind} condition in {status['conditions']}"
    return dict(matches[0])


def summary(status: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def assert_well_formed(status: Mapping[str, Any]) -> None:
    """Shape every status must have, whatever the scenario."""
    assert status["phase"] in Phase.ALL
    # ModelLoaded comes last, and only once TF Serving was asked (it says nothing before).
    types = [c["type"] for c in status["conditions"]]
    assert types[:6] == [
        ConditionType.READY,
        ConditionType.AVAILABLE,
        ConditionType.PROGRESSING,
        ConditionType.DEGRADED,
        ConditionType.RECONCILING,
        ConditionType.STALLED,
    ]
    assert types[6:] in ([], [ConditionType.MODEL_LOADED])
    # kstatus reads Reconciling=True as InProgress, Stalled=True as Failed, then Ready=True as Current:
    # exactly one of them is True, so it never reads Current while the operator is still at work.
    true = {c["type"] for c in status["conditions"] if c["status"] == "True"}
    assert len(true & {"Ready", "Reconciling", "Stalled"}) == 1, status["conditions"]
    by_type = {c["type"]: c for c in status["conditions"]}
    assert (by_type["Stalled"]["status"], by_type["Stalled"]["reason"]) == (
        by_type["Degraded"]["status"],
        by_type["Degraded"]["reason"],
    )
    for c in status["conditions"]:
        assert c["status"] in (
            ("True", "False", "Unknown") if c["type"] == "ModelLoaded" else ("True", "False")
        )
        assert c["reason"] in reasons.ALL_REASONS
        assert c["message"], f"{c['type']} has an empty message"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c["lastTransitionTime"])
        assert c["observedGeneration"] == status["observedGeneration"]


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


# --- stuck rollouts and pod problems -----------------------------------------------------------------------


def test_progress_deadline_exceeded_is_degraded() -> None:
    deployment = make_deployment(
        replicas=3, ready=2, updated=1, available=2, conditions=[deadline_exceeded()]
    )
    status = run(deployment=deployment)
    assert status["phase"] == Phase.DEGRADED
    assert summary(status)["Degraded"] == ("True", reasons.PROGRESS_DEADLINE_EXCEEDED)
    assert summary(status)["Progressing"] == ("False", reasons.PROGRESS_DEADLINE_EXCEEDED)
    assert summary(status)["Ready"] == ("False", reasons.PROGRESS_DEADLINE_EXCEEDED)
    assert "timed out progressing" in condition(status, "Degraded")["message"]


def test_progress_deadline_message_names_the_pod_cause() -> None:
    deployment = make_deployment(ready=0, available=0, conditions=[deadline_exceeded()])
    pods = [make_pod(unschedulable=SCHEDULER_NO_GPU)]
    status = run(make_md(spec=gpu_spec()), deployment=deployment, pods=pods)
    degraded = condition(status, "Degraded")
    assert degraded["reason"] == reasons.PROGRESS_DEADLINE_EXCEEDED
    assert "Insufficient nvidia.com/gpu" in degraded["message"]
    # Ready names the specific cause.
    assert condition(status, "Ready")["reason"] == reasons.INSUFFICIENT_GPU


def gpu_spec() -> dict[str, Any]:
    return {"model": {"uri": "gs://acme/resnet"}, "replicas": 2, "resources": {"gpu": dict(GPU_SPEC)}}


def test_insufficient_gpu_is_reported_with_the_scheduler_message() -> None:
    deployment = make_deployment(ready=0, available=0)
    pods = [make_pod(unschedulable=SCHEDULER_NO_GPU)]
    status = run(make_md(spec=gpu_spec()), deployment=deployment, pods=pods)
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reasons.INSUFFICIENT_GPU)
    assert SCHEDULER_NO_GPU in ready["message"]
    assert "spec.resources.gpu.count" in ready["message"]
    assert "nvidia-tesla-t4" in ready["message"]
    # A node may still come (cluster autoscaler): not Degraded before the progress deadline.
    assert condition(status, "Degraded")["status"] == "False"
    assert status["phase"] == Phase.PENDING
    assert SCHEDULER_NO_GPU in condition(status, "Available")["message"]


def test_no_node_with_the_gpu_labels_is_no_matching_gpu_node() -> None:
    deployment = make_deployment(ready=0, available=0)
    pods = [make_pod(unschedulable=SCHEDULER_NO_LABEL)]
    status = run(make_md(spec=gpu_spec()), deployment=deployment, pods=pods)
    ready = condition(status, "Ready")
    assert ready["reason"] == reasons.NO_MATCHING_GPU_NODE
    assert "nvidia-tesla-t4" in ready["message"]
    assert "gpuTypes" in ready["message"]


def test_selector_mismatch_without_gpu_is_plain_unschedulable() -> None:
    deployment = make_deployment(ready=0, available=0)
    status = run(deployment=deployment, pods=[make_pod(unschedulable=SCHEDULER_NO_LABEL)])
    ready = condition(status, "Ready")
    assert ready["reason"] == reasons.UNSCHEDULABLE
    assert "spec.placement" in ready["message"]
    assert SCHEDULER_NO_LABEL in ready["message"]


def test_insufficient_cpu_is_unschedulable() -> None:
    message = "0/2 nodes are available: 2 Insufficient cpu."
    status = run(deployment=make_deployment(ready=0, available=0), pods=[make_pod(unschedulable=message)])
    assert condition(status, "Ready")["reason"] == reasons.UNSCHEDULABLE
    assert "spec.resources.cpu" in condition(status, "Ready")["message"]


def test_several_pods_with_the_same_problem_are_counted() -> None:
    pods = [
        make_pod("resnet-b", unschedulable=SCHEDULER_NO_GPU),
        make_pod("resnet-a", unschedulable=SCHEDULER_NO_GPU),
    ]
    status = run(make_md(spec=gpu_spec()), deployment=make_deployment(ready=0, available=0), pods=pods)
    message = condition(status, "Ready")["message"]
    assert message.startswith("2 pod(s) affected; Pod resnet-a")  # sorted by name: stable messages


def test_container_problems_outrank_scheduling_problems() -> None:
    pods = [
        make_pod("resnet-a", unschedulable=SCHEDULER_NO_GPU),
        make_pod("resnet-b", ready=False, waiting={"reason": "ImagePullBackOff", "message": "not found"}),
    ]
    status = run(make_md(spec=gpu_spec()), deployment=make_deployment(ready=0, available=0), pods=pods)
    assert condition(status, "Ready")["reason"] == reasons.IMAGE_PULL_FAILED


def test_image_pull_failure_is_degraded() -> None:
    pod = make_pod(ready=False, waiting={"reason": "ErrImagePull", "message": "manifest unknown"})
    status = run(deployment=make_deployment(ready=0, available=0), pods=[pod])
    assert status["phase"] == Phase.DEGRADED
    degraded = condition(status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", reasons.IMAGE_PULL_FAILED)
    assert "tensorflow/serving:2.19.0" in degraded["message"]
    assert "spec.runtime.version" in degraded["message"]
    assert "manifest unknown" in degraded["message"]


def test_oom_killed_server_points_at_memory() -> None:
    pod = make_pod(
        ready=False,
        waiting={"reason": "CrashLoopBackOff"},
        last_terminated={"exitCode": 137, "reason": "OOMKilled"},
    )
    spec = {"model": {"uri": "gs://acme/resnet"}, "replicas": 2, "resources": {"memory": "2Gi"}}
    status = run(make_md(spec=spec), deployment=make_deployment(ready=1, available=1), pods=[pod])
    degraded = condition(status, "Degraded")
    assert degraded["reason"] == reasons.CRASH_LOOP_BACK_OFF
    assert "spec.resources.memory (2Gi)" in degraded["message"]


def test_crash_looping_server_reports_exit_code_and_message() -> None:
    pod = make_pod(
        ready=False,
        waiting={"reason": "CrashLoopBackOff"},
        last_terminated={"exitCode": 1, "reason": "Error", "message": "unknown flag --foo\n"},
    )
    status = run(deployment=make_deployment(ready=0, available=0), pods=[pod])
    message = condition(status, "Degraded")["message"]
    assert "exit code 1: unknown flag --foo)" in message
    assert "spec.runtime.args" in message


USAGE_TAIL = "".join(
    f"\t--{flag}={value}\t{kind}\t\n"
    for flag, value, kind in (("port", "8500", "int32"), ("rest_api_num_threads", "8", "int32"))
)


def test_a_rejected_flag_value_is_named_from_the_spec_when_the_log_tail_is_only_the_usage() -> None:
    pod = make_pod(
        ready=False,
        waiting={"reason": "CrashLoopBackOff"},
        last_terminated={"exitCode": 255, "reason": "Error", "message": USAGE_TAIL},
    )
    spec = {"model": {"uri": "gs://acme/resnet"}, "runtime": {"args": ["--rest_api_num_threads=many"]}}
    status = run(make_md(spec=spec), deployment=make_deployment(ready=0, available=0), pods=[pod])
    message = condition(status, "Degraded")["message"]
    assert "rejected a flag value in its command line" in message
    assert "(spec.runtime.args: --rest_api_num_threads=many)" in message and "int32" not in message


def test_pods_on_their_initial_load_name_the_base_path_in_model_loaded() -> None:
    pods = [make_pod("resnet-a", ready=False)]
    status = run(deployment=make_deployment(ready=0, available=0), pods=pods)
    loaded = condition(status, "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", reasons.MODEL_LOADING)
    assert "gs://acme/resnet holds numeric version directories" in loaded["message"]
    # Once a pod serves, the poller's answer speaks for TF Serving instead; before any pod runs, nothing.
    assert "ModelLoaded" not in summary(run(pods=[make_pod("resnet-a")]))
    assert "ModelLoaded" not in summary(run(deployment=None, pods=[]))


def test_a_label_on_a_version_not_loaded_points_at_the_policy_and_the_directory() -> None:
    versions = [{"version": 2, "state": "AVAILABLE"}]
    labels = [{"name": "old", "version": 1, "state": "NOT_LOADED", "appliedVersion": 1}]
    status = run(model_versions=versions, model_labels=labels, pods=[make_pod()])
    message = condition(status, "ModelLoaded")["message"]
    assert "versionPolicy loads version 1 and that gs://acme/resnet/1 exists" in message


def test_failing_model_copier_is_model_download_failed() -> None:
    pod = make_pod(
        ready=False,
        phase="Pending",
        init={
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "message": "AccessDenied: s3://acme/resnet"}},
        },
    )
    spec = {"model": {"uri": "s3://acme/resnet"}, "replicas": 2}
    status = run(make_md(spec=spec), deployment=make_deployment(ready=0, available=0), pods=[pod])
    degraded = condition(status, "Degraded")
    assert degraded["reason"] == reasons.MODEL_DOWNLOAD_FAILED
    assert "s3://acme/resnet" in degraded["message"]
    assert "AccessDenied" in degraded["message"]
    assert "spec.serviceAccountName" in degraded["message"]


def test_model_copier_retrying_after_a_failure_is_not_yet_a_problem() -> None:
    pod = make_pod(
        ready=False,
        phase="Pending",
        init={"state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}}},
    )
    status = run(deployment=make_deployment(ready=0, available=0), pods=[pod])
    assert condition(status, "Degraded")["status"] == "False"


def test_missing_secret_is_container_config_error() -> None:
    waiting = {"reason": "CreateContainerConfigError", "message": 'secret "s3-creds" not found'}
    pod = make_pod(ready=False, phase="Pending", waiting=waiting)
    status = run(deployment=make_deployment(ready=0, available=0), pods=[pod])
    degraded = condition(status, "Degraded")
    assert degraded["reason"] == reasons.CONTAINER_CONFIG_ERROR
    assert 's3-creds" not found' in degraded["message"]
    assert "spec.env" in degraded["message"]


def test_terminating_pods_are_ignored() -> None:
    pod = make_pod(ready=False, waiting={"reason": "ErrImagePull"}, deleting=True)
    status = run(pods=[pod])
    assert status["phase"] == Phase.READY
    assert condition(status, "Degraded")["status"] == "False"


def test_replica_failure_is_failed_create() -> None:
    failure = {
        "type": "ReplicaFailure",
        "status": "True",
        "reason": "FailedCreate",
        "message": 'pods "resnet-7d9f8-" is forbidden: exceeded quota: gpu-quota',
    }
    deployment = make_deployment(replicas=0, ready=0, updated=0, available=0, conditions=[failure])
    status = run(deployment=deployment)
    assert status["phase"] == Phase.DEGRADED
    degraded = condition(status, "Degraded")
    assert degraded["reason"] == reasons.FAILED_CREATE
    assert "exceeded quota" in degraded["message"]
    assert "namespace vision" in degraded["message"]
    assert condition(status, "Ready")["reason"] == reasons.FAILED_CREATE


def test_model_load_failure_reported_by_tf_serving_is_degraded() -> None:
    versions = [{"version": 3, "state": "END", "error": "NOT_FOUND: saved_model.pb missing"}]
    status = run(deployment=make_deployment(ready=0, available=0), model_versions=versions)
    degraded = condition(status, "Degraded")
    assert degraded["reason"] == reasons.MODEL_LOAD_FAILED
    assert "version 3" in degraded["message"]
    assert "gs://acme/resnet/3" in degraded["message"]


# --- idempotence and transition times --------------------------------------------------------------------


def test_recomputing_with_nothing_new_changes_nothing() -> None:
    first = run()
    second = run(make_md(status=first), now=LATER)
    assert second == first
    assert not status_changed(first, second)
    assert status_patch(first, second) == {}


def test_last_transition_time_kept_while_status_unchanged_even_if_reason_changes() -> None:
    loading = run(deployment=make_deployment(ready=0, available=0), pods=[make_pod(ready=False)])
    rolling = run(make_md(status=loading), now=LATER, deployment=make_deployment(ready=1, available=1))
    ready = condition(rolling, "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] != condition(loading, "Ready")["reason"]
    assert ready["lastTransitionTime"] == NOW_TEXT


def test_last_transition_time_moves_when_status_flips() -> None:
    pending = run(deployment=None)
    ready = run(make_md(status=pending), now=LATER)
    assert condition(ready, "Ready")["lastTransitionTime"] == LATER_TEXT
    assert condition(ready, "Degraded")["lastTransitionTime"] == NOW_TEXT  # False before and after
    assert status_changed(pending, ready)


def test_new_generation_is_a_change() -> None:
    first = run()
    second = run(make_md(generation=2, status=first), now=LATER)
    assert status_changed(first, second)
    assert status_patch(first, second)["observedGeneration"] == 2


def test_keys_the_operator_does_not_own_are_ignored() -> None:
    first = run()
    stored = {**first, "kopf": {"progress": {}}}
    assert not status_changed(stored, run(make_md(status=stored), now=LATER))


def test_removed_fields_are_deleted_by_the_patch() -> None:
    with_gpu = run(gpu_summary="1x nvidia-l4", model_versions=[{"version": 1, "state": "AVAILABLE"}])
    without = run(make_md(status=with_gpu), now=LATER)
    assert status_changed(with_gpu, without)
    patch = status_patch(with_gpu, without)
    assert patch["gpu"] is None
    assert patch["model"] == {"versions": None}
    # Without TF Serving's answer the ModelLoaded condition goes too; the others stay as they were.
    kept = ["Ready", "Available", "Progressing", "Degraded", "Reconciling", "Stalled"]
    assert [c["type"] for c in patch["conditions"]] == kept
    assert patch["conditions"] == with_gpu["conditions"][:6]


def test_status_changed_against_an_empty_status() -> None:
    assert status_changed(None, run())
    assert status_changed({}, run())


def test_naive_now_is_taken_as_utc() -> None:
    status = run(now=datetime(2025, 1, 1, 12, 0, 0))
    assert condition(status, "Ready")["lastTransitionTime"] == NOW_TEXT


def test_other_time_zones_are_converted_to_utc() -> None:
    status = run(now=datetime(2025, 1, 1, 13, 0, 0, tzinfo=timezone(timedelta(hours=1))))
    assert condition(status, "Ready")["lastTransitionTime"] == NOW_TEXT


# --- the status fits the CRD (the API server prunes what its schema does not declare) ------------------


def _check(value: Any, schema: Mapping[str, Any], path: str) -> None:
    kind = schema.get("type")
    expected = {"object": dict, "array": list, "string": str, "integer": int}
    if kind in expected:
        assert isinstance(value, expected[kind]), f"{path}: {value!r} is not {kind}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    if kind == "string":
        assert len(value) <= schema.get("maxLength", len(value)), f"{path} too long"
        if "pattern" in schema:
            assert re.search(schema["pattern"], value), f"{path}: {value!r} !~ {schema['pattern']}"
    if kind == "array":
        for i, item in enumerate(value):
            _check(item, schema["items"], f"{path}[{i}]")
    if kind == "object" and not schema.get("x-kubernetes-preserve-unknown-fields"):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            assert key in value, f"{path}.{key} is required"
        for key, item in value.items():
            assert key in props, f"{path}.{key} is not in the CRD schema (the API server would prune it)"
            _check(item, props[key], f"{path}.{key}")


STATUS_SCENARIOS: dict[str, dict[str, Any]] = {
    "ready": {"gpu_summary": "1x nvidia-l4", "cost": {"hourly": "0.70", "currency": "USD"}},
    "versions": {"model_versions": [{"version": 1, "state": "AVAILABLE", "labels": ["stable"], "error": ""}]},
    "failed": {"deployment": None, "spec_error": "bad", "spec_error_field": "spec.model.uri"},
    "degraded": {"deployment": make_deployment(conditions=[deadline_exceeded()], ready=0, available=0)},
}


@pytest.mark.parametrize("scenario", sorted(STATUS_SCENARIOS))
def test_status_fits_the_crd_status_schema(scenario: str) -> None:
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    _check(run(**STATUS_SCENARIOS[scenario]), schema, "status")


# --- ModelLoaded: what TF Serving itself reports (issue 5) ------------------------------------------------


def test_model_loaded_is_absent_until_tf_serving_was_asked() -> None:
    assert all(c["type"] != "ModelLoaded" for c in run()["conditions"])


def test_model_loaded_true_when_the_versions_are_available() -> None:
    versions = [{"version": 3, "state": "AVAILABLE", "labels": ["stable"]}]
    labels = [{"name": "stable", "version": 3, "state": "AVAILABLE", "appliedVersion": 3}]
    status = run(model_versions=versions, model_labels=labels, expected_versions=(3,))
    loaded = condition(status, "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("True", reasons.MODEL_AVAILABLE)
    assert "version(s) 3" in loaded["message"] and "stable->3" in loaded["message"]
    assert status["model"]["labels"] == labels
    assert status["phase"] == Phase.READY


def test_model_loaded_false_while_a_version_loads() -> None:
    versions = [{"version": 3, "state": "AVAILABLE"}, {"version": 4, "state": "LOADING"}]
    loaded = condition(run(model_versions=versions), "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", reasons.MODEL_LOADING)
    assert "version 4 (LOADING)" in loaded["message"]


def test_no_available_version_is_model_loading() -> None:
    loaded = condition(run(model_versions=[]), "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", reasons.MODEL_LOADING)


def test_specific_version_not_reported_yet_is_model_loading() -> None:
    versions = [{"version": 3, "state": "AVAILABLE"}]
    loaded = condition(run(model_versions=versions, expected_versions=(3, 4)), "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", reasons.MODEL_LOADING)
    assert "4 (not loaded yet)" in loaded["message"]


def test_label_waiting_for_its_version_names_label_and_versions() -> None:
    versions = [
        {"version": 3, "state": "AVAILABLE", "labels": ["canary", "stable"]},
        {"version": 4, "state": "END"},
    ]
    labels = [
        {"name": "canary", "version": 4, "state": "END", "appliedVersion": 3},
        {"name": "stable", "version": 3, "state": "AVAILABLE", "appliedVersion": 3},
    ]
    loaded = condition(run(model_versions=versions, model_labels=labels), "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", reasons.LABEL_WAITING)
    assert "label canary waits for version 4 (END)" in loaded["message"]
    assert "keeps pointing at version 3" in loaded["message"]


def test_failed_load_is_model_load_failed_in_model_loaded_and_degraded() -> None:
    error = "NOT_FOUND: Could not find SavedModel .pb or .pbtxt at supplied export directory path"
    versions = [{"version": 5, "state": "END", "error": error}]
    status = run(model_versions=versions)
    loaded = condition(status, "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", reasons.MODEL_LOAD_FAILED)
    assert error in loaded["message"]
    degraded = condition(status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", reasons.MODEL_LOAD_FAILED)
    assert error in degraded["message"]
    assert status["phase"] == Phase.DEGRADED


def test_tf_serving_answer_that_is_not_a_status_is_model_loaded_unknown() -> None:
    status = run(
        model_status_error="TF Serving at http://resnet.vision.svc:8501/v1/models/resnet answered HTTP 503"
    )
    loaded = condition(status, "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("Unknown", reasons.MODEL_STATUS_UNKNOWN)
    assert "answered HTTP 503" in loaded["message"]
    assert "versions" not in status["model"]
    assert status["phase"] == Phase.READY  # the pods' readiness probes still tell the truth about serving


def test_model_labels_fit_the_crd() -> None:
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    labels = [{"name": "canary", "version": 4, "state": "LOADING", "appliedVersion": 3}]
    versions = [{"version": 3, "state": "AVAILABLE", "labels": ["canary"]}]
    _check(run(model_versions=versions, model_labels=labels), schema, "status")


def test_a_huge_apply_error_still_fits_the_condition_message_limit() -> None:
    # The CRD caps condition messages at 32768 characters; one over the cap would make the status
    # patch itself fail and leave the status empty.
    error = "spec.template.spec.containers[0].env[0].value: Too long: " + "x" * 200_000
    status = compute_status(make_md(), Observed(deployment=None, apply_error=error), NOW)
    for condition in status["conditions"]:
        assert len(condition["message"]) <= 32768
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert "spec.template.spec.containers[0].env[0].value: Too long" in degraded["message"]


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
