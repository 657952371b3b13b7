"""The ended attempts of a task as the edge's TaskView keeps them: for the metrics list, the
dashboard, the workers overview and the alert rules, with no read of the bucket.

Kept small on purpose (a few floats and strings per ended attempt, nothing of the task's
data or result): the view holds every record of the retention window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_DATA_KEYS = 32  # of a task's data, kept for search
MAX_DATA_KEY_CHARS = 64
FAILED_OUTCOMES = frozenset({"failed", "timeout", "lost"})


@dataclass(slots=True, frozen=True)
class AttemptRow:
    number: int
    node: str
    started_at: float
    ended_at: float
    outcome: str
    measured: bool  # the node measured it (metrics on); else only its times are known
    execution_time_ms: float
    cpu_time_ms: float | None = None
    memory_usage_mb: float | None = None
    memory_method: str | None = None
    memory_approximate: bool = True
    cost_usd: float | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED_OUTCOMES

    def metrics(self) -> dict[str, Any]:
        """The attempt's metrics as the services answer them (``measured`` says whether
        anything beyond the execution time, taken from its start and end, is known)."""
        return {
            "execution_time_ms": self.execution_time_ms,
            "cpu_time_ms": self.cpu_time_ms,
            "memory_usage_mb": self.memory_usage_mb,
            "memory_method": self.memory_method,
            "memory_approximate": self.memory_approximate,
            "cost_usd": self.cost_usd,
            "measured": self.measured,
        }


def row_of(attempt: Mapping[str, Any]) -> AttemptRow | None:
    """The row of one attempt of a record (plain fields), None while it runs."""
    ended_at = attempt.get("ended_at")
    if ended_at is None:
        return None
    started_at = float(attempt.get("started_at") or ended_at)
    metrics = attempt.get("metrics")
    common = {
        "number": int(attempt.get("number") or 0),
        "node": str(attempt.get("node") or ""),
        "started_at": started_at,
        "ended_at": float(ended_at),
        "outcome": str(attempt.get("outcome") or ""),
    }
    if not metrics:
        wall_ms = round(max(0.0, float(ended_at) - started_at) * 1000, 3)
        return AttemptRow(**common, measured=False, execution_time_ms=wall_ms)
    return AttemptRow(
        **common,
        measured=True,
        execution_time_ms=float(metrics.get("execution_time_ms") or 0.0),
        cpu_time_ms=metrics.get("cpu_time_ms"),
        memory_usage_mb=metrics.get("memory_usage_mb"),
        memory_method=metrics.get("memory_method"),
        memory_approximate=bool(metrics.get("memory_approximate", True)),
        cost_usd=metrics.get("cost_usd"),
    )


def rows_of(attempts: Iterable[Mapping[str, Any]]) -> tuple[AttemptRow, ...]:
    return tuple(row for row in map(row_of, attempts) if row is not None)


def data_keys_of(task_data: Any) -> tuple[str, ...]:
    """The first keys of a task's data, cut to a bounded length: what search looks at."""
    if not isinstance(task_data, Mapping):
        return ()
    keys = []
    for key in task_data:
        if len(keys) == MAX_DATA_KEYS:
            break
        keys.append(str(key)[:MAX_DATA_KEY_CHARS])
    return tuple(keys)
