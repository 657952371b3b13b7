"""A node's stop ends its repair sweeper even when a cancellation is lost on the way."""

from __future__ import annotations

import asyncio

from prsm_tasks.actors.repair import RepairSweeper
from prsm_tasks.errors import ServiceUnavailableError


class SwallowingSweeper(RepairSweeper):
    """A pass during which a cancellation turns into a NATS error, as a reply that arrives at
    the moment of the cancel can make it on Python 3.11."""

    def __init__(self) -> None:
        super().__init__(lease=None, repair=None, interval_s=0.01)  # type: ignore[arg-type]
        self.in_pass = asyncio.Event()
        self.swallowed = False

    async def pass_once(self) -> bool:
        self.in_pass.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if self.swallowed:  # only the first one: the test can always end the task
                raise
            self.swallowed = True
            raise ServiceUnavailableError("NATS unavailable while reading") from None
        return False


async def test_stop_ends_the_sweeper_whose_cancellation_was_swallowed() -> None:
    sweeper = SwallowingSweeper()
    running = asyncio.create_task(sweeper.run())
    try:
        await asyncio.wait_for(sweeper.in_pass.wait(), 30)
        sweeper.stop()  # what the node does before it cancels its loops
        running.cancel()
        done, _ = await asyncio.wait({running}, timeout=30)
        assert sweeper.swallowed
        assert running in done, "the sweeper went on after the node stopped it"
    finally:
        while not running.done():
            running.cancel()
            await asyncio.wait({running}, timeout=1)
