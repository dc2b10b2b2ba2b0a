"""Status conditions by type (the Kubernetes API conventions: a list of {type, status, reason, message})."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def status_of(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """An object's status; {} while its controller has written none, or when the object is gone."""
    return dict((obj or {}).get("status") or {})


def conditions(status: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A status's conditions by type (its own dicts); each type stands at most once."""
    listed = status.get("conditions") or ()
    by_type = {c["type"]: c for c in listed}
    assert len(by_type) == len(listed), f"a condition type stands twice in {listed}"
    return by_type


def condition(status: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The condition of type ``kind``; {} when the status has none (yet)."""
    return conditions(status).get(kind, {})


def summary(status: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """{type: (status, reason)} of every condition: what a test compares in one assertion."""
    return {kind: (c["status"], c["reason"]) for kind, c in conditions(status).items()}
