"""Where the control-plane binaries live, and building them when they are missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "helm",
    "kstatus",
)


def cache_dir() -> Path:
    return Path(os.environ.get("MODELDEPLOY_CACHE", Path.home() / ".cache" / "modeldeploy"))


def bin_dir() -> Path:
    return Path(os.environ.get("MODELDEPLOY_BIN_DIR", cache_dir() / "bin"))


def project_root() -> Path:
    # operator/modeldeploy/localcluster/binaries.py -> the checkout that holds tools/
    return Path(__file__).resolve().parents[3]


def missing_binaries() -> list[str]:
    return [name for name in COMPONENTS if not (bin_dir() / name).exists()]


def ensure_binaries() -> Path:
    """Build what is missing with tools/build.sh; a warm cache makes this a no-op."""
    if missing_binaries() or not kubectl_path_or_none():
        script = project_root() / "tools" / "build.sh"
        if not script.exists():
            raise RuntimeError(
                f"control-plane binaries missing in {bin_dir()} ({', '.join(missing_binaries())}) and "
                f"{script} not found; run tools/build.sh from a modeldeploy checkout"
            )
        result = subprocess.run(["bash", str(script)], check=False, stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"tools/build.sh failed with exit code {result.returncode} (see its output above)"
            )
    return bin_dir()


def kubectl_path_or_none() -> str | None:
    built = bin_dir() / "kubectl"
    if built.exists():
        return str(built)
    return shutil.which("kubectl")


def kubectl_path() -> str:
    path = kubectl_path_or_none()
    if path is None:
        raise RuntimeError("kubectl not found; run tools/build.sh to build it")
    return path
