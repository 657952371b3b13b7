"""Pydantic models of what travels beside the task records: node adverts, task events, batches.

(The task record and its state machine are in ``models``.)
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prsm_tasks.models import RECORD_VERSION


class NodeAd(BaseModel):
    """A peer node's capacity advertisement in the PRSM_NODES bucket."""

    model_config = ConfigDict(extra="ignore")

    v: int = RECORD_VERSION
    node_id: str
    queues: list[str]
    task_types: list[str] = Field(default_factory=list)
    capacity: int
    in_flight: int
    load: float
    cpu_usage: float | None = None
    memory_usage: float | None = None
    completed: int = 0
    failed: int = 0
    version: str
    host: str
    pid: int
    started_at: float
    updated_at: float

    @property
    def free_slots(self) -> int:
        return max(0, self.capacity - self.in_flight)


EventType = Literal[
    "task_enqueued",
    "task_started",
    "progress_update",
    "task_retrying",
    "task_completed",
    "task_failed",
    "task_cancelled",
    "task_timeout",
    "task_log",  # lines a handler logged (ctx.logger); SSE sends them as `event: task_log`
]
FINAL_EVENT_TYPES: frozenset[str] = frozenset(
    {"task_completed", "task_failed", "task_cancelled", "task_timeout"}
)


class TaskEvent(BaseModel):
    """A lifecycle or progress event on ``prsm.events.<queue>.<task_id>.<event_type>``."""

    model_config = ConfigDict(extra="ignore")

    v: int = RECORD_VERSION
    event_type: EventType
    task_id: str
    queue_name: str
    timestamp: float
    attempt: int = 0
    worker_node: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    seq: int | None = None  # the PRSM_EVENTS stream sequence, set when read back

    @property
    def is_final(self) -> bool:
        return self.event_type in FINAL_EVENT_TYPES

    def public_dict(self) -> dict[str, Any]:
        """The documented JSON shape (SSE, CLI): ISO-8601 ``Z`` timestamp, no ``seq``."""
        stamp = datetime.datetime.fromtimestamp(self.timestamp, tz=datetime.UTC)
        return {
            "v": self.v,
            "event_type": self.event_type,
            "task_id": self.task_id,
            "queue_name": self.queue_name,
            "timestamp": stamp.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "attempt": self.attempt,
            "worker_node": self.worker_node,
            "data": self.data,
        }

    @classmethod
    def from_public(cls, payload: dict[str, Any], *, seq: int | None = None) -> TaskEvent:
        """Read back what ``public_dict`` wrote (for example from an SSE ``data:`` line)."""
        stamp = payload.get("timestamp")
        if isinstance(stamp, str):
            parsed = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            payload = {**payload, "timestamp": parsed.timestamp()}
        return cls.model_validate({**payload, "seq": seq})


class BatchRecord(BaseModel):
    """A bulk enqueue in the PRSM_BATCHES bucket: which of its tasks may run, by CAS.

    ``limit`` tasks are let go at first; each one that reaches a final state lets the next
    waiting one go (``done`` holds their indices so a repeated hook call changes nothing).
    """

    model_config = ConfigDict(extra="ignore")

    v: int = RECORD_VERSION
    batch_id: str
    queue_name: str
    user: str | None = None
    tenant: str | None = None
    task_ids: list[str]
    limit: int  # how many of the batch may be enqueued or running at once
    fail_fast: bool = False
    released: int  # task_ids[:released] have been let go
    done: list[int] = Field(default_factory=list)
    failed_task_id: str | None = None  # fail_fast tripped by this task
    created_at: float
