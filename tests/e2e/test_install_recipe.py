"""The Dockerfile's install recipe, run without Docker: same build context, same script, same flags.

The builder stage COPYs a few files into /src and runs tools/install-operator.sh there; this test copies
the same files (read from the Dockerfile's COPY lines) into a temporary context and runs the same
command in a fresh virtualenv, then checks what the image would hold. Needs PyPI (or a pip mirror).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

SIZE_BUDGET_MB = 250


def builder_stage() -> tuple[list[list[str]], list[str]]:
    """The builder stage's COPY sources (relative to the context) and its single RUN command."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    copies: list[list[str]] = []
    runs: list[str] = []
    stage = 0
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        keyword = words[0].upper()
        if keyword == "FROM":
            stage += 1
        elif stage == 1 and keyword == "COPY":
            copies.append(words[1:-1])
        elif stage == 1 and keyword == "RUN":
            runs.append(" ".join(words[1:]))
    assert len(runs) == 1, runs
    return copies, runs[0].split()


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("image")
    context = work / "src"
    copies, command = builder_stage()
    for sources in copies:
        for source in sources:
            src = ROOT / source
            dest = context / source
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
                shutil.copytree(src, dest, ignore=ignore)
            else:
                shutil.copy2(src, dest)
    assert command == ["tools/install-operator.sh", "/opt/venv", "/src"]
    venv = work / "venv"
    python = getattr(sys, "_base_executable", sys.executable)
    result = subprocess.run(
        [command[0], str(venv), str(context)],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHON": python, "HOME": str(work)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return venv


def test_tensorflow_is_not_installed(image_venv: Path) -> None:
    probe = (
        "import importlib.util, sys\n"
        "assert importlib.util.find_spec('tensorflow') is None, 'tensorflow is installed'\n"
        "from tensorflow_serving.config import model_server_config_pb2\n"
        "model_server_config_pb2.ModelServerConfig()\n"
    )
    result = subprocess.run(
        [image_venv / "bin" / "python", "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_operator_imports_and_runs(image_venv: Path) -> None:
    result = subprocess.run(
        [image_venv / "bin" / "python", "-c", "import modeldeploy.cli, modeldeploy.handlers"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [image_venv / "bin" / "modeldeploy", "run", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout and "--peering" in result.stdout


def test_installed_size_is_within_budget(image_venv: Path) -> None:
    size_mb = tree_size(image_venv) / 1e6
    print(f"operator virtualenv: {size_mb:.1f} MB")  # shown with pytest -s; the goal is < 250 MB
    assert size_mb < SIZE_BUDGET_MB
