"""kstatus (sigs.k8s.io/cli-utils pkg/kstatus/status.Compute, what Flux's health checks and kpt use), run
through the small checker tools/build.sh builds from tools/kstatus/: the judge of the status tests."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modeldeploy.localcluster.binaries import bin_dir


def binary() -> Path:
    path = bin_dir() / "kstatus"
    assert os.access(path, os.X_OK), f"kstatus is not built at {path}: run tools/build.sh"
    return path


def compute(obj: Mapping[str, Any]) -> dict[str, Any]:
    """kstatus' verdict on an object given on stdin: {"status": "Current", "message": ..., ...}."""
    result = subprocess.run(
        [str(binary()), "-f", "-"], input=json.dumps(obj), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    verdict: dict[str, Any] = json.loads(result.stdout)
    return verdict


def live(kubeconfig: Path, resource: str, name: str, namespace: str) -> dict[str, Any]:
    """kstatus' verdict on the object as the API server has it (the checker reads it itself)."""
    argv = [str(binary()), "--kubeconfig", str(kubeconfig), "-n", namespace, resource, name]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    verdict: dict[str, Any] = json.loads(result.stdout)
    return verdict
