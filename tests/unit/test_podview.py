"""What the pod farm hands the emulated server: a pod's argv, mounted files, model paths and probe."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from modeldeploy.config import OperatorConfig
from modeldeploy.desired import build_children
from modeldeploy.localcluster.podview import pod_view
from modeldeploy.localcluster.samples import wanted_versions
from modeldeploy.localcluster.stages import STATE_ANNOTATION, pod_stages
from modeldeploy.spec import parse_spec
from tests.support.paths import ROOT


def children(uri: str, **spec: Any) -> dict[str, dict[str, Any]]:
    parsed = parse_spec("resnet", "vision", {"model": {"uri": uri}, **spec}, OperatorConfig())
    return {obj["kind"]: obj for obj in build_children(parsed, OperatorConfig())}


def running(deployment: dict[str, Any], ip: str = "10.244.0.3") -> dict[str, Any]:
    return {
        "metadata": {"name": "resnet-abc", "namespace": "vision", "uid": "u-1"},
        "spec": deployment["spec"]["template"]["spec"],
        "status": {"phase": "Running", "podIP": ip},
    }


def test_argv_is_the_containers_command_and_args_exactly() -> None:
    objs = children("gs://b/resnet", runtime={"args": ["--enable_model_warmup=false"]})
    view = pod_view(running(objs["Deployment"]))
    assert view is not None
    container = objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert view.argv == ["tensorflow_model_server", *container["args"]]
    assert view.argv[-1] == "--enable_model_warmup=false"
    assert view.ip == "10.244.0.3" and view.aliases == {}


def test_files_come_from_the_configmap_mounted_over_their_path() -> None:
    objs = children("gs://b/resnet", runtime={"batching": {"maxBatchSize": 8}})
    view = pod_view(running(objs["Deployment"]))
    assert view is not None
    configmap = objs["ConfigMap"]
    get = {"resnet-tfserving": configmap}.get
    assert view.read_file(get, "/etc/tfserving/models.config") == configmap["data"]["models.config"]
    assert view.read_file(get, "/etc/tfserving//batching.config") == configmap["data"]["batching.config"]
    with pytest.raises(FileNotFoundError, match=r"/etc/tfserving/other\.config"):
        view.read_file(get, "/etc/tfserving/other.config")
    with pytest.raises(FileNotFoundError):
        view.read_file(lambda name: None, "/etc/tfserving/models.config")  # the ConfigMap is gone
    with pytest.raises(FileNotFoundError):
        view.read_file(get, "/tmp/models.config")  # an emptyDir holds no such file


def test_configmap_items_rename_keys() -> None:
    objs = children("gs://b/resnet")
    pod = running(objs["Deployment"])
    volume = next(v for v in pod["spec"]["volumes"] if "configMap" in v)
    volume["configMap"]["items"] = [{"key": "models.config", "path": "renamed.config"}]
    view = pod_view(pod)
    assert view is not None
    get = {"resnet-tfserving": objs["ConfigMap"]}.get
    assert view.read_file(get, "/etc/tfserving/renamed.config") == objs["ConfigMap"]["data"]["models.config"]
    with pytest.raises(FileNotFoundError):
        view.read_file(get, "/etc/tfserving/models.config")


@pytest.mark.parametrize(
    ("uri", "local", "holds"),
    [
        ("s3://bucket/models/resnet", "/models/resnet", "s3://bucket/models/resnet"),
        ("https://example.com/m/resnet", "/models/resnet", "https://example.com/m/resnet"),
        ("pvc://claim-a/models/resnet", "/mnt/models", "pvc://claim-a"),
    ],
)
def test_model_copies_and_claims_map_back_to_their_uri(uri: str, local: str, holds: str) -> None:
    view = pod_view(running(children(uri)["Deployment"]))
    assert view is not None
    assert view.aliases == {local: holds}


def test_readiness_probe_port_name_is_resolved() -> None:
    view = pod_view(running(children("gs://b/resnet")["Deployment"]))
    assert view is not None and view.readiness is not None
    assert (view.readiness.path, view.readiness.port) == ("/v1/models/resnet", 8501)


def test_pods_not_running_are_not_started() -> None:
    deployment = children("gs://b/resnet")["Deployment"]
    pending = running(deployment)
    pending["status"] = {"phase": "Pending"}
    deleting = running(deployment)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    other = running(deployment)
    other["spec"] = {"containers": [{"name": "x", "command": ["sleep"]}]}
    assert [pod_view(p) for p in (pending, deleting, other)] == [None, None, None]


def test_samples_get_the_versions_their_policies_load() -> None:
    docs = [
        d
        for path in sorted((ROOT / "manifests" / "samples").glob("*.yaml"))
        for d in yaml.safe_load_all(path.read_text())
    ]
    assert wanted_versions(docs) == {
        "gs://modeldeploy-samples/half_plus_two": {1, 2},
        "gs://modeldeploy-samples/resnet": {1},
    }


def test_stages_key_every_tf_serving_state_on_the_pod_farms_annotation() -> None:
    stages = {s["metadata"]["name"]: s for s in pod_stages(True, ("bad:1",))}
    assert set(stages) == {
        "pod-ready",
        "pod-image-pull-backoff",
        "modeldeploy-pod-start",
        "modeldeploy-pod-serving",
        "modeldeploy-pod-starting",
        "modeldeploy-pod-crashloop",
        "pod-delete",
    }
    for state in ("serving", "starting", "crashloop"):
        keys = [e["key"] for e in stages[f"modeldeploy-pod-{state}"]["spec"]["selector"]["matchExpressions"]]
        assert any(STATE_ANNOTATION in k and f'startswith("{state}/")' in k for k in keys)
    crash = stages["modeldeploy-pod-crashloop"]["spec"]["next"]["statusTemplate"]
    assert "CrashLoopBackOff" in crash and "sim.modeldeploy.io/exit-message" in crash
    # Without emulation, every pod is Ready at once as with KWOK's defaults.
    assert [s["metadata"]["name"] for s in pod_stages(False)] == ["pod-ready", "pod-delete"]
