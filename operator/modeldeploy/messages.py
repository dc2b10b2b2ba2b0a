"""Bounds on the messages the operator writes into status conditions and Events.

A message over the API server's limit makes the whole write fail (a 32 KiB apply error once blanked the
status), so every message is cut to fit. The start is kept, because that is where the field path and the
error are ("spec.env[3].valueFrom: ..."); the end is kept too, because that is where the fix usually is.
"""

from __future__ import annotations

from typing import Final

# The CRD's maxLength on status.conditions[].message (counted in characters, like Python's len()).
CONDITION_MESSAGE_MAX: Final = 32768
# Event messages are shown one per line by `kubectl describe` and `kubectl events`; long ones help nobody.
EVENT_MESSAGE_MAX: Final = 1024
TAIL_SHARE: Final = 4  # keep the last quarter of the room for the end of the message


def bounded(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its start and end around a note of what was cut."""
    if len(text) <= limit:
        return text
    # The note's length depends on the number it carries; reserve room for the longest it can be.
    room = limit - len(f" [... {len(text)} characters cut ...] ")
    if room <= 0:
        return text[:limit]
    tail = room // TAIL_SHARE
    head = room - tail
    cut = len(text) - head - tail
    return f"{text[:head]} [... {cut} characters cut ...] {text[len(text) - tail :] if tail else ''}"
