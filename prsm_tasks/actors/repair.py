"""The repair sweeper: every peer node runs one; the one holding the lease makes the passes.

No single point of failure, and no N-fold reads: every node competes for the ``repair``
lease in PRSM_LEASES at its own jittered interval; the holder makes a pass
(store/repair.py) and renews the lease with its cursor; a holder that stops gives it up,
one that dies lets it expire (three intervals plus 10 s), and the next node to try takes it
over and goes on from the cursor. Why a lease rather than every node sweeping: a pass reads
records and work messages, and N nodes would read N times as much to repair the same tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import structlog

from prsm_tasks import wire
from prsm_tasks.actors.options import NodeOptions
from prsm_tasks.bus import nats_errors_as_prsm
from prsm_tasks.errors import PrsmError
from prsm_tasks.store.leases import KvLease
from prsm_tasks.store.opener import Stores
from prsm_tasks.store.repair import Repair

log = structlog.get_logger("prsm.repair")

LEASE_SLACK_S = 10.0
CATCH_UP_PAUSE_S = 0.05


def repair_lease_s(interval_s: float) -> float:
    """How long the lease lasts unrenewed: three passes, and slack for a slow one."""
    return 3 * interval_s + LEASE_SLACK_S


class RepairSweeper:
    def __init__(self, *, lease: KvLease, repair: Repair, interval_s: float) -> None:
        self._lease = lease
        self._repair = repair
        self._interval_s = interval_s
        self._cursor = 0
        self._stopping = asyncio.Event()
        self.passes = 0

    def stop(self) -> None:
        """End ``run`` after the pass under way, if any.

        Shutdown does not rely on cancelling ``run`` alone: on Python 3.11 a cancellation
        that lands as a NATS reply arrives can be swallowed (``asyncio.wait_for``), and the
        loop would go on, holding up the node's stop."""
        self._stopping.set()

    async def run(self) -> None:
        """Until stopped (or cancelled): wait a jittered interval, hold the lease, make a
        pass."""
        behind = False
        while not self._stopping.is_set():
            # behind (the last pass stopped at its limit): the next one at once, so the
            # repair keeps up with any rate of writes, each pass still bounded
            pause_s = CATCH_UP_PAUSE_S if behind else self._interval_s * random.uniform(0.5, 1.5)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause_s):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            try:
                behind = await self.pass_once()
            except PrsmError as exc:  # NATS away: try again next interval
                behind = False
                log.warning("repair_pass_failed", error=exc.message)

    async def pass_once(self) -> bool:
        """One pass if this node holds (or takes) the lease; whether it is still behind."""
        if not self._lease.held:
            cursor = await self._lease.acquire()
            if cursor is None:
                return False
            self._cursor = cursor
            self._repair.deferred = {}  # a holder before us may have had other ones
        self._cursor, report = await self._repair.sweep(self._cursor)
        self.passes += 1
        if report.republished or report.batches or report.deferred:
            log.info(
                "repair_pass",
                read=report.read,
                republished=report.republished,
                batches=report.batches,
                deferred=report.deferred,
                cursor=self._cursor,
            )
        held = await self._lease.renew(self._repair.resume_from(self._cursor))
        # a backlog it must scan again is no reason to hurry: the next pass comes in time
        return held and report.read >= self._repair.scan_limit and not report.overflow

    async def give_up(self) -> None:
        """Shutdown: the next node takes the lease at once, from where this one got to."""
        try:
            await self._lease.give_up(self._repair.resume_from(self._cursor))
        except PrsmError as exc:  # it expires instead
            log.warning("repair_lease_give_up_failed", error=exc.message)


async def repair_sweeper(
    stores: Stores, node_id: str, options: NodeOptions
) -> RepairSweeper | None:
    """A node's sweeper, bidding for the lease as ``node_id``; None when turned off."""
    if options.repair_after_s <= 0:
        return None
    with nats_errors_as_prsm(f"opening the {wire.LEASES_BUCKET} bucket"):
        kv = await stores.js.key_value(wire.LEASES_BUCKET)
    lease = KvLease(
        kv, wire.REPAIR_LEASE, holder=node_id, lease_s=repair_lease_s(options.repair_interval_s)
    )
    repair = Repair(
        stores.js,
        stores.tasks,
        stores.batches,
        after_s=options.repair_after_s,
        scan_limit=options.repair_scan_limit,
    )
    return RepairSweeper(lease=lease, repair=repair, interval_s=options.repair_interval_s)
