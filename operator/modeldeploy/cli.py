"""The `modeldeploy` command: run (the operator), render (offline), up (local demo), bench."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modeldeploy",
        description="Serve TensorFlow models on Kubernetes from one ModelDeployment resource.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the operator (in a cluster or against a kubeconfig)")
    run.add_argument(
        "--config",
        default=os.environ.get("MODELDEPLOY_CONFIG"),
        help="operator configuration YAML (default: $MODELDEPLOY_CONFIG, else built-in defaults)",
    )
    run.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        dest="namespaces",
        help="watch only this namespace (repeatable); default: the config's watchNamespaces, else all",
    )
    run.add_argument("--metrics-port", type=int, default=8080, help="Prometheus metrics port (0 disables)")
    run.add_argument(
        "--liveness-port", type=int, default=8081, help="Kopf liveness endpoint port (0 disables)"
    )
    run.add_argument("--workers", type=int, default=8, help="concurrent reconciles (default 8)")
    run.add_argument(
        "--log-format", choices=("text", "json"), default=os.environ.get("MODELDEPLOY_LOG_FORMAT", "text")
    )
    run.add_argument("--log-level", choices=("debug", "info", "warning"), default="info")
    run.add_argument(
        "--peering",
        metavar="NAME",
        default=None,
        help="Kopf peering name for active/standby replicas (needs the peering CRDs); default: standalone",
    )
    run.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority of this replica (default: random, so that exactly one replica is active)",
    )

    render = commands.add_parser("render", help="print the objects a ModelDeployment becomes, offline")
    render.add_argument(
        "-f", "--filename", required=True, help="YAML file with one or more ModelDeployments ('-' for stdin)"
    )
    render.add_argument("--config", default=None, help="operator configuration YAML")

    up = commands.add_parser("up", help="start a local cluster with the operator and the samples (demo)")
    up.add_argument("--workdir", default=None, help="cluster directory (default: ~/.cache/modeldeploy/up)")
    up.add_argument(
        "--samples", default=None, help="directory of sample manifests (default: manifests/samples)"
    )
    up.add_argument(
        "--config",
        default=None,
        help="operator configuration (default: manifests/demo/operator-config.yaml, with example prices)",
    )
    up.add_argument(
        "--exit-when-ready", action="store_true", help="stop everything once the samples are Ready"
    )
    up.add_argument(
        "--timeout", type=float, default=300, help="seconds to wait for the samples (default 300)"
    )

    bench = commands.add_parser(
        "bench", help="benchmark the operator against direct server-side apply on a fresh local cluster"
    )
    bench.add_argument("--count", "-N", type=int, default=100, help="ModelDeployments (default 100)")
    bench.add_argument(
        "--counts",
        default=None,
        metavar="N,N,...",
        help="run each N in turn (e.g. 100,1000,5000) and report the scale curve; overrides --count",
    )
    bench.add_argument(
        "--edits",
        type=int,
        default=10,
        help="timed edits of each kind (label, runtime), at steady state and under load (default 10)",
    )
    bench.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="operator workers, and concurrent ModelDeployments of the direct client (default 8)",
    )
    bench.add_argument(
        "--idle-seconds", type=float, default=60, help="idle period counted for writes (default 60)"
    )
    bench.add_argument("--output", default=None, help="write the figures to this JSON file")
    bench.add_argument("--timeout", type=float, default=1800, help="seconds allowed per phase (default 1800)")
    bench.add_argument("--workdir", default=None, help="cluster directory (default: a temporary one)")
    bench.add_argument(
        "--keep", action="store_true", help="keep the temporary cluster directory (logs) afterwards"
    )
    bench.add_argument(
        "--operator-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for `modeldeploy run` (repeatable), e.g. --operator-arg=--log-level=debug",
    )

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "render":
        from modeldeploy.render import render_main

        return render_main(args.filename, args.config)
    if args.command == "run":
        from modeldeploy.runner import run_operator

        return run_operator(args)
    if args.command == "bench":
        from modeldeploy.bench import run_bench

        return run_bench(args)
    if args.command == "up":
        from modeldeploy.up import run_up

        return run_up(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
