"""Edit latency: how long one user's edit takes to reach the child it changes.

An edit is a server-side apply of one ModelDeployment by the benchmark's client; the clock starts when
the API server's answer arrives (the write is accepted and has a resourceVersion) and stops when a GET of
the child shows the change. Two kinds of edit:

- ``label``: ``spec.model.versionLabels`` changes, which only the ConfigMap's ``models.config`` carries
  (TF Serving re-reads it without a restart);
- ``runtime``: ``spec.runtime.version`` changes, which changes the Deployment's pod template (a rollout).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modeldeploy.kube import KubeClient, object_path
from modeldeploy.versionlabels import applied_labels

KINDS = ("label", "runtime")
POLL_SECONDS = 0.05
LABEL = "bench"


def runtime_version(serial: int) -> str:
    # A tag of its own per edit, so that no edit is a no-op (the bench's pods are simulated by KWOK and
    # never pull the image).
    return f"2.19.0-bench{serial}"


def edited(md: Mapping[str, Any], kind: str, serial: int) -> dict[str, Any]:
    """``md`` with one edit applied; ``serial`` makes every edit distinct."""
    body = copy.deepcopy(dict(md))
    spec = body.setdefault("spec", {})
    if kind == "label":
        spec.setdefault("model", {})["versionLabels"] = {LABEL: serial}
    elif kind == "runtime":
        spec.setdefault("runtime", {})["version"] = runtime_version(serial)
    else:
        raise ValueError(f"unknown edit kind {kind!r}")
    return body


def child_path(md: Mapping[str, Any], kind: str) -> tuple[str, str]:
    """(path, resource) of the child that shows an edit of this kind."""
    meta = md["metadata"]
    if kind == "label":
        name = f"{meta['name']}-tfserving"
        return object_path("v1", "ConfigMap", meta["namespace"], name), "configmaps"
    return object_path("apps/v1", "Deployment", meta["namespace"], meta["name"]), "deployments"


def shows(child: Mapping[str, Any], kind: str, serial: int) -> bool:
    """Whether the live child carries edit ``serial`` of ``kind``."""
    if kind == "label":
        return (applied_labels(child) or {}).get(LABEL) == serial
    containers = ((child.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    image = str(containers[0].get("image", "")) if containers else ""
    return image.endswith(":" + runtime_version(serial))


@dataclass(frozen=True)
class Edit:
    kind: str
    seconds: float
    # What the operator reported as waiting in its queue just before the edit (None: not asked).
    queue_depth: int | None = None


async def time_edit(
    client: KubeClient, md: Mapping[str, Any], kind: str, serial: int, timeout: float
) -> float:
    """Apply one edit and return the seconds from its acceptance to the child showing it."""
    await client.apply(edited(md, kind, serial))
    accepted = time.monotonic()
    path, resource = child_path(md, kind)
    while True:
        child = await client.request("get", "GET", path, resource)
        if shows(child, kind, serial):
            return time.monotonic() - accepted
        if time.monotonic() - accepted > timeout:
            raise TimeoutError(f"{kind} edit of {md['metadata']['name']} not shown after {timeout:.0f}s")
        await asyncio.sleep(POLL_SECONDS)


async def edit_series(
    client: KubeClient,
    models: Sequence[Mapping[str, Any]],
    per_kind: int,
    timeout: float,
    first_serial: int,
    queue_depth: Callable[[], Awaitable[int | None]] | None = None,
) -> list[Edit]:
    """``per_kind`` edits of each kind, one at a time, each on a different model (spread over ``models``)."""
    edits: list[Edit] = []
    count = per_kind * len(KINDS)
    step = max(1, len(models) // max(1, count))
    for number in range(count):
        kind = KINDS[number % len(KINDS)]
        md = models[(number * step) % len(models)]
        depth = await queue_depth() if queue_depth is not None else None
        seconds = await time_edit(client, md, kind, first_serial + number, timeout)
        edits.append(Edit(kind, seconds, depth))
    return edits


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 20 values is the largest)."""
    ordered = sorted(values)
    rank = max(1, -(-round(fraction * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def summary(edits: Sequence[Edit]) -> dict[str, Any]:
    out: dict[str, Any] = {"count": len(edits)}
    for kind in (None, *KINDS):
        seconds = [e.seconds for e in edits if kind is None or e.kind == kind]
        if not seconds:
            continue
        figures = {
            "p50_seconds": round(percentile(seconds, 0.50), 3),
            "p99_seconds": round(percentile(seconds, 0.99), 3),
            "max_seconds": round(max(seconds), 3),
        }
        if kind is None:
            out.update(figures)
        else:
            out[kind] = figures
    depths = [e.queue_depth for e in edits if e.queue_depth is not None]
    if depths:
        out["queue_depth_median"] = sorted(depths)[len(depths) // 2]
        out["edits_behind_backlog"] = sum(1 for d in depths if d > 0)
    return out
