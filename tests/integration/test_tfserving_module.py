"""The emulated TF Serving as the pod farm runs it (``python -m modeldeploy.localcluster.tfserving``): a
process with the real binary's exit codes (255 when it cannot start; 143 when SIGTERM ends it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from modeldeploy.localcluster.tfserving import ModelStore
from tests.support.tfserving import models_config
from tests.support.waits import wait_for


def _module_argv(tmp_path: Path, *argv: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "modeldeploy.localcluster.tfserving",
        "--store",
        str(tmp_path / "store"),
        "--root",
        str(tmp_path / "root"),
        "--",
        *argv,
    ]


def _run_module(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_module_argv(tmp_path, *argv), capture_output=True, text=True, timeout=60)


def test_module_exit_code_on_unparsable_flag(tmp_path: Path) -> None:
    result = _run_module(tmp_path, "tensorflow_model_server", "--rest_api_port=http")
    assert result.returncode == 255
    assert "Couldn't interpret value http for flag rest_api_port." in result.stderr


def test_module_exit_code_on_missing_config(tmp_path: Path) -> None:
    result = _run_module(
        tmp_path, "tensorflow_model_server", "--model_config_file=/etc/tfserving/models.config"
    )
    assert result.returncode == 255
    assert "Failed to start server. Error: NOT_FOUND: /etc/tfserving/models.config" in result.stderr


def test_module_serves_and_exits_143_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "root/etc/tfserving/models.config"
    config.parent.mkdir(parents=True)
    config.write_text(models_config())
    ModelStore(tmp_path / "store").add_version("gs://acme/resnet", 1)
    process = subprocess.Popen(
        _module_argv(
            tmp_path,
            "tensorflow_model_server",
            "--port=0",
            "--grpc_socket_path=/s",
            "--model_config_file=/etc/tfserving/models.config",
        ),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        lines: list[str] = []

        def served() -> bool:
            line = process.stderr.readline() if process.stderr else ""
            lines.append(line)
            return "Successfully loaded servable version {name: resnet version: 1}" in line

        wait_for(served, timeout=30, interval=0, what="the load")
        process.terminate()
        assert process.wait(timeout=30) == 143
    finally:
        process.kill()
