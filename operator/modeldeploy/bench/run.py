# Over 300 lines: the benchmark's phases in run order; pure parts: report, apiserver, edits.
"""`modeldeploy bench`: the operator against a direct client, on fresh local clusters it starts itself.

Per N (``--count``, or each of ``--counts``), on two fresh clusters of the same size, so that neither
phase runs beside the other's objects (the API server's caches and etcd would carry both):
1. direct (cluster 1): the children `render` makes for N ModelDeployments, server-side applied by a plain
   client with C concurrent ModelDeployments (children of one in order);
2. operator (cluster 2): N ModelDeployments applied the same way, timed until all children exist and
   until all are Ready;
3. idle: writes the API server receives while nothing changes;
4. restart: the operator killed and started again with N existing, timed until it has reconciled all N;
5. edits at steady state: K label and K runtime edits, one at a time, each timed to its child (edits.py);
6. edits under load: the same edits while another N ModelDeployments are being created.

Request counts come from the API server's own apiserver_request_total, minus what the benchmark itself
sent (which it counts).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from modeldeploy import metrics
from modeldeploy.api import MD_API_VERSION, MD_KIND
from modeldeploy.bench import apiserver, edits, procstat, report
from modeldeploy.bench.apiserver import Requests
from modeldeploy.config import OperatorConfig, load_config
from modeldeploy.kube import RESOURCES, Credentials, KubeClient, object_path
from modeldeploy.localcluster import LocalCluster, NodeSpec
from modeldeploy.localcluster.binaries import project_root
from modeldeploy.localcluster.operator_process import OperatorProcess
from modeldeploy.plan import plan_for

OPERATOR_NS = "bench-operator"
DIRECT_NS = "bench-direct"
PODS_PER_NODE = 250
TERMINATIONS = "apiserver_request_terminations_total"
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
T = TypeVar("T")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def model(index: int, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": MD_API_VERSION,
        "kind": MD_KIND,
        "metadata": {"name": f"model-{index:05d}", "namespace": namespace},
        "spec": {"model": {"uri": f"gs://bench/models/model-{index:05d}"}},
    }


def rendered(md: Mapping[str, Any], config: OperatorConfig) -> list[dict[str, Any]]:
    planned = plan_for(md, config)  # the operator's own plan (no uid: no owner reference)
    if planned.spec_error is not None:
        raise planned.spec_error
    return list(planned.apply)


def node_pool(count: int) -> list[NodeSpec]:
    # Every ModelDeployment has one replica in each namespace: 2N pods, with a tenth spare.
    nodes = max(1, math.ceil(2 * count * 1.1 / PODS_PER_NODE))
    return [
        NodeSpec(name=f"kwok-bench-{i}", cpu=str(PODS_PER_NODE * 2), memory="2Ti", pods=PODS_PER_NODE)
        for i in range(nodes)
    ]


def admin_credentials(cluster: LocalCluster) -> Credentials:
    assert cluster.pki is not None
    return Credentials(
        server=cluster.server,
        ca_path=str(cluster.pki.ca_cert),
        certificate_path=str(cluster.pki.admin_cert),
        private_key_path=str(cluster.pki.admin_key),
    )


def own_requests() -> Counter[apiserver.RequestKey]:
    """What this process's KubeClient sent, keyed as the API server counts it."""
    sent: Counter[apiserver.RequestKey] = Counter()
    for family in metrics.REGISTRY.collect():
        if family.name != "modeldeploy_api_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                resource, _, sub = sample.labels["resource"].partition("/")
                sent[(sample.labels["verb"].upper(), resource, sub)] += int(sample.value)
    return sent


async def bounded(items: Sequence[T], concurrency: int, work: Callable[[T], Awaitable[None]]) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item: T) -> None:
        async with semaphore:
            await work(item)

    await asyncio.gather(*(one(item) for item in items))


async def poll(probe: Callable[[], Awaitable[bool]], timeout: float, interval: float, what: str) -> float:
    """Seconds until `probe` is true (checked every `interval`), or TimeoutError."""
    started = time.monotonic()
    while True:
        if await probe():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


class Bench:
    """One N on one cluster: the phases share its client, its models and its operator process."""

    def __init__(self, args: argparse.Namespace, count: int, cluster: LocalCluster, workdir: Path) -> None:
        self.args = args
        self.count = count
        self.concurrency: int = args.concurrency
        self.cluster = cluster
        self.workdir = workdir
        self.config = load_config(None, {})
        self.client = KubeClient(admin_credentials(cluster), pool_size=max(8, self.concurrency * 2))
        # Polling lists cost the API server too: poll less often as N grows.
        self.interval = max(0.5, self.count / 400)
        self.models = [model(i, OPERATOR_NS) for i in range(self.count)]
        self.expected = self._expected(self.models)
        self.operator: OperatorProcess | None = None
        # CPU seconds of the control plane's processes (and the operator's) while the children were made.
        self.phase_cpu: dict[str, float] = {}

    @staticmethod
    def _expected(models: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], set[str]]:
        config = load_config(None, {})
        kinds: dict[tuple[str, str], set[str]] = {}
        for md in models:
            for obj in rendered(md, config):
                kinds.setdefault((obj["apiVersion"], obj["kind"]), set()).add(obj["metadata"]["name"])
        return kinds

    # -- API helpers ---------------------------------------------------------------------------------

    async def apiserver_requests(self) -> Requests:
        return apiserver.parse_request_totals(await self.client.get_text("/metrics"))

    async def list_items(
        self, api_version: str, kind: str, namespace: str, metadata_only: bool
    ) -> list[dict[str, Any]]:
        body = await self.client.request(
            "list",
            "GET",
            object_path(api_version, kind, namespace),
            RESOURCES[(api_version, kind)],
            accept=METADATA_LIST if metadata_only else "application/json",
        )
        items: list[dict[str, Any]] = body.get("items") or []
        return items

    async def children_exist(self, namespace: str) -> bool:
        for (api_version, kind), names in self.expected.items():
            items = await self.list_items(api_version, kind, namespace, metadata_only=True)
            if not names <= {item["metadata"]["name"] for item in items}:
                return False
        return True

    async def last_child_created(self, namespace: str) -> float:
        """The wall-clock time by which the last expected child existed: its creationTimestamp, which has
        whole seconds, plus one (an upper bound). Polling lists every few seconds at large N would
        otherwise add up to a polling interval to the operator's time and not to the direct client's."""
        latest = 0.0
        for (api_version, kind), names in self.expected.items():
            for item in await self.list_items(api_version, kind, namespace, metadata_only=True):
                meta = item["metadata"]
                if meta["name"] in names:
                    created = datetime.datetime.fromisoformat(
                        meta["creationTimestamp"].replace("Z", "+00:00")
                    )
                    latest = max(latest, created.timestamp() + 1.0)
        return latest

    async def all_ready(self) -> bool:
        items = await self.list_items(MD_API_VERSION, MD_KIND, OPERATOR_NS, metadata_only=False)
        ready = sum(1 for item in items if (item.get("status") or {}).get("phase") == "Ready")
        return ready >= self.count

    async def deployments_available(self, namespace: str) -> bool:
        items = await self.list_items("apps/v1", "Deployment", namespace, metadata_only=False)
        available = 0
        for item in items:
            status = item.get("status") or {}
            wanted = item.get("spec", {}).get("replicas", 1)
            if status.get("availableReplicas", 0) >= wanted and status.get("updatedReplicas", 0) >= wanted:
                available += 1
        return available >= self.count

    def component_cpu(self) -> dict[str, float]:
        """CPU seconds so far of each control-plane process and of the operator (they share the cores)."""
        processes = {name: c.process for name, c in self.cluster.components.items()}
        if self.operator is not None:
            processes["operator"] = self.operator.component.process
        # This process is the direct phase's client; in the operator phase it only applies the models.
        cpu = {"bench client": procstat.cpu_seconds(os.getpid())}
        for name, process in processes.items():
            if process is not None and process.poll() is None:
                cpu[name] = procstat.cpu_seconds(process.pid)
        return cpu

    # -- phases --------------------------------------------------------------------------------------

    async def direct_phase(self) -> tuple[dict[str, float], Requests]:
        sets = [rendered(model(i, DIRECT_NS), self.config) for i in range(self.count)]

        async def apply_set(children: list[dict[str, Any]]) -> None:
            for obj in children:
                await self.client.apply(obj)

        before, sent, cpu = await self.apiserver_requests(), own_requests(), self.component_cpu()
        started = time.monotonic()
        await bounded(sets, self.concurrency, apply_set)
        children = time.monotonic() - started
        self.phase_cpu = cpu_delta(self.component_cpu(), cpu)
        log(f"direct: all children applied in {children:.1f}s; waiting for the Deployments")
        available = children + await poll(
            lambda: self.deployments_available(DIRECT_NS), self.args.timeout, self.interval, "Deployments"
        )
        # The direct client's applies are the figure; only the benchmark's polling is taken off.
        polling = Counter({k: v for k, v in (own_requests() - sent).items() if k[0] in ("LIST", "GET")})
        requests = apiserver.subtract(apiserver.diff(await self.apiserver_requests(), before), polling)
        return {"children_seconds": children, "available_seconds": available}, requests

    def start_operator(self) -> OperatorProcess:
        # Pods are plain simulated ones: pod IPs map onto a loopback network where nothing listens, so
        # the model status polls fail at once (refused) instead of waiting for timeouts on 10.244.0.0/16.
        config = self.workdir / "operator-config.json"
        config.write_text(json.dumps(self.cluster.operator_config()))
        operator = OperatorProcess(
            kubeconfig=self.cluster.kubeconfig,
            log_path=self.workdir / "logs" / "operator.log",
            config_path=config,
            args=[f"--workers={self.concurrency}", f"--namespace={OPERATOR_NS}", *self.args.operator_arg],
        )
        operator.start(timeout=120)
        self.operator = operator
        return operator

    async def operator_phase(self) -> tuple[dict[str, float], Requests]:
        before, sent, cpu = await self.apiserver_requests(), own_requests(), self.component_cpu()
        started, wall = time.monotonic(), time.time()
        await bounded(self.models, self.concurrency, self._apply_model)
        applied = time.monotonic() - started
        log(f"operator: {self.count} ModelDeployments applied in {applied:.1f}s")
        polled = applied + await poll(
            lambda: self.children_exist(OPERATOR_NS), self.args.timeout, self.interval, "children"
        )
        self.phase_cpu = cpu_delta(self.component_cpu(), cpu)  # until the children exist, as direct
        children = min(polled, await self.last_child_created(OPERATOR_NS) - wall)
        log(f"operator: all children exist after {children:.1f}s (seen by polling after {polled:.1f}s)")
        ready = polled + await poll(self.all_ready, self.args.timeout, self.interval, "Ready")
        log(f"operator: all Ready after {ready:.1f}s")
        requests = apiserver.subtract(
            apiserver.diff(await self.apiserver_requests(), before), own_requests() - sent
        )
        return {"apply_seconds": applied, "children_seconds": children, "ready_seconds": ready}, requests

    async def _apply_model(self, md: dict[str, Any]) -> None:
        await self.client.apply(md)

    async def idle_phase(self, operator: OperatorProcess) -> dict[str, Any]:
        seconds = float(self.args.idle_seconds)
        before_text = await self.client.get_text("/metrics")
        counted_before = operator_writes(operator)
        await asyncio.sleep(seconds)
        # The operator's counter first: whatever it counted by then has reached the API server.
        counted = operator_writes(operator) - counted_before
        after_text = await self.client.get_text("/metrics")
        before, after = (apiserver.parse_request_totals(t) for t in (before_text, after_text))
        turned_away = apiserver.only(
            apiserver.writes(
                apiserver.diff(
                    *(apiserver.parse_request_totals(t, TERMINATIONS) for t in (after_text, before_text))
                )
            ),
            apiserver.OPERATOR_RESOURCES,
        )
        writes = apiserver.writes(apiserver.diff(after, before))
        ours = apiserver.only(writes, apiserver.OPERATOR_RESOURCES)
        others = Counter(
            {
                k: v
                for k, v in writes.items()
                if k[1] not in apiserver.OPERATOR_RESOURCES and k[1] not in apiserver.COORDINATION_RESOURCES
            }
        )
        return {
            "seconds": seconds,
            "writes": sum(ours.values()),
            "writes_by_resource": apiserver.by_resource(ours),
            "other_writes_by_resource": apiserver.by_resource(others),
            "operator_counted_writes": sum(counted.values()),
            # By "resource verb code": a write the operator counted that the API server did not handle
            # shows here, e.g. a 429 its priority and fairness answered (turned_away_by_resource).
            "operator_counted_writes_by_request": {" ".join(k): v for k, v in sorted(counted.items())},
            "turned_away_by_resource": apiserver.by_resource(turned_away),
        }

    async def steady_edits(self) -> dict[str, Any]:
        """Edits one at a time with nothing else going on (after the idle phase)."""
        done = await edits.edit_series(
            self.client, self.models, self.args.edits, self.args.timeout, 1000, self.queue_depth
        )
        return edits.summary(done)

    async def edits_under_load(self) -> dict[str, Any]:
        """The same edits while another N ModelDeployments are being created (the operator's backlog)."""
        crowd = [model(self.count + i, OPERATOR_NS) for i in range(self.count)]
        created = 0

        async def create(md: dict[str, Any]) -> None:
            nonlocal created
            await self.client.apply(md)
            created += 1

        mass = asyncio.create_task(bounded(crowd, self.concurrency, create))
        # Edit once the crowd is queued ahead of the edits, not before the backlog exists.
        await poll(
            lambda: _true_when(created >= max(1, self.count // 20) or mass.done()), 600, 0.05, "a backlog"
        )
        done = await edits.edit_series(
            self.client, self.models, self.args.edits, self.args.timeout, 2000, self.queue_depth
        )
        created_by_then = created
        # The rest of the crowd changes no figure: stop applying it (at large N that saves minutes).
        mass.cancel()
        await asyncio.gather(mass, return_exceptions=True)
        result = edits.summary(done)
        result["created_before_last_edit"] = created_by_then
        return result

    async def queue_depth(self) -> int | None:
        if self.operator is None:
            return None
        try:
            text = await asyncio.to_thread(self.operator.metrics_text)
        except OSError:
            return None
        return metric_total(text, "modeldeploy_workqueue_depth")

    async def restart_phase(self) -> tuple[dict[str, Any], OperatorProcess]:
        assert self.operator is not None
        self.operator.kill()
        before = await self.apiserver_requests()
        started = time.monotonic()
        operator = await asyncio.to_thread(self.start_operator)

        async def converged() -> bool:
            reconciles = await asyncio.to_thread(reconciles_total, operator)
            return reconciles >= self.count and await self.all_ready()

        await poll(converged, self.args.timeout, min(self.interval, 1.0), "restart convergence")
        seconds = time.monotonic() - started
        requests = apiserver.diff(await self.apiserver_requests(), before)
        ours = apiserver.only(requests, apiserver.OPERATOR_RESOURCES)
        return {
            "converge_seconds": seconds,
            "reconciles": await asyncio.to_thread(reconciles_total, operator),
            "writes": sum(apiserver.writes(ours).values()),
            "requests_by_verb": apiserver.by_verb(ours),
        }, operator


def cpu_delta(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before.get(name, 0.0), 2) for name in after}


async def _true_when(value: bool) -> bool:
    return value


def metric_total(text: str, name: str) -> int:
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"{name}(?:\{{[^}}]*\}})? (\S+)$", line)
        if match is not None:
            total += float(match.group(1))
    return int(total)


def reconciles_total(operator: OperatorProcess) -> int:
    try:
        return metric_total(operator.metrics_text(), "modeldeploy_reconciles_total")
    except OSError:
        return 0


def operator_writes(operator: OperatorProcess) -> Counter[tuple[str, str, str]]:
    """The writes the operator counted itself, by (resource, verb, HTTP code)."""
    counted: Counter[tuple[str, str, str]] = Counter()
    for line in operator.metrics_text().splitlines():
        match = re.match(r"modeldeploy_api_requests_total\{([^}]*)\} (\S+)$", line)
        if match is None:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if labels.get("verb") in ("apply", "delete", "create", "patch"):
            counted[(labels.get("resource", ""), labels["verb"], labels.get("code", ""))] += int(
                float(match.group(2))
            )
    return counted


def per_md(requests: Requests, count: int) -> dict[str, float]:
    return {verb: round(value / count, 2) for verb, value in apiserver.by_verb(requests).items()}


def start_cluster(count: int, workdir: Path, namespace: str) -> LocalCluster:
    cluster = LocalCluster(workdir=workdir, nodes=node_pool(count))
    started = time.monotonic()
    log(f"starting a local cluster with {len(cluster.nodes)} nodes in {workdir}")
    try:
        cluster.start(timeout=180)
        cluster.install_crds(project_root() / "crds")
        cluster.apply_objects([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}])
    except BaseException:
        cluster.stop()
        raise
    log(f"cluster ready in {time.monotonic() - started:.1f}s")
    return cluster


async def direct_run(bench: Bench) -> tuple[dict[str, Any], Requests]:
    try:
        log(f"direct: applying the children of {bench.count} ModelDeployments")
        direct, requests = await bench.direct_phase()
        return {**direct, "cpu_seconds": bench.phase_cpu}, requests
    finally:
        await bench.client.close()


async def operator_run(bench: Bench) -> dict[str, Any]:
    try:
        operator = await asyncio.to_thread(bench.start_operator)
        first_pid = operator.pid
        assert first_pid is not None
        # What the operator holds before the first ModelDeployment: the base of the bytes-per-model figure.
        base_rss = procstat.rss_mb(first_pid)
        op, op_requests = await bench.operator_phase()
        op_cpu = bench.phase_cpu
        log(f"idle: {bench.args.idle_seconds} s")
        idle = await bench.idle_phase(operator)
        rss, cpu = procstat.peak_rss_mb(first_pid), procstat.cpu_seconds(first_pid)
        # The restart comes before the edits: their rollouts would still be writing while it is timed.
        log("restart: killing the operator and starting it again")
        restart, operator = await bench.restart_phase()
        assert operator.pid is not None
        restart_rss, restart_cpu = procstat.peak_rss_mb(operator.pid), procstat.cpu_seconds(operator.pid)
        log(f"edits at steady state: {bench.args.edits} of each kind")
        steady = await bench.steady_edits()
        log(f"edits while {bench.count} more ModelDeployments are created")
        loaded = await bench.edits_under_load()
    finally:
        if bench.operator is not None:
            bench.operator.stop()
        await bench.client.close()
    return {
        "operator": op,
        "operator_phase_cpu": op_cpu,
        "op_requests": op_requests,
        "idle": idle,
        "edit_latency": {"steady": steady, "mass_create": loaded},
        "restart": restart,
        "process": {
            "base_rss_mb": base_rss,
            "create_rss_peak_mb": rss,
            "cpu_seconds": cpu,
            "restart_rss_peak_mb": restart_rss,
            "restart_cpu_seconds": restart_cpu,
        },
    }


def run_count(args: argparse.Namespace, count: int, workdir: Path) -> dict[str, Any]:
    """Both phases of one N, each on its own fresh cluster."""
    cluster = start_cluster(count, workdir / "direct", DIRECT_NS)
    try:
        direct, direct_requests = asyncio.run(direct_run(Bench(args, count, cluster, workdir / "direct")))
    finally:
        cluster.stop()
    cluster = start_cluster(count, workdir / "operator", OPERATOR_NS)
    try:
        measured = asyncio.run(operator_run(Bench(args, count, cluster, workdir / "operator")))
    finally:
        cluster.stop()
    nodes = len(cluster.nodes)
    return result_of(args, count, nodes, direct, direct_requests, measured)


def result_of(
    args: argparse.Namespace,
    n: int,
    nodes: int,
    direct: Mapping[str, Any],
    direct_requests: Requests,
    measured: Mapping[str, Any],
) -> dict[str, Any]:
    op = measured["operator"]
    proc = measured["process"]
    restart = measured["restart"]
    op_scoped = apiserver.only(measured["op_requests"], apiserver.OPERATOR_RESOURCES)
    direct_scoped = apiserver.only(direct_requests, apiserver.OPERATOR_RESOURCES)
    peak = max(proc["create_rss_peak_mb"], proc["restart_rss_peak_mb"])
    result: dict[str, Any] = {
        "count": n,
        "concurrency": args.concurrency,
        "nodes": nodes,
        "cpus": os.cpu_count(),
        "operator": {k: round(v, 2) for k, v in op.items()},
        "direct": {k: round(v, 2) for k, v in direct.items() if k != "cpu_seconds"},
        # CPU seconds per process until all children existed, in each phase: what the cores went to.
        "phase_cpu_seconds": {"operator": measured["operator_phase_cpu"], "direct": direct["cpu_seconds"]},
        "ratio": round(op["children_seconds"] / max(direct["children_seconds"], 1e-6), 2),
        # All CPU seconds spent until the children existed, operator path over direct path: what the
        # ratio tends to when the cores are the bottleneck, and unlike wall time not moved by other load.
        "cpu_ratio": round(
            sum(measured["operator_phase_cpu"].values()) / max(sum(direct["cpu_seconds"].values()), 1e-6), 2
        ),
        "api_requests_per_md": {
            "operator": per_md(op_scoped, n),
            "direct": per_md(direct_scoped, n),
            "operator_writes": round(sum(apiserver.writes(op_scoped).values()) / n, 2),
            "direct_writes": round(sum(apiserver.writes(direct_scoped).values()) / n, 2),
            "operator_by_resource": apiserver.by_resource(op_scoped),
            "direct_by_resource": apiserver.by_resource(direct_scoped),
        },
        "idle": measured["idle"],
        "edit_latency": measured["edit_latency"],
        "operator_process": {
            "rss_peak_mb": round(peak, 1),
            "base_rss_mb": round(proc["base_rss_mb"], 1),
            "bytes_per_model": round(max(0.0, peak - proc["base_rss_mb"]) * 2**20 / n),
            "create_rss_peak_mb": round(proc["create_rss_peak_mb"], 1),
            "cpu_seconds": round(proc["cpu_seconds"], 2),
            "restart_rss_peak_mb": round(proc["restart_rss_peak_mb"], 1),
            "restart_cpu_seconds": round(proc["restart_cpu_seconds"], 2),
        },
        "restart": {**restart, "converge_seconds": round(restart["converge_seconds"], 2)},
    }
    result["goals"] = [goal.as_dict() for goal in report.goals(result)]
    return result


def run_bench(args: argparse.Namespace) -> int:
    counts = parse_counts(args.counts) if args.counts else [args.count]
    if not counts or min(counts) < 1 or args.concurrency < 1 or args.edits < 1:
        print("error: --count/--counts, --concurrency and --edits must be at least 1", file=sys.stderr)
        return 2
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="modeldeploy-bench-"))
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    for count in counts:
        result = run_count(args, count, workdir / f"n{count}")
        print(report.table(result) + "\n", flush=True)
        runs.append(result)
        # After each N, so that a long run interrupted at a large N keeps what it measured.
        write_output(args.output, runs, len(counts) > 1, time.monotonic() - started)
    print(report.curve_table(report.scale_curve(runs)), flush=True)
    if args.output:
        print(f"\nwrote {args.output}", flush=True)
    if not args.keep and not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def write_output(output: str | None, runs: list[dict[str, Any]], several: bool, seconds: float) -> None:
    if not output:
        return
    curve = report.scale_curve(runs)
    body: dict[str, Any] = (
        {"runs": runs, "scale_curve": curve} if several else {**runs[0], "scale_curve": curve}
    )
    body["total_seconds"] = round(seconds, 1)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")


def parse_counts(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        return []
