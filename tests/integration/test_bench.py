"""`modeldeploy bench` at small N: it runs end to end and reports every figure (values are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

# Every figure the issue asks for, as paths into the JSON the benchmark writes.
FIGURES = [
    ("operator", "apply_seconds"),
    ("operator", "children_seconds"),
    ("operator", "ready_seconds"),
    ("direct", "children_seconds"),
    ("direct", "available_seconds"),
    ("ratio",),
    ("cpu_ratio",),
    ("idle", "seconds"),
    ("idle", "writes"),
    ("idle", "operator_counted_writes"),
    ("api_requests_per_md", "operator_writes"),
    ("api_requests_per_md", "direct_writes"),
    ("operator_process", "rss_peak_mb"),
    ("operator_process", "create_rss_peak_mb"),
    ("operator_process", "cpu_seconds"),
    ("operator_process", "restart_rss_peak_mb"),
    ("operator_process", "restart_cpu_seconds"),
    ("restart", "converge_seconds"),
    ("restart", "reconciles"),
    ("restart", "writes"),
    ("operator_process", "base_rss_mb"),
    ("operator_process", "bytes_per_model"),
    ("edit_latency", "steady", "p50_seconds"),
    ("edit_latency", "steady", "p99_seconds"),
    ("edit_latency", "steady", "label", "p99_seconds"),
    ("edit_latency", "steady", "runtime", "p99_seconds"),
    ("edit_latency", "mass_create", "p50_seconds"),
    ("edit_latency", "mass_create", "p99_seconds"),
    ("edit_latency", "mass_create", "created_before_last_edit"),
]
CURVE = ("count", "rss_peak_mb", "cpu_seconds", "restart_seconds", "bytes_per_model")
GOALS = ("ratio operator/direct", "zero writes while idle", "peak RSS", "restart convergence",
         "edit p99 steady", "edit p99 mass create")  # fmt: skip


def figure(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = result
    for key in path:
        assert isinstance(value, dict) and key in value, f"{'.'.join(path)} missing from the bench JSON"
        value = value[key]
    return value


def test_bench_reports_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "modeldeploy.cli", "bench", "--count", "5", "--idle-seconds", "3",
         "--edits", "2", "--output", str(output), "--workdir", str(tmp_path / "cluster"), "--timeout", "120"],
        capture_output=True, text=True, timeout=420, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(output.read_text())
    assert result["count"] == 5
    for path in FIGURES:
        value = figure(result, path)
        assert isinstance(value, int | float) and value >= 0, f"{'.'.join(path)} = {value!r}"
    # Requests per ModelDeployment come from the API server, by verb: the operator's applies are there.
    per_md = result["api_requests_per_md"]
    assert per_md["operator"].get("APPLY", 0) > 0 and per_md["direct"].get("APPLY", 0) > 0
    assert all(isinstance(v, int | float) and v >= 0 for v in per_md["operator"].values())
    assert result["restart"]["reconciles"] >= 5  # the restart is timed until a full reconcile pass
    # Two edits of each kind, at steady state and during a create of 5 more; the scale curve has this N.
    assert [result["edit_latency"][phase]["count"] for phase in ("steady", "mass_create")] == [4, 4]
    # What each process spent until the children existed: the control plane in both phases, the operator.
    cpu = result["phase_cpu_seconds"]
    assert "kube-apiserver" in cpu["direct"] and {"kube-apiserver", "operator"} <= cpu["operator"].keys()
    (point,) = result["scale_curve"]
    assert all(isinstance(point[key], int | float) for key in CURVE) and point["count"] == 5
    # Goals are reported as met or not, never enforced.
    names = [goal["name"] for goal in result["goals"]]
    assert [any(g in name for name in names) for g in GOALS] == [True] * len(GOALS)
    assert all(isinstance(goal["met"], bool) for goal in result["goals"])
    table = run.stdout
    for heading in ("all children exist", "ratio operator/direct", "writes while idle", "peak RSS",
                    "restart: time to converge", "edit latency at steady state",
                    "edit latency during a create of 5 more", "scale curve", "goals"):  # fmt: skip
        assert heading in table, table
    assert table.count(" met") >= len(GOALS)
    # At bench scale the pods are plain simulated ones, and the report says so.
    assert "no emulated tensorflow_model_server" in table
