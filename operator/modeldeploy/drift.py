"""Does a live object already hold everything we would apply? Then applying again is a no-op we skip."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modeldeploy.quantity import quantities_equal

# Only values under these mappings are quantities (emptyDir: its sizeLimit); elsewhere "1" and "1.0" are
# different strings.
QUANTITY_PARENTS = frozenset({"limits", "requests", "capacity", "allocatable", "emptyDir"})


def holds(desired: Any, live: Any, in_quantities: bool = False) -> bool:
    """True when every field of `desired` is present in `live` with an equal value.

    Fields the API server defaults (and other managers' fields) may be extra in `live`. Lists must match
    item by item, as server-side apply replaces atomic lists and merges keyed lists item by item.
    Quantities compare by value because the API server may canonicalise them ("0.5" -> "500m").
    A false "no" only costs one idempotent apply; a false "yes" would hide drift, so compare strictly.
    """
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return False
        # in_quantities: this mapping's scalar values are quantities (it sits under a QUANTITY_PARENTS key).
        return all(
            key in live
            and holds(
                value,
                live[key],
                key in QUANTITY_PARENTS or (in_quantities and not isinstance(value, Mapping)),
            )
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        return all(holds(d, lv) for d, lv in zip(desired, live, strict=True))
    if desired == live:
        return True
    if in_quantities and isinstance(desired, str | int) and isinstance(live, str | int):
        return quantities_equal(str(desired), str(live))
    return False
