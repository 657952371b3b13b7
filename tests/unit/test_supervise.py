"""supervise: an actor that crashes is restarted, one being stopped is not."""

from __future__ import annotations

import asyncio

import pytest

from prsm_tasks.actors.base import supervise


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
