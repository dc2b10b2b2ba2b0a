"""Deployment <name>: the TF Serving pods."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from modeldeploy.api import DEPLOYMENT, GRPC_PORT, HTTP_PORT
from modeldeploy.config import OperatorConfig
from modeldeploy.desired import storage
from modeldeploy.desired.configmap import (
    BATCHING_CONFIG,
    CONFIG_DIR,
    MODELS_CONFIG,
    MONITORING_CONFIG,
    MONITORING_CONFIG_TEXT,
    batching_config_text,
)
from modeldeploy.desired.labels import RESTART_HASH_ANNOTATION, child_labels, object_meta, selector_labels
from modeldeploy.names import configmap_name
from modeldeploy.spec import ModelDeploymentSpec

CONTAINER_NAME = "tfserving"
CONFIG_VOLUME = "config"
# Large models can take many minutes to load; the ports open only once loading is done.
STARTUP_PERIOD_SECONDS = 10
STARTUP_FAILURE_THRESHOLD = 180  # 180 x 10 s = 30 minutes
PRE_STOP_SLEEP_SECONDS = 10  # let endpoints controllers and load balancers stop sending traffic first
TERMINATION_GRACE_PERIOD_SECONDS = 30

POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    # A high UID that no host account has, should a container ever escape to the node.
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "fsGroup": 65532,
    # Model volumes can hold many files; re-chowning them on every start would delay it.
    "fsGroupChangePolicy": "OnRootMismatch",
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
}


GPU_TAG_SUFFIX = "-gpu"


def image_ref(md: ModelDeploymentSpec, config: OperatorConfig) -> str:
    """repository:tag, or repository:tag@digest when pinned (the runtime pulls by the digest; the tag stays
    for the humans and tools reading the pod). The default repository takes the GPU build's tag
    (``2.19.0-gpu``) when GPUs are asked for, once even if the version already says -gpu; a repository the
    spec names is used as given."""
    tag = md.runtime.version
    custom = md.runtime.image != config.default_image
    if md.resources.gpu is not None and not custom and not tag.endswith(GPU_TAG_SUFFIX):
        tag += GPU_TAG_SUFFIX
    digest = f"@{md.runtime.digest}" if md.runtime.digest else ""
    return f"{md.runtime.image}:{tag}{digest}"


def server_args(md: ModelDeploymentSpec) -> list[str]:
    args = [
        f"--port={GRPC_PORT}",
        f"--rest_api_port={HTTP_PORT}",
        f"--model_config_file={CONFIG_DIR}/{MODELS_CONFIG}",
        f"--model_config_file_poll_wait_seconds={md.runtime.model_config_poll_seconds}",
        f"--monitoring_config_file={CONFIG_DIR}/{MONITORING_CONFIG}",
        # Without it TF Serving refuses to start when models.config labels a version before it is loaded
        # (server_core.cc, UpdateModelVersionLabelMap); moving a label in use still waits for its version.
        "--allow_version_labels_for_unavailable_models=true",
    ]
    if md.runtime.batching is not None:
        args += ["--enable_batching", f"--batching_parameters_file={CONFIG_DIR}/{BATCHING_CONFIG}"]
    return args + list(md.runtime.args)


def _resources(md: ModelDeploymentSpec, config: OperatorConfig) -> dict[str, Any]:
    # requests == limits: Guaranteed QoS, so a busy neighbour cannot starve inference latency.
    requests = {"cpu": md.resources.cpu, "memory": md.resources.memory}
    limits = dict(requests)
    if md.resources.gpu is not None:
        limits[config.gpu_resource_name] = str(md.resources.gpu.count)
    return {"requests": requests, "limits": limits}


def _container(md: ModelDeploymentSpec, config: OperatorConfig) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image_ref(md, config),
        # Bypass the image's entrypoint script: it adds --model_name/--model_base_path, which conflict
        # with --model_config_file.
        "command": ["tensorflow_model_server"],
        "args": server_args(md),
        "ports": [
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
        ],
        "resources": _resources(md, config),
        # TF Serving writes no termination log: without this a crash-looping pod shows no reason at all;
        # with it the kubelet reports the log's last lines (an unparsable flag, a bad config file).
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "readinessProbe": {
            "httpGet": {"path": f"/v1/models/{md.model.name}", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "startupProbe": {
            "tcpSocket": {"port": "grpc"},
            "periodSeconds": STARTUP_PERIOD_SECONDS,
            "failureThreshold": STARTUP_FAILURE_THRESHOLD,
        },
        "livenessProbe": {"tcpSocket": {"port": "grpc"}, "periodSeconds": 10, "failureThreshold": 3},
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", f"sleep {PRE_STOP_SLEEP_SECONDS}"]}}},
        "volumeMounts": [
            {"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": storage.TMP_VOLUME, "mountPath": "/tmp"},
            *storage.model_mounts(md),
        ],
        "securityContext": copy.deepcopy(CONTAINER_SECURITY_CONTEXT),
    }
    if md.env and not storage.env_for_copier_only(md, config):
        container["env"] = copy.deepcopy([dict(e) for e in md.env])
    return container


def _pod_spec(md: ModelDeploymentSpec, config: OperatorConfig) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "containers": [_container(md, config)],
        "securityContext": copy.deepcopy(POD_SECURITY_CONTEXT),
        "terminationGracePeriodSeconds": TERMINATION_GRACE_PERIOD_SECONDS,
        "volumes": [
            {"name": CONFIG_VOLUME, "configMap": {"name": configmap_name(md.name)}},
            {"name": storage.TMP_VOLUME, "emptyDir": {}},
            *storage.model_volumes(md, config),
        ],
    }
    init = storage.init_containers(md, config, CONTAINER_SECURITY_CONTEXT)
    if init:
        pod["initContainers"] = init
    if md.service_account_name:
        pod["serviceAccountName"] = md.service_account_name
    elif not config.model_pods.automount_service_account_token:
        # TF Serving never calls the Kubernetes API: a token would only be something to steal. A named
        # ServiceAccount is there for storage credentials (IRSA, Workload Identity), so it keeps its token.
        pod["automountServiceAccountToken"] = False
    node_selector = dict(md.placement.node_selector)
    tolerations = copy.deepcopy([dict(t) for t in md.placement.tolerations])
    if md.resources.gpu is not None:
        # GPU nodes are tainted, so CPU-only pods stay off them without any affinity of ours.
        node_selector.update(config.gpu_types[md.resources.gpu.type].node_labels)
        tolerations = [dict(t) for t in config.gpu_tolerations] + tolerations
    if node_selector:
        pod["nodeSelector"] = node_selector
    if tolerations:
        pod["tolerations"] = tolerations
    if md.placement.affinity:
        pod["affinity"] = copy.deepcopy(dict(md.placement.affinity))
    return pod


def restart_hash(md: ModelDeploymentSpec, pod_spec: dict[str, Any]) -> str:
    """Digest of what TF Serving reads only at start. The pod spec rolls the Deployment by itself; the
    hash adds the start-time files that live in the ConfigMap (batching, monitoring) and the model URI.
    models.config is left out on purpose: TF Serving polls it, so policy and label edits need no restart."""
    batching = batching_config_text(md.runtime.batching) if md.runtime.batching is not None else None
    inputs = {
        "pod": pod_spec,
        "batching": batching,
        "monitoring": MONITORING_CONFIG_TEXT,
        "uri": md.model.uri,
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
    return digest[:16]


def build_deployment(md: ModelDeploymentSpec, config: OperatorConfig) -> dict[str, Any]:
    pod = _pod_spec(md, config)
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(md.name)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "progressDeadlineSeconds": config.progress_deadline_seconds,
        "template": {
            "metadata": {
                "labels": child_labels(md.name),
                "annotations": {RESTART_HASH_ANNOTATION: restart_hash(md, pod)},
            },
            "spec": pod,
        },
    }
    if md.autoscaling is None:  # with autoscaling the HPA owns the count; writing it would fight the HPA
        spec["replicas"] = md.replicas
    return {
        "apiVersion": DEPLOYMENT.api_version,
        "kind": DEPLOYMENT.kind,
        "metadata": object_meta(md.name, md.namespace),
        "spec": spec,
    }
