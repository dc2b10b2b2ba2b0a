"""Model lifecycle on a real control plane: live model state from a TF Serving stand-in, canary labels,
rollout safety, GPU diagnosis, cost and batching.

The operator here runs with its own configuration (stand-in endpoint, price table, a short progress
deadline), so it gets its own cluster: the session operator would reconcile the same objects. KWOK runs
with a Pod stage set in which pods of one image never become ready (an image that cannot be pulled).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster.nodes import NodeSpec, gpu_node
from modeldeploy.reconcile import applied_labels
from tests.conftest import Kube, make_namespace, own_cluster
from tests.kwok import delete_stage, pod_stage
from tests.manifests import model_deployment
from tests.polling import wait_for
from tests.standin import TFServingStandIn

UNPULLABLE = "registry.invalid/tensorflow-serving"
UNPULLABLE_IMAGE = f"{UNPULLABLE}:2.19.0"
DEADLINE_SECONDS = 10
PRICING = {
    "currency": "USD",
    "cpuHourly": 0.2,
    "memoryGiBHourly": 0.0125,
    "gpuHourly": {"nvidia-tesla-t4": 0.35, "nvidia-l4": 0.70},
}


READY_TEMPLATE = """{{ $now := Now }}
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
containerStatuses:
{{ range .spec.containers }}
- {image: {{ .image | Quote }}, name: {{ .name | Quote }}, ready: true, restartCount: 0,
   state: {running: {startedAt: {{ $now | Quote }}}}}
{{ end }}
initContainerStatuses:
{{ range .spec.initContainers }}
- {image: {{ .image | Quote }}, name: {{ .name | Quote }}, ready: true, restartCount: 0,
   state: {terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }},
   finishedAt: {{ $now | Quote }}}}}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace | Quote }}
phase: Running
startTime: {{ $now | Quote }}
"""

IMAGE_PULL_BACKOFF_TEMPLATE = """{{ $now := Now }}
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready, reason: ContainersNotReady}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  state:
    waiting:
      reason: ImagePullBackOff
      message: {{ printf "Back-off pulling image %q" .image | Quote }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
phase: Pending
"""


def kwok_stages() -> str:
    """Pod stages: pods become Ready as with KWOK's defaults, except pods of UNPULLABLE_IMAGE, which stay
    Pending in ImagePullBackOff as a kubelet reports an image that cannot be pulled."""
    not_deleting = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
    no_ip = {"key": ".status.podIP", "operator": "DoesNotExist"}
    image = ".spec.containers.[].image"
    ready = pod_stage(
        "pod-ready",
        [not_deleting, no_ip, {"key": image, "operator": "NotIn", "values": [UNPULLABLE_IMAGE]}],
        {"statusTemplate": READY_TEMPLATE},
    )
    unpullable = pod_stage(
        "pod-image-pull-backoff",
        [
            not_deleting,
            no_ip,
            {"key": ".status.containerStatuses", "operator": "DoesNotExist"},
            {"key": image, "operator": "In", "values": [UNPULLABLE_IMAGE]},
        ],
        {"statusTemplate": IMAGE_PULL_BACKOFF_TEMPLATE},
    )
    return yaml.safe_dump_all([ready, unpullable, delete_stage()])


@pytest.fixture(scope="module")
def standin() -> Iterator[TFServingStandIn]:
    server = TFServingStandIn().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory, standin: TFServingStandIn) -> Iterator[Kube]:
    workdir = tmp_path_factory.mktemp("lifecycle")
    stages = workdir / "kwok-stages.yaml"
    stages.write_text(kwok_stages())
    nodes = [NodeSpec("kwok-cpu-0", cpu="64", memory="256Gi"), gpu_node("kwok-gpu-t4-0", "Tesla-T4", gpus=1)]
    config = workdir / "operator.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "modelStatus": {
                    # The stand-in serves every model by name, so one address for all ModelDeployments.
                    "endpointOverride": standin.url,
                    "pollSeconds": 5,
                    "inFlightPollSeconds": 1,
                    "timeoutSeconds": 1,
                },
                "pricing": PRICING,
                "progressDeadlineSeconds": DEADLINE_SECONDS,
            }
        )
    )
    with own_cluster(workdir, config, kwok_stages=stages, nodes=nodes) as kube:
        yield kube


@pytest.fixture
def ns(lifecycle: Kube) -> str:
    return make_namespace(lifecycle)


def md_status(kube: Kube, name: str, ns: str) -> dict[str, Any]:
    return (kube.get("md", name, ns) or {}).get("status") or {}


def cond(kube: Kube, name: str, ns: str, kind: str) -> dict[str, Any]:
    for c in md_status(kube, name, ns).get("conditions") or ():
        if c["type"] == kind:
            return dict(c)
    return {}


def wait_condition(
    kube: Kube,
    name: str,
    ns: str,
    kind: str,
    status: str,
    reason: str,
    timeout: float = 90,
    message: str = "",
) -> dict[str, Any]:
    return wait_for(
        lambda: (
            (c := cond(kube, name, ns, kind))
            and c["status"] == status
            and c["reason"] == reason
            and message in c.get("message", "")
            and c
        ),
        timeout,
        what=f"{kind}={status} {reason} on {ns}/{name}; status {md_status(kube, name, ns)}",
    )


def pods(kube: Kube, name: str, ns: str) -> list[dict[str, Any]]:
    return kube.list("pods", ns, f"serving.modeldeploy.io/model-deployment={name}")


def pod_uids(kube: Kube, name: str, ns: str) -> set[str]:
    return {p["metadata"]["uid"] for p in pods(kube, name, ns) if not p["metadata"].get("deletionTimestamp")}


def config_labels(kube: Kube, name: str, ns: str) -> dict[str, int] | None:
    return applied_labels(kube.get("configmap", f"{name}-tfserving", ns))


# --- live model state, canary labels ---------------------------------------------------------------------


def test_canary_label_waits_for_its_version_without_restarting_pods(
    lifecycle: Kube, standin: TFServingStandIn, ns: str
) -> None:
    kube, model = lifecycle, "canary-a"
    standin.set_version(model, 3, "AVAILABLE")
    standin.set_version(model, 4, "AVAILABLE")
    labels = {"stable": 3, "canary": 3}
    spec = {"versionPolicy": {"specific": [3, 4]}, "versionLabels": labels}
    kube.apply(model_deployment(model, ns, model={"uri": "gs://acme/canary", **spec}))
    loaded = wait_condition(kube, model, ns, "ModelLoaded", "True", "ModelAvailable")
    assert "version(s) 3, 4" in loaded["message"]
    status = md_status(kube, model, ns)
    assert status["model"]["versions"] == [
        {"version": 3, "state": "AVAILABLE", "labels": ["canary", "stable"]},
        {"version": 4, "state": "AVAILABLE"},
    ]
    assert status["model"]["labels"] == [
        {"name": "canary", "version": 3, "state": "AVAILABLE", "appliedVersion": 3},
        {"name": "stable", "version": 3, "state": "AVAILABLE", "appliedVersion": 3},
    ]
    serving = pod_uids(kube, model, ns)

    # The canary moves to version 5, which TF Serving is still loading: the label waits on version 3.
    standin.set_version(model, 5, "LOADING")
    moved = {"versionPolicy": {"specific": [3, 5]}, "versionLabels": {"stable": 3, "canary": 5}}
    kube.apply(model_deployment(model, ns, model={"uri": "gs://acme/canary", **moved}))
    # Until the next poll the operator knows version 5 only from the spec (NOT_LOADED), then as LOADING.
    waiting = wait_condition(
        kube, model, ns, "ModelLoaded", "False", "LabelWaiting", message="waits for version 5 (LOADING)"
    )
    assert "label canary waits for version 5 (LOADING)" in waiting["message"]
    assert "keeps pointing at version 3" in waiting["message"]
    config = kube.get("configmap", f"{model}-tfserving", ns)
    assert config is not None and "specific" in config["data"]["models.config"]
    assert "versions: 5" in config["data"]["models.config"]  # the new version is asked for at once
    assert config_labels(kube, model, ns) == {"stable": 3, "canary": 3}  # but the label is held back
    labels_status = {entry["name"]: entry for entry in md_status(kube, model, ns)["model"]["labels"]}
    assert labels_status["canary"] == {
        "name": "canary",
        "version": 5,
        "state": "LOADING",
        "appliedVersion": 3,
    }

    # Version 5 is loaded: the label follows, through the model config only.
    standin.set_version(model, 5, "AVAILABLE")
    wait_for(lambda: config_labels(kube, model, ns) == {"stable": 3, "canary": 5}, 60, what="canary -> 5")
    wait_condition(kube, model, ns, "ModelLoaded", "True", "ModelAvailable")
    assert pod_uids(kube, model, ns) == serving
    assert cond(kube, model, ns, "Ready")["status"] == "True"


def test_failed_model_load_degrades_with_tf_serving_message(
    lifecycle: Kube, standin: TFServingStandIn, ns: str
) -> None:
    kube, model = lifecycle, "broken-b"
    error = "Could not find SavedModel .pb or .pbtxt at supplied export directory path: gs://acme/broken/2"
    standin.set_version(model, 1, "AVAILABLE")
    standin.set_version(model, 2, "END", "NOT_FOUND", error)
    kube.apply(model_deployment(model, ns, uri="gs://acme/broken"))
    degraded = wait_condition(kube, model, ns, "Degraded", "True", "ModelLoadFailed")
    assert error in degraded["message"] and "version 2" in degraded["message"]
    loaded = cond(kube, model, ns, "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", "ModelLoadFailed")
    assert md_status(kube, model, ns)["phase"] == "Degraded"

    # Fixed files: TF Serving loads version 2 and the resource recovers without any edit.
    standin.set_version(model, 2, "AVAILABLE")
    wait_condition(kube, model, ns, "Degraded", "False", "AsExpected")
    wait_condition(kube, model, ns, "ModelLoaded", "True", "ModelAvailable")


# --- rollout safety ---------------------------------------------------------------------------------------


def test_stuck_rollout_ends_in_progress_deadline_exceeded_with_old_pods_serving(
    lifecycle: Kube, standin: TFServingStandIn, ns: str
) -> None:
    kube, model = lifecycle, "safe-c"
    standin.set_version(model, 1, "AVAILABLE")
    kube.apply(model_deployment(model, ns, replicas=2))
    wait_condition(kube, model, ns, "Ready", "True", "MinimumReplicasAvailable")
    serving = pod_uids(kube, model, ns)
    assert len(serving) == 2

    kube.apply(model_deployment(model, ns, replicas=2, runtime={"image": UNPULLABLE}))
    degraded = wait_condition(kube, model, ns, "Degraded", "True", "ProgressDeadlineExceeded", timeout=120)
    assert "ImagePullBackOff" in degraded["message"] and UNPULLABLE_IMAGE in degraded["message"]
    status = md_status(kube, model, ns)
    assert status["phase"] == "Degraded"
    assert status["readyReplicas"] == 2
    assert cond(kube, model, ns, "Available")["status"] == "True"
    ready = {p["metadata"]["uid"] for p in pods(kube, model, ns) if _ready(p)}
    assert ready == serving  # the previous pods keep serving

    # Rolling back to a pullable image completes the rollout and clears the condition.
    kube.apply(model_deployment(model, ns, replicas=2))
    wait_condition(kube, model, ns, "Degraded", "False", "AsExpected", timeout=120)
    wait_condition(kube, model, ns, "Ready", "True", "MinimumReplicasAvailable")


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or ()
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


# --- GPU diagnosis ----------------------------------------------------------------------------------------


def test_gpu_type_without_nodes_then_node_added_becomes_ready(lifecycle: Kube, ns: str) -> None:
    kube, model = lifecycle, "gpu-l4"
    kube.apply(model_deployment(model, ns, resources={"gpu": {"count": 1, "type": "nvidia-l4"}}))
    ready = wait_condition(kube, model, ns, "Ready", "False", "NoMatchingGPUNode")
    assert "Scheduler: 0/" in ready["message"]
    assert "didn't match Pod's node affinity/selector" in ready["message"]
    assert "nvidia-l4" in ready["message"]
    kube.cluster.add_node(gpu_node("kwok-gpu-l4-0", "NVIDIA-L4", gpus=1))
    wait_condition(kube, model, ns, "Ready", "True", "MinimumReplicasAvailable", timeout=120)
    assert md_status(kube, model, ns)["cost"] == {"hourly": "0.93", "currency": "USD"}  # 0.2 + 0.025 + 0.70


def test_not_enough_free_gpus_then_node_added_becomes_ready(lifecycle: Kube, ns: str) -> None:
    kube, model = lifecycle, "gpu-t4x2"
    kube.apply(model_deployment(model, ns, resources={"gpu": {"count": 2, "type": "nvidia-tesla-t4"}}))
    ready = wait_condition(kube, model, ns, "Ready", "False", "InsufficientGPU")
    assert "Insufficient nvidia.com/gpu" in ready["message"]
    assert "2 free GPU(s) of type nvidia-tesla-t4" in ready["message"]
    kube.cluster.add_node(gpu_node("kwok-gpu-t4-1", "Tesla-T4", gpus=2))
    wait_condition(kube, model, ns, "Ready", "True", "MinimumReplicasAvailable", timeout=120)


# --- cost -------------------------------------------------------------------------------------------------


def test_cost_of_ready_replicas_in_status_and_printer_column(lifecycle: Kube, ns: str) -> None:
    kube, model = lifecycle, "priced"
    kube.apply(model_deployment(model, ns, replicas=2, resources={"cpu": "4", "memory": "16Gi"}))
    # 2 ready replicas x (4 x 0.2 + 16 x 0.0125) = 2 x 1.00
    wait_for(
        lambda: md_status(kube, model, ns).get("cost") == {"hourly": "2.00", "currency": "USD"},
        90,
        what="cost of two ready replicas",
    )
    table = kube.run("get", "md", model, "-n", ns).stdout.splitlines()
    start = table[0].index("COST")  # columns are aligned; empty ones (GPU) leave blanks
    assert table[1][start:].split()[0] == "2.00"
    kube.apply(model_deployment(model, ns, replicas=0, resources={"cpu": "4", "memory": "16Gi"}))
    wait_for(
        lambda: md_status(kube, model, ns).get("cost") == {"hourly": "0.00", "currency": "USD"},
        90,
        what="cost once scaled to zero",
    )


# --- batching ---------------------------------------------------------------------------------------------


def test_batching_renders_its_file_and_flag_and_bad_combinations_name_the_field(
    lifecycle: Kube, ns: str
) -> None:
    kube, model = lifecycle, "batched"
    batching = {"maxBatchSize": 32, "batchTimeoutMicros": 2000, "allowedBatchSizes": [8, 16, 32]}
    kube.apply(model_deployment(model, ns, runtime={"batching": batching}))
    config = wait_for(lambda: kube.get("configmap", f"{model}-tfserving", ns), 60, what="ConfigMap")
    text = config["data"]["batching.config"]
    assert "max_batch_size { value: 32 }" in text and "allowed_batch_sizes: 32" in text
    deployment = wait_for(lambda: kube.get("deployment", model, ns), 60, what="Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--enable_batching" in args
    assert "--batching_parameters_file=/etc/tfserving/batching.config" in args

    bad = {"maxBatchSize": 64, "allowedBatchSizes": [8, 16, 32]}  # the last size must be maxBatchSize
    result = kube.apply(model_deployment(model, ns, runtime={"batching": bad}), check=False)
    if result.returncode != 0:  # rejected at admission by the CRD's rules
        assert "allowedBatchSizes" in result.stderr
    else:
        degraded = wait_condition(kube, model, ns, "Degraded", "True", "InvalidSpec")
        assert "spec.runtime.batching.allowedBatchSizes" in degraded["message"]
        # The last valid children keep serving.
        live = kube.get("configmap", f"{model}-tfserving", ns)
        assert live is not None and "allowed_batch_sizes: 32" in live["data"]["batching.config"]
