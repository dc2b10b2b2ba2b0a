# Over 300 lines: the pod farm's watch loop and per-pod server lifecycle (view: podview.py).
"""The pod farm: one emulated tensorflow_model_server per running ModelDeployment pod, in one process.

It plays the kubelet's container runtime for the local cluster: it lists and watches the pods and
ConfigMaps of ModelDeployments, starts an EmulatedModelServer (localcluster/tfserving) for each running
pod from that pod's own command, args and mounted ConfigMap, bound to the pod's IP after the cluster's
address map (pod IPs are not routable here; every address of 127.0.0.0/8 is, see cluster.py), and writes
what a kubelet would observe into annotations that KWOK's stages (stages.py) turn into pod status: Ready
only while the server answers its readiness probe, CrashLoopBackOff with the exit message when it ends.
Each pod costs threads, not a process, so tens of pods stay cheap on two cores.

Run as ``python -m modeldeploy.localcluster.podfarm`` (LocalCluster does, as a Component).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldeploy.api import SELECTOR_LABEL
from modeldeploy.config import ModelStatusConfig
from modeldeploy.informer import Informer, Resource
from modeldeploy.kube import ApiError, Credentials, KubeClient
from modeldeploy.localcluster import stages
from modeldeploy.localcluster.podview import PodView, pod_view
from modeldeploy.localcluster.tfserving.server import EmulatedModelServer, ServerExit
from modeldeploy.localcluster.tfserving.store import ModelStore, VersionSpec
from modeldeploy.modelstatusapi import translate_address
from modeldeploy.store import Key, Store, slim

log = logging.getLogger("modeldeploy.podfarm")

# kubelet's container restart back-off: 10 s, doubling, at most 5 minutes
# (pkg/kubelet/kubelet.go backOffPeriod, MaxContainerBackOff in k8s.io/kubernetes).
BACKOFF_FIRST_SECONDS = 10.0
BACKOFF_MAX_SECONDS = 300.0
BIND_ATTEMPTS = 20  # a recycled pod IP may still be held by the previous pod's server for a moment
TERMINATION_LOG_LINES = 80
TERMINATION_LOG_BYTES = 2048
BIND_FAILURE = "Failed to BuildAndStart gRPC server"
PODS = Resource("v1", "pods", "Pod", slim)
CONFIGMAPS = Resource("v1", "configmaps", "ConfigMap", slim)

Report = Callable[[str, str, dict[str, str]], None]  # namespace, pod name, annotations
OVERLAY_DIR = ".pods"


def pod_overlay_root(store_root: Path, namespace: str, pod: str) -> Path:
    """Where versions that behave differently in one pod live (same layout as the shared store)."""
    return store_root / OVERLAY_DIR / namespace / pod


class PodModelStore(ModelStore):
    """The shared model store as one pod sees it. A version present in the shared store may behave
    differently in this pod alone (its copy on that node is corrupt, say): the overlay's version.json wins.
    Versions only in the overlay do not exist, so every pod sees the same set of versions."""

    def __init__(self, root: Path, aliases: Mapping[str, str], overlay: Path) -> None:
        super().__init__(root, aliases)
        self.overlay = ModelStore(overlay, aliases)

    def versions(self, base_path: str) -> dict[int, VersionSpec]:
        own = self.overlay.versions(base_path)
        return {n: own.get(n, spec) for n, spec in super().versions(base_path).items()}


@dataclass(frozen=True)
class FarmSettings:
    store_root: Path
    address_map: ModelStatusConfig
    time_scale: float = 1.0
    poll_scale: float = 1.0
    backoff_scale: float = 1.0


class PodRunner:
    """The container of one pod: starts the server, probes it, restarts it with back-off when it ends."""

    def __init__(
        self,
        owner: Key,
        view: PodView,
        configmaps: Callable[[str], Mapping[str, Any] | None],
        settings: FarmSettings,
        report: Report,
    ) -> None:
        self.owner = owner
        self.view = view
        self._configmaps = configmaps
        self._settings = settings
        self._report = report
        self._stopped = threading.Event()
        self._server: EmulatedModelServer | None = None
        self.restarts = 0
        self.host = translate_address(settings.address_map, view.ip)
        self._thread = threading.Thread(
            target=self._run, name=f"pod-{view.namespace}/{view.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        server = self._server
        if server is not None:
            with contextlib.suppress(Exception):
                server.stop()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _read_file(self, path: str) -> str:
        return self.view.read_file(self._configmaps, path)

    def _state(self, state: str, code: int | None = None, message: str | None = None) -> None:
        annotations = {
            stages.STATE_ANNOTATION: f"{state}/{self.restarts}",
            stages.RESTARTS_ANNOTATION: str(self.restarts),
        }
        if code is not None:
            annotations[stages.EXIT_CODE_ANNOTATION] = str(code)
            annotations[stages.EXIT_MESSAGE_ANNOTATION] = (message or "")[-4096:]
        self._report(self.view.namespace, self.view.name, annotations)

    def _run(self) -> None:
        try:
            self._restart_loop()
        except Exception:  # a bug here must show in the log, and the pod must not look healthy
            log.exception("runner of pod %s/%s failed", self.view.namespace, self.view.name)
            self._state(stages.CRASHLOOP, 1, "pod farm error (see its log)")

    def _restart_loop(self) -> None:
        backoff = BACKOFF_FIRST_SECONDS
        while not self._stopped.is_set():
            exit_ = self._run_once()
            if exit_ is None or self._stopped.is_set():
                return
            code, message = exit_
            log.info("server of pod %s/%s exited %s: %s", self.view.namespace, self.view.name, code, message)
            self.restarts += 1
            self._state(stages.CRASHLOOP, code, message)
            if self._stopped.wait(backoff * self._settings.backoff_scale):
                return
            backoff = min(BACKOFF_MAX_SECONDS, backoff * 2)

    def _run_once(self) -> tuple[int, str] | None:
        """One container start; the exit (code, message), or None when the pod went away."""
        self._state(stages.STARTING)
        root = self._settings.store_root
        overlay = pod_overlay_root(root, self.view.namespace, self.view.name)
        store = PodModelStore(root, self.view.aliases, overlay)
        env = {str(e["name"]): str(e["value"]) for e in self.view.container.get("env") or () if "value" in e}
        for attempt in range(BIND_ATTEMPTS):
            server = EmulatedModelServer(
                self.view.argv,
                self._read_file,
                store,
                host=self.host,
                time_scale=self._settings.time_scale,
                poll_scale=self._settings.poll_scale,
                env=env,
            )
            self._server = server
            try:
                server.run()
                break
            except ServerExit as error:
                # A recycled pod IP may still be held by the server of the pod that had it: not a crash.
                if BIND_FAILURE not in error.message or attempt == BIND_ATTEMPTS - 1:
                    return error.code, self._termination_message(server, error)
                if self._stopped.wait(0.5):
                    return None
        return self._watch(server)

    def _termination_message(self, server: EmulatedModelServer, exited: ServerExit) -> str:
        """What the kubelet reports as the last termination's message. TF Serving writes no
        /dev/termination-log, so it is empty unless terminationMessagePolicy is FallbackToLogsOnError;
        then it is the log's tail: at most 80 lines and 2048 bytes (pkg/kubelet/kuberuntime,
        kubecontainer.MaxContainerTerminationMessageLogLines/Length)."""
        if self.view.container.get("terminationMessagePolicy") != "FallbackToLogsOnError" or exited.code == 0:
            return ""
        lines = "\n".join(server.log_lines).splitlines()[-TERMINATION_LOG_LINES:]
        tail = "\n".join(lines).encode()[-TERMINATION_LOG_BYTES:]
        return tail.decode(errors="replace")

    def _watch(self, server: EmulatedModelServer) -> tuple[int, str] | None:
        probe = self.view.readiness
        period = max(1.0, probe.period_seconds if probe else 10.0)
        threshold = probe.failure_threshold if probe else 3
        failures = 0
        shown = ""
        while not self._stopped.is_set():
            exited = server.exit
            if exited is not None:
                return exited.code, self._termination_message(server, exited)
            ok = probe is None or _probe(self.host, probe.port, probe.path)
            failures = 0 if ok else failures + 1
            # Like the kubelet: ready on the first success, not ready after failureThreshold failures.
            state = (
                stages.SERVING if ok else (stages.STARTING if failures >= threshold or not shown else shown)
            )
            if state != shown:
                self._state(state)
                shown = state
            self._stopped.wait(period if ok else 1.0)
        server.stop()
        return None


def _probe(host: str, port: int, path: str) -> bool:
    """kubelet's HTTP probe: success on a status from 200 to 399 (pkg/probe/http/http.go)."""
    url = f"http://{host}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= int(response.status) < 400
    except Exception:
        return False


def labelled_owner(obj: Mapping[str, Any]) -> Key | None:
    """Every pod with the ModelDeployment label runs TF Serving here, a copied Deployment's pods too
    (a kubelet runs whatever is scheduled); grouped by that label."""
    meta = obj.get("metadata") or {}
    owner = (meta.get("labels") or {}).get(SELECTOR_LABEL)
    return (str(meta.get("namespace")), str(owner)) if meta.get("namespace") and owner else None


class PodFarm:
    def __init__(self, client: KubeClient, settings: FarmSettings) -> None:
        self.client = client
        self.settings = settings
        self.pods = Store(slim, labelled_owner)
        self.configmaps = Store(slim)
        self.runners: dict[str, PodRunner] = {}  # pod uid -> runner
        self._pending: dict[tuple[str, str], dict[str, str]] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        informers = [
            Informer(self.client, PODS, self.pods, self.sync),
            Informer(self.client, CONFIGMAPS, self.configmaps, lambda key: None),
        ]
        tasks = [asyncio.create_task(i.run()) for i in informers]
        tasks.append(asyncio.create_task(self._write_annotations()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            self.stop_all()

    def stop_all(self) -> None:
        for runner in self.runners.values():
            runner.stop()
        for runner in self.runners.values():
            runner.join(5)
        self.runners.clear()

    def sync(self, key: Key) -> None:
        """Make the runners of one ModelDeployment match its running pods."""
        views = {v.uid: v for v in (pod_view(p) for p in self.pods.get(key)) if v is not None}
        for uid, runner in list(self.runners.items()):
            if runner.owner == key and uid not in views:
                log.info("pod %s/%s gone: stopping its server", runner.view.namespace, runner.view.name)
                self.runners.pop(uid).stop()
        for uid, view in views.items():
            if uid not in self.runners:
                runner = PodRunner(key, view, self._configmap_getter(key), self.settings, self.report)
                self.runners[uid] = runner
                log.info(
                    "pod %s/%s: starting tensorflow_model_server on %s",
                    view.namespace,
                    view.name,
                    runner.host,
                )
                runner.start()

    def _configmap_getter(self, key: Key) -> Callable[[str], Mapping[str, Any] | None]:
        def get(name: str) -> Mapping[str, Any] | None:
            return next((c for c in self.configmaps.get(key) if c["metadata"]["name"] == name), None)

        return get

    def report(self, namespace: str, name: str, annotations: dict[str, str]) -> None:
        """Called from runner threads: queue the annotations for the writer task (latest wins)."""
        assert self._loop is not None

        def queue() -> None:
            self._pending[(namespace, name)] = {**self._pending.get((namespace, name), {}), **annotations}
            self._wake.set()

        self._loop.call_soon_threadsafe(queue)

    async def _write_annotations(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._pending = self._pending, {}
            for (namespace, name), notes in pending.items():
                path = f"/api/v1/namespaces/{namespace}/pods/{name}"
                body = {"metadata": {"annotations": notes}}
                try:
                    await self.client.request(
                        "patch", "PATCH", path, "pods", body=body, content_type="application/merge-patch+json"
                    )
                except ApiError as error:
                    if error.status != 404:
                        log.warning("cannot annotate pod %s/%s: %s", namespace, name, error)
                        self._pending.setdefault((namespace, name), notes)
                        await asyncio.sleep(1)
                        self._wake.set()


def parse_address_map(values: list[str]) -> ModelStatusConfig:
    pairs = []
    for value in values:
        source, target = value.split("=", 1)
        pairs.append((ipaddress.ip_network(source), ipaddress.ip_network(target)))
    return ModelStatusConfig(address_map=tuple(pairs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modeldeploy.localcluster.podfarm")
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--store", required=True, type=Path, help="model store root (see tfserving/store.py)")
    parser.add_argument("--address-map", action="append", default=[], help="POD_NET=LOCAL_NET")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument(
        "--poll-scale", type=float, default=1.0, help="multiplies TF Serving's poll intervals"
    )
    parser.add_argument("--backoff-scale", type=float, default=1.0, help="multiplies the restart back-off")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    creds = Credentials(
        server=args.server, ca_path=args.ca, certificate_path=args.cert, private_key_path=args.key
    )
    settings = FarmSettings(
        args.store, parse_address_map(args.address_map), args.time_scale, args.backoff_scale
    )

    async def serve() -> None:
        client = KubeClient(creds, background_events=False)
        farm = PodFarm(client, settings)
        task = asyncio.create_task(farm.run())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()

    started = time.monotonic()
    asyncio.run(serve())
    log.info("pod farm stopped after %.0fs", time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
