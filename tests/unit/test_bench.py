"""The benchmark's pure parts for issue 16: edits and what shows them, percentiles, goals, scale curve."""

from __future__ import annotations

from typing import Any

from modeldeploy.bench import apiserver, edits, report
from modeldeploy.bench.run import model, parse_counts, rendered
from modeldeploy.cli import _parser
from modeldeploy.config import load_config


def child(md: dict[str, Any], kind: str) -> dict[str, Any]:
    """The child the operator would make for ``md`` (rendered, as the operator renders it)."""
    wanted = "ConfigMap" if kind == "label" else "Deployment"
    (obj,) = [c for c in rendered(md, load_config(None, {})) if c["kind"] == wanted]
    return obj


def test_each_edit_is_shown_by_its_child_and_not_before() -> None:
    md = model(7, "ns")
    for kind in edits.KINDS:
        for serial in (1000, 1001):
            changed = edits.edited(md, kind, serial)
            assert not edits.shows(child(md, kind), kind, serial), (kind, serial)
            assert edits.shows(child(changed, kind), kind, serial), (kind, serial)
            assert not edits.shows(child(changed, kind), kind, serial + 1), (kind, serial)
    assert md["spec"] == {"model": {"uri": "gs://bench/models/model-00007"}}  # the original is untouched


def test_edit_paths_name_the_child_that_shows_it() -> None:
    md = model(3, "ns")
    assert edits.child_path(md, "label") == (
        "/api/v1/namespaces/ns/configmaps/model-00003-tfserving",
        "configmaps",
    )
    assert edits.child_path(md, "runtime") == (
        "/apis/apps/v1/namespaces/ns/deployments/model-00003",
        "deployments",
    )


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert edits.percentile(values, 0.5) == 10.0
    assert edits.percentile(values, 0.99) == 20.0
    assert edits.percentile([3.0], 0.99) == 3.0
    assert edits.percentile([float(v) for v in range(1, 101)], 0.99) == 99.0


def test_summary_reports_each_kind_and_the_backlog() -> None:
    done = [edits.Edit("label", 0.2, 0), edits.Edit("runtime", 0.4, 30), edits.Edit("label", 1.0, 12)]
    summary = edits.summary(done)
    assert summary["count"] == 3
    assert summary["p50_seconds"] == 0.4 and summary["p99_seconds"] == 1.0
    assert summary["label"]["p99_seconds"] == 1.0 and summary["runtime"]["p50_seconds"] == 0.4
    assert summary["queue_depth_median"] == 12 and summary["edits_behind_backlog"] == 2


def result(n: int, rss: float, base: float = 60.0, p99: tuple[float, float] = (0.5, 2.0)) -> dict[str, Any]:
    return {
        "count": n,
        "ratio": 1.1,
        "idle": {"writes": 0},
        "operator_process": {
            "rss_peak_mb": rss,
            "cpu_seconds": 10.0,
            "restart_cpu_seconds": 2.0,
            "bytes_per_model": round((rss - base) * 2**20 / n),
        },
        "restart": {"converge_seconds": 5.0},
        "edit_latency": {"steady": {"p99_seconds": p99[0]}, "mass_create": {"p99_seconds": p99[1]}},
    }


def test_goals_include_edit_latency_and_the_large_n_limits() -> None:
    names = {goal.name: goal.met for goal in report.goals(result(1000, 140.0))}
    assert names["edit p99 steady <= 1 s"] and names["edit p99 mass create <= 5 s"]
    assert names["operator peak RSS <= 150 MB"] and names["ratio operator/direct <= 1.2"]
    slow = {goal.name: goal.met for goal in report.goals(result(1000, 140.0, p99=(1.5, 9.0)))}
    assert not slow["edit p99 steady <= 1 s"] and not slow["edit p99 mass create <= 5 s"]
    large = {goal.name: goal.met for goal in report.goals(result(5000, 280.0))}
    assert large["operator peak RSS <= 300 MB"] and large["restart convergence <= 15 s"]
    assert large["ratio operator/direct <= 1.25"]


def test_scale_curve_derives_bytes_per_model() -> None:
    curve = report.scale_curve([result(1000, 110.0), result(100, 65.0)])
    assert [p["count"] for p in curve] == [100, 1000]
    assert "marginal_bytes_per_model" not in curve[0]
    assert curve[1]["marginal_bytes_per_model"] == round(45.0 * 2**20 / 900)
    assert curve[1]["bytes_per_model"] == round(50.0 * 2**20 / 1000)
    table = report.curve_table(curve)
    assert "scale curve" in table and " 1000 " in table


def test_counts_option() -> None:
    assert parse_counts("100,1000,5000") == [100, 1000, 5000]
    assert parse_counts("100,x") == []
    args = _parser().parse_args(["bench", "--counts", "100,1000", "--edits", "4"])
    assert (args.counts, args.edits) == ("100,1000", 4)


def test_requests_the_api_server_turned_away_are_read_from_their_own_counter() -> None:
    text = "\n".join(
        [
            'apiserver_request_total{code="201",resource="events",subresource="",verb="POST"} 5',
            'apiserver_request_total{code="200",dry_run="All",resource="deployments",verb="APPLY"} 9',
            'apiserver_request_terminations_total{code="429",component="apiserver",resource="events",'
            'subresource="",verb="POST"} 7',
        ]
    )
    assert apiserver.parse_request_totals(text) == {("POST", "events", ""): 5}
    assert apiserver.parse_request_totals(text, "apiserver_request_terminations_total") == {
        ("POST", "events", ""): 7
    }
