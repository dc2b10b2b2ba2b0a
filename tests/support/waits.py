"""Poll-with-deadline helpers: the only way tests wait for the cluster."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from tests.support.conditions import condition, status_of

if TYPE_CHECKING:
    from tests.support.kubectl import Kube

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 60, interval: float = 0.3, what: str = "") -> T:
    """Call `probe` until it returns something truthy; fail with `what` and the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what or probe}; last: {last!r}"
            )
        time.sleep(interval)


def wait_ready(
    kube: Kube, name: str, namespace: str, timeout: float = 90, generation: int | None = None
) -> dict[str, Any]:
    """Until md/name is Ready at its current generation (or at ``generation``); the ModelDeployment."""

    def ready() -> dict[str, Any] | None:
        md = kube.get("md", name, namespace)
        status = status_of(md)
        observed = generation or (md or {}).get("metadata", {}).get("generation")
        return md if status.get("phase") == "Ready" and status.get("observedGeneration") == observed else None

    return wait_for(ready, timeout, what=f"md/{name} in {namespace} to be Ready")


def wait_condition(
    kube: Kube,
    name: str,
    namespace: str,
    kind: str,
    status: str | None = None,
    reason: str | None = None,
    timeout: float = 90,
    message: str = "",
    says: Iterable[str] = (),
) -> dict[str, Any]:
    """Until md/name has the condition ``kind`` with ``status`` and ``reason`` (None: any) and a message
    holding ``message``; then its message must hold each of ``says``. The condition."""

    def found() -> dict[str, Any] | None:
        got = condition(kube.status("md", name, namespace), kind)
        matches = (
            got
            and status in (None, got["status"])
            and reason in (None, got["reason"])
            and message in got.get("message", "")
        )
        return got if matches else None

    want = f"{kind}={status or '*'} {reason or '*'} on md/{name} in {namespace}"
    try:
        got = wait_for(found, timeout, what=want)
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}; status now: {kube.status('md', name, namespace)}") from None
    for fragment in says:
        assert fragment in got["message"], f"{kind} message lacks {fragment!r}: {got['message']}"
    return got
