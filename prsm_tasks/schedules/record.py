"""The schedule record in ``PRSM_SCHEDULES`` (key: its UUID), and how it reads as a rule.

Times are epoch seconds inside, UTC ISO-8601 at the edge. Every change is a compare-and-set
on the record's revision (``store/schedules.py``); the changes themselves are pure
functions here and in the services.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prsm_tasks.models import DependencyType
from prsm_tasks.schedules.misfire import DEFAULT_BACKFILL_LIMIT, MisfirePolicy
from prsm_tasks.schedules.rules import Kind, TimeRule, parse_rule

SCHEDULE_RECORD_VERSION = 1
ScheduleStatus = Literal["scheduled", "paused", "completed"]
PriorityName = Literal["low", "medium", "high", "critical"]
# the document's priorities onto the engine's bands: low 1-3, normal 4-6, high 7-9, critical 10
ENGINE_PRIORITY: dict[str, int] = {"low": 2, "medium": 5, "high": 8, "critical": 10}


class Dependency(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dependency_id: str
    depends_on: str  # the parent schedule's id
    type: DependencyType
    created_at: float


MAX_RECENT_RUNS = 20
# runs fired but not made yet, each waiting for a parent schedule's first run (newest kept)
MAX_HELD_RUNS = 20


class RecentRun(BaseModel):
    model_config = ConfigDict(extra="ignore")

    task_id: str
    due_at: float  # a manual trigger's: when it was triggered
    created_at: float
    trigger: bool = False


class HeldRun(RecentRun):
    """A run that fired while a parent schedule had no run to wait on: made (with its
    ``depends_on``) once every parent has one (schedules/dependencies.py)."""

    waiting_on: list[str] = Field(default_factory=list)  # the parent schedules' ids


class ScheduleRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    v: int = SCHEDULE_RECORD_VERSION
    schedule_id: str
    tenant: str
    user: str  # the owner
    task_name: str
    kind: Kind
    expression: str | None = None
    timezone: str = "UTC"
    at: float | None = None  # one_time: its time; interval: its first due time (anchor)
    payload: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float = 300.0
    max_retries: int = 3
    priority: PriorityName = "medium"
    tags: dict[str, str] = Field(default_factory=dict)
    status: ScheduleStatus = "scheduled"
    next_due_at: float | None = None
    last_due_at: float | None = None  # the due time of the last run created
    retry_count: int = 0
    created_at: float
    updated_at: float
    paused_at: float | None = None
    # routing: given by the caller; resolved when a run is made (services/schedules/routing)
    queue_name: str | None = None
    handler_type: str | None = None
    misfire_policy: MisfirePolicy = "run_once"
    backfill_limit: int = DEFAULT_BACKFILL_LIMIT
    dependencies: list[Dependency] = Field(default_factory=list)
    # the due time the timer holds a fire for (None: nothing armed); the firing work
    # re-arms by compare-and-set on the record, so a second conversion of a fire is a no-op
    armed_due_at: float | None = None
    # the newest runs the firing made, newest last, at most MAX_RECENT_RUNS (the task's
    # record names the schedule back, in its metadata)
    recent_runs: list[RecentRun] = Field(default_factory=list)
    # fired runs not made yet: a parent schedule had no run at the time (its wait timer,
    # kind ``schedule_wait``, makes them when the parent has fired)
    held_runs: list[HeldRun] = Field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return self.status != "paused"

    @property
    def engine_priority(self) -> int:
        return ENGINE_PRIORITY[self.priority]

    def rule(self) -> TimeRule:
        """The record's time rule (it was checked when written: ``now`` only matters then)."""
        at = datetime.fromtimestamp(self.at, UTC) if self.at is not None else None
        return parse_rule(
            self.kind, self.expression, self.timezone, at=at, now=datetime.now(UTC), checked=True
        )


def as_datetime(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def as_epoch(instant: datetime | None) -> float | None:
    return instant.timestamp() if instant is not None else None
