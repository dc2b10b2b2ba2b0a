"""The ModelDeployment status, judged by kstatus (what Flux's health checks and kpt read), on a live cluster.

kstatus is run as built from sigs.k8s.io/cli-utils (tools/kstatus/); nothing here re-implements it. It
must read Current only when the latest generation is in effect, InProgress while a rollout moves or pods
wait for a node, and Failed when a human must act (an invalid spec, a rollout past its deadline); and
`kubectl wait --for=condition=Ready`, the documented `rollout status` equivalent, must agree.

This module runs its own cluster and operator: a short progress deadline, and a KWOK pod stage in which
pods of one image run but never become ready (a model that loads forever), so that a rollout stays in
progress until the deadline.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster.binaries import kubectl_path
from tests.support import kstatus
from tests.support.clusters import make_namespace, own_cluster
from tests.support.conditions import condition, status_of, summary
from tests.support.kubectl import Kube
from tests.support.kwok import delete_stage, pod_stage
from tests.support.manifests import model_deployment
from tests.support.waits import wait_for

DEADLINE_SECONDS = 30  # the Deployments' progressDeadlineSeconds (operator configuration)
LOADING = "registry.example/tensorflow-serving"  # pods of this image run but never become ready
RESOURCES = {"cpu": "1", "memory": "1Gi"}


_RUNNING = """{{{{ $now := Now }}}}
conditions:
- {{lastTransitionTime: {{{{ $now | Quote }}}}, status: "True", type: Initialized}}
- {{lastTransitionTime: {{{{ $now | Quote }}}}, status: "{ready}", type: Ready}}
- {{lastTransitionTime: {{{{ $now | Quote }}}}, status: "{ready}", type: ContainersReady}}
containerStatuses:
{{{{ range .spec.containers }}}}
- {{image: {{{{ .image | Quote }}}}, name: {{{{ .name | Quote }}}}, ready: {ready_bool}, restartCount: 0,
   state: {{running: {{startedAt: {{{{ $now | Quote }}}}}}}}}}
{{{{ end }}}}
hostIP: {{{{ NodeIPWith .spec.nodeName | Quote }}}}
podIP: {{{{ PodIPWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace | Quote }}}}
phase: Running
startTime: {{{{ $now | Quote }}}}
"""


def kwok_stages() -> str:
    """KWOK's default pod life, except that pods whose image starts with LOADING run and stay unready,
    as TF Serving does while it loads a model (its readiness probe asks GET /v1/models/<model>)."""
    scheduled = {"key": ".spec.nodeName", "operator": "Exists"}
    not_deleting = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
    no_ip = {"key": ".status.podIP", "operator": "DoesNotExist"}
    image = ".spec.containers.[].image"
    loading_images = [f"{LOADING}:2.19.0"]
    ready = pod_stage(
        "pod-ready",
        [scheduled, not_deleting, no_ip, {"key": image, "operator": "NotIn", "values": loading_images}],
        {"statusTemplate": _RUNNING.format(ready="True", ready_bool="true")},
    )
    loading = pod_stage(
        "pod-loading",
        [scheduled, not_deleting, no_ip, {"key": image, "operator": "In", "values": loading_images}],
        {"statusTemplate": _RUNNING.format(ready="False", ready_bool="false")},
    )
    return yaml.safe_dump_all([ready, loading, delete_stage()])


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    kstatus.binary()  # fail at once, not after a cluster start, when the checker is missing
    workdir = tmp_path_factory.mktemp("kstatus")
    stages = workdir / "kwok-stages.yaml"
    stages.write_text(kwok_stages())
    config = workdir / "operator.yaml"
    config.write_text(yaml.safe_dump({"progressDeadlineSeconds": DEADLINE_SECONDS}))
    with own_cluster(workdir, config, kwok_stages=stages) as kube:
        yield kube


def verdict(kube: Kube, name: str, ns: str) -> tuple[str, dict[str, Any]]:
    """kstatus' status for the live object, and the object it judged (read in the same instant)."""
    md = kube.get("md", name, ns)
    assert md is not None, f"{ns}/{name} not found"
    return str(kstatus.compute(md)["status"]), md


def wait_verdict(kube: Kube, name: str, ns: str, status: str, ready_reason: str) -> dict[str, Any]:
    """Wait until kstatus reads `status` with the Ready condition's reason `ready_reason`."""

    def probe() -> dict[str, Any] | None:
        found, md = verdict(kube, name, ns)
        ready = summary(status_of(md)).get("Ready", ("", ""))
        return md if found == status and ready[1] == ready_reason else None

    return wait_for(
        probe,
        120,
        what=f"{ns}/{name}: kstatus {status} with Ready reason {ready_reason}",
    )


def patch(kube: Kube, name: str, ns: str, spec: dict[str, Any]) -> None:
    kube.run("patch", "md", name, "-n", ns, "--type=merge", "-p", json.dumps({"spec": spec}))


def kubectl_wait_ready(kube: Kube, name: str, ns: str, timeout: str) -> bool:
    """The documented equivalent of `kubectl rollout status` for a ModelDeployment."""
    result = kube.run(
        "wait", "--for=condition=Ready", f"md/{name}", "-n", ns, f"--timeout={timeout}", check=False
    )
    return result.returncode == 0


@pytest.fixture
def ns(judged: Kube) -> str:
    return make_namespace(judged)


def test_ready_model_is_current_from_stdin_and_from_the_api_server(judged: Kube, ns: str) -> None:
    judged.apply(model_deployment("ok", ns, replicas=2, resources=RESOURCES))
    md = wait_verdict(judged, "ok", ns, "Current", "MinimumReplicasAvailable")
    assert md["status"]["ready"] == "2/2"
    assert md["status"]["observedGeneration"] == md["metadata"]["generation"]
    live = kstatus.live(judged.cluster.kubeconfig, "md", "ok", ns)
    assert live["status"] == "Current", live
    assert kubectl_wait_ready(judged, "ok", ns, "60s")


def test_rollout_is_in_progress_then_failed_at_the_deadline(judged: Kube, ns: str) -> None:
    judged.apply(model_deployment("roll", ns, replicas=2, resources=RESOURCES))
    wait_verdict(judged, "roll", ns, "Current", "MinimumReplicasAvailable")
    patch(judged, "roll", ns, {"runtime": {"image": LOADING}})
    # The new pod runs but never gets ready: a rollout in progress while the old replicas serve.
    md = wait_verdict(judged, "roll", ns, "InProgress", "ModelLoading")
    found = summary(status_of(md))
    assert found["Reconciling"] == ("True", "ModelLoading")
    assert found["Available"][0] == "True", "the previous spec still serves"
    assert found["Progressing"][0] == "True", "Deployment convention: True while the rollout moves"
    current, wanted = md["status"]["ready"].split("/")
    assert (int(current), int(wanted)) == (0, 2), "no ready replica runs the new spec yet"
    assert md["status"]["phase"] == "Progressing"
    assert not kubectl_wait_ready(judged, "roll", ns, "3s"), "kubectl wait must not pass during a rollout"
    # Past the Deployment's progress deadline the rollout is stuck: Failed, and still serving.
    md = wait_verdict(judged, "roll", ns, "Failed", "ProgressDeadlineExceeded")
    found = summary(status_of(md))
    assert found["Stalled"] == ("True", "ProgressDeadlineExceeded")
    assert found["Degraded"] == ("True", "ProgressDeadlineExceeded")
    assert found["Available"][0] == "True"
    # Back to an image that loads: the rollout completes and kstatus reads Current again.
    patch(judged, "roll", ns, {"runtime": {"image": "tensorflow/serving"}})
    wait_verdict(judged, "roll", ns, "Current", "MinimumReplicasAvailable")


def test_unschedulable_pods_are_in_progress(judged: Kube, ns: str) -> None:
    # The default GPU nodes have 4 GPUs each: a replica asking for 8 waits for a node that may come.
    gpu = {**RESOURCES, "gpu": {"count": 8, "type": "nvidia-tesla-t4"}}
    judged.apply(model_deployment("waits", ns, replicas=1, resources=gpu))
    md = wait_verdict(judged, "waits", ns, "InProgress", "InsufficientGPU")
    assert summary(status_of(md))["Reconciling"] == ("True", "InsufficientGPU")
    assert summary(status_of(md))["Stalled"][0] == "False"
    assert md["status"]["ready"] == "0/1"


def test_invalid_spec_is_failed_while_the_previous_spec_serves(judged: Kube, ns: str) -> None:
    judged.apply(model_deployment("bad", ns, replicas=2, resources=RESOURCES))
    wait_verdict(judged, "bad", ns, "Current", "MinimumReplicasAvailable")
    patch(judged, "bad", ns, {"resources": {"gpu": {"count": 1, "type": "nvidia-v100"}}})
    md = wait_verdict(judged, "bad", ns, "Failed", "InvalidSpec")
    found = summary(status_of(md))
    assert found["Stalled"] == ("True", "InvalidSpec")
    assert found["Available"] == ("True", "MinimumReplicasAvailable"), "the previous spec still serves"
    ready = condition(md["status"], "Ready")
    assert "spec.resources.gpu.type" in ready["message"] and "still serves" in ready["message"]
    # Issue 15: `kubectl wait --for=condition=Ready` used to pass here.
    assert not kubectl_wait_ready(judged, "bad", ns, "3s")
    # Fixed: Current again.
    patch(judged, "bad", ns, {"resources": {"gpu": None}})
    wait_verdict(judged, "bad", ns, "Current", "MinimumReplicasAvailable")
    assert kubectl_wait_ready(judged, "bad", ns, "60s")


def test_invalid_spec_at_creation_is_failed(judged: Kube, ns: str) -> None:
    gpu = {**RESOURCES, "gpu": {"count": 1, "type": "nvidia-v100"}}
    judged.apply(model_deployment("never", ns, resources=gpu))
    md = wait_verdict(judged, "never", ns, "Failed", "InvalidSpec")
    assert md["status"]["phase"] == "Failed"


# --- what `kubectl get md -w` shows -------------------------------------------------------------------


COLUMNS = ("model", "ready", "phase", "gpu", "cost")
RIDE_ALONG = {"replicas", "readyReplicas", "updatedReplicas"}


def visible(md: dict[str, Any]) -> tuple[Any, ...]:
    """What a user sees of a ModelDeployment's status: its columns, conditions and observed generation."""
    status = md.get("status") or {}
    return (
        md["metadata"].get("generation"),
        {k: v for k, v in status.items() if k not in RIDE_ALONG and k != "conditions"},
        [(c["type"], c["status"], c["reason"], c["message"]) for c in status.get("conditions") or ()],
    )


def watched(kube: Kube, ns: str, until: Callable[[], bool]) -> list[dict[str, Any]]:
    """Every version of the namespace's ModelDeployments a watch delivers until `until()` holds."""
    argv = [
        kubectl_path(),
        f"--kubeconfig={kube.cluster.kubeconfig}",
        "get",
        "md",
        "-n",
        ns,
        "-w",
        "-o",
        "json",
    ]
    out = kube.cluster.workdir / f"watch-{ns}.json"
    with out.open("w") as sink:
        watch = subprocess.Popen(argv, stdout=sink, stderr=subprocess.DEVNULL)
        try:
            wait_for(until, 120, what="the watched changes")
        finally:
            watch.terminate()
            watch.wait(timeout=10)
    decoder, text, at, found = json.JSONDecoder(), out.read_text(), 0, []
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return found
        obj, at = decoder.raw_decode(text, at)
        found.append(obj)


def test_watch_rows_change_something_visible_and_the_first_write_fills_the_columns(
    judged: Kube, ns: str
) -> None:
    name = "rows"

    def phase_ready(generation: int) -> bool:
        md = judged.get("md", name, ns) or {}
        status = md.get("status") or {}
        return status.get("phase") == "Ready" and status.get("observedGeneration") == generation

    created: list[dict[str, Any]] = []

    def create_and_roll() -> bool:
        if not created:
            manifest = json.dumps(model_deployment(name, ns, replicas=3, resources=RESOURCES))
            created.append(json.loads(judged.run("create", "-f", "-", "-o", "json", input=manifest).stdout))
        md = judged.get("md", name, ns) or {}
        if md["metadata"]["generation"] == 1 and phase_ready(1):
            patch(judged, name, ns, {"runtime": {"version": "2.18.0"}})
        return phase_ready(2)

    events = watched(judged, ns, create_and_roll)
    assert len(events) >= 4, events
    # Before the operator's first write, the CRD's default status: Pending, and generation not observed
    # (so kstatus reads InProgress, not Current).
    assert created[0]["status"] == {"observedGeneration": 0, "phase": "Pending"}
    assert kstatus.compute(created[0])["status"] == "InProgress"
    first_write = next(e for e in events if e["status"].get("observedGeneration") == 1)
    assert first_write["status"]["model"]["name"] == name
    # The READY column is filled from the first write. It reads 0/3 unless that write was slow enough
    # (a loaded machine) for a pod to become ready first; the row is still not Ready.
    assert re.fullmatch(r"[0-2]/3", first_write["status"]["ready"]), first_write["status"]
    assert first_write["status"]["phase"] in ("Pending", "Progressing"), first_write["status"]
    for before, after in itertools.pairwise(events):
        assert visible(before) != visible(after), f"a row with nothing new: {after['status']}"
