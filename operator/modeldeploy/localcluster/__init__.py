"""A real local Kubernetes control plane for tests, the demo and benchmarks."""

from modeldeploy.localcluster.binaries import bin_dir, ensure_binaries, kubectl_path
from modeldeploy.localcluster.cluster import LocalCluster
from modeldeploy.localcluster.nodes import NodeSpec, cpu_node, default_pool, gpu_node
from modeldeploy.localcluster.process import ComponentError

__all__ = [
    "ComponentError",
    "LocalCluster",
    "NodeSpec",
    "bin_dir",
    "cpu_node",
    "default_pool",
    "ensure_binaries",
    "gpu_node",
    "kubectl_path",
]
