"""ConfigMap <name>-tfserving: the files TF Serving reads from /etc/tfserving."""

from __future__ import annotations

from typing import Any

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from modeldeploy.api import CONFIGMAP
from modeldeploy.config import OperatorConfig
from modeldeploy.desired.labels import object_meta
from modeldeploy.desired.storage import model_base_path
from modeldeploy.names import configmap_name
from modeldeploy.spec import Batching, ModelDeploymentSpec

CONFIG_DIR = "/etc/tfserving"
MODELS_CONFIG = "models.config"
MONITORING_CONFIG = "monitoring.config"
BATCHING_CONFIG = "batching.config"
# monitoring_config_pb2 is not shipped in the tensorflow-serving-api wheel, so this one is written by hand.
MONITORING_CONFIG_TEXT = 'prometheus_config {\n  enable: true\n  path: "/monitoring/prometheus/metrics"\n}\n'


def models_config_text(md: ModelDeploymentSpec) -> str:
    """ModelServerConfig in protobuf text format; TF Serving polls it, so edits apply without restarts."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = md.model.name
    model.base_path = model_base_path(md)
    model.model_platform = "tensorflow"
    policy = md.model.version_policy
    if policy.kind == "latest":
        model.model_version_policy.latest.num_versions = policy.latest
    elif policy.kind == "specific":
        model.model_version_policy.specific.versions.extend(policy.versions)
    else:
        model.model_version_policy.all.SetInParent()
    for label, version in sorted(md.model.version_labels.items()):
        model.version_labels[label] = version
    text: str = text_format.MessageToString(config)
    return text


def batching_config_text(batching: Batching) -> str:
    """BatchingParameters in text format; unset fields keep TF Serving's defaults."""
    lines = [
        f"{key} {{ value: {value} }}"
        for key, value in (
            ("max_batch_size", batching.max_batch_size),
            ("batch_timeout_micros", batching.batch_timeout_micros),
            ("num_batch_threads", batching.num_batch_threads),
            ("max_enqueued_batches", batching.max_enqueued_batches),
        )
        if value is not None
    ]
    lines += [f"allowed_batch_sizes: {size}" for size in batching.allowed_batch_sizes]
    return "".join(f"{line}\n" for line in lines)


def build_configmap(md: ModelDeploymentSpec, config: OperatorConfig) -> dict[str, Any]:
    data = {MODELS_CONFIG: models_config_text(md), MONITORING_CONFIG: MONITORING_CONFIG_TEXT}
    if md.runtime.batching is not None:
        data[BATCHING_CONFIG] = batching_config_text(md.runtime.batching)
    return {
        "apiVersion": CONFIGMAP.api_version,
        "kind": CONFIGMAP.kind,
        "metadata": object_meta(md.name, md.namespace, configmap_name(md.name)),
        "data": data,
    }
