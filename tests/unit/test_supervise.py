"""supervise: an actor that crashes is restarted, one being stopped is not."""

from __future__ import annotations

import asyncio

import pytest

from prsm_tasks.actors.base import stop_actors, supervise


async def test_a_crash_restarts_the_actor() -> None:
    runs: list[int] = []

    async def crashes_twice() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("boom")

    await asyncio.wait_for(supervise("t", crashes_twice, min_backoff_s=0.001), 10)
    assert len(runs) == 3


async def test_an_error_raised_while_stopping_does_not_restart_it() -> None:
    """A cancel that turns into another error on the way out (a task group's, a library
    that swallowed it) still ends the actor."""
    runs: list[int] = []
    started = asyncio.Event()

    async def fails_when_cancelled() -> None:
        runs.append(1)
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise RuntimeError("closing failed") from None

    task = asyncio.create_task(supervise("t", fails_when_cancelled, min_backoff_s=0.001))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert runs == [1]


async def test_stop_actors_ends_one_that_swallows_its_cancel() -> None:
    """An actor that catches the first cancel and waits again is cancelled again: the
    node's stop ends instead of waiting for ever."""
    swallowed: list[int] = []

    async def swallows_once() -> None:
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(1)

    async def plain() -> None:
        await asyncio.sleep(60)

    actors = {
        "stubborn": asyncio.create_task(supervise("stubborn", swallows_once)),
        "plain": asyncio.create_task(supervise("plain", plain)),
    }
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_actors(actors, recancel_s=0.05), 30)
    assert swallowed == [1]
    assert all(task.cancelled() for task in actors.values())
