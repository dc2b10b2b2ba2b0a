"""A component that dies is named, with its last log lines, and nothing is left running."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modeldeploy.localcluster.process import Component, ComponentError
from tests.support.paths import ROOT


def python_component(tmp_path: Path, name: str, code: str) -> Component:
    """A started component running ``code`` in a Python child process."""
    component = Component(name=name, argv=[sys.executable, "-c", code], log_path=tmp_path / f"{name}.log")
    component.start()
    return component


def test_dead_component_error_names_it_and_shows_its_log(tmp_path: Path) -> None:
    code = "print('listen tcp: address already in use'); raise SystemExit(3)"
    component = python_component(tmp_path, "fake-apiserver", code)
    with pytest.raises(ComponentError) as raised:
        component.wait_until(lambda: False, timeout=30, what="ready")
    message = str(raised.value)
    assert "fake-apiserver exited with code 3" in message
    assert "address already in use" in message
    assert not component.running


def test_slow_component_times_out_and_is_stopped(tmp_path: Path) -> None:
    # A child that never becomes ready: it blocks until stop() signals it (no timed wait in the test).
    component = python_component(tmp_path, "sleeper", "import signal; signal.pause()")
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


FAKE_GO = r"""#!/bin/bash
# Stands in for `go` in tools/build.sh's output handling: a real cold build takes 15+ minutes.
if [ "$1" = env ]; then echo go1.26.8; exit 0; fi
out="" pkgs=()
while [ $# -gt 0 ]; do
  case $1 in
    -o) out=$2; shift 2 ;;
    -ldflags) shift 2 ;;
    build | -trimpath) shift ;;
    *) pkgs+=("$1"); shift ;;
  esac
done
for i in $(seq 300); do echo "go: downloading example.com/m$i v1.0.$i" >&2; done
if [ -n "${FAIL_PACKAGE:-}" ] && [[ " ${pkgs[*]} " == *"$FAIL_PACKAGE"* ]]; then
  echo "compile: undefined: something" >&2; exit 1
fi
for p in "${pkgs[@]}"; do
  b=$(basename "$p"); [[ $b =~ ^v[0-9]+$ ]] && b=$(basename "$(dirname "$p")")
  printf '#!/bin/sh\n' >"$out/$b"; chmod +x "$out/$b"
done
"""
BUILD_TOOLS = (
    "bash", "cat", "sed", "sort", "head", "tail", "dirname", "basename", "sha256sum", "cut", "mkdir", "rm",
    "mv", "ln", "find", "grep", "seq", "chmod",
)  # fmt: skip


def run_build(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    if not bin_dir.exists():
        bin_dir.mkdir()
        for tool in BUILD_TOOLS:  # no kubectl: the build adds it as a fifth tool
            found = shutil.which(tool)
            assert found is not None
            (bin_dir / tool).symlink_to(found)
        (bin_dir / "go").write_text(FAKE_GO)
        (bin_dir / "go").chmod(0o755)
    return subprocess.run(
        ["bash", str(ROOT / "tools" / "build.sh")],
        env={
            "PATH": str(bin_dir),
            "HOME": str(tmp_path),
            "MODELDEPLOY_CACHE": str(tmp_path / "cache"),
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )


def test_cold_build_prints_one_line_per_tool_and_keeps_go_output_in_logs(tmp_path: Path) -> None:
    cold = run_build(tmp_path)
    assert cold.returncode == 0, cold.stderr
    lines = cold.stderr.splitlines()
    assert "go: downloading" not in cold.stderr
    assert lines[0].startswith("modeldeploy: building the local control plane from source")
    total = len(lines) - 1  # every tool of tools/build.sh, and kubectl (not on this PATH)
    line = re.compile(rf"modeldeploy: \[\d/{total}\] built (\S+)( v\S+)? in \d+s \(elapsed \d+s\)")
    built = [line.fullmatch(x) for x in lines[1:]]
    assert all(built), lines
    names = [m.group(1) for m in built if m]
    assert names[:4] == ["etcd", "kubernetes", "kwok", "helm"] and names[-1] == "kubectl"
    assert cold.stdout.strip() == str(tmp_path / "cache" / "bin")
    log = (tmp_path / "cache" / "logs" / "kubernetes.log").read_text()
    assert log.count("go: downloading") == 300
    warm = run_build(tmp_path)
    assert warm.returncode == 0
    assert [x.split("] ")[1].split()[-1] for x in warm.stderr.splitlines()] == ["cached"] * total


def test_a_failed_tool_build_names_its_log(tmp_path: Path) -> None:
    result = run_build(tmp_path, FAIL_PACKAGE="sigs.k8s.io/kwok")
    assert result.returncode == 1
    log = tmp_path / "cache" / "logs" / "kwok.log"
    assert "building kwok failed after" in result.stderr and f"full log: {log}" in result.stderr
    assert "compile: undefined: something" in result.stderr  # the error itself, without the download noise
    assert "go: downloading" not in result.stderr
    assert "compile: undefined: something" in log.read_text()
