"""Whether a newly computed status is worth a write, and the merge patch from the stored one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modeldeploy.objects import plain

# The status keys compute_status writes; anything else under status (e.g. Kopf's own bookkeeping) is not ours.
OWNED_KEYS = frozenset(
    {
        "observedGeneration",
        "phase",
        "replicas",
        "readyReplicas",
        "updatedReplicas",
        "ready",
        "selector",
        "gpu",
        "endpoints",
        "model",
        "cost",
        "autoscaler",
        "conditions",
    }
)


# Raw counts copied from the Deployment. They change with every pod during a rollout; on their own they
# do not justify a write (each write is a `kubectl get -w` row with nothing new to see). They are refreshed
# with every write that something a user sees (a column, a condition) causes.
RIDE_ALONG_KEYS = frozenset({"replicas", "readyReplicas", "updatedReplicas"})


def status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether ``new`` changes something a user sees in the stored status: a printer column, a condition,
    the observed generation, endpoints, model state or cost (keys we do not own are ignored)."""
    return bool(status_patch(old, new).keys() - RIDE_ALONG_KEYS)


def status_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) turning ``old`` into ``new``; ``{}`` when nothing changed.

    Owned keys that disappeared (e.g. ``gpu`` after the GPU was removed) become ``None`` so that the
    merge patch deletes them; keys we do not own are left alone.
    """
    owned_old = {k: v for k, v in (old or {}).items() if k in OWNED_KEYS}
    return _merge_patch(owned_old, new)


def _merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            sub = _merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif key not in old or plain(before) != plain(value):
            patch[key] = plain(value)
    patch.update({key: None for key in old if key not in new})
    return patch
