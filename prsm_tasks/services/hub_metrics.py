"""The monitoring services of the hub (seed 003's task_monitoring app), for any surface.

Everything is read from what the edge already holds: its TaskView (every record of the
retention window, each with its ended attempts and their metrics: ``services/attempt_rows``)
and the node adverts; nothing reads the bucket per request. Each function takes the
caller's tenant scope and sees only that scope's tasks (a hub maps a brand to a scope).

- ``list_metrics``: one row per ended attempt, newest task first (then its newest attempt),
  filtered and paged (``MetricsQuery``).
- ``dashboard``: per (task type, queue), over a window of attempts that ended in it.
- ``workers_overview``: every node the edge has an advert of, live or gone silent, with
  the scope's attempts it ran and failed in a window.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prsm_tasks.messages import NodeAd
from prsm_tasks.services.attempt_rows import AttemptRow
from prsm_tasks.services.mirrors import NodeView
from prsm_tasks.services.timestamps import iso
from prsm_tasks.services.view import Entry, TaskView

Outcome = Literal["completed", "failed", "timeout", "cancelled", "lost", "interrupted"]
FINISHED_OUTCOMES = frozenset({"completed", "failed", "timeout", "lost"})  # success rate's
MAX_WINDOW_S = 30 * 86_400.0


class MetricsQuery(BaseModel):
    """Filters of the metrics list; every bound is checked here (a bad one names its field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_type: str | None = Field(default=None, min_length=1, max_length=128)
    queue: str | None = Field(default=None, min_length=1, max_length=128)
    status: Outcome | None = None  # the attempt's outcome
    ended_after: float | None = Field(default=None, ge=0)  # epoch seconds, inclusive
    ended_before: float | None = Field(default=None, ge=0)  # epoch seconds, exclusive
    search: str | None = Field(default=None, min_length=1, max_length=200)
    measured_only: bool = False  # only attempts the node measured (has_metrics)
    execution_time_ms_gte: float | None = Field(default=None, ge=0)
    execution_time_ms_lte: float | None = Field(default=None, ge=0)
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)


class WindowQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    window_s: float = Field(default=3600.0, ge=1, le=MAX_WINDOW_S)


def matches_search(entry: Entry, needle: str) -> bool:
    """``needle`` (lower case) in the task type or one of the data's first keys."""
    if entry.task_type is not None and needle in entry.task_type.lower():
        return True
    return any(needle in key.lower() for key in entry.data_keys)


def _entry_passes(entry: Entry, query: MetricsQuery, needle: str | None) -> bool:
    if not entry.attempt_rows:
        return False
    if query.task_type is not None and entry.task_type != query.task_type:
        return False
    if query.queue is not None and entry.queue != query.queue:
        return False
    return needle is None or matches_search(entry, needle)


def _row_passes(row: AttemptRow, query: MetricsQuery) -> bool:
    return not (
        (query.status is not None and row.outcome != query.status)
        or (query.measured_only and not row.measured)
        or (query.ended_after is not None and row.ended_at < query.ended_after)
        or (query.ended_before is not None and row.ended_at >= query.ended_before)
        or (
            query.execution_time_ms_gte is not None
            and row.execution_time_ms < query.execution_time_ms_gte
        )
        or (
            query.execution_time_ms_lte is not None
            and row.execution_time_ms > query.execution_time_ms_lte
        )
    )


def metric_row(entry: Entry, row: AttemptRow) -> dict[str, Any]:
    return {
        "task_id": entry.task_id,
        "task_number": entry.number,
        "task_type": entry.task_type,
        "queue_name": entry.queue,
        "task_status": entry.status,
        "attempt": row.number,
        "node": row.node,
        "outcome": row.outcome,
        "started_at": iso(row.started_at),
        "ended_at": iso(row.ended_at),
        "metrics": row.metrics(),
    }


def list_metrics(view: TaskView, *, tenant: str, query: MetricsQuery) -> dict[str, Any]:
    """The scope's attempt metrics matching ``query``: ``count`` (all matches) and one page
    of ``results``."""
    needle = query.search.lower() if query.search is not None else None
    scope = view.tenants.get(tenant)
    entries = scope.newest_first() if scope is not None else []
    count = 0
    page: list[dict[str, Any]] = []
    end = query.offset + query.limit
    for entry in entries:
        if not _entry_passes(entry, query, needle):
            continue
        for row in reversed(entry.attempt_rows):
            if not _row_passes(row, query):
                continue
            if query.offset <= count < end:
                page.append(metric_row(entry, row))
            count += 1
    return {"count": count, "limit": query.limit, "offset": query.offset, "results": page}


def rows_since(view: TaskView, tenant: str, since: float) -> Iterator[tuple[Entry, AttemptRow]]:
    """The scope's attempts that ended at ``since`` or later."""
    scope = view.tenants.get(tenant)
    if scope is None:
        return
    for entry in scope.tasks.values():
        for row in entry.attempt_rows:
            if row.ended_at >= since:
                yield entry, row


def percentile(sorted_values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` in 0..1) of values sorted ascending."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def summarize(rows: list[AttemptRow]) -> dict[str, Any]:
    """count, success rate, time percentiles, memory and cost of some attempts."""
    times = sorted(row.execution_time_ms for row in rows)
    memory = [row.memory_usage_mb for row in rows if row.memory_usage_mb is not None]
    costs = [row.cost_usd for row in rows if row.cost_usd is not None]
    completed = sum(row.outcome == "completed" for row in rows)
    finished = sum(row.outcome in FINISHED_OUTCOMES for row in rows)
    return {
        "count": len(rows),
        "completed": completed,
        "failed": sum(row.failed for row in rows),
        "success_rate": _rounded(completed / finished if finished else None, 4),
        "execution_time_ms": {
            "p50": percentile(times, 0.50),
            "p95": percentile(times, 0.95),
            "p99": percentile(times, 0.99),
            "avg": _rounded(sum(times) / len(times) if times else None),
            "max": times[-1] if times else None,
        },
        "memory_usage_mb": {
            "avg": _rounded(sum(memory) / len(memory) if memory else None),
            "max": max(memory) if memory else None,
        },
        "cost_usd": {
            "total": _rounded(sum(costs), 10) if costs else None,
            "avg": _rounded(sum(costs) / len(costs), 10) if costs else None,
        },
        "measured": sum(row.measured for row in rows),
    }


def dashboard(view: TaskView, *, tenant: str, window_s: float, now: float) -> dict[str, Any]:
    """The scope's attempts that ended in the last ``window_s``, per (task type, queue) and
    in all; groups with the most attempts first."""
    since = now - window_s
    groups: dict[tuple[str | None, str], list[AttemptRow]] = {}
    everything: list[AttemptRow] = []
    for entry, row in rows_since(view, tenant, since):
        groups.setdefault((entry.task_type, entry.queue), []).append(row)
        everything.append(row)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), str(item[0])))
    return {
        "window_seconds": window_s,
        "from": iso(since),
        "to": iso(now),
        "totals": summarize(everything),
        "groups": [
            {"task_type": task_type, "queue_name": queue, **summarize(rows)}
            for (task_type, queue), rows in ordered
        ],
    }


def worker_row(ad: NodeAd, *, now: float, stale_s: float, run: int, failed: int) -> dict[str, Any]:
    silent_s = max(0.0, now - ad.updated_at)
    return {
        "node_id": ad.node_id,
        "host": ad.host,
        "version": ad.version,
        "queues": list(ad.queues),
        "capacity": ad.capacity,
        "in_flight": ad.in_flight,
        "load": ad.load,
        "cpu_usage": ad.cpu_usage,
        "memory_usage": ad.memory_usage,
        "started_at": iso(ad.started_at),
        "uptime_seconds": round(max(0.0, ad.updated_at - ad.started_at), 3),
        "last_seen_at": iso(ad.updated_at),
        "silent": silent_s > stale_s,
        "silent_for_seconds": round(silent_s, 3) if silent_s > stale_s else 0.0,
        "tasks_run": run,
        "tasks_failed": failed,
    }


def workers_overview(
    view: TaskView, nodes: NodeView, *, tenant: str, window_s: float, now: float
) -> dict[str, Any]:
    """Every node with an advert: live ones and those gone silent (an advert older than the
    edge's ``PRSM_NODE_STALE_SECONDS``; a node that stopped cleanly deleted its advert and
    is not listed), with the scope's attempts each ran and failed in the window (nodes are
    shared: another scope's work on them is not counted)."""
    run: dict[str, int] = {}
    failed: dict[str, int] = {}
    for _, row in rows_since(view, tenant, now - window_s):
        run[row.node] = run.get(row.node, 0) + 1
        failed[row.node] = failed.get(row.node, 0) + row.failed
    workers = [
        worker_row(
            ad,
            now=now,
            stale_s=nodes.stale_s,
            run=run.get(ad.node_id, 0),
            failed=failed.get(ad.node_id, 0),
        )
        for ad in sorted(nodes.ads.values(), key=lambda ad: ad.node_id)
    ]
    live = [worker for worker in workers if not worker["silent"]]
    return {
        "window_seconds": window_s,
        "total_nodes": len(workers),
        "live_nodes": len(live),
        "silent_nodes": [worker["node_id"] for worker in workers if worker["silent"]],
        "total_capacity": sum(worker["capacity"] for worker in live),
        "total_in_flight": sum(worker["in_flight"] for worker in live),
        "workers": workers,
    }
