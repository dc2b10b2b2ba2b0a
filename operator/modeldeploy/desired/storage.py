"""Where the model comes from: models.config base_path, volumes, mounts and the fetching init container.

gs:// is read by TF Serving itself. s3:// is not (TF Serving >= 2.7 dropped its S3 file system) and
http(s):// never was, so both are copied by rclone into an emptyDir before TF Serving starts; the copy's
credentials come from the pod's service account (IRSA, Workload Identity) or spec.env.
pvc://<claim>/<path> mounts the claim read-only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from modeldeploy.config import OperatorConfig
from modeldeploy.spec import ModelDeploymentSpec

MODEL_STORE_VOLUME = "model-store"
FETCHED_MODELS_DIR = "/models"
PVC_MODELS_DIR = "/mnt/models"
INIT_CONTAINER_NAME = "storage-init"
TMP_VOLUME = "tmp"

# Names users set for S3 settings (see DESIGN.md) -> the variables rclone reads; mapped with $(VAR)
# references, which Kubernetes expands only for variables defined earlier in the list.
_RCLONE_ALIASES = {
    "AWS_REGION": "RCLONE_S3_REGION",
    "AWS_DEFAULT_REGION": "RCLONE_S3_REGION",
    "S3_ENDPOINT": "RCLONE_S3_ENDPOINT",
}


def fetches_model(md: ModelDeploymentSpec) -> bool:
    return md.model.scheme in ("s3", "http", "https")


def model_base_path(md: ModelDeploymentSpec) -> str:
    if fetches_model(md):
        return f"{FETCHED_MODELS_DIR}/{md.model.name}"
    if md.model.scheme == "pvc":
        return f"{PVC_MODELS_DIR}/{md.model.pvc_path}".rstrip("/")
    return md.model.uri


def env_for_copier_only(md: ModelDeploymentSpec, config: OperatorConfig) -> bool:
    """spec.env carries the storage credentials; when a copier fetches the model, TF Serving never needs
    them, so they go to the copier alone. gs:// and pvc:// models are read by TF Serving itself."""
    return fetches_model(md) and config.model_pods.credentials_in_copier_only


def model_volumes(md: ModelDeploymentSpec, config: OperatorConfig) -> list[dict[str, Any]]:
    if fetches_model(md):
        # Without a limit a model larger than expected fills the node's disk and gets other pods evicted;
        # with one, the kubelet evicts this pod alone.
        empty_dir = {"sizeLimit": md.model.size_limit} if config.model_pods.model_volume_size_limit else {}
        return [{"name": MODEL_STORE_VOLUME, "emptyDir": empty_dir}]
    if md.model.scheme == "pvc":
        claim = {"claimName": md.model.pvc_claim, "readOnly": True}
        return [{"name": MODEL_STORE_VOLUME, "persistentVolumeClaim": claim}]
    return []


def model_mounts(md: ModelDeploymentSpec) -> list[dict[str, Any]]:
    """The serving container's view of the model: always read-only."""
    if fetches_model(md):
        return [{"name": MODEL_STORE_VOLUME, "mountPath": FETCHED_MODELS_DIR, "readOnly": True}]
    if md.model.scheme == "pvc":
        return [{"name": MODEL_STORE_VOLUME, "mountPath": PVC_MODELS_DIR, "readOnly": True}]
    return []


def _rclone_source(md: ModelDeploymentSpec) -> list[str]:
    scheme, rest = md.model.uri.split("://", 1)
    if scheme == "s3":
        # env_auth: credentials from AWS_* variables or the web identity token (IRSA), never a config file.
        return ["--s3-env-auth", f":s3:{rest}"]
    return [f"--http-url={md.model.uri}", ":http:"]


def _init_env(env: tuple[Mapping[str, Any], ...]) -> list[dict[str, Any]]:
    names = [str(e.get("name")) for e in env]
    aliases = [
        {"name": target, "value": f"$({source})"}
        for source, target in _RCLONE_ALIASES.items()
        if source in names and target not in names
    ]
    unique = list({a["name"]: a for a in aliases}.values())  # AWS_REGION wins over AWS_DEFAULT_REGION
    # rclone may write a cache under $HOME; the root file system is read-only, /tmp is an emptyDir.
    home = [] if "HOME" in names else [{"name": "HOME", "value": "/tmp"}]
    return [*copy.deepcopy([dict(e) for e in env]), *unique, *home]


def init_containers(
    md: ModelDeploymentSpec, config: OperatorConfig, security_context: Mapping[str, Any]
) -> list[dict[str, Any]]:
    if not fetches_model(md):
        return []
    target = model_base_path(md)
    # Same requests and limits as the server: the pod stays in the Guaranteed QoS class and its
    # effective request (max of init and app containers) does not grow.
    cpu_memory = {"cpu": md.resources.cpu, "memory": md.resources.memory}
    return [
        {
            "name": INIT_CONTAINER_NAME,
            "image": config.storage_init_image,
            "command": ["rclone"],
            "args": [
                "copy",
                *_rclone_source(md),
                target,
                "--stats=30s",
                "--stats-one-line",
                "--stats-log-level=NOTICE",
            ],
            "env": _init_env(md.env),
            "resources": {"requests": dict(cpu_memory), "limits": dict(cpu_memory)},
            "volumeMounts": [
                {"name": MODEL_STORE_VOLUME, "mountPath": FETCHED_MODELS_DIR},
                {"name": TMP_VOLUME, "mountPath": "/tmp"},
            ],
            "securityContext": copy.deepcopy(dict(security_context)),
        }
    ]
