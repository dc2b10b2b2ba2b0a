"""`modeldeploy bench`: how the operator compares with direct server-side apply at N ModelDeployments."""

from modeldeploy.bench.run import run_bench

__all__ = ["run_bench"]
