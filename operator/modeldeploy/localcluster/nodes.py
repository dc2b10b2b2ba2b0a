"""The simulated node pool: Node objects that KWOK adopts through its annotation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modeldeploy.localcluster.resourcemetrics import RESOURCE_METRICS_PATH_ANNOTATION, metrics_path

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    cpu: str = "8"
    memory: str = "32Gi"
    pods: int = 250
    gpus: int = 0
    gpu_product: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def cpu_node(name: str) -> NodeSpec:
    return NodeSpec(name=name)


def gpu_node(name: str, product: str, gpus: int = 4) -> NodeSpec:
    return NodeSpec(name=name, gpus=gpus, gpu_product=product)


def default_pool() -> list[NodeSpec]:
    return [
        cpu_node("kwok-cpu-0"),
        cpu_node("kwok-cpu-1"),
        gpu_node("kwok-gpu-t4-0", "Tesla-T4"),
        gpu_node("kwok-gpu-a100-0", "NVIDIA-A100-SXM4-40GB"),
    ]


def node_manifest(node: NodeSpec) -> dict[str, Any]:
    labels = {
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        **node.labels,
    }
    capacity: dict[str, str] = {"cpu": node.cpu, "memory": node.memory, "pods": str(node.pods)}
    taints: list[dict[str, str]] = []
    if node.gpus:
        capacity[GPU_RESOURCE] = str(node.gpus)
        labels["nvidia.com/gpu.present"] = "true"
        if node.gpu_product:
            labels[GPU_PRODUCT_LABEL] = node.gpu_product
        # GPU nodes are tainted as in managed clusters, so only pods that tolerate it land there.
        taints.append({"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": labels,
            # The second annotation tells metrics-server where KWOK serves this node's usage; without
            # metrics-server running nothing reads it.
            "annotations": {
                KWOK_ANNOTATION: "fake",
                RESOURCE_METRICS_PATH_ANNOTATION: metrics_path(node.name),
            },
        },
        "spec": {"taints": taints},
        "status": {
            "allocatable": capacity,
            "capacity": capacity,
            "phase": "Running",
        },
    }
