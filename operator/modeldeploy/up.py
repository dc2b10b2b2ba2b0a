"""`modeldeploy up`: the demo. A local control plane, the CRDs, the operator, the samples, a live table."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import yaml

from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.binaries import cache_dir, project_root
from modeldeploy.localcluster.operator_process import OperatorProcess
from modeldeploy.localcluster.samples import seed_model_store

STATE_FILE = "up.json"
# The demo's operator configuration: the defaults plus an example price table (the Cost column).
DEMO_CONFIG = Path("manifests") / "demo" / "operator-config.yaml"


class _Interrupted(Exception):
    pass


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted


def _samples_ready(cluster: LocalCluster) -> tuple[bool, str]:
    result = cluster.kubectl("get", "md", "-A", "-o", "json", check=False)
    if result.returncode != 0:
        return False, result.stderr
    items = json.loads(result.stdout)["items"]
    ready = bool(items) and all((item.get("status") or {}).get("phase") == "Ready" for item in items)
    return ready, cluster.kubectl("get", "md", "-A", check=False).stdout


def _running_up(workdir: Path) -> int | None:
    """The pid of a live `modeldeploy up` that owns the cluster in `workdir`, if there is one."""
    try:
        pid = int(json.loads((workdir / STATE_FILE).read_text())["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError):
        return None
    return pid


def _show_until_ready(cluster: LocalCluster, timeout: float, operator: OperatorProcess | None) -> bool:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        cluster.check_running()
        if operator is not None and not operator.component.running:
            raise operator.component.error("exited")
        ready, table = _samples_ready(cluster)
        if table != last:
            print(table, flush=True)
            last = table
        if ready:
            return True
        time.sleep(1)
    return False


def _reuse(workdir: Path, pid: int, samples: Path, timeout: float) -> int:
    # The cluster belongs to the other `up`, which stops it on Ctrl-C; this one only shows it.
    cluster = LocalCluster(workdir=workdir)
    seed_model_store(cluster.model_store_root, samples)
    print(f"modeldeploy up: reusing the cluster of modeldeploy up (pid {pid}) in {workdir}", flush=True)
    cluster.kubectl("apply", "-f", str(samples))
    ready = _show_until_ready(cluster, timeout, None)
    print(f"modeldeploy up: use the cluster with: export KUBECONFIG={cluster.kubeconfig}", flush=True)
    return 0 if ready else 1


def _operator_config(base: Path, cluster: LocalCluster) -> dict[str, object]:
    """The demo's (or --config's) settings plus what this cluster needs: its pod address map."""
    settings = yaml.safe_load(base.read_text()) or {}
    needed = cluster.operator_config()
    settings["modelStatus"] = {**(settings.get("modelStatus") or {}), **needed["modelStatus"]}
    return dict(settings)


def run_up(args: argparse.Namespace) -> int:
    root = project_root()
    workdir = Path(args.workdir) if args.workdir else cache_dir() / "up"
    samples = Path(args.samples) if args.samples else root / "manifests" / "samples"
    base_config = Path(args.config) if args.config else root / DEMO_CONFIG
    running = _running_up(workdir)
    if running is not None:
        return _reuse(workdir, running, samples, args.timeout)
    if workdir.exists():
        # A previous `up` that was killed without cleanup leaves only files: start afresh.
        shutil.rmtree(workdir)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    cluster = LocalCluster(workdir=workdir, emulate_tfserving=True)
    operator: OperatorProcess | None = None
    try:
        started = time.monotonic()
        print(
            "modeldeploy up: starting etcd, kube-apiserver, controller-manager, scheduler and KWOK ...",
            flush=True,
        )
        cluster.start()
        print(f"modeldeploy up: control plane ready in {time.monotonic() - started:.1f}s", flush=True)
        (workdir / STATE_FILE).write_text(
            json.dumps({"pid": os.getpid(), "kubeconfig": str(cluster.kubeconfig)})
        )
        cluster.install_crds(root / "crds")
        seeded = seed_model_store(cluster.model_store_root, samples)
        print(
            f"modeldeploy up: emulated TF Serving runs the pods; model store {cluster.model_store_root} "
            f"holds {', '.join(f'{uri} {sorted(v)}' for uri, v in sorted(seeded.items()))}",
            flush=True,
        )
        config = workdir / "operator-config.yaml"
        config.write_text(yaml.safe_dump(_operator_config(base_config, cluster)))
        operator = OperatorProcess(
            kubeconfig=cluster.kubeconfig, log_path=workdir / "logs" / "operator.log", config_path=config
        )
        operator.start()
        print(f"modeldeploy up: operator running (log: {operator.component.log_path})", flush=True)
        # Files apply in name order, so 00-namespace.yaml goes before the models in it.
        cluster.kubectl("apply", "-f", str(samples))
        print(f"modeldeploy up: applied {samples}", flush=True)
        print(f"\nexport KUBECONFIG={cluster.kubeconfig}\n", flush=True)
        ready = _show_until_ready(cluster, args.timeout, operator)
        if not ready:
            log_path = operator.component.log_path
            print(
                f"modeldeploy up: samples not Ready after {args.timeout:.0f}s; see {log_path}",
                file=sys.stderr,
            )
            return 1
        print(f"modeldeploy up: all samples Ready in {time.monotonic() - started:.1f}s", flush=True)
        print(f"modeldeploy up: use the cluster with: export KUBECONFIG={cluster.kubeconfig}", flush=True)
        if args.exit_when_ready:
            return 0
        print("modeldeploy up: running; press Ctrl-C to stop everything", flush=True)
        while True:
            cluster.check_running()
            if not operator.component.running:
                raise operator.component.error("exited")
            time.sleep(2)
    except _Interrupted:
        print("\nmodeldeploy up: stopping", flush=True)
        return 0
    except Exception as error:
        print(f"modeldeploy up: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if operator is not None:
            operator.stop()
        cluster.stop()
        (workdir / STATE_FILE).unlink(missing_ok=True)
