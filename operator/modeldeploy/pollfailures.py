"""One log line for the many ModelDeployments whose TF Serving could not be asked on their first poll.

After a start every model is polled for the first time, and one condition (the operator cannot reach the
pod network, a NetworkPolicy in the way, TF Serving not listening) then fails all of them: a WARNING per
model would bury everything else under thousands of lines that say the same. Each ModelDeployment's
ModelLoaded condition already carries its own reason; the log says how many failed and names a few. A
model whose known state turns into an error is still logged on its own (modelstate.ModelPoller.record).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

Key = tuple[str, str]

QUIET_SECONDS = 1.0  # a burst of first failures is reported once no new one came for this long
MAX_WAIT_SECONDS = 30.0  # and a long burst at least this often
EXAMPLES = 3


@dataclass
class FirstPollFailures:
    """First-poll failures collected until they are reported as one line (``report``)."""

    log: logging.Logger
    pending: dict[Key, str] = field(default_factory=dict)
    first_at: float = 0.0
    last_at: float = 0.0

    def add(self, key: Key, error: str, now: float) -> None:
        if not self.pending:
            self.first_at = now
        self.pending[key] = error
        self.last_at = now

    def due(self, now: float) -> bool:
        return bool(self.pending) and (
            now - self.last_at >= QUIET_SECONDS or now - self.first_at >= MAX_WAIT_SECONDS
        )

    def report(self, now: float) -> None:
        if not self.due(now):
            return
        examples = "; ".join(
            f"{namespace}/{name}: {error}"
            for (namespace, name), error in list(self.pending.items())[:EXAMPLES]
        )
        self.log.warning(
            "model status could not be read on the first poll",
            extra={
                "models": len(self.pending),
                "examples": examples,
                "detail": "each ModelDeployment's ModelLoaded condition; one line per model at debug level",
            },
        )
        self.pending.clear()
