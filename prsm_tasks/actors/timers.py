"""The timer actor: pulls the fires of the server's timers and hands each to its kind's handler.

Every node runs one, for the kinds it has handlers for (``TimerHandlers``: kind ``task`` is a
delayed task's release; the schedules reuse it with kinds of their own). Each kind's fires
come from one durable consumer shared by all nodes (store/timers.py), so one node handles
each fire. A handler returns None when the fire is done (it is acknowledged), or a delay in
seconds when it is not due yet (clocks differ); a handler that raises gets the fire again
after a backoff. A node that dies mid-fire leaves it unacknowledged: the server hands it to
another node after ``ack_wait_s``. So handlers must be idempotent, and are: each checks the
record it would change, by compare-and-set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from prsm_tasks import wire
from prsm_tasks.errors import PrsmError
from prsm_tasks.store.timers import Fire, FireSubscription, Timers

log = structlog.get_logger("prsm.timers")

TimerHandler = Callable[[Fire], Awaitable[float | None]]
FIRES_PER_PULL = 256
# fires being handled at once per kind: a burst (thousands of schedules due in one second)
# is worked as a stream, each finished fire making room for the next pulled one, instead of
# in batches that wait for their slowest fire (scripts/bench_schedules.py measures it)
MAX_FIRES_IN_FLIGHT = 512
PULL_WAIT_S = 5.0
RETRY_DELAY_S = 2.0
MAX_RETRY_DELAY_S = 60.0


class TimerHandlers:
    """Which coroutine handles the fires of which kind."""

    def __init__(self) -> None:
        self._handlers: dict[str, TimerHandler] = {}

    def register(self, kind: str, handler: TimerHandler) -> None:
        wire.check_timer_name(kind, "k")
        self._handlers[kind] = handler

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    def get(self, kind: str) -> TimerHandler | None:
        return self._handlers.get(kind)


class TimerActor:
    """Pulls and handles the fires of every kind in ``handlers`` until cancelled."""

    def __init__(
        self,
        timers: Timers,
        handlers: TimerHandlers,
        *,
        ack_wait_s: float = 30.0,
        pull_wait_s: float = PULL_WAIT_S,
    ) -> None:
        self._timers = timers
        self._handlers = handlers
        self._ack_wait_s = ack_wait_s
        self._pull_wait_s = pull_wait_s
        self.handled = 0

    async def run(self) -> None:
        subscriptions = [
            await self._timers.open_fires(kind, ack_wait_s=self._ack_wait_s)
            for kind in self._handlers.kinds
        ]
        try:
            async with asyncio.TaskGroup() as loops:
                for subscription in subscriptions:
                    loops.create_task(self._pull(subscription))
        finally:
            for subscription in subscriptions:
                await subscription.close()

    async def _pull(self, subscription: FireSubscription) -> None:
        room = asyncio.Semaphore(MAX_FIRES_IN_FLIGHT)
        async with asyncio.TaskGroup() as handlers:
            while True:
                batch = await take_room(room, FIRES_PER_PULL)
                try:
                    fires = await subscription.next_fires(batch, wait_s=self._pull_wait_s)
                except PrsmError as exc:  # NATS away: the fires wait in the stream
                    log.warning("timer_pull_failed", kind=subscription.kind, error=exc.message)
                    fires = []
                    await asyncio.sleep(RETRY_DELAY_S)
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    # a cancel that landed as the pull returned can be swallowed by the
                    # client's wait_for (Python 3.11): honour it, or this loop pulls forever
                    # (the fires just pulled come again after their ack wait)
                    raise asyncio.CancelledError
                for _ in range(batch - len(fires)):
                    room.release()
                # one fire's handler does not hold up the others, nor the next pull
                for fire in fires:
                    handlers.create_task(self._handle_in(room, fire))

    async def _handle_in(self, room: asyncio.Semaphore, fire: Fire) -> None:
        try:
            await self._handle(fire)
        finally:
            room.release()

    async def _handle(self, fire: Fire) -> None:
        handler = self._handlers.get(fire.kind)
        try:
            if handler is None:  # not subscribed to such fires; left for a node that has one
                await fire.nak(MAX_RETRY_DELAY_S)
                return
            try:
                later_s = await handler(fire)
            except Exception as exc:  # NATS away, a conflict, a bug: the fire comes again,
                # and the pull loop (every other fire) goes on
                delay_s = min(MAX_RETRY_DELAY_S, RETRY_DELAY_S * fire.deliveries)
                log.warning(
                    "timer_handler_failed",
                    kind=fire.kind,
                    key=fire.key,
                    error=exc.message if isinstance(exc, PrsmError) else repr(exc),
                    retry_in_s=delay_s,
                )
                await fire.nak(delay_s)
                return
            if later_s is not None and later_s > 0:
                await fire.nak(later_s)
                return
            await fire.ack()
            self.handled += 1
        except PrsmError as exc:  # the ack or nak did not get through: redelivered later
            log.warning("timer_ack_failed", kind=fire.kind, key=fire.key, error=exc.message)


async def take_room(room: asyncio.Semaphore, most: int) -> int:
    """Wait for one free place in ``room``, then take as many more as are free (up to
    ``most`` in all): how many fires the next pull may ask for."""
    await room.acquire()
    taken = 1
    while taken < most and not room.locked():
        await room.acquire()  # free: returns at once
        taken += 1
    return taken
