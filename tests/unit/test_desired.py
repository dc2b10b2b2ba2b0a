"""Child builders: assert the fields that carry behaviour, one behaviour per test."""

from __future__ import annotations

from typing import Any

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from modeldeploy.config import default_config
from modeldeploy.desired import (
    RESTART_HASH_ANNOTATION,
    build_children,
    build_configmap,
    build_deployment,
    configmap_name,
    selector_labels,
    selector_string,
)
from modeldeploy.spec import ModelDeploymentSpec, parse_spec

CONFIG = default_config()
LABELS = {
    "app.kubernetes.io/name": "tfserving",
    "app.kubernetes.io/instance": "resnet",
    "app.kubernetes.io/managed-by": "modeldeploy",
    "app.kubernetes.io/component": "model-server",
    "serving.modeldeploy.io/model-deployment": "resnet",
}


def md(**spec: Any) -> ModelDeploymentSpec:
    spec.setdefault("model", {"uri": "gs://acme-models/resnet"})
    return parse_spec("resnet", "vision", spec, CONFIG)


def kinds(children: list[dict[str, Any]]) -> list[str]:
    return [c["kind"] for c in children]


def pod_of(deployment: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def server(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod_of(deployment)["containers"][0]
    return container


def restart_hash(m: ModelDeploymentSpec) -> str:
    value: str = build_deployment(m, CONFIG)["spec"]["template"]["metadata"]["annotations"][
        RESTART_HASH_ANNOTATION
    ]
    return value


# --- children and metadata ----------------------------------------------------------------------------


def test_apply_order_and_optional_kinds() -> None:
    assert kinds(build_children(md(), CONFIG)) == ["ConfigMap", "NetworkPolicy", "Deployment", "Service"]
    assert kinds(build_children(md(replicas=3), CONFIG)) == [
        "ConfigMap",
        "NetworkPolicy",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    ]
    scaled = md(autoscaling={"minReplicas": 2, "maxReplicas": 5})
    assert kinds(build_children(scaled, CONFIG)) == [
        "ConfigMap",
        "NetworkPolicy",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ]
    assert "PodDisruptionBudget" not in kinds(build_children(md(autoscaling={"maxReplicas": 5}), CONFIG))


def test_every_child_is_named_labelled_and_unowned() -> None:
    for child in build_children(md(autoscaling={"minReplicas": 2, "maxReplicas": 5}), CONFIG):
        meta = child["metadata"]
        assert meta["namespace"] == "vision"
        assert meta["name"] == ("resnet-tfserving" if child["kind"] == "ConfigMap" else "resnet")
        assert meta["labels"] == LABELS
        assert "ownerReferences" not in meta  # the kube layer adds them


def test_selector_is_only_the_model_deployment_label() -> None:
    assert selector_labels("resnet") == {"serving.modeldeploy.io/model-deployment": "resnet"}
    assert selector_string("resnet") == "serving.modeldeploy.io/model-deployment=resnet"
    assert configmap_name("resnet") == "resnet-tfserving"
    children = {c["kind"]: c for c in build_children(md(replicas=2), CONFIG)}
    assert children["Deployment"]["spec"]["selector"] == {"matchLabels": selector_labels("resnet")}
    assert children["Service"]["spec"]["selector"] == selector_labels("resnet")
    assert children["PodDisruptionBudget"]["spec"]["selector"] == {"matchLabels": selector_labels("resnet")}
    assert children["Deployment"]["spec"]["template"]["metadata"]["labels"] == LABELS


def test_children_share_no_mutable_state() -> None:
    first = {c["kind"]: c for c in build_children(md(), CONFIG)}
    server(first["Deployment"])["securityContext"]["capabilities"]["drop"].append("MUTATED")
    first["NetworkPolicy"]["spec"]["ingress"][0]["from"].append({"MUTATED": True})
    again = {c["kind"]: c for c in build_children(md(), CONFIG)}
    assert server(again["Deployment"])["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert again["NetworkPolicy"]["spec"]["ingress"][0]["from"] == [{"podSelector": {}}]


# --- ConfigMap ----------------------------------------------------------------------------------------


def parsed_models_config(m: ModelDeploymentSpec) -> Any:
    """The ConfigMap's models.config read back the way TF Serving reads it."""
    text = build_configmap(m, CONFIG)["data"]["models.config"]
    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig()).model_config_list.config


def test_models_config_has_policy_labels_and_base_path() -> None:
    m = md(
        model={"uri": "gs://b/resnet", "versionPolicy": {"specific": [3, 4]}, "versionLabels": {"stable": 3}}
    )
    assert (
        'version_labels {\n      key: "stable"\n      value: 3'
        in build_configmap(m, CONFIG)["data"]["models.config"]
    )
    (model,) = parsed_models_config(m)
    assert (model.name, model.base_path, model.model_platform) == ("resnet", "gs://b/resnet", "tensorflow")
    assert list(model.model_version_policy.specific.versions) == [3, 4]
    assert dict(model.version_labels) == {"stable": 3}


def test_models_config_version_policies() -> None:
    (latest,) = parsed_models_config(md(model={"uri": "gs://b/m", "versionPolicy": {"latest": 2}}))
    assert latest.model_version_policy.latest.num_versions == 2
    (every,) = parsed_models_config(md(model={"uri": "gs://b/m", "versionPolicy": {"all": {}}}))
    assert every.model_version_policy.WhichOneof("policy_choice") == "all"


def test_monitoring_and_batching_config_files() -> None:
    data = build_configmap(md(), CONFIG)["data"]
    assert set(data) == {"models.config", "monitoring.config"}
    assert "enable: true" in data["monitoring.config"]
    assert 'path: "/monitoring/prometheus/metrics"' in data["monitoring.config"]
    batching = {"maxBatchSize": 32, "batchTimeoutMicros": 2000, "allowedBatchSizes": [8, 32]}
    text = build_configmap(md(runtime={"batching": batching}), CONFIG)["data"]["batching.config"]
    assert text == (
        "max_batch_size { value: 32 }\n"
        "batch_timeout_micros { value: 2000 }\n"
        "allowed_batch_sizes: 8\n"
        "allowed_batch_sizes: 32\n"
    )


# --- Deployment ---------------------------------------------------------------------------------------


def test_server_command_args_and_ports() -> None:
    c = server(build_deployment(md(runtime={"args": ["--enable_model_warmup=true"]}), CONFIG))
    assert c["command"] == ["tensorflow_model_server"]
    assert c["args"] == [
        "--port=8500",
        "--rest_api_port=8501",
        "--model_config_file=/etc/tfserving/models.config",
        "--model_config_file_poll_wait_seconds=30",
        "--monitoring_config_file=/etc/tfserving/monitoring.config",
        "--allow_version_labels_for_unavailable_models=true",
        "--enable_model_warmup=true",
    ]
    assert [(p["name"], p["containerPort"]) for p in c["ports"]] == [("grpc", 8500), ("http", 8501)]


def test_batching_flags_only_with_batching() -> None:
    args = server(build_deployment(md(runtime={"batching": {"maxBatchSize": 8}}), CONFIG))["args"]
    assert "--enable_batching" in args
    assert "--batching_parameters_file=/etc/tfserving/batching.config" in args
    assert "--enable_batching" not in server(build_deployment(md(), CONFIG))["args"]


def test_probes_strategy_and_shutdown() -> None:
    d = build_deployment(md(model={"uri": "gs://b/m", "name": "resnet_v2"}), CONFIG)
    c = server(d)
    assert c["readinessProbe"]["httpGet"] == {"path": "/v1/models/resnet_v2", "port": "http"}
    assert c["readinessProbe"]["periodSeconds"] == 5
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30 * 60  # large models load slowly
    assert c["livenessProbe"]["tcpSocket"] == {"port": "grpc"}
    assert c["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/sh", "-c", "sleep 10"]
    assert pod_of(d)["terminationGracePeriodSeconds"] == 30
    assert d["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert d["spec"]["progressDeadlineSeconds"] == 600


def test_restricted_security_context_and_writable_tmp() -> None:
    d = build_deployment(md(model={"uri": "s3://b/m"}), CONFIG)
    pod = pod_of(d)
    assert pod["securityContext"] | {"fsGroupChangePolicy": "x"} == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "fsGroupChangePolicy": "x",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for c in pod["containers"] + pod["initContainers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
    config_mount = {"name": "config", "mountPath": "/etc/tfserving", "readOnly": True}
    assert config_mount in server(d)["volumeMounts"]
    assert {"name": "config", "configMap": {"name": "resnet-tfserving"}} in pod["volumes"]


def test_cpu_model_resources_and_no_gpu_scheduling() -> None:
    d = build_deployment(md(resources={"cpu": "2", "memory": "4Gi"}), CONFIG)
    c = server(d)
    assert c["image"] == "tensorflow/serving:2.19.0"
    assert c["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }
    pod = pod_of(d)
    assert "nodeSelector" not in pod and "tolerations" not in pod and "affinity" not in pod


def test_gpu_model_image_limit_selector_and_toleration() -> None:
    placement = {
        "nodeSelector": {"pool": "inference"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
    }
    d = build_deployment(
        md(resources={"gpu": {"count": 2, "type": "nvidia-l4"}}, placement=placement), CONFIG
    )
    c = server(d)
    assert c["image"] == "tensorflow/serving:2.19.0-gpu"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "2"
    pod = pod_of(d)
    assert pod["nodeSelector"] == {"pool": "inference", "nvidia.com/gpu.product": "NVIDIA-L4"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert placement["tolerations"][0] in pod["tolerations"]
    assert pod["affinity"] == placement["affinity"]


def test_gpu_suffix_is_never_doubled_and_a_custom_image_is_used_as_given() -> None:
    gpu = {"gpu": {"count": 1, "type": "nvidia-tesla-t4"}}
    tagged = build_deployment(md(resources=gpu, runtime={"version": "2.19.0-gpu"}), CONFIG)
    assert server(tagged)["image"] == "tensorflow/serving:2.19.0-gpu"
    mirror = {"image": "registry.acme.io/mirror/tfs", "version": "2.19.0"}
    custom = build_deployment(md(resources=gpu, runtime=mirror), CONFIG)
    assert server(custom)["image"] == "registry.acme.io/mirror/tfs:2.19.0"
    cpu = build_deployment(md(runtime={"version": "2.19.0-gpu"}), CONFIG)
    assert server(cpu)["image"] == "tensorflow/serving:2.19.0-gpu"  # asked for by name: as given


def test_replicas_omitted_with_autoscaling() -> None:
    assert build_deployment(md(replicas=3), CONFIG)["spec"]["replicas"] == 3
    assert build_deployment(md(), CONFIG)["spec"]["replicas"] == 1
    assert "replicas" not in build_deployment(md(autoscaling={"maxReplicas": 4}), CONFIG)["spec"]


def test_service_account_and_env() -> None:
    env = [{"name": "AWS_REGION", "valueFrom": {"secretKeyRef": {"name": "aws", "key": "region"}}}]
    d = build_deployment(md(serviceAccountName="model-reader", env=env), CONFIG)
    assert pod_of(d)["serviceAccountName"] == "model-reader"
    assert server(d)["env"] == env
    assert "env" not in server(build_deployment(md(), CONFIG))


# --- storage ------------------------------------------------------------------------------------------


def test_gs_is_read_by_tf_serving_directly() -> None:
    m = md(model={"uri": "gs://b/resnet"})
    pod = pod_of(build_deployment(m, CONFIG))
    assert "initContainers" not in pod
    assert [v["name"] for v in pod["volumes"]] == ["config", "tmp"]


def test_s3_is_fetched_by_an_init_container() -> None:
    m = md(model={"uri": "s3://acme/models/resnet"}, env=[{"name": "AWS_REGION", "value": "eu-west-1"}])
    pod = pod_of(build_deployment(m, CONFIG))
    (init,) = pod["initContainers"]
    assert init["image"] == "rclone/rclone:1.68.2"
    assert init["args"][:4] == ["copy", "--s3-env-auth", ":s3:acme/models/resnet", "/models/resnet"]
    assert {"name": "model-store", "mountPath": "/models"} in init["volumeMounts"]
    assert init["resources"]["requests"] == init["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert {"name": "RCLONE_S3_REGION", "value": "$(AWS_REGION)"} in init["env"]
    assert {"name": "model-store", "emptyDir": {"sizeLimit": "20Gi"}} in pod["volumes"]
    assert {"name": "model-store", "mountPath": "/models", "readOnly": True} in pod["containers"][0][
        "volumeMounts"
    ]
    assert 'base_path: "/models/resnet"' in build_configmap(m, CONFIG)["data"]["models.config"]


def test_https_is_fetched_by_an_init_container() -> None:
    m = md(model={"uri": "https://models.example.com/resnet", "name": "rn"})
    (init,) = pod_of(build_deployment(m, CONFIG))["initContainers"]
    assert init["args"][:4] == [
        "copy",
        "--http-url=https://models.example.com/resnet",
        ":http:",
        "/models/rn",
    ]


def test_pvc_is_mounted_read_only() -> None:
    m = md(model={"uri": "pvc://model-claim/vision/resnet"})
    pod = pod_of(build_deployment(m, CONFIG))
    assert "initContainers" not in pod
    claim = {"name": "model-store", "persistentVolumeClaim": {"claimName": "model-claim", "readOnly": True}}
    assert claim in pod["volumes"]
    assert {"name": "model-store", "mountPath": "/mnt/models", "readOnly": True} in pod["containers"][0][
        "volumeMounts"
    ]
    assert 'base_path: "/mnt/models/vision/resnet"' in build_configmap(m, CONFIG)["data"]["models.config"]


# --- restart hash ---------------------------------------------------------------------------------------


def test_restart_hash_changes_with_what_tf_serving_reads_at_start() -> None:
    before = restart_hash(md())
    assert len(before) == 16 and int(before, 16) >= 0
    assert restart_hash(md(runtime={"version": "2.18.0"})) != before
    assert restart_hash(md(runtime={"args": ["--enable_model_warmup=true"]})) != before
    assert restart_hash(md(runtime={"batching": {"maxBatchSize": 8}})) != restart_hash(
        md(runtime={"batching": {"maxBatchSize": 16}})
    )
    assert restart_hash(md(resources={"memory": "3Gi"})) != before
    assert restart_hash(md(env=[{"name": "A", "value": "1"}])) != before
    assert restart_hash(md(model={"uri": "s3://b/a"})) != restart_hash(md(model={"uri": "s3://b/b"}))


def test_restart_hash_ignores_live_polled_models_config() -> None:
    spec = {"uri": "gs://b/m", "versionPolicy": {"specific": [1, 2]}, "versionLabels": {"stable": 1}}
    before = restart_hash(md(model=spec))
    assert restart_hash(md(model={**spec, "versionLabels": {"stable": 2, "canary": 1}})) == before
    assert restart_hash(md(model={**spec, "versionPolicy": {"latest": 3}, "versionLabels": {}})) == before
    assert restart_hash(md(model=spec)) == before  # deterministic


# --- Service, HPA, PDB --------------------------------------------------------------------------------


def test_service_ports() -> None:
    svc = next(c for c in build_children(md(), CONFIG) if c["kind"] == "Service")
    assert svc["spec"]["type"] == "ClusterIP"
    assert [(p["name"], p["port"], p["targetPort"], p["appProtocol"]) for p in svc["spec"]["ports"]] == [
        ("grpc", 8500, "grpc", "grpc"),
        ("http", 8501, "http", "http"),
    ]


def test_autoscaler() -> None:
    pods_metric = {
        "type": "Pods",
        "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "100"}},
    }
    m = md(
        autoscaling={"minReplicas": 2, "maxReplicas": 8, "targetCPUUtilization": 70, "metrics": [pods_metric]}
    )
    hpa = next(c for c in build_children(m, CONFIG) if c["kind"] == "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "resnet"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    cpu = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": cpu}, pods_metric]


def test_disruption_budget() -> None:
    pdb = next(c for c in build_children(md(replicas=2), CONFIG) if c["kind"] == "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]
    unscaled = kinds(build_children(md(replicas=0), CONFIG))
    assert unscaled == ["ConfigMap", "NetworkPolicy", "Deployment", "Service"]
