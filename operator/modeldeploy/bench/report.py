"""The benchmark's goals, and its figures as a table. Goals are reported, never enforced."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GOAL_N = 1000


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    value: float | None
    met: bool | None  # None: not applicable at this N

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "value": self.value, "met": self.met}


def goals(result: Mapping[str, Any]) -> list[Goal]:
    n = int(result["count"])
    at_scale = n >= GOAL_N
    ratio = result["ratio"]
    rss = result["operator_process"]["rss_peak_mb"]
    restart = result["restart"]["converge_seconds"]
    idle = result["idle"]["writes"]
    suffix = "" if at_scale else f" (goal is for N>={GOAL_N})"
    return [
        Goal(f"ratio operator/direct <= 1.3{suffix}", "<= 1.3", ratio, ratio <= 1.3),
        Goal("zero writes while idle", "== 0", idle, idle == 0),
        Goal(f"operator peak RSS <= 150 MB{suffix}", "<= 150", rss, rss <= 150),
        Goal(f"restart convergence < 60 s{suffix}", "< 60", restart, restart < 60),
    ]


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
        "",
        "API server requests per ModelDeployment (apiserver_request_total)",
        f"  operator: {_verbs(per_md['operator'])}",
        f"  direct:   {_verbs(per_md['direct'])}",
        f"  operator writes {per_md['operator_writes']:.2f} vs direct writes {per_md['direct_writes']:.2f}",
        "",
        _row(f"writes while idle ({idle['seconds']:.0f} s, API server)", idle["writes"]),
        _row("writes while idle (operator's own counter)", idle["operator_counted_writes"]),
        _row("operator peak RSS (create + idle)", proc["create_rss_peak_mb"], "MB"),
        _row("operator CPU (create + idle)", proc["cpu_seconds"], "s"),
        _row("restart: time to converge", restart["converge_seconds"], "s"),
        _row("restart: reconciles", restart["reconciles"]),
        _row("restart: writes", restart["writes"]),
        _row("restart: operator peak RSS", proc["restart_rss_peak_mb"], "MB"),
        _row("restart: operator CPU", proc["restart_cpu_seconds"], "s"),
        "",
        "goals",
    ]
    for goal in result["goals"]:
        mark = "met" if goal["met"] else "NOT met"
        lines.append(f"  {goal['name']:<56} {goal['value']!s:>10}  {mark}")
    return "\n".join(lines)
