"""The lease keeper: the node's actor that keeps the leases of long-running attempts.

A work message is leased for the consumer's ack wait (``lease_s``); an attempt still running
after a third of it renews (``in_progress``), so only a node that stopped (a crash, kill -9,
a partition) lets its lease lapse and the message go to a peer (see ownership.py). The same
tick writes coalesced progress into records whose last progress write is due.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

import structlog

from prsm_tasks.actors.attempt import Attempt
from prsm_tasks.actors.options import NodeOptions

log = structlog.get_logger("prsm.node")


class LeaseKeeper:
    def __init__(self, running: Callable[[], Iterable[Attempt]], options: NodeOptions) -> None:
        self._running = running
        self._renew_after_s = options.lease_s / 3
        self._record_interval_s = record_s = options.progress_record_interval_s
        self._tick_s = min(self._renew_after_s / 2, max(record_s, 0.05))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            now = time.monotonic()
            for attempt in list(self._running()):
                delivery = attempt.delivery
                if now - delivery.renewed_at >= self._renew_after_s:
                    try:
                        await delivery.renew()
                    except Exception as exc:  # reconnecting: the next tick tries again
                        log.warning("lease_renew_failed", task_id=attempt.task_id, error=repr(exc))
                progress = attempt.progress
                if (
                    progress is not None
                    and progress.dirty_record
                    and now - progress.record_at >= self._record_interval_s
                ):
                    await progress.write_record(now_mono=now)
