"""Lenient reads of decoded Kubernetes objects: a field that is absent or of another type reads as empty.

Status is computed from whatever the API server and the cache hold, which the operator does not control
(other writers, older versions): these never raise on a malformed field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def integer(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def plain(value: Any) -> Any:
    """Plain dicts and lists (Kopf hands out read-only mapping views)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
