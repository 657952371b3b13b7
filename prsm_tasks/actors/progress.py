"""Progress of a running task, coalesced: one reporter per attempt, one pump per node.

Policy: every change of the progress text is published as its own ``progress_update`` event;
value-only reports are coalesced to at most one event per ``progress_event_interval_s`` per
task, carrying the latest value; the last (text, value) is always published before the
task's outcome event, so a final 1.0 is never lost. The task record's ``progress`` and
``progress_text`` are written at most once per ``progress_record_interval_s`` (and with the
final write). A handler reporting 10,000 times a second thus costs about ten events and one
record write a second. Reports after a cancel or timeout are dropped.

Cap: a task publishes at most ``progress_max_events`` such events, counted over its attempts
(each attempt's writes store its count in the record's attempt). Past the cap, reports
still update the record, but an event goes out only when the value reaches a new whole
percent (at most 101 more), plus the last word before the outcome; each of these carries
``coalesced``, how many reports it stands for. A handler that changes its text on every one
of 100,000 steps thus makes the cap's events, then at most 102 per attempt, not 100,000.

Most tasks never report progress: the runner makes a reporter on the first report only.
Nothing is published or written before the attempt's claim is (the claim sends what waited).
"""

from __future__ import annotations

import asyncio
import time

import structlog

from prsm_tasks import models, ownership, wire
from prsm_tasks.actors.announce import Announcer
from prsm_tasks.actors.attempt import Attempt, Stop
from prsm_tasks.actors.options import NodeOptions
from prsm_tasks.errors import ServiceUnavailableError, TaskNotFoundError, TransitionConflictError
from prsm_tasks.models import Fields, TaskStatus
from prsm_tasks.store.tasks import TaskStore

log = structlog.get_logger("prsm.node.progress")

REBASE_ATTEMPTS = 8  # a record edited this often under one progress write: skip this write


class ProgressReporter:
    def __init__(
        self, attempt: Attempt, *, store: TaskStore, announcer: Announcer, pump: ProgressPump
    ) -> None:
        self._attempt = attempt
        self._store = store
        self._announcer = announcer
        self._pump = pump
        self.value: float | None = None
        self.text: str | None = None
        self.pending_texts: list[tuple[str, float | None]] | None = None  # not yet published
        self.dirty = False  # reported since the last events
        self.dirty_record = False  # reported since the record's last progress write
        self.event_at = 0.0
        self.record_at = 0.0
        self.published = 0  # progress events of this attempt
        self.earlier: int | None = None  # ... of the task's earlier attempts, once known
        self.unsent = 0  # reports coalesced since the last event
        self.percent_sent = -1  # past the cap: the highest whole percent published

    @property
    def task_events(self) -> int:
        """The task's progress events: its earlier attempts' (as its record counts them)
        and this attempt's."""
        return (self.earlier or 0) + self.published

    @property
    def capped(self) -> bool:
        """The task's progress events, published or waiting, are at the cap."""
        return self.task_events + len(self.pending_texts or ()) >= self._pump.max_events

    def note(self, value: float | None, text: str | None) -> None:
        attempt = self._attempt
        if attempt.is_final or attempt.stop in (Stop.CANCEL, Stop.TIMEOUT):
            return  # after a cancel the canceller's event is the last word
        if value is not None:
            self.value = value
        if text is not None and text != self.text and not self.capped:
            self.text = text
            if self.pending_texts is None:
                self.pending_texts = []
            self.pending_texts.append((text, self.value))  # its own event
        else:
            self.text = text if text is not None else self.text
            self.unsent += 1  # coalesced into the next event
        self.dirty = True
        self._pump.note(self)

    def requeue(self) -> None:
        """The claim is stored: what was held back for it may go out now."""
        if self.dirty:
            self._pump.note(self)

    def applied_to(self, fields: Fields) -> Fields:
        if self.value is None and self.text is None:
            return fields
        updated = models.progress_fields(fields, value=self.value, text=self.text)
        return with_progress_events(updated, self.published) if self.published else updated

    def due(self, now_mono: float, interval_s: float) -> bool:
        return (
            bool(self.pending_texts) or self.value == 1.0 or now_mono - self.event_at >= interval_s
        )

    async def flush(self, *, now_mono: float) -> None:
        """Publish pending progress events and, at most every interval, the record's progress."""
        attempt = self._attempt
        if attempt.is_final or not self.dirty or not attempt.owns_record:
            return  # without a claim yet: the claim requeues this reporter once written
        await self.publish_pending()
        self.event_at = now_mono
        if now_mono - self.record_at < self._pump.record_interval_s:
            self.dirty_record = True
            return
        await self.write_record(now_mono=now_mono)

    async def publish_pending(self, *, final: bool = False) -> None:
        """Every text change as its own event, then the latest (text, value) if it differs.

        The trailing event is what keeps a value reported after the last text (the final
        1.0 of ``send_progress("saving", 0.9); send_progress_value(1.0)``) from being lost.
        ``final``: the outcome follows; past the cap, what is unsent goes out now.
        """
        attempt = self._attempt
        if not self.dirty or attempt.is_final or attempt.stop is Stop.CANCEL:
            return
        if not attempt.owns_record:
            return  # the claim is on its way (the first report asked for it); it sends these
        self.dirty = False
        if self.earlier is None:
            self.earlier = earlier_progress_events(attempt.fields)
        cap = self._pump.max_events
        texts, self.pending_texts = self.pending_texts or [], None
        for text, value in texts:
            if self.task_events < cap:
                await self._publish({"text": text, "value": value})
            else:  # held back for the claim, and the earlier attempts used the rest
                self.unsent += 1
        latest = (self.text, self.value)
        below_cap = self.task_events < cap
        if texts and texts[-1] == latest and (below_cap or not self.unsent):
            self.unsent = 0  # the text's event says it all
            return
        coalesced, self.unsent = self.unsent, 0
        if below_cap:
            await self._publish({"text": latest[0], "value": latest[1]})
            return
        percent = int(self.value * 100) if self.value is not None else -1
        if final or percent > self.percent_sent:
            self.percent_sent = max(percent, self.percent_sent)
            await self._publish({"text": latest[0], "value": latest[1], "coalesced": coalesced})
        else:
            self.unsent = coalesced
            self.dirty = True  # held back by the cap: the outcome's flush sends it

    async def _publish(self, data: dict[str, object]) -> None:
        await self._announcer.publish(self._attempt, "progress_update", data)
        self.published += 1
        if self.task_events == self._pump.max_events:
            log.warning(
                "progress_events_capped",
                task_id=self._attempt.task_id,
                max_events=self._pump.max_events,
            )

    async def write_record(self, *, now_mono: float) -> None:
        attempt = self._attempt
        if attempt.is_final or not attempt.owns_record:
            return  # the claim goes first (the first report asked for it)
        if attempt.write_lock is None:
            attempt.write_lock = asyncio.Lock()
        async with attempt.write_lock:
            fields = attempt.fields
            if fields is None or fields["status"] != TaskStatus.PROCESSING:
                return
            try:
                updated, rev = await self._put(self.applied_to(fields), attempt.rev)
            except (TransitionConflictError, ServiceUnavailableError, TaskNotFoundError):
                return  # cancelled or taken over (the final write will find out), or NATS away
            attempt.hold(updated, rev)
            self.record_at = now_mono
            self.dirty_record = False

    async def _put(self, updated: Fields, rev: int) -> tuple[Fields, int]:
        """Write ``updated`` over ``rev``; a CAS lost to an edit that leaves the attempt ours
        (metadata, a child named in ``dependents``) is rebased onto the record and written
        again, so one such edit does not fail every later write of the attempt."""
        task_id = self._attempt.task_id
        for _ in range(REBASE_ATTEMPTS):
            try:
                return updated, await self._store.put_encoded(
                    task_id, wire.pack(updated), last_rev=rev
                )
            except TransitionConflictError:
                current, rev = await self._store.get(task_id)
                rebased = ownership.rebase(
                    updated,
                    current,
                    owner=updated["worker_node"],
                    message_seq=self._attempt.delivery.seq,
                )
                if rebased is None:
                    raise
                updated = rebased
        raise TransitionConflictError(f"task {task_id} kept changing", task_id=task_id)


def earlier_progress_events(fields: Fields | None) -> int:
    """The progress events of a task's attempts before the running one (its record's last,
    once the attempt owns the record), as each attempt's writes counted them."""
    attempts = (fields or {}).get("attempts") or []
    return sum(entry.get("progress_events", 0) for entry in attempts[:-1])


def with_progress_events(fields: Fields, count: int) -> Fields:
    """``fields`` whose running attempt (the last) says it published ``count`` events."""
    attempts = fields.get("attempts") or []
    if not attempts or attempts[-1].get("ended_at") is not None:
        return fields
    return {**fields, "attempts": [*attempts[:-1], {**attempts[-1], "progress_events": count}]}


class ProgressPump:
    """The node's actor that sends coalesced progress events of every attempt."""

    def __init__(self, options: NodeOptions) -> None:
        self.event_interval_s = options.progress_event_interval_s
        self.record_interval_s = options.progress_record_interval_s
        self.max_events = options.progress_max_events  # per task, over its attempts
        self._dirty: set[ProgressReporter] = set()
        self._wake = asyncio.Event()

    def note(self, reporter: ProgressReporter) -> None:
        self._dirty.add(reporter)
        self._wake.set()

    def forget(self, reporter: object) -> None:
        self._dirty.discard(reporter)

    async def run(self) -> None:
        interval_s = self.event_interval_s
        while True:
            await self._wake.wait()
            self._wake.clear()
            now = time.monotonic()
            dirty, self._dirty = self._dirty, set()
            for reporter in dirty:
                if reporter.due(now, interval_s):
                    await reporter.flush(now_mono=now)
                else:
                    self._dirty.add(reporter)
            if self._dirty:
                await asyncio.sleep(interval_s)
                self._wake.set()
