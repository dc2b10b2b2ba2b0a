"""The samples, on the session cluster whose TF Serving pods run the emulator: every one becomes Ready
because emulated TF Serving, started from each pod's own args and mounted ConfigMap, loaded its model."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from modeldeploy.config import load_config
from modeldeploy.localcluster.operator_process import OperatorProcess
from modeldeploy.localcluster.stages import STATE_ANNOTATION
from modeldeploy.modelstatusapi import translate_address
from modeldeploy.versionlabels import applied_labels
from tests.support.conditions import condition
from tests.support.kubectl import Kube
from tests.support.paths import ROOT
from tests.support.waits import wait_for

NS = "modeldeploy-samples"
SAMPLES = ROOT / "manifests" / "samples"


def loaded(kube: Kube, name: str) -> dict[str, Any] | None:
    md = kube.get("md", name, NS) or {}
    status = md.get("status") or {}
    ok = status.get("phase") == "Ready" and condition(status, "ModelLoaded").get("status") == "True"
    return md if ok else None


def test_every_sample_is_ready_because_emulated_tf_serving_loaded_it(
    kube: Kube, operator: OperatorProcess
) -> None:
    kube.run("apply", "-f", str(SAMPLES))
    try:
        for name in ("half-plus-two", "half-plus-two-canary", "resnet-gpu"):
            try:
                wait_for(
                    lambda name=name: loaded(kube, name), 120, what=f"{name} Ready with its model loaded"
                )
            except AssertionError as error:
                status = (kube.get("md", name, NS) or {}).get("status")
                raise AssertionError(f"{error}; status {status}") from error

        # The canary sample from a cold start: both labels applied at once (the pods run with
        # --allow_version_labels_for_unavailable_models), both versions AVAILABLE on both replicas.
        def both_replicas() -> dict[str, Any] | None:
            md = loaded(kube, "half-plus-two-canary")
            versions = ((md or {}).get("status", {}).get("model") or {}).get("versions") or []
            return md if [v.get("availableReplicas") for v in versions] == [2, 2] else None

        canary = wait_for(both_replicas, 60, what="both versions on both replicas")
        assert [(v["version"], v["state"]) for v in canary["status"]["model"]["versions"]] == [
            (1, "AVAILABLE"),
            (2, "AVAILABLE"),
        ]
        assert applied_labels(kube.get("configmap", "half-plus-two-canary-tfserving", NS)) == {
            "stable": 1,
            "canary": 2,
        }
        pods = kube.list("pods", NS)
        assert len(pods) == 5  # 2 + 2 + the GPU sample's HPA minimum of 1
        for pod in pods:
            assert pod["metadata"]["annotations"][STATE_ANNOTATION] == "serving/0"
            assert pod["status"]["containerStatuses"][0]["restartCount"] == 0

        # TF Serving itself answers at the pod's address (through the cluster's address map).
        config = load_config(str(kube.cluster.workdir / "operator-config.json"), {})
        pod = next(p for p in pods if p["metadata"]["name"].startswith("half-plus-two-canary"))
        host = translate_address(config.model_status, pod["status"]["podIP"])
        url = f"http://{host}:8501/v1/models/half_plus_two/labels/canary"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        # TF Serving answers a label URL with every version (get_model_status_impl.cc ignores the label).
        assert sorted(v["version"] for v in body["model_version_status"]) == ["1", "2"]
    finally:
        kube.run("delete", "-f", str(SAMPLES), "--wait=false", check=False)
