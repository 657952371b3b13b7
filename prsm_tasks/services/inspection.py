"""What `prsm-tasks queues | nodes | tasks` show: rows computed from a TaskView and a
NodeView, the same whether the mirrors are an edge's or the CLI's own.

An edge answers them from the mirrors it keeps anyway (scoped to the caller's tenant); the
CLI on NATS opens its own mirrors (``open_mirrors``) for one answer and closes them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from prsm_tasks import wire
from prsm_tasks.services.listing import STATUS_FILTERS
from prsm_tasks.services.mirrors import NodeView
from prsm_tasks.services.stats import BAND_NAMES
from prsm_tasks.services.timestamps import iso
from prsm_tasks.services.view import Entry, TaskView, public_status
from prsm_tasks.store.opener import Stores
from prsm_tasks.store.watch import BucketWatch

HOUR_S = 3600.0
MAX_ROWS = 500  # queues or nodes in one answer: a terminal table, not an export
MAX_TASK_ROWS = 1000  # `prsm-tasks tasks --limit` at most


def _queue_row(queue: str, entries: Iterable[Entry], nodes: NodeView, now: float) -> dict[str, Any]:
    bands = [0, 0, 0, 0]
    running = completed = failed = 0
    oldest: float | None = None
    for entry in entries:
        if entry.is_pending:
            bands[entry.band_index] += 1
            if entry.is_queued and (oldest is None or entry.enqueued_at < oldest):
                oldest = entry.enqueued_at
        elif entry.status == "processing":
            running += 1
        elif (entry.completed_at or 0.0) >= now - HOUR_S:
            completed += entry.status == "completed"
            failed += entry.status in ("failed", "timeout")
    serving = nodes.serving(queue, now)
    return {
        "queue_name": queue,
        "depth": sum(bands),
        "depth_by_band": dict(zip(BAND_NAMES, bands, strict=True)),
        "running": running,
        "completed_last_hour": completed,
        "failed_last_hour": failed,
        "oldest_waiting_seconds": None if oldest is None else round(max(0.0, now - oldest), 3),
        "nodes_serving": len(serving),
        "free_slots": sum(ad.free_slots for ad in serving),
    }


def queue_rows(
    view: TaskView,
    nodes: NodeView,
    *,
    tenant: str | None,
    queue: str | None = None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """One row per queue with tasks (of ``tenant``; None: of every tenant) or a live node,
    by name (only ``queue`` if given). Throughput: tasks that finished in the last hour."""
    now = time.time() if now is None else now
    by_queue: dict[str, list[Entry]] = {
        served: [] for served in nodes.served_queues(now) if queue in (None, served)
    }
    for (owner_tenant, name), scope in view.tenant_queues.items():
        if tenant in (None, owner_tenant) and queue in (None, name):
            by_queue.setdefault(name, []).extend(scope.tasks.values())
    names = sorted(by_queue)[:MAX_ROWS]
    return [_queue_row(name, by_queue[name], nodes, now) for name in names]


def node_rows(nodes: NodeView, now: float | None = None) -> list[dict[str, Any]]:
    """Every advert still in the bucket, by node id; one older than the view's ``stale_s``
    is flagged ``silent`` (the bucket's TTL removes it later)."""
    now = time.time() if now is None else now
    rows = []
    for ad in sorted(nodes.ads.values(), key=lambda ad: ad.node_id)[:MAX_ROWS]:
        rows.append(
            {
                "node_id": ad.node_id,
                "capacity": ad.capacity,
                "in_flight": ad.in_flight,
                "load": round(ad.load, 4),
                "cpu_usage": ad.cpu_usage,
                "memory_usage": ad.memory_usage,
                "queues": ad.queues[:50],
                "version": ad.version,
                "host": ad.host,
                "last_seen": iso(ad.updated_at),
                "last_seen_seconds_ago": round(max(0.0, now - ad.updated_at), 3),
                "silent": now - ad.updated_at > nodes.stale_s,
            }
        )
    return rows


def task_row(entry: Entry) -> dict[str, Any]:
    """The task list's item (GET /tasks) with the task type."""
    execution_s = entry.execution_time_seconds
    return {
        "task_id": entry.task_id,
        "queue_name": entry.queue,
        "status": public_status(entry.status),
        "priority": entry.priority,
        "task_type": entry.task_type,
        "created_at": iso(entry.created_at),
        "completed_at": iso(entry.completed_at),
        "execution_time_seconds": round(execution_s, 6) if execution_s is not None else None,
        "retry_count": entry.retry_count,
    }


def task_rows(
    view: TaskView, *, queue: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """The newest ``limit`` tasks of every tenant (the operator's view), filtered; ``status``
    is a public status (``listing.PUBLIC_STATUSES``)."""
    statuses = STATUS_FILTERS[status] if status else None
    matching = [
        entry
        for entry in view.entries.values()
        if (queue is None or entry.queue == queue)
        and (statuses is None or entry.status in statuses)
    ]
    matching.sort(key=lambda entry: (entry.created_at, entry.task_id), reverse=True)
    return [task_row(entry) for entry in matching[: max(1, min(limit, MAX_TASK_ROWS))]]


@dataclass
class Mirrors:
    view: TaskView
    nodes: NodeView


@contextlib.asynccontextmanager
async def open_mirrors(
    stores: Stores, *, node_stale_s: float, tasks: bool = True
) -> AsyncIterator[Mirrors]:
    """The task buckets (unless ``tasks`` is False) and the node adverts, caught up."""
    mirrors = Mirrors(
        view=TaskView(partitions=stores.tasks.partitions), nodes=NodeView(stale_s=node_stale_s)
    )
    sources = [(wire.NODES_BUCKET, mirrors.nodes.on_entry)]
    if tasks:
        sources += [
            (wire.tasks_bucket(p), mirrors.view.on_entry) for p in range(stores.tasks.partitions)
        ]
    watches: list[BucketWatch] = []
    try:
        for bucket, sink in sources:
            watch = BucketWatch(stores.js, bucket, sink)
            watches.append(watch)
            await watch.start()
        yield mirrors
    finally:
        for watch in watches:
            await watch.stop()
