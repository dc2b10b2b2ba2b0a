"""Logs (text and JSON), the phase gauge computed on scrape, and the benchmark's pure parts."""

from __future__ import annotations

import io
import json
import logging
import os
from collections import Counter
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from modeldeploy import logs, metrics
from modeldeploy.bench import apiserver, procstat, report
from modeldeploy.cli import _parser


def record(msg: str = "reconciled", **extra: Any) -> logging.LogRecord:
    logger = logging.getLogger("modeldeploy.controller")
    rec = logger.makeRecord(logger.name, logging.INFO, __file__, 1, msg, (), None, extra=extra)
    return rec


def test_json_formatter_keeps_reconcile_fields_as_fields() -> None:
    line = logs.JsonFormatter().format(
        record(md="ns/resnet", result="applied", changed=["Created Deployment resnet"], duration_ms=12.5)
    )
    entry = json.loads(line)
    assert entry["msg"] == "reconciled" and entry["level"] == "info"
    assert entry["logger"] == "modeldeploy.controller"
    assert entry["md"] == "ns/resnet" and entry["result"] == "applied"
    assert entry["changed"] == ["Created Deployment resnet"] and entry["duration_ms"] == 12.5
    assert "\n" not in line  # one object per line


def test_json_formatter_serialises_anything_and_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = record("reconcile failed", error=object())
        rec.exc_info = sys.exc_info()
    entry = json.loads(logs.JsonFormatter().format(rec))
    assert entry["error"].startswith("<object") and "ValueError: boom" in entry["exception"]


def test_text_formatter_appends_fields_and_skips_empty_ones() -> None:
    formatter = logs.TextFormatter("%(levelname)s %(name)s: %(message)s")
    line = formatter.format(record(md="ns/a", result="unchanged", changed=[], error=None, duration_ms=3.0))
    assert line == "INFO modeldeploy.controller: reconciled md=ns/a result=unchanged duration_ms=3.0"


@pytest.mark.parametrize(("fmt", "kind"), [("json", logs.JsonFormatter), ("text", logs.TextFormatter)])
def test_setup_logging_picks_the_format(fmt: str, kind: type[logging.Formatter]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup_logging(fmt, "info")
        (handler,) = root.handlers
        assert isinstance(handler.formatter, kind)
        assert logging.getLogger("kopf").level == logging.WARNING
        stream = io.StringIO()
        handler.setStream(stream)  # type: ignore[attr-defined]
        logging.getLogger("modeldeploy.controller").info("reconciled", extra={"md": "ns/x"})
        out = stream.getvalue()
        assert (json.loads(out)["md"] == "ns/x") if fmt == "json" else ("md=ns/x" in out)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_cli_log_format_option() -> None:
    args = _parser().parse_args(["run", "--log-format", "json"])
    assert args.log_format == "json"
    with pytest.raises(SystemExit):
        _parser().parse_args(["run", "--log-format", "xml"])


def test_phase_gauge_counts_on_scrape_from_a_source() -> None:
    gauge = metrics.PhaseGauge()
    registry = CollectorRegistry()
    registry.register(gauge)
    gauge.labels(phase="Ready").set(7)
    assert 'modeldeploy_model_deployments{phase="Ready"} 7.0' in generate_latest(registry).decode()
    models: dict[str, Any] = {
        "a": {"status": {"phase": "Ready"}},
        "b": {},
        "c": {"status": {"phase": "Ready"}},
    }
    gauge.set_source(models.values)
    text = generate_latest(registry).decode()
    assert 'modeldeploy_model_deployments{phase="Ready"} 2.0' in text
    assert 'modeldeploy_model_deployments{phase="Pending"} 1.0' in text
    assert 'modeldeploy_model_deployments{phase="Failed"} 0.0' in text
    models["d"] = {"status": {"phase": "Degraded"}}  # the source is read at every scrape
    assert 'modeldeploy_model_deployments{phase="Degraded"} 1.0' in generate_latest(registry).decode()


def test_operator_registry_has_every_metric() -> None:
    text = generate_latest(metrics.REGISTRY).decode()
    names = ["modeldeploy_reconciles_total", "modeldeploy_reconcile_duration_seconds",
             "modeldeploy_api_requests_total", "modeldeploy_model_deployments",
             "modeldeploy_workqueue_depth", "modeldeploy_workers_busy", "modeldeploy_workers"]  # fmt: skip
    for name in names:
        assert f"# TYPE {name} " in text, name


APISERVER_METRICS = """\
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 10
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="All",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 99
apiserver_request_total{code="200",component="apiserver",dry_run="",group="serving.modeldeploy.io",resource="modeldeployments",scope="resource",subresource="status",verb="APPLY",version="v1alpha1"} 4
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 50
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="namespace",subresource="",verb="LIST",version="v1"} 3
apiserver_request_duration_seconds_count{verb="LIST"} 3
"""  # noqa: E501


def test_apiserver_request_totals_parse_diff_and_filter() -> None:
    after = apiserver.parse_request_totals(APISERVER_METRICS)
    assert after[("APPLY", "configmaps", "")] == 15  # codes summed, dry runs ignored
    assert after[("APPLY", "modeldeployments", "status")] == 4
    before = Counter({("APPLY", "configmaps", ""): 5, ("PUT", "leases", ""): 40})
    delta = apiserver.diff(after, before)
    assert delta[("APPLY", "configmaps", "")] == 10 and delta[("PUT", "leases", "")] == 10
    ours = apiserver.only(delta, apiserver.OPERATOR_RESOURCES)
    assert ("PUT", "leases", "") not in ours
    mine = apiserver.subtract(ours, {("LIST", "configmaps", ""): 3})
    assert ("LIST", "configmaps", "") not in mine
    assert apiserver.by_verb(mine) == {"APPLY": 14}
    assert apiserver.by_resource(apiserver.writes(mine)) == {
        "configmaps": {"APPLY": 10},
        "modeldeployments/status": {"APPLY": 4},
    }


def test_procstat_reads_this_process() -> None:
    assert procstat.peak_rss_mb(os.getpid()) > 1
    assert procstat.cpu_seconds(os.getpid()) > 0


def sample_result(n: int, ratio: float, idle: int, rss: float, restart: float) -> dict[str, Any]:
    return {
        "count": n,
        "ratio": ratio,
        "idle": {"writes": idle},
        "operator_process": {"rss_peak_mb": rss},
        "restart": {"converge_seconds": restart},
    }


def test_goals_are_reported_met_or_not() -> None:
    met = report.goals(sample_result(1000, 1.2, 0, 120.0, 30.0))
    assert [goal.met for goal in met] == [True, True, True, True]
    missed = report.goals(sample_result(1000, 2.0, 3, 200.0, 90.0))
    assert [goal.met for goal in missed] == [False, False, False, False]
    small = report.goals(sample_result(5, 1.0, 0, 70.0, 2.0))
    assert all("N>=1000" in goal.name for goal in small if "idle" not in goal.name)


def test_bench_cli_options() -> None:
    args = _parser().parse_args(["bench"])
    assert (args.count, args.concurrency, args.idle_seconds, args.output) == (100, 8, 60, None)
    args = _parser().parse_args(
        ["bench", "--count", "1000", "--concurrency", "4", "--idle-seconds", "5", "--output", "x.json"]
    )
    assert (args.count, args.concurrency, args.idle_seconds, args.output) == (1000, 4, 5, "x.json")
