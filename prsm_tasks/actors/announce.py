"""What an attempt tells the world: its events, and the hooks on records it saw final."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from prsm_tasks import telemetry
from prsm_tasks.actors.attempt import Attempt
from prsm_tasks.actors.logs import LogPump
from prsm_tasks.errors import PrsmError
from prsm_tasks.models import Fields, TaskRecord
from prsm_tasks.store.events import EventPublisher, event_dict

log = structlog.get_logger("prsm.runner")

AfterFinal = Callable[[TaskRecord], Awaitable[None]]
# an attempt's last word: its log lines go out before it (actors/logs.py)
CLOSING_EVENTS = frozenset(
    {"task_completed", "task_failed", "task_timeout", "task_retrying", "task_cancelled"}
)


class Announcer:
    """One per node. ``after_final`` is called with final records this node sees (after
    writing them, or finding them so on a redelivery, so a crash between write and hook is
    healed by the redelivery): records of a batch always, every record when ``all_final``."""

    def __init__(
        self,
        events: EventPublisher,
        *,
        after_final: AfterFinal | None,
        all_final: bool,
        logs: LogPump | None = None,
    ) -> None:
        self._events = events
        self._logs = logs
        self._after_final = after_final
        self._all_final = all_final

    async def publish(
        self,
        attempt: Attempt,
        event_type: str,
        data: dict[str, Any],
        *,
        attempt_of: TaskRecord | None = None,
    ) -> None:
        fields = attempt.fields
        assert fields is not None
        now = time.time()
        telemetry.task_event(event_type, fields, now)
        if self._logs is not None and attempt.logs is not None and event_type in CLOSING_EVENTS:
            await self._logs.close(attempt)
        number = len(attempt_of.attempts) if attempt_of is not None else len(fields["attempts"])
        worker = attempt_of.worker_node if attempt_of is not None else fields["worker_node"]
        try:
            await self._events.publish(
                event_dict(
                    task_id=attempt.task_id,
                    queue_name=fields["queue_name"],
                    event_type=event_type,
                    attempt=number,
                    worker_node=worker,
                    now=now,
                    data=data,
                )
            )
        except PrsmError as exc:
            log.warning(
                "event_publish_failed", task_id=attempt.task_id, event=event_type, error=exc.message
            )

    async def started(self, attempt: Attempt) -> None:
        """task_started, once the record shows the attempt (a task started before its claim
        is written sends it with its first write, so no one hears of a start that a cancel
        or another owner then voids)."""
        if not attempt.started_sent:
            attempt.started_sent = True
            await self.publish(attempt, "task_started", {})

    async def final_fields(self, fields: Fields) -> None:
        """``final`` for the hot path: builds the model only when a hook wants it."""
        if self._after_final is not None and (self._all_final or fields["batch_id"]):
            await self.final(TaskRecord.model_validate(fields))

    async def final(self, record: TaskRecord) -> None:
        hook = self._after_final
        if hook is None or not (self._all_final or record.batch_id):
            return
        try:
            await hook(record)
        except Exception as exc:  # a hook must not undo a final write; the next redelivery retries
            log.warning("after_final_failed", task_id=record.task_id, error=repr(exc))
