"""Progress of a running task, coalesced (the Runner's half that handles ``ctx.progress``).

Policy: every change of the progress text is published as its own ``progress_update`` event;
value-only reports are coalesced to at most one event per ``progress_event_interval_s`` per
task, carrying the latest value; the last (text, value) is always published before the
task's outcome event, so a final 1.0 is never lost. The task record's ``progress`` and
``progress_text`` are written at most once per ``progress_record_interval_s`` (and with the
final write). A handler reporting 10,000 times a second thus costs about ten events and one
record write a second. Reports after a cancel or timeout are dropped.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from prsm_tasks import models, wire
from prsm_tasks.errors import ServiceUnavailableError, TransitionConflictError
from prsm_tasks.models import Fields, TaskStatus

if TYPE_CHECKING:
    from prsm_tasks.actors.support import RunnerDeps


class ProgressReporter:
    """Coalesced progress state and its flushing; mixed into Runner, which provides the rest."""

    deps: RunnerDeps
    fields: Fields | None
    rev: int
    task_id: str
    cancel_requested: bool
    timed_out: bool
    claim_written: bool

    # Class-level defaults: most tasks never report progress, and setting eight attributes
    # on every runner is measurable at thousands of tasks a second. Writes go to the instance.
    progress_value: float | None = None
    progress_text: str | None = None
    pending_texts: list[tuple[str, float | None]] | None = None  # texts not yet published
    progress_dirty = False
    progress_dirty_record = False
    progress_event_at = 0.0
    progress_record_at = 0.0
    _write_lock: asyncio.Lock | None = None

    @property
    def is_final(self) -> bool:
        raise NotImplementedError

    async def _publish(self, event_type: str, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def note_progress(self, value: float | None, text: str | None) -> None:
        if self.is_final or self.cancel_requested or self.timed_out:
            return  # after a cancel the canceller's event is the last word
        if value is not None:
            self.progress_value = value
        if text is not None and text != self.progress_text:
            self.progress_text = text
            if self.pending_texts is None:
                self.pending_texts = []
            self.pending_texts.append((text, self.progress_value))
        self.progress_dirty = True
        self.deps.on_progress(self)

    def _has_progress(self) -> bool:
        return self.progress_value is not None or self.progress_text is not None

    def _with_progress(self, fields: Fields) -> Fields:
        if not self._has_progress():
            return fields
        return models.progress_fields(fields, value=self.progress_value, text=self.progress_text)

    async def flush_progress(self, *, now_mono: float) -> None:
        """Publish pending progress events and, at most every interval, the record's progress."""
        if self.is_final or not self.progress_dirty or not self.claim_written:
            return  # without a claim yet: the claim re-queues this runner once written
        await self.publish_pending_progress()
        self.progress_event_at = now_mono
        if now_mono - self.progress_record_at < self.deps.progress_record_interval_s:
            self.progress_dirty_record = True
            return
        await self.write_progress_record(now_mono=now_mono)

    async def publish_pending_progress(self) -> None:
        """Every text change as its own event, then the latest (text, value) if it differs.

        The trailing event is what keeps a value reported after the last text (the final
        1.0 of ``send_progress("saving", 0.9); send_progress_value(1.0)``) from being lost.
        """
        if not self.progress_dirty or self.is_final or self.cancel_requested:
            return
        if not self.claim_written:
            return  # the claim is on its way (note_progress asked for it); it sends these
        self.progress_dirty = False
        texts, self.pending_texts = self.pending_texts or [], None
        for text, value in texts:
            await self._publish("progress_update", {"text": text, "value": value})
        latest = (self.progress_text, self.progress_value)
        if not texts or texts[-1] != latest:
            await self._publish("progress_update", {"text": latest[0], "value": latest[1]})

    async def write_progress_record(self, *, now_mono: float) -> None:
        if self.is_final:
            return
        if not self.claim_written:
            return  # the claim goes first (note_progress asked for it)
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        async with self._write_lock:
            fields = self.fields
            if fields is None or fields["status"] != TaskStatus.PROCESSING:
                return
            updated = self._with_progress(fields)
            try:
                self.rev = await self.deps.store.put_encoded(
                    self.task_id, wire.pack(updated), last_rev=self.rev
                )
            except (TransitionConflictError, ServiceUnavailableError):
                return  # cancelled or taken over (the final write will find out), or NATS away
            self.fields = updated
            self.progress_record_at = now_mono
            self.progress_dirty_record = False
