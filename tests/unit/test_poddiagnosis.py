"""compute_status on stuck rollouts and pod problems: the condition names the pod, its cause and the fix
(poddiagnosis.py reads the pods)."""

from __future__ import annotations

from modeldeploy import reasons
from modeldeploy.reasons import Phase
from tests.support.conditions import condition, summary
from tests.support.status_scenarios import (
    SCHEDULER_NO_GPU,
    SCHEDULER_NO_LABEL,
    deadline_exceeded,
    gpu_spec,
    make_deployment,
    make_md,
    make_pod,
    run,
)

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
