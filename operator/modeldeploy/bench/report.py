"""The benchmark's goals, and its figures as a table. Goals are reported, never enforced."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GOAL_N = 1000
LARGE_N = 5000


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    value: float | None
    met: bool | None  # None: not applicable at this N

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "value": self.value, "met": self.met}


def goals(result: Mapping[str, Any]) -> list[Goal]:
    """Issue 16's goals: at N >= 5,000 the large-N ones, else the N = 1,000 ones (named as such below)."""
    n = int(result["count"])
    large = n >= LARGE_N
    suffix = "" if n >= GOAL_N else f" (goal is for N>={GOAL_N})"
    ratio = result["ratio"]
    rss = result["operator_process"]["rss_peak_mb"]
    restart = result["restart"]["converge_seconds"]
    idle = result["idle"]["writes"]
    ratio_goal, rss_goal = (1.25, 300) if large else (1.2, 150)
    restart_goal = 15 if large else 60
    out = [
        Goal(f"ratio operator/direct <= {ratio_goal}{suffix}", f"<= {ratio_goal}", ratio,
             ratio <= ratio_goal),
        Goal("zero writes while idle", "== 0", idle, idle == 0),
        Goal(f"operator peak RSS <= {rss_goal} MB{suffix}", f"<= {rss_goal}", rss, rss <= rss_goal),
        Goal(f"restart convergence <= {restart_goal} s{suffix}", f"<= {restart_goal}", restart,
             restart <= restart_goal),
    ]  # fmt: skip
    latency = result.get("edit_latency") or {}
    for phase, limit in (("steady", 1.0), ("mass_create", 5.0)):
        p99 = (latency.get(phase) or {}).get("p99_seconds")
        if p99 is not None:
            out.append(Goal(f"edit p99 {phase.replace('_', ' ')} <= {limit:g} s{suffix}", f"<= {limit:g}",
                            p99, p99 <= limit))  # fmt: skip
    return out


def scale_curve(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per N: peak RSS, CPU seconds, restart time; bytes per model from the operator's RSS before any
    model, and (from the second N on) the marginal bytes per extra model between two Ns."""
    curve: list[dict[str, Any]] = []
    previous: Mapping[str, Any] | None = None
    for run in sorted(runs, key=lambda r: int(r["count"])):
        proc = run["operator_process"]
        point: dict[str, Any] = {
            "count": run["count"],
            "rss_peak_mb": proc["rss_peak_mb"],
            "cpu_seconds": proc["cpu_seconds"],
            "restart_seconds": run["restart"]["converge_seconds"],
            "restart_cpu_seconds": proc["restart_cpu_seconds"],
            "bytes_per_model": proc["bytes_per_model"],
            "ratio": run["ratio"],
            "cpu_ratio": run.get("cpu_ratio"),
        }
        if previous is not None and int(run["count"]) > int(previous["count"]):
            extra = int(run["count"]) - int(previous["count"])
            grown = proc["rss_peak_mb"] - previous["operator_process"]["rss_peak_mb"]
            point["marginal_bytes_per_model"] = round(max(0.0, grown) * 2**20 / extra)
        curve.append(point)
        previous = run
    return curve


def curve_table(curve: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "scale curve",
        f"  {'N':>6} {'peak RSS MB':>12} {'CPU s':>8} {'restart s':>10} {'bytes/model':>12} "
        f"{'marginal B/model':>17} {'ratio':>6} {'CPU ratio':>10}",
    ]
    for p in curve:
        marginal = p.get("marginal_bytes_per_model")
        lines.append(
            f"  {p['count']:>6} {p['rss_peak_mb']:>12.1f} {p['cpu_seconds']:>8.1f} "
            f"{p['restart_seconds']:>10.1f} {p['bytes_per_model']:>12} "
            f"{'' if marginal is None else marginal:>17} {p['ratio']:>6.2f} {p.get('cpu_ratio') or '-':>10}"
        )
    return "\n".join(lines)


def _cpu_rows(phases: Mapping[str, Mapping[str, float]]) -> list[str]:
    if not phases:
        return []
    rows = ["CPU seconds per process until the children existed (operator phase / direct phase)"]
    names = sorted({name for cpu in phases.values() for name in cpu})
    for name in names:
        op, direct = phases.get("operator", {}).get(name), phases.get("direct", {}).get(name)
        rows.append(_row(f"  {name}", f"{_num(op)} / {_num(direct)}", "s"))
    return rows


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _latency_rows(name: str, figures: Mapping[str, Any]) -> list[str]:
    if not figures:
        return []
    rows = [_row(f"edit latency {name}: p50 / p99 ({figures['count']} edits)",
                 f"{figures['p50_seconds']:.3f} / {figures['p99_seconds']:.3f}", "s")]  # fmt: skip
    for kind in ("label", "runtime"):
        if kind in figures:
            k = figures[kind]
            rows.append(_row(f"  {kind}: p50 / p99", f"{k['p50_seconds']:.3f} / {k['p99_seconds']:.3f}", "s"))
    if "queue_depth_median" in figures:
        rows.append(_row("  operator queue depth at the edits (median)", figures["queue_depth_median"]))
    return rows


def _row(label: str, value: Any, unit: str = "") -> str:
    text = f"{value:.2f}" if isinstance(value, float) else str(value)
    return f"  {label:<52} {text:>12} {unit}".rstrip()


def _verbs(row: Mapping[str, float]) -> str:
    return ", ".join(f"{verb} {value:.2f}" for verb, value in row.items()) or "none"


def table(result: Mapping[str, Any]) -> str:
    op = result["operator"]
    direct = result["direct"]
    proc = result["operator_process"]
    restart = result["restart"]
    idle = result["idle"]
    per_md = result["api_requests_per_md"]
    latency = result.get("edit_latency") or {}
    lines = [
        f"modeldeploy bench: N={result['count']} concurrency={result['concurrency']} "
        f"nodes={result['nodes']} cpus={result['cpus']}",
        "TF Serving pods: plain simulated pods made Ready by KWOK, no emulated tensorflow_model_server "
        "(one per pod would not fit 2N pods on this machine); the operator's model status polls find no "
        "server, so ModelLoaded is Unknown",
        "",
        "operator (ModelDeployments applied, the operator makes the children)",
        _row("apply N ModelDeployments", op["apply_seconds"], "s"),
        _row("all children exist", op["children_seconds"], "s"),
        _row("all ModelDeployments Ready", op["ready_seconds"], "s"),
        "direct (the same children from render, server-side applied)",
        _row("all children exist", direct["children_seconds"], "s"),
        _row("all Deployments available", direct["available_seconds"], "s"),
        _row("ratio operator/direct (children exist)", result["ratio"]),
        *_cpu_rows(result.get("phase_cpu_seconds") or {}),
        _row("ratio of all CPU seconds, operator path / direct path", result.get("cpu_ratio", "-")),
        "",
        "API server requests per ModelDeployment (apiserver_request_total)",
        f"  operator: {_verbs(per_md['operator'])}",
        f"  direct:   {_verbs(per_md['direct'])}",
        f"  operator writes {per_md['operator_writes']:.2f} vs direct writes {per_md['direct_writes']:.2f}",
        "",
        _row(f"writes while idle ({idle['seconds']:.0f} s, API server)", idle["writes"]),
        _row("writes while idle (operator's own counter)", idle["operator_counted_writes"]),
        *(
            f"    {request}: {count}"
            for request, count in idle.get("operator_counted_writes_by_request", {}).items()
        ),
        *(
            f"    turned away by the API server: {resource} {verbs}"
            for resource, verbs in idle.get("turned_away_by_resource", {}).items()
        ),
        _row("operator peak RSS (create + idle)", proc["create_rss_peak_mb"], "MB"),
        _row("operator CPU (create + idle)", proc["cpu_seconds"], "s"),
        _row("restart: time to converge", restart["converge_seconds"], "s"),
        _row("restart: reconciles", restart["reconciles"]),
        _row("restart: writes", restart["writes"]),
        _row("restart: operator peak RSS", proc["restart_rss_peak_mb"], "MB"),
        _row("restart: operator CPU", proc["restart_cpu_seconds"], "s"),
        _row("operator RSS before any model", proc["base_rss_mb"], "MB"),
        _row("bytes per model ((peak - before) / N)", proc["bytes_per_model"], "B"),
        "",
        *_latency_rows("at steady state", latency.get("steady") or {}),
        *_latency_rows(f"during a create of {result['count']} more", latency.get("mass_create") or {}),
        "",
        "goals",
    ]
    for goal in result["goals"]:
        mark = "met" if goal["met"] else "NOT met"
        lines.append(f"  {goal['name']:<56} {goal['value']!s:>10}  {mark}")
    return "\n".join(lines)
