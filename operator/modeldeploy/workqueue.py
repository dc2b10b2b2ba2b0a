"""A de-duplicating work queue for reconcile keys, in the manner of client-go's workqueue, with priorities.

A key is queued at most once; a key re-added while a worker holds it is processed again afterwards,
never concurrently, so each ModelDeployment has one reconcile in flight and bursts of events coalesce.

Two priorities: a user's edit (a new generation of a ModelDeployment) goes before the background work
(creates, the initial listing after a restart, child and pod events, resyncs, retries, model-state
changes). Within a priority the order is first in, first out. Without this, one user's edit waits behind
the whole backlog of a mass create or a restart, minutes at thousands of models; with it, behind at most
the reconciles already running. A queued background key that gets an edit moves to the edit queue; an edit
never moves back. Background work is not starved in practice: edits come from people, a few per second at
most, and each takes one reconcile.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
from collections import deque
from collections.abc import Hashable

from modeldeploy import metrics

Key = tuple[str, str]  # (namespace, name)


class Priority(enum.IntEnum):
    EDIT = 0
    BACKGROUND = 1


class WorkQueue:
    def __init__(self) -> None:
        # One FIFO per priority of (sequence, key); an entry is live only while _queued[key] holds its
        # sequence, so moving a key to the edit queue leaves a dead entry behind instead of an O(n) removal.
        self._fifos: dict[Priority, deque[tuple[int, Key]]] = {p: deque() for p in Priority}
        self._queued: dict[Key, tuple[Priority, int]] = {}
        self._sequence = itertools.count()
        self._available = asyncio.Semaphore(0)  # one release per live entry
        self._processing: set[Key] = set()
        self._dirty: dict[Key, Priority] = {}
        self._failures: dict[Key, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._queued)

    def priority_of(self, key: Key) -> Priority | None:
        """The priority ``key`` waits with, or None when it is not queued."""
        queued = self._queued.get(key)
        return queued[0] if queued is not None else None

    def add(self, key: Key, priority: Priority = Priority.BACKGROUND) -> None:
        if key in self._processing:
            self._dirty[key] = min(priority, self._dirty.get(key, priority))
            return
        queued = self._queued.get(key)
        if queued is not None and queued[0] <= priority:
            return
        sequence = next(self._sequence)
        self._queued[key] = (priority, sequence)
        self._fifos[priority].append((sequence, key))
        if queued is None:
            self._available.release()
        metrics.QUEUE_DEPTH.set(len(self._queued))

    def add_after(self, key: Key, delay: float) -> None:
        loop = asyncio.get_running_loop()
        previous = self._timers.pop(key, None)
        if previous is not None:
            previous.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: Key, base: float = 0.5, cap: float = 300.0) -> float:
        """Retry with exponential backoff per key; returns the delay chosen."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = float(min(cap, base * (2**failures)))
        self.add_after(key, delay)
        return delay

    def forget(self, key: Key) -> None:
        self._failures.pop(key, None)

    async def get(self) -> Key:
        await self._available.acquire()
        key = self._pop()
        self._processing.add(key)
        metrics.QUEUE_DEPTH.set(len(self._queued))
        return key

    def _pop(self) -> Key:
        for priority, fifo in self._fifos.items():
            while fifo:
                sequence, key = fifo.popleft()
                if self._queued.get(key) == (priority, sequence):
                    del self._queued[key]
                    return key
        raise RuntimeError("work queue: a live entry was counted but none is queued")

    def done(self, key: Key) -> None:
        self._processing.discard(key)
        priority = self._dirty.pop(key, None)
        if priority is not None:
            self.add(key, priority)

    def cancel_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
