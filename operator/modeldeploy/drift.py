"""Does a live object already hold everything we would apply? Then applying again is a no-op we skip.

The comparison follows the child's schema (schemas.py): quantities compare by value wherever they sit,
list-maps match items by key, and values the API server drops when empty ("" / [] / {}) match a missing
field. A false "no" only costs one idempotent apply, but one that is false for good (a value the server
always rewrites) is an apply and an Event every reconcile: so every rewrite the server does on what we
send must be understood here. A false "yes" would hide drift, so everything else compares strictly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modeldeploy.quantity import parse_quantity
from modeldeploy.schemas import EMPTY, ITEM, Node, schema_of

Path = tuple[str, ...]


def holds_object(desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """``holds`` with the schema of ``desired``'s kind."""
    return holds(desired, live, schema_of(str(desired.get("apiVersion")), str(desired.get("kind"))))


def holds(desired: Any, live: Any, node: Node = EMPTY) -> bool:
    """True when every field of ``desired`` is present in ``live`` with an equal value.

    Fields the API server defaults (and other managers' fields) may be extra in ``live`` maps. Lists must
    have the same items: atomic lists in order, list-maps by key (an extra live item is drift, which
    ``foreign_lists`` finds and the reconciler replaces).
    """
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return False
        for key, value in desired.items():
            if key not in live:
                if not _omitted_when_empty(value):
                    return False
            elif not holds(value, live[key], node.child(key)):
                return False
        return True
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        if node.map_keys:
            by_key = {_key(item, node.map_keys): item for item in live}
            return all(holds(d, by_key.get(_key(d, node.map_keys)), node.child(ITEM)) for d in desired)
        return all(holds(d, lv, node.child(ITEM)) for d, lv in zip(desired, live, strict=True))
    if node.quantity:
        a, b = parse_quantity(desired), parse_quantity(live)
        return a is not None and a == b
    # bool is an int in Python, but true is not 1 in the API.
    return isinstance(desired, bool) == isinstance(live, bool) and desired == live


def foreign_lists(desired: Any, live: Any, node: Node = EMPTY, path: Path = ()) -> list[Path]:
    """Paths of the outermost lists holding a live item under a key (or value) ``desired`` does not have.

    Server-side apply merges list-maps and sets item by item and never removes an item another writer
    owns: a Service port whose number someone changed stays, and the desired port comes back beside it
    (with the same name: the API server refuses that). Such lists must be replaced as a whole. Lists
    inside lists cannot be addressed by a merge patch, so the outermost list is reported.
    """
    if isinstance(desired, Mapping) and isinstance(live, Mapping):
        found: list[Path] = []
        for key, value in desired.items():
            if key in live:
                found += foreign_lists(value, live[key], node.child(key), (*path, key))
        return found
    if not isinstance(desired, list) or not isinstance(live, list):
        return []
    if node.map_keys:
        wanted = {_key(d, node.map_keys): d for d in desired}
        if any(_key(item, node.map_keys) not in wanted for item in live):
            return [path]
        pairs = [(wanted[_key(item, node.map_keys)], item) for item in live]
    elif node.is_set:
        return [path] if any(item not in desired for item in live) else []
    else:
        pairs = list(zip(desired, live, strict=False))  # atomic: apply replaces it whole
    if any(foreign_lists(d, lv, node.child(ITEM), (*path, ITEM)) for d, lv in pairs):
        return [path]
    return []


def replacement_patch(desired: Mapping[str, Any], paths: Sequence[Path]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) setting each list at ``paths`` to its desired items: merge patches
    replace lists whole, which is what server-side apply cannot do to items others own."""
    patch: dict[str, Any] = {}
    for path in paths:
        source: Any = desired
        target = patch
        for segment in path[:-1]:
            source = source[segment]
            target = target.setdefault(segment, {})
        target[path[-1]] = source[path[-1]]
    return patch


def _key(item: Any, keys: tuple[str, ...]) -> tuple[Any, ...]:
    # A key field the desired item leaves out is defaulted by the server (a port's protocol is TCP).
    if not isinstance(item, Mapping):
        return (item,)
    defaults = {"protocol": "TCP"}
    return tuple(item.get(k, defaults.get(k)) for k in keys)


def _omitted_when_empty(value: Any) -> bool:
    # omitempty fields: the API server does not store "", [], {} or null, so their absence is equal.
    return value is None or value == "" or value == [] or value == {}
