"""A clock that moves only when the test moves it, for code that takes a ``modelstate.Clock``."""

from __future__ import annotations

import asyncio
import heapq
import itertools

from modeldeploy.modelstate import Clock


class FakeClock:
    """``monotonic`` reads the fake time; ``sleep`` returns once ``advance`` has moved the time to its end."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> Clock:
        return Clock(monotonic=self.monotonic, sleep=self.sleep)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), woken))
        await woken

    @property
    def sleeping(self) -> int:
        """How many sleeps wait for the time to move (cancelled ones left out)."""
        return sum(1 for _, _, woken in self._sleepers if not woken.done())

    def advance(self, seconds: float) -> None:
        """Move the time on and wake every sleep that has ended by then."""
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, woken = heapq.heappop(self._sleepers)
            if not woken.done():
                woken.set_result(None)
