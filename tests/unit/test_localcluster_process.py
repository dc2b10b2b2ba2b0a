"""A component that dies is named, with its last log lines, and nothing is left running."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modeldeploy.localcluster.process import Component, ComponentError

ROOT = Path(__file__).resolve().parents[2]


def test_dead_component_error_names_it_and_shows_its_log(tmp_path: Path) -> None:
    component = Component(
        name="fake-apiserver",
        argv=[sys.executable, "-c", "print('listen tcp: address already in use'); raise SystemExit(3)"],
        log_path=tmp_path / "fake.log",
    )
    component.start()
    with pytest.raises(ComponentError) as raised:
        component.wait_until(lambda: False, timeout=30, what="ready")
    message = str(raised.value)
    assert "fake-apiserver exited with code 3" in message
    assert "address already in use" in message
    assert not component.running


def test_slow_component_times_out_and_is_stopped(tmp_path: Path) -> None:
    component = Component(
        name="sleeper",
        argv=[sys.executable, "-c", "import time; time.sleep(60)"],
        log_path=tmp_path / "s.log",
    )
    component.start()
    with pytest.raises(ComponentError, match="sleeper was not ready within 1s"):
        component.wait_until(lambda: False, timeout=1, what="ready")
    component.stop()
    assert not component.running


def test_build_without_go_says_what_to_install(tmp_path: Path) -> None:
    # A PATH with the basic tools but no Go toolchain.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "cat", "sed", "sort", "head", "dirname", "sha256sum", "cut", "mkdir"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    result = subprocess.run(
        ["bash", str(ROOT / "tools" / "build.sh")],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "modeldeploy: Go is not installed; install Go >= 1.26 (https://go.dev/dl) and retry."
    ]
    assert result.stdout == ""


def test_an_operator_that_never_gets_healthy_is_stopped(tmp_path: Path) -> None:
    from modeldeploy.localcluster.operator_process import OperatorProcess

    kubeconfig = tmp_path / "nowhere.kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n"
    )
    # The later flag wins: no liveness endpoint, so the operator runs but never reports healthy.
    operator = OperatorProcess(
        kubeconfig=kubeconfig, log_path=tmp_path / "operator.log", args=["--liveness-port=0"]
    )
    with pytest.raises(ComponentError, match="was not healthy within 3s"):
        operator.start(timeout=3)
    assert not operator.component.running
