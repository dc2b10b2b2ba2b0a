"""The servable state monitor: the last state of every version ever seen, and waits on those states.

Follows tensorflow_serving/core/servable_state_monitor.cc.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from modeldeploy.localcluster.tfserving.status import OK, Status

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"


@dataclass(frozen=True)
class VersionState:
    state: str
    health: Status = OK


def servable_id(name: str, version: int) -> str:
    # ServableId::DebugString() in tensorflow_serving/core/servable_id.h.
    return f"{{name: {name} version: {version}}}"


# Callback of a wait: (every model reached AVAILABLE, the state reached per (name, version)).
WaitCallback = Callable[[bool, dict[tuple[str, int], str]], None]


@dataclass
class _Wait:
    models: list[str]
    callback: WaitCallback
    seen: dict[str, dict[int, VersionState]]  # what this waiter has observed


class ServerLog:
    """The log lines one emulated process printed (kept for tests and the harness) and Python logging."""

    def __init__(self, name: str, keep: int = 200) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self._logger = logging.getLogger(f"modeldeploy.tfserving.{name}")

    def info(self, message: str) -> None:
        self.lines.append(message)
        self._logger.info("%s", message)

    def error(self, message: str) -> None:
        self.lines.append(message)
        self._logger.warning("%s", message)


class StateMonitor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # servable_state_monitor.cc HandleEvent: states_ keeps the last event of every version, END
        # included (with its error), for the life of the process; nothing in the model server forgets them.
        self._states: dict[str, dict[int, VersionState]] = {}
        self._waits: list[_Wait] = []

    def publish(self, name: str, version: int, state: str, health: Status = OK) -> None:
        event = VersionState(state, health)
        with self._lock:
            self._states.setdefault(name, {})[version] = event
            for wait in self._waits:
                wait.seen.setdefault(name, {})[version] = event
            fired = [(w, r) for w in self._waits if (r := _reached(w)) is not None]
            for wait, _ in fired:
                self._waits.remove(wait)
        for wait, (ok, reached) in fired:
            wait.callback(ok, reached)

    def get(self, name: str, version: int) -> VersionState | None:
        with self._lock:
            return self._states.get(name, {}).get(version)

    def version_states(self, name: str) -> list[tuple[int, VersionState]]:
        """servable_state_monitor.h VersionMap: ordered by version, highest first."""
        with self._lock:
            return sorted(self._states.get(name, {}).items(), reverse=True)

    def wait_for_latest(self, models: list[str], callback: WaitCallback, fresh: bool = False) -> None:
        """NotifyWhenServablesReachState for ServableRequest::Latest of each model and goal AVAILABLE.

        ``fresh`` is server_core.cc's fresh ServableStateMonitor of a config reload: it sees only events
        published after the wait starts.
        """
        with self._lock:
            seen = {} if fresh else {n: dict(v) for n, v in self._states.items()}
            wait = _Wait(list(models), callback, seen)
            result = _reached(wait)
            if result is None:
                self._waits.append(wait)
        if result is not None:
            callback(*result)


def _reached(wait: _Wait) -> tuple[bool, dict[tuple[str, int], str]] | None:
    """ShouldSendStateReachedNotification: every stream has a version at the goal state or END."""
    all_available = True
    reached: dict[tuple[str, int], str] = {}
    for model in wait.models:
        # HasAnyServableInStreamReachedState walks the VersionMap highest version first.
        found = next(
            (
                (version, s.state)
                for version, s in sorted(wait.seen.get(model, {}).items(), reverse=True)
                if s.state in (AVAILABLE, END)
            ),
            None,
        )
        if found is None:
            return None
        reached[(model, found[0])] = found[1]
        all_available = all_available and found[1] == AVAILABLE
    return all_available, reached
