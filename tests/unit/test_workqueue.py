"""The work queue's order: edits before the backlog, FIFO within a priority, one entry per key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from modeldeploy.config import load_config
from modeldeploy.controller import Controller
from modeldeploy.kube import Credentials, KubeClient
from modeldeploy.workqueue import Priority, WorkQueue

A, B, C, D = ("ns", "a"), ("ns", "b"), ("ns", "c"), ("ns", "d")


async def taken(queue: WorkQueue) -> list[tuple[str, str]]:
    """Everything queued, in the order workers would get it (each marked done at once)."""
    order = []
    while len(queue):
        key = await queue.get()
        order.append(key)
        queue.done(key)
    return order


def queued(*keys: tuple[str, str]) -> WorkQueue:
    queue = WorkQueue()
    for key in keys:
        queue.add(key)
    return queue


def drain(queue: WorkQueue) -> list[tuple[str, str]]:
    return asyncio.run(taken(queue))


def test_background_keys_come_out_first_in_first_out() -> None:
    queue = queued(A, B, C)
    assert drain(queue) == [A, B, C]


def test_an_edit_goes_before_the_backlog() -> None:
    queue = queued(A, B, C)
    queue.add(D, Priority.EDIT)
    assert drain(queue) == [D, A, B, C]


def test_edits_keep_their_own_order() -> None:
    queue = WorkQueue()
    queue.add(A)
    queue.add(C, Priority.EDIT)
    queue.add(B, Priority.EDIT)
    assert drain(queue) == [C, B, A]


def test_a_queued_background_key_that_is_edited_moves_up_once() -> None:
    queue = queued(A, B, C)
    queue.add(C, Priority.EDIT)
    assert queue.priority_of(C) is Priority.EDIT
    assert len(queue) == 3
    assert drain(queue) == [C, A, B]  # C once, not again from its old place


def test_an_edit_never_moves_down() -> None:
    queue = WorkQueue()
    queue.add(A)
    queue.add(B, Priority.EDIT)
    queue.add(B)  # a child event for the edited model
    assert queue.priority_of(B) is Priority.EDIT
    assert drain(queue) == [B, A]


def test_an_edit_during_its_own_reconcile_is_queued_as_an_edit_afterwards() -> None:
    queue = WorkQueue()

    async def run() -> list[tuple[str, str]]:
        queue.add(A)
        held = await queue.get()  # a worker reconciles A
        queue.add(B)
        queue.add(A, Priority.EDIT)  # the user edits A meanwhile: not concurrently, but next
        assert queue.priority_of(A) is None
        queue.done(held)
        assert queue.priority_of(A) is Priority.EDIT
        return await taken(queue)

    assert asyncio.run(run()) == [A, B]


def test_a_key_requeued_after_promotion_takes_a_fresh_place() -> None:
    queue = WorkQueue()

    async def run() -> list[tuple[str, str]]:
        queue.add(A)
        queue.add(B)
        queue.add(A, Priority.EDIT)
        first = await queue.get()
        queue.done(first)
        queue.add(A)  # behind B now: its old background entry is dead
        return [first, *await taken(queue)]

    assert asyncio.run(run()) == [A, B, A]


def controller_with(queue: WorkQueue) -> Controller:
    client = KubeClient(Credentials(server="https://127.0.0.1:1"))  # never used: no request is sent
    return Controller(config=load_config(None, {}), client=client, queue=queue)


def md(name: str, generation: int, resource_version: int) -> dict[str, Any]:
    meta = {
        "name": name,
        "namespace": "ns",
        "generation": generation,
        "resourceVersion": str(resource_version),
    }
    return {"metadata": meta, "spec": {}}


def priorities(events: list[Callable[[Controller], None]]) -> dict[tuple[str, str], Priority | None]:
    queue = WorkQueue()
    controller = controller_with(queue)
    for event in events:
        event(controller)
    return {key: queue.priority_of(key) for key in (A, B)}


def test_the_controller_queues_first_sights_as_background_and_new_generations_as_edits() -> None:
    seen = priorities(
        [
            lambda c: c.model_changed(A, md("a", 1, 10)),  # a create, or the listing after a restart
            lambda c: c.model_changed(B, md("b", 1, 11)),
        ]
    )
    assert seen == {A: Priority.BACKGROUND, B: Priority.BACKGROUND}
    seen = priorities(
        [
            lambda c: c.model_changed(A, md("a", 1, 10)),
            lambda c: c.model_changed(B, md("b", 1, 11)),
            lambda c: c.model_changed(B, md("b", 2, 12)),  # the user edits b's spec
            lambda c: c.model_changed(A, md("a", 1, 13)),  # a status write on a: same generation
        ]
    )
    assert seen == {A: Priority.BACKGROUND, B: Priority.EDIT}


# --- retries and timers -----------------------------------------------------------------------------------


def test_retries_back_off_exponentially_up_to_the_cap_and_forget_starts_over() -> None:
    async def go() -> tuple[list[float], float]:
        queue = WorkQueue()
        delays = [queue.add_rate_limited(A, base=0.5, cap=3.0) for _ in range(5)]
        queue.forget(A)
        again = queue.add_rate_limited(A, base=0.5, cap=3.0)
        queue.cancel_timers()
        return delays, again

    delays, again = asyncio.run(go())
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert again == 0.5


def test_backoff_is_per_key() -> None:
    async def go() -> tuple[float, float]:
        queue = WorkQueue()
        queue.add_rate_limited(A)
        queue.add_rate_limited(A)
        other = queue.add_rate_limited(B)
        third = queue.add_rate_limited(A)
        queue.cancel_timers()
        return other, third

    assert asyncio.run(go()) == (0.5, 2.0)


def test_a_delayed_add_queues_the_key_once_when_due() -> None:
    async def go() -> tuple[int, list[tuple[str, str]]]:
        queue = WorkQueue()
        queue.add_after(A, 0)
        queue.add_after(A, 0)  # replaces the first timer: one entry, not two
        key = await asyncio.wait_for(queue.get(), 5)
        queue.done(key)
        return len(queue), [key]

    assert asyncio.run(go()) == (0, [A])


def test_cancelled_timers_never_queue_their_key() -> None:
    async def go() -> int:
        queue = WorkQueue()
        queue.add_after(A, 0)
        queue.cancel_timers()
        # Due at the same moment as A's: a timer still armed would fire in the same loop turn as B's.
        queue.add_after(B, 0)
        await asyncio.wait_for(queue.get(), 5)
        return len(queue)

    assert asyncio.run(go()) == 0
