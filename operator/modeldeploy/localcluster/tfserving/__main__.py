"""Run one emulated tensorflow_model_server as a process, with the real binary's exit codes.

    python -m modeldeploy.localcluster.tfserving --store DIR [--root DIR] [--host H] \
        [--time-scale X] [--poll-scale X] [--env K=V ...] -- tensorflow_model_server --port=8500 ...

Container paths (the config files) are read under ``--root`` when given.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from modeldeploy.localcluster.tfserving.server import EXIT_TERMINATED, EmulatedModelServer, ServerExit
from modeldeploy.localcluster.tfserving.store import ModelStore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modeldeploy.localcluster.tfserving")
    parser.add_argument("--store", required=True, type=Path, help="ModelStore root (what base paths hold)")
    parser.add_argument("--root", type=Path, help="directory standing in for the container's filesystem")
    parser.add_argument("--host", default="127.0.0.1", help="address the ports bind (default 127.0.0.1)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiplies load times and retries")
    parser.add_argument("--poll-scale", type=float, default=1.0, help="multiplies poll intervals")
    parser.add_argument("--env", action="append", default=[], metavar="K=V", help="container environment")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- then the container's command and args")
    return parser


def main(args: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(args)
    argv = list(options.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        _parser().error("give the container's command after --")
    root: Path | None = options.root

    def read_file(path: str) -> str:
        target = root / path.lstrip("/") if root is not None else Path(path)
        return target.read_text()

    env = dict(item.split("=", 1) for item in options.env if "=" in item)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    server = EmulatedModelServer(
        argv,
        read_file,
        ModelStore(options.store),
        host=options.host,
        time_scale=options.time_scale,
        poll_scale=options.poll_scale,
        env=env,
    )
    terminated = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        terminated.set()
        server.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.run()
    except ServerExit as exc:
        if exc.code == 0:  # --version prints to stdout; failures were logged to stderr already
            print(exc.message, flush=True)
        return exc.code
    while not terminated.wait(0.5):
        if server.exit is not None:
            return server.exit.code
    return EXIT_TERMINATED


if __name__ == "__main__":
    sys.exit(main())
