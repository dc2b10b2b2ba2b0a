"""Kubernetes resource quantities as exact numbers, parsed by the kubernetes client's own parser."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity as _parse


def parse_quantity(value: Any) -> Decimal | None:
    """The exact value of a quantity ("500m", "1.5Gi", "1e3", 2), or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        parsed = Decimal(_parse(value))  # type: ignore[no-untyped-call]
    except (ValueError, ArithmeticError):
        return None
    return parsed if parsed.is_finite() else None
