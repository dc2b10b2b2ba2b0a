"""One timer thread and one listener thread shared by every emulated server in the process.

The harness hosts one emulated server per pod in a single process, so loads, retries and polls are timer
callbacks rather than threads, and all listening ports share one selector loop.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger("modeldeploy.tfserving")


class Timer:
    """A cancellable callback scheduled on the shared timer thread."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class TimerThread:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + max(0.0, delay), callback)
        with self._cond:
            heapq.heappush(self._heap, (timer.when, next(self._counter), timer))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tfserving-timers", daemon=True)
                self._thread.start()
            self._cond.notify()
        return timer

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                _, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            try:
                timer.callback()
            except Exception:  # one server's bug must not stop every other server's timers
                log.exception("emulated TF Serving timer callback failed")


class Listeners:
    """One selector thread for every listening socket of every emulated server: a ready socket calls its
    callback (accept and close for the gRPC ports, hand the connection to a handler thread for REST), so an
    idle server costs no thread and no wake-ups."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ)

    def add(self, sock: socket.socket, on_ready: Callable[[], None]) -> None:
        sock.setblocking(False)
        with self._lock:
            self._selector.register(sock, selectors.EVENT_READ, on_ready)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tfserving-listeners", daemon=True)
                self._thread.start()
        self._wake_w.send(b"x")

    def remove(self, sock: socket.socket) -> None:
        with self._lock, contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        self._wake_w.send(b"x")

    def _run(self) -> None:
        while True:
            for key, _ in self._selector.select():
                if key.fileobj is self._wake_r:
                    self._wake_r.recv(4096)
                    continue
                try:
                    key.data()
                except Exception:  # one server's socket must not stop every other server's
                    log.exception("emulated TF Serving listener failed")


def accept_and_close(sock: socket.socket) -> Callable[[], None]:
    """A port that is bound and listening, and nothing more (the emulated gRPC port)."""

    def on_ready() -> None:
        with contextlib.suppress(OSError):
            conn, _ = sock.accept()
            conn.close()

    return on_ready


TIMERS = TimerThread()
LISTENERS = Listeners()
