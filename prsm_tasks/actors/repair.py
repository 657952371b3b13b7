"""The repair sweeper: every peer node runs one; the one holding the lease makes the passes.

No single point of failure, and no N-fold reads: every node competes for the ``repair``
lease in PRSM_LEASES at its own jittered interval; the holder makes a pass
(store/repair.py) and renews the lease with its cursor; a holder that stops gives it up,
one that dies lets it expire (three intervals plus 10 s), and the next node to try takes it
over and goes on from the cursor. Why a lease rather than every node sweeping: a pass reads
records and work messages, and N nodes would read N times as much to repair the same tasks.

With several partitions each has its own repair, lease and cursor (a ``Lane``): a sweeper
bids for every lane, so the partitions' repairs may be held by different nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(eq=False)
class Lane:
    """The repair of one partition: its lease and where its passes got to."""

    lease: KvLease
    repair: Repair
    cursor: int = 0


class RepairSweeper:
    def __init__(
        self,
        *,
        interval_s: float,
        lease: KvLease | None = None,
        repair: Repair | None = None,
        lanes: Sequence[Lane] = (),
    ) -> None:
        """``lanes``, one per partition; or the one lane of ``lease`` and ``repair``."""
        self._lanes = list(lanes) or [Lane(lease, repair)]  # type: ignore[arg-type]
        self._interval_s = interval_s
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
        """One pass over each lane whose lease this node holds (or takes); whether one of
        them is still behind."""
        swept = behind = False
        for lane in self._lanes:
            if self._stopping.is_set():
                break
            lane_behind = await self._lane_pass(lane)
            if lane_behind is not None:
                swept = True
                behind = behind or lane_behind
        if swept:
            self.passes += 1
        return behind

    async def _lane_pass(self, lane: Lane) -> bool | None:
        """One pass of a lane; None when another node holds its lease."""
        if not lane.lease.held:
            cursor = await lane.lease.acquire()
            if cursor is None:
                return None
            lane.cursor = cursor
            lane.repair.deferred = {}  # a holder before us may have had other ones
        lane.cursor, report = await lane.repair.sweep(lane.cursor)
        if (
            report.republished
            or report.batches
            or report.deferred
            or report.scheduled
            or report.children
        ):
            log.info(
                "repair_pass",
                partition=lane.repair.partition,
                read=report.read,
                republished=report.republished,
                batches=report.batches,
                deferred=report.deferred,
                scheduled=report.scheduled,
                children=report.children,
                cursor=lane.cursor,
            )
        held = await lane.lease.renew(lane.repair.resume_from(lane.cursor))
        # a backlog it must scan again is no reason to hurry: the next pass comes in time
        return held and report.read >= lane.repair.scan_limit and not report.overflow

    async def give_up(self) -> None:
        """Shutdown: the next node takes the leases at once, from where this one got to."""
        for lane in self._lanes:
            if not lane.lease.held:
                continue
            try:
                await lane.lease.give_up(lane.repair.resume_from(lane.cursor))
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
    lanes = [
        Lane(
            lease=KvLease(
                kv,
                wire.repair_lease(partition),
                holder=node_id,
                lease_s=repair_lease_s(options.repair_interval_s),
            ),
            repair=Repair(
                stores.js,
                stores.tasks,
                stores.batches,
                after_s=options.repair_after_s,
                scan_limit=options.repair_scan_limit,
                partition=partition,
            ),
        )
        for partition in range(stores.tasks.partitions)
    ]
    return RepairSweeper(lanes=lanes, interval_s=options.repair_interval_s)
