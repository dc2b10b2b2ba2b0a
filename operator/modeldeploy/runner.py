"""`modeldeploy run`: load the configuration once, then hand over to Kopf with our handlers registered."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import secrets
import socket
import sys
from typing import Any, cast

import kopf

from modeldeploy import handlers, metrics
from modeldeploy.config import ConfigError, load_config
from modeldeploy.logs import setup_logging

log = logging.getLogger("modeldeploy")


def run_operator(args: argparse.Namespace) -> int:
    setup_logging(args.log_format, args.log_level)
    try:
        config = load_config(args.config, os.environ)
    except ConfigError as error:
        print(f"error: operator configuration: {error}", file=sys.stderr)
        return 1
    namespaces = list(args.namespaces) or list(config.watch_namespaces)
    # Kopf pauses *every* replica when two share a priority, so replicas without an explicit priority draw
    # a random one: exactly one of them (the highest) works, the others stand by.
    priority = args.priority if args.priority is not None else random.randint(1, 2**31 - 1)
    # One identity for Kopf's heartbeat and for our own gate that reads it (see peering.PeeringGate).
    identity = os.environ.get("POD_ID") or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    handlers.configure(config, workers=args.workers, identity=identity, namespaces=namespaces)
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    liveness = f"http://0.0.0.0:{args.liveness_port}/healthz" if args.liveness_port else None
    log.info(
        "starting",
        extra={
            "namespaces": namespaces or "all",
            "workers": args.workers,
            "peering": args.peering or "standalone",
            "priority": priority,
            "identity": identity,
        },
    )
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            liveness_endpoint=liveness,
            standalone=args.peering is None,
            peering_name=args.peering,
            priority=priority,
            identity=cast(Any, identity),  # kopf's Identity is a NewType of str, not exported
        )
    )
    return 0
