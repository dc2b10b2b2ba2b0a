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


# Tools built only when something asks for them (tools/build.sh NAME): not part of `make up`. Each maps
# to what tools/build.sh puts into the bin directory for it.
OPTIONAL_TOOLS: dict[str, tuple[str, ...]] = {
    "metrics-server": ("metrics-server", "kwok-crds"),
    "promtool": ("promtool", "prometheus"),
    "prometheus": ("prometheus", "promtool"),
    "keda": ("keda-operator", "keda-adapter", "keda-crds"),
    "keda-crds": ("keda-crds",),
}


def missing_binaries(*optional: str) -> list[str]:
    wanted = [*COMPONENTS, *(path for tool in optional for path in OPTIONAL_TOOLS[tool])]
    return [name for name in wanted if not (bin_dir() / name).exists()]


def ensure_binaries(*optional: str) -> Path:
    """Build what is missing with tools/build.sh; a warm cache makes this a no-op.

    ``optional`` names tools from OPTIONAL_TOOLS to build as well (their first build takes minutes).
    """
    unknown = sorted(set(optional) - set(OPTIONAL_TOOLS))
    if unknown:
        raise ValueError(f"unknown optional tools {unknown}; known: {', '.join(OPTIONAL_TOOLS)}")
    if missing_binaries(*optional) or not kubectl_path_or_none():
        script = project_root() / "tools" / "build.sh"
        if not script.exists():
            raise RuntimeError(
                f"control-plane binaries missing in {bin_dir()} ({', '.join(missing_binaries())}) and "
                f"{script} not found; run tools/build.sh from a modeldeploy checkout"
            )
        result = subprocess.run(
            ["bash", str(script), *optional], check=False, stdout=subprocess.PIPE, text=True
        )
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
