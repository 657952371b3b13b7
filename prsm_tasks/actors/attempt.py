"""One attempt of one task on this node, as an explicit state machine.

    phase       what it means                                   next
    DELIVERED   the work message is in hand, record not judged  UNCLAIMED, CLAIMED, SETTLED
    UNCLAIMED   the handler runs before its claim (late claim)  CLAIMING, CLAIMED, WRITTEN,
                                                                LOST, SETTLED
    CLAIMING    that claim is being written, the handler runs   CLAIMED, LOST, SETTLED
    CLAIMED     the record says processing, owned by us         CHANGED, WRITTEN, LOST, SETTLED
    CHANGED     claimed as the record now is after an edit:     CLAIMED (run again), WRITTEN,
                the run starts over                             SETTLED
    LOST        a canceller or another owner came first         SETTLED
    WRITTEN     its outcome is stored (completed, failed,       SETTLED
                timeout, cancelled, retry, handed back)
    SETTLED     the runner let go of the message: over          -

A short task that completes before ``claim_after_s`` goes DELIVERED -> UNCLAIMED -> WRITTEN
in one record write; a longer one DELIVERED -> UNCLAIMED -> CLAIMING -> CLAIMED -> WRITTEN;
a redelivered or retried one DELIVERED -> CLAIMED -> WRITTEN (see runner.py). Why the
handler was stopped (its timeout, a cancel, a shutdown) is kept beside the phase as
``stop``: it does not change who owns the record.

The parts that drive an attempt (claims.py, outcomes.py, progress.py, leases.py) move it
only through ``move``, which refuses a transition the table does not list.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import Protocol

from prsm_tasks.actors.delivery import Delivery
from prsm_tasks.models import FINAL_STATUSES, Fields, TaskRecord
from prsm_tasks.task_logs import LogCapture


class Phase(enum.Enum):
    DELIVERED = "delivered"  # the message is in hand; its record is not judged yet
    UNCLAIMED = "unclaimed"  # the handler runs before its claim, held in memory
    CLAIMING = "claiming"  # that claim is being written while the handler runs
    CLAIMED = "claimed"  # the record says processing, owned by this attempt
    CHANGED = "changed"  # claimed as the record now is, after an edit: run again
    LOST = "lost"  # a canceller or another owner came first: write nothing more
    WRITTEN = "written"  # its outcome (final, retry or hand-back) is stored
    SETTLED = "settled"  # the runner let go of the message: the attempt is over


class Stop(enum.IntEnum):
    """Why the handler was stopped; a higher reason replaces a lower one."""

    TIMEOUT = 1
    CANCEL = 2  # the canceller wrote `cancelled` first: cancel wins over a timeout
    SHUTDOWN = 3  # the node hands the task back


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.DELIVERED: frozenset({Phase.UNCLAIMED, Phase.CLAIMED, Phase.SETTLED}),
    Phase.UNCLAIMED: frozenset(
        {Phase.CLAIMING, Phase.CLAIMED, Phase.LOST, Phase.WRITTEN, Phase.SETTLED}
    ),
    Phase.CLAIMING: frozenset({Phase.CLAIMED, Phase.LOST, Phase.SETTLED}),
    Phase.CLAIMED: frozenset({Phase.CHANGED, Phase.LOST, Phase.WRITTEN, Phase.SETTLED}),
    Phase.CHANGED: frozenset({Phase.CLAIMED, Phase.WRITTEN, Phase.SETTLED}),
    Phase.LOST: frozenset({Phase.SETTLED}),
    Phase.WRITTEN: frozenset({Phase.SETTLED}),
    Phase.SETTLED: frozenset(),
}
# the record says this attempt owns it (its claim, or its outcome, is stored)
OWNING = frozenset({Phase.CLAIMED, Phase.CHANGED, Phase.WRITTEN})


class Progress(Protocol):
    """The attempt's progress reporter (progress.py), made on its first report."""

    dirty_record: bool
    record_at: float

    def note(self, value: float | None, text: str | None) -> None: ...

    def requeue(self) -> None: ...

    def applied_to(self, fields: Fields) -> Fields: ...

    async def publish_pending(self, *, final: bool = False) -> None: ...

    async def write_record(self, *, now_mono: float) -> None: ...


class IllegalAttemptTransition(RuntimeError):
    """A bug: a part of the runner moved an attempt along an edge the table does not have."""


class Attempt:
    """The state of one attempt: its phase, why its handler stopped, the record as this
    attempt last stored or read it (wire form), and the work message it came from."""

    __slots__ = (
        "claim_task",
        "delivery",
        "fields",
        "interrupt",
        "logs",
        "metrics",
        "phase",
        "progress",
        "rev",
        "started_sent",
        "stop",
        "task_id",
        "write_lock",
    )

    def __init__(self, delivery: Delivery, *, interrupt: Callable[[], None]) -> None:
        self.delivery = delivery
        self.interrupt = interrupt  # stops the running handler (the runner's)
        self.phase = Phase.DELIVERED
        self.stop: Stop | None = None
        self.task_id = ""
        self.fields: Fields | None = None
        self.rev = 0
        self.claim_task: asyncio.Task[bool] | None = None  # a late claim being written
        self.started_sent = False  # task_started goes out once per run
        # progress writes and the outcome's write take turns (made once progress is written)
        self.write_lock: asyncio.Lock | None = None
        self.progress: Progress | None = None
        self.logs: LogCapture | None = None  # what its handler logged (actors/logs.py)
        self.metrics: Fields | None = None  # what the node measured of its handler (metering)

    def move(self, to: Phase) -> None:
        if to is self.phase:
            return
        if self.phase is Phase.SETTLED:
            # a late claim still in flight when a shutdown let go of the message may land
            # afterwards (it is not cut off half way): the attempt is over, nothing changes
            return
        if to not in TRANSITIONS[self.phase]:
            raise IllegalAttemptTransition(
                f"attempt of {self.task_id}: {self.phase.value} -> {to.value}"
            )
        self.phase = to

    def stop_for(self, reason: Stop) -> None:
        if self.stop is None or reason > self.stop:
            self.stop = reason

    @property
    def owns_record(self) -> bool:
        return self.phase in OWNING

    @property
    def is_final(self) -> bool:
        return self.fields is None or self.fields["status"] in FINAL_STATUSES

    @property
    def record(self) -> TaskRecord:
        """The record as a model (for the rarer paths; the hot path uses ``fields``)."""
        assert self.fields is not None
        return TaskRecord.model_validate(self.fields)

    def hold(self, fields: Fields, rev: int) -> None:
        self.fields, self.rev = fields, rev
