"""`modeldeploy up` (the README main command): samples Ready, a second `up` reuses, Ctrl-C cleans up."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.waits import wait_for


def _up(workdir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "modeldeploy.cli",
        "up",
        "--workdir",
        str(workdir),
        "--timeout",
        "240",
        *extra,
    ]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent has not collected it yet


def test_up_runs_the_samples_then_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    workdir = tmp_path / "up"
    log = tmp_path / "up.log"
    with log.open("w") as out:
        first = subprocess.Popen(_up(workdir), stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(
            lambda: "press Ctrl-C" in log.read_text() or first.poll() is not None, 300, what="up to be ready"
        )
        text = log.read_text()
        assert first.poll() is None, text
        assert "all samples Ready" in text
        assert "export KUBECONFIG=" in text
        for name in ("half-plus-two", "half-plus-two-canary", "resnet-gpu"):
            assert name in text
        assert_cost_column_filled(text)

        second = subprocess.run(
            _up(workdir, "--exit-when-ready"), capture_output=True, text=True, timeout=300
        )
        assert second.returncode == 0, second.stderr
        assert "reusing the cluster" in second.stdout
        assert "Ready" in second.stdout

        pids = _component_pids(workdir)
        assert len(pids) >= 5, "etcd, kube-apiserver, controller-manager, scheduler and KWOK should run"
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=120)
    assert first.returncode == 0
    assert "stopping" in log.read_text()
    wait_for(lambda: not any(_alive(pid) for pid in pids), 30, what="every process to stop")
    assert not (workdir / "up.json").exists()


def _component_pids(workdir: Path) -> list[int]:
    """Processes whose command line mentions the workdir: etcd, the API server, the controllers, KWOK."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(workdir) in cmdline:
                pids.append(int(entry.name))
    return pids


def assert_cost_column_filled(text: str) -> None:
    """The last `kubectl get md -A` table up printed has an hourly cost for every sample (the demo's
    configuration carries an example price table)."""
    tables = [t for t in text.split("NAMESPACE") if "COST" in t.splitlines()[0]]
    assert tables, text
    header, *rows = ("NAMESPACE" + tables[-1]).strip().splitlines()
    cost_at = header.index("COST")
    rows = [r for r in rows if r.startswith("modeldeploy-samples")]
    assert len(rows) == 3, rows
    for row in rows:
        assert re.match(r"\d+\.\d{2,4}\b", row[cost_at:]), (header, row)
