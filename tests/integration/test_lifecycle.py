"""Model lifecycle on a real control plane whose TF Serving pods run the emulator: canary labels, load
failures on all or one replica, crash loops, bad model paths, rollout safety, GPU diagnosis, cost and
batching.

The operator here runs with its own configuration (short poll periods, a price table, a short progress
deadline), so it gets its own cluster: the session operator would reconcile the same objects. The pod farm
runs with TF Serving's load retry interval scaled down (a failed load ends after 5 retries of 60 s in
TF Serving) and a short restart back-off; pods of one image never start (an image that cannot be pulled).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster.nodes import NodeSpec, gpu_node
from modeldeploy.localcluster.podfarm import pod_overlay_root
from modeldeploy.localcluster.tfserving.store import ModelStore
from modeldeploy.versionlabels import applied_labels
from tests.conftest import Kube, make_namespace, own_cluster
from tests.manifests import model_deployment
from tests.polling import wait_for

UNPULLABLE = "registry.invalid/tensorflow-serving"
UNPULLABLE_IMAGE = f"{UNPULLABLE}:2.19.0"
DEADLINE_SECONDS = 10
PRICING = {
    "currency": "USD",
    "cpuHourly": 0.2,
    "memoryGiBHourly": 0.0125,
    "gpuHourly": {"nvidia-tesla-t4": 0.35, "nvidia-l4": 0.70},
}
TIME_SCALE = 0.02  # TF Serving's 60 s load retry interval becomes 1.2 s
FAST_RELOAD = {"modelConfigPollSeconds": 1}  # TF Serving re-reads models.config every second


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    workdir = tmp_path_factory.mktemp("lifecycle")
    nodes = [NodeSpec("kwok-cpu-0", cpu="64", memory="256Gi"), gpu_node("kwok-gpu-t4-0", "Tesla-T4", gpus=1)]
    config = workdir / "operator.yaml"
    settings = {
        "modelStatus": {"pollSeconds": 5, "inFlightPollSeconds": 1, "timeoutSeconds": 1},
        "pricing": PRICING,
        "progressDeadlineSeconds": DEADLINE_SECONDS,
    }
    config.write_text(yaml.safe_dump(settings))
    options = {
        "emulate_tfserving": True,
        "unpullable_images": (UNPULLABLE_IMAGE,),
        "backoff_scale": 0.1,
        "tfserving_time_scale": TIME_SCALE,
    }
    with own_cluster(workdir, config, nodes=nodes, **options) as kube:
        yield kube


@pytest.fixture
def store(lifecycle: Kube) -> ModelStore:
    return ModelStore(lifecycle.cluster.model_store_root)


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


def serve(kube: Kube, model: str, ns: str, **spec: Any) -> set[str]:
    """Apply a ModelDeployment, wait until it is Ready, and return its serving pods' uids."""
    kube.apply(model_deployment(model, ns, **spec))
    wait_condition(kube, model, ns, "Ready", "True", "MinimumReplicasAvailable")
    return pod_uids(kube, model, ns)


def config_labels(kube: Kube, name: str, ns: str) -> dict[str, int] | None:
    return applied_labels(kube.get("configmap", f"{name}-tfserving", ns))


# --- live model state, canary labels ---------------------------------------------------------------------


def uri_for(ns: str, model: str) -> str:
    return f"gs://acme/{ns}/{model}"


def versions_status(kube: Kube, name: str, ns: str) -> dict[int, dict[str, Any]]:
    return {v["version"]: v for v in (md_status(kube, name, ns).get("model") or {}).get("versions") or ()}


def test_canary_label_waits_for_its_version_without_restarting_pods(
    lifecycle: Kube, store: ModelStore, ns: str
) -> None:
    kube, model = lifecycle, "canary-a"
    uri = uri_for(ns, model)
    store.add_version(uri, 3)
    store.add_version(uri, 4)
    labels = {"stable": 3, "canary": 3}
    spec = {"uri": uri, "versionPolicy": {"specific": [3, 4]}, "versionLabels": labels}
    kube.apply(model_deployment(model, ns, model=spec, replicas=2, runtime=FAST_RELOAD))
    loaded = wait_condition(kube, model, ns, "ModelLoaded", "True", "ModelAvailable")
    assert "version(s) 3, 4" in loaded["message"]
    wait_for(lambda: versions_status(kube, model, ns).get(4, {}).get("replicas") == 2, 60, what="both pods")
    status = md_status(kube, model, ns)
    assert status["model"]["versions"] == [
        {
            "version": 3,
            "state": "AVAILABLE",
            "availableReplicas": 2,
            "replicas": 2,
            "labels": ["canary", "stable"],
        },
        {"version": 4, "state": "AVAILABLE", "availableReplicas": 2, "replicas": 2},
    ]
    assert status["model"]["labels"] == [
        {"name": "canary", "version": 3, "state": "AVAILABLE", "appliedVersion": 3},
        {"name": "stable", "version": 3, "state": "AVAILABLE", "appliedVersion": 3},
    ]
    serving = pod_uids(kube, model, ns)

    # The canary moves to version 5, which takes a while to load: the label waits on version 3.
    store.add_version(uri, 5, load_seconds=20 / TIME_SCALE)
    moved = {"uri": uri, "versionPolicy": {"specific": [3, 5]}, "versionLabels": {"stable": 3, "canary": 5}}
    kube.apply(model_deployment(model, ns, model=moved, replicas=2, runtime=FAST_RELOAD))
    waiting = wait_condition(
        kube, model, ns, "ModelLoaded", "False", "LabelWaiting", message="waits for version 5 (LOADING)"
    )
    assert "keeps pointing at version 3" in waiting["message"]
    config = kube.get("configmap", f"{model}-tfserving", ns)
    assert config is not None and "versions: 5" in config["data"]["models.config"]  # asked for at once
    assert config_labels(kube, model, ns) == {"stable": 3, "canary": 3}  # but the label is held back

    # Version 5 is loaded on both pods: the label follows, through the model config only.
    wait_for(lambda: config_labels(kube, model, ns) == {"stable": 3, "canary": 5}, 90, what="canary -> 5")
    wait_condition(kube, model, ns, "ModelLoaded", "True", "ModelAvailable")
    assert pod_uids(kube, model, ns) == serving
    assert all(p["status"]["containerStatuses"][0]["restartCount"] == 0 for p in pods(kube, model, ns))
    assert cond(kube, model, ns, "Ready")["status"] == "True"


def test_new_version_failing_everywhere_degrades_keeps_the_old_one_and_a_fix_clears_it(
    lifecycle: Kube, store: ModelStore, ns: str
) -> None:
    kube, model = lifecycle, "broken-b"
    uri = uri_for(ns, model)
    store.add_version(uri, 1)
    kube.apply(model_deployment(model, ns, uri=uri, replicas=2))
    wait_condition(kube, model, ns, "ModelLoaded", "True", "ModelAvailable")
    serving = pod_uids(kube, model, ns)

    error = f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {uri}/2"
    store.add_version(uri, 2, error=error)  # TF Serving's file system poll finds it on every pod
    degraded = wait_condition(kube, model, ns, "Degraded", "True", "ModelLoadFailed", timeout=120)
    assert error in degraded["message"] and "version 2" in degraded["message"]
    loaded = cond(kube, model, ns, "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", "ModelLoadFailed")
    versions = versions_status(kube, model, ns)
    assert versions[1]["state"] == "AVAILABLE" and versions[1]["availableReplicas"] == 2  # still serving
    assert versions[2]["state"] == "END" and versions[2]["availableReplicas"] == 0
    assert cond(kube, model, ns, "Available")["status"] == "True"  # Ready follows ModelLoaded
    assert pod_uids(kube, model, ns) == serving

    # A fixed version 3: TF Serving still reports version 2's error (END states are kept), but it no longer
    # counts once a newer version is AVAILABLE everywhere.
    store.add_version(uri, 3)
    wait_condition(kube, model, ns, "Degraded", "False", "AsExpected", timeout=120)
    wait_condition(kube, model, ns, "ModelLoaded", "True", "ModelAvailable")
    versions = versions_status(kube, model, ns)
    assert "error" not in versions[2] and error in versions[2]["lastError"]
    assert pod_uids(kube, model, ns) == serving


def test_version_failing_on_one_replica_of_three_holds_the_label(
    lifecycle: Kube, store: ModelStore, ns: str
) -> None:
    kube, model = lifecycle, "one-bad"
    uri = uri_for(ns, model)
    store.add_version(uri, 3)
    base = {"uri": uri, "versionPolicy": {"specific": [3]}, "versionLabels": {"canary": 3}}
    kube.apply(model_deployment(model, ns, model=base, replicas=3, runtime=FAST_RELOAD))
    wait_for(
        lambda: versions_status(kube, model, ns).get(3, {}).get("availableReplicas") == 3, 90, what="3/3"
    )
    names = sorted(p["metadata"]["name"] for p in pods(kube, model, ns))
    # Version 4's copy is corrupt on one pod only (the pod farm's per-pod overlay of the model store).
    corrupt = "Op type not registered 'FancyOp' in binary running on this host"
    ModelStore(pod_overlay_root(store.root, ns, names[0])).add_version(uri, 4, error=corrupt)
    store.add_version(uri, 4)
    moved = {"uri": uri, "versionPolicy": {"specific": [3, 4]}, "versionLabels": {"canary": 4}}
    kube.apply(model_deployment(model, ns, model=moved, replicas=3, runtime=FAST_RELOAD))
    degraded = wait_condition(kube, model, ns, "Degraded", "True", "ModelLoadFailed", timeout=120)
    assert names[0] in degraded["message"] and corrupt in degraded["message"]
    v4 = versions_status(kube, model, ns)[4]
    assert (v4["availableReplicas"], v4["replicas"]) == (2, 3)
    assert config_labels(kube, model, ns) == {"canary": 3}  # not AVAILABLE on every ready replica
    label = md_status(kube, model, ns)["model"]["labels"][0]
    assert label["appliedVersion"] == 3 and label["version"] == 4
    assert md_status(kube, model, ns)["readyReplicas"] == 3


def test_rollout_to_flags_tf_serving_rejects_crash_loops_while_old_pods_serve(
    lifecycle: Kube, ns: str
) -> None:
    kube, model = lifecycle, "bad-flag"
    serving = serve(kube, model, ns, replicas=2)

    kube.apply(model_deployment(model, ns, replicas=2, runtime={"args": ["--rest_api_num_threads=many"]}))
    degraded = wait_condition(kube, model, ns, "Degraded", "True", "CrashLoopBackOff", timeout=120)
    assert "exit code 255" in degraded["message"] and "spec.runtime.args" in degraded["message"]
    assert (
        "rejected a flag value" in degraded["message"]
        and "--rest_api_num_threads=many" in degraded["message"]
    )
    crashing = [p for p in pods(kube, model, ns) if p["metadata"]["uid"] not in serving]
    assert crashing, "a new pod was created"
    state = crashing[0]["status"]["containerStatuses"][0]
    assert state["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert state["lastState"]["terminated"]["exitCode"] == 255
    wait_for(
        lambda: any(
            p["status"]["containerStatuses"][0]["restartCount"] >= 2
            for p in pods(kube, model, ns)
            if p["metadata"]["uid"] not in serving
        ),
        60,
        what="the restart count to grow",
    )
    ready = {p["metadata"]["uid"] for p in pods(kube, model, ns) if _ready(p)}
    assert ready == serving  # maxUnavailable 0: the old pods keep serving
    assert md_status(kube, model, ns)["readyReplicas"] == 2

    kube.apply(model_deployment(model, ns, replicas=2))  # back to valid flags
    wait_condition(kube, model, ns, "Degraded", "False", "AsExpected", timeout=120)


def test_unknown_flag_is_printed_and_ignored_as_tf_serving_does(lifecycle: Kube, ns: str) -> None:
    """main.cc prints "unknown argument" for a flag it does not know and starts anyway."""
    kube, model = lifecycle, "unknown-flag"
    kube.apply(model_deployment(model, ns, runtime={"args": ["--enable_batchng=true"]}))
    wait_condition(kube, model, ns, "Ready", "True", "MinimumReplicasAvailable")
    wait_condition(kube, model, ns, "ModelLoaded", "True", "ModelAvailable")
    assert pods(kube, model, ns)[0]["status"]["containerStatuses"][0]["restartCount"] == 0


# --- bad model paths --------------------------------------------------------------------------------------


def test_base_path_without_versions_names_the_path(lifecycle: Kube, store: ModelStore, ns: str) -> None:
    kube, model = lifecycle, "empty-path"
    uri = uri_for(ns, model)
    store.make_base_path(uri)
    kube.apply(model_deployment(model, ns, uri=uri))
    loading = wait_condition(kube, model, ns, "ModelLoaded", "False", "ModelLoading")
    assert uri in loading["message"] and "numeric version directories" in loading["message"]
    assert cond(kube, model, ns, "Ready")["status"] == "False"
    # A version appears: TF Serving's file system poll loads it and the pod becomes ready.
    store.add_version(uri, 1)
    wait_condition(kube, model, ns, "ModelLoaded", "True", "ModelAvailable", timeout=120)
    wait_condition(kube, model, ns, "Ready", "True", "MinimumReplicasAvailable")


def test_policy_naming_an_absent_version_says_so_and_keeps_serving(
    lifecycle: Kube, store: ModelStore, ns: str
) -> None:
    kube, model = lifecycle, "absent-version"
    uri = uri_for(ns, model)
    store.add_version(uri, 1)
    kube.apply(
        model_deployment(
            model, ns, model={"uri": uri, "versionPolicy": {"specific": [1]}}, runtime=FAST_RELOAD
        )
    )
    wait_condition(kube, model, ns, "ModelLoaded", "True", "ModelAvailable")
    serving = pod_uids(kube, model, ns)
    absent = {"uri": uri, "versionPolicy": {"specific": [1, 9]}}
    kube.apply(model_deployment(model, ns, model=absent, runtime=FAST_RELOAD))
    missing = wait_condition(kube, model, ns, "ModelLoaded", "False", "ModelLoading", message="9 (")
    assert f"{uri}/9" in missing["message"]
    assert versions_status(kube, model, ns)[1]["state"] == "AVAILABLE"
    assert pod_uids(kube, model, ns) == serving and cond(kube, model, ns, "Available")["status"] == "True"


def test_label_on_a_version_the_policy_does_not_load_names_the_cause(
    lifecycle: Kube, store: ModelStore, ns: str
) -> None:
    kube, model = lifecycle, "label-unloaded"
    uri = uri_for(ns, model)
    store.add_version(uri, 1)
    store.add_version(uri, 2)
    labelled = {"uri": uri, "versionLabels": {"old": 1}}  # latest: 1 loads version 2 only
    kube.apply(model_deployment(model, ns, model=labelled, runtime=FAST_RELOAD))
    waiting = wait_condition(kube, model, ns, "ModelLoaded", "False", "LabelWaiting")
    assert "waits for version 1 (NOT_LOADED)" in waiting["message"]
    assert "versionPolicy loads version 1" in waiting["message"]
    assert cond(kube, model, ns, "Available")["status"] == "True"  # version 2 serves all along
    assert versions_status(kube, model, ns)[2]["state"] == "AVAILABLE"


# --- rollout safety ---------------------------------------------------------------------------------------


def test_stuck_rollout_ends_in_progress_deadline_exceeded_with_old_pods_serving(
    lifecycle: Kube, ns: str
) -> None:
    kube, model = lifecycle, "safe-c"
    serving = serve(kube, model, ns, replicas=2)
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
