"""Figures the edge computes from its TaskView and the node adverts: waits, stats, health.

Every figure comes from data (records seen, adverts, the machine); where nothing is known
yet the answer is null, never a constant.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psutil
import structlog

from prsm_tasks.errors import ServiceUnavailableError
from prsm_tasks.messages import NodeAd
from prsm_tasks.services.mirrors import NodeView
from prsm_tasks.services.timestamps import iso
from prsm_tasks.services.view import Entry, TaskView
from prsm_tasks.store.reads import jetstream_usage

if TYPE_CHECKING:
    from prsm_tasks.services.access import Principal
    from prsm_tasks.services.core import Services

log = structlog.get_logger("prsm.services.health")

BAND_NAMES = ("critical", "high", "normal", "low")  # the order of TaskView lanes
DAY_S = 86_400
STORAGE_SAMPLE_S = 10.0  # JetStream's usage is read this often, in the background
STORAGE_STALE_S = 3 * STORAGE_SAMPLE_S + 10.0  # an older sample is not shown
BACKLOG_DEGRADED_PER_SLOT = 10  # queued tasks per slot beyond which a queue is degraded


def utc_midnight(now: float) -> float:
    return now - now % DAY_S


def mean(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) / len(known) if known else None


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def wait_estimate_s(view: TaskView, nodes: NodeView, queue: str, position: int) -> float | None:
    """Seconds until a task at ``position`` starts: free slots first, then recent run times
    spread over the capacity of the live nodes serving the queue."""
    serving = nodes.serving(queue)
    free = sum(ad.free_slots for ad in serving)
    if serving and position <= free:
        return 0.0
    capacity = sum(ad.capacity for ad in serving)
    average_s = view.average_execution_s(queue)
    if capacity > 0 and average_s is not None:
        return round((position - free) / capacity * average_s, 3)
    return rounded(view.average_wait_s(queue), 3)


def until_due_s(status: str, scheduled_for: float | None, now: float) -> float | None:
    """A delayed task is not in line yet (no position): its wait is the time until it is
    due; what it then waits in its queue is not known before it joins it."""
    if status != "scheduled" or scheduled_for is None:
        return None
    return round(max(0.0, scheduled_for - now), 3)


def estimated_completion(
    view: TaskView, nodes: NodeView, record: dict[str, Any], now: float
) -> float | None:
    status = record["status"]
    if status in ("completed", "failed", "cancelled", "timeout"):
        return record.get("completed_at")
    average_s = view.average_execution_s(record["queue_name"])
    if status == "processing":
        started = record.get("started_at")
        if started is None or average_s is None:
            return None
        return max(now, started + average_s)
    due_s = until_due_s(status, record.get("scheduled_for"), now)
    if due_s is not None:
        return None if average_s is None else now + due_s + average_s
    position = view.position(record["task_id"])
    if position is None or average_s is None:
        return None
    wait_s = wait_estimate_s(view, nodes, record["queue_name"], position)
    return None if wait_s is None else now + wait_s + average_s


def health_score(*, workers: list[NodeAd], pending: int, success_rate: float | None) -> float:
    """0..1: served at all x finishing well x keeping up with its backlog."""
    if not workers:
        return 0.0 if pending else 0.5
    capacity = sum(ad.capacity for ad in workers)
    backlog = 1.0 / (1.0 + pending / (capacity * BACKLOG_DEGRADED_PER_SLOT))
    reliability = 1.0 if success_rate is None else success_rate
    return round((0.5 + 0.5 * reliability) * (0.5 + 0.5 * backlog), 4)


def queue_stats(
    view: TaskView, nodes: NodeView, *, tenant: str, queue: str, now: float
) -> dict[str, Any]:
    """The tenant's tasks in one queue (no task-level data of anyone else)."""
    entries: list[Entry] = list(view.tenant_queue(tenant, queue))
    midnight, hour_ago = utc_midnight(now), now - 3600
    counts: dict[str, int] = {}
    bands = [0, 0, 0, 0]
    completed_today = failed_today = last_hour = retried = 0
    for entry in entries:
        counts[entry.status] = counts.get(entry.status, 0) + 1
        if entry.is_pending:
            bands[entry.band_index] += 1
        done_at = entry.completed_at or 0.0
        if entry.status == "completed":
            completed_today += done_at >= midnight
            last_hour += done_at >= hour_ago
        elif entry.status in ("failed", "timeout"):
            failed_today += done_at >= midnight
        if entry.status in ("completed", "failed", "timeout") and entry.retry_count > 0:
            retried += 1
    finished = sum(counts.get(s, 0) for s in ("completed", "failed", "timeout"))
    workers = nodes.serving(queue, now)
    pending = sum(bands)
    success_rate = counts.get("completed", 0) / finished if finished else None
    return {
        "success": True,
        "queue_name": queue,
        "statistics": {
            "total_tasks": len(entries),
            "pending_tasks": pending,
            "processing_tasks": counts.get("processing", 0),
            "completed_tasks_today": completed_today,
            "failed_tasks_today": failed_today,
            "average_processing_time_seconds": rounded(
                mean(e.execution_time_seconds for e in entries if e.status == "completed")
            ),
            "average_wait_time_seconds": rounded(mean(e.wait_time_seconds for e in entries)),
            "throughput_tasks_per_hour": last_hour,
            "worker_nodes_active": len(workers),
            "queue_health_score": health_score(
                workers=workers, pending=pending, success_rate=success_rate
            ),
        },
        "priority_distribution": dict(zip(BAND_NAMES, bands, strict=True)),
        "performance_metrics": {
            "success_rate": rounded(success_rate),
            "retry_rate": rounded(retried / finished if finished else None),
            "timeout_rate": rounded(counts.get("timeout", 0) / finished if finished else None),
            "avg_cpu_usage": rounded(mean(ad.cpu_usage for ad in workers)),
            "avg_memory_usage": rounded(mean(ad.memory_usage for ad in workers)),
        },
    }


@dataclass
class HostSampler:
    """Network throughput of the edge's host, from the change of its interface counters."""

    last_bytes: int = 0
    last_at: float = 0.0
    mbps: float | None = None

    def network_mbps(self) -> float | None:
        counters = psutil.net_io_counters()
        now = time.monotonic()
        total = counters.bytes_sent + counters.bytes_recv
        if self.last_at and now - self.last_at >= 0.5:
            self.mbps = round((total - self.last_bytes) * 8 / (now - self.last_at) / 1e6, 3)
        if not self.last_at or now - self.last_at >= 0.5:
            self.last_bytes, self.last_at = total, now
        return self.mbps


def queue_health(
    view: TaskView, nodes: NodeView, queues: set[str], now: float
) -> tuple[dict[str, int], int]:
    """(healthy/degraded/unhealthy counts, queues that are unhealthy)."""
    healthy = degraded = unhealthy = 0
    for queue in queues:
        serving = nodes.serving(queue, now)
        depth = sum(view.queued_by_band(queue))
        capacity = sum(ad.capacity for ad in serving)
        if not serving:
            if depth:
                unhealthy += 1
            else:
                degraded += 1
        elif depth > capacity * BACKLOG_DEGRADED_PER_SLOT:
            degraded += 1
        else:
            healthy += 1
    counts = {
        "healthy_queues": healthy,
        "degraded_queues": degraded,
        "unhealthy_queues": unhealthy,
    }
    return counts, unhealthy


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The edge's health from what it already knows; ``reasons`` are for operators (logs,
    an admin's /health), never for the public answer."""

    status: str  # healthy, degraded, unhealthy
    reasons: tuple[str, ...]


def verdict(*, nats: str, live_nodes: int, unhealthy_queues: int, caught_up: bool) -> Verdict:
    reasons: list[str] = []
    if nats == "disconnected":
        reasons.append("NATS is not connected; the client is reconnecting")
    elif nats == "not_answering":
        reasons.append("NATS has answered nothing, not even a ping, for a while")
    if not caught_up:
        reasons.append("the edge's views of the buckets are not caught up")
    if not live_nodes:
        reasons.append("no live node")
    if unhealthy_queues:
        reasons.append(f"{unhealthy_queues} queue(s) hold tasks that no live node serves")
    if nats != "connected":
        return Verdict(status="unhealthy", reasons=tuple(reasons))
    return Verdict(status="degraded" if reasons else "healthy", reasons=tuple(reasons))


def health(
    view: TaskView,
    nodes: NodeView,
    host: HostSampler,
    *,
    queues: set[str],
    nats: str,
    caught_up: bool,
    storage_used: int | None,
    storage_limit: int | None,
    now: float,
) -> tuple[dict[str, Any], Verdict]:
    """The seed's health body (system-wide figures only) and the verdict behind its status."""
    live = nodes.live(now)
    all_queues = queues | nodes.served_queues(now) | view.queues()
    today = view.finished_today(now)
    processed = today["completed"] + today["failed"] + today["timeout"]
    queue_counts, unhealthy_queues = queue_health(view, nodes, all_queues, now)
    found = verdict(
        nats=nats, live_nodes=len(live), unhealthy_queues=unhealthy_queues, caught_up=caught_up
    )
    body = {
        "status": found.status,
        "timestamp": iso(now),
        "system_metrics": {
            "total_queues": len(all_queues),
            "active_workers": len(live),
            "total_tasks_processed_today": processed,
            "current_queue_depth": sum(sum(view.queued_by_band(q)) for q in view.queued),
            "average_processing_time_seconds": rounded(view.average_execution_s(None)),
            "system_throughput_tasks_per_minute": float(view.finished_since(now - 60)),
            "error_rate": rounded(
                (today["failed"] + today["timeout"]) / processed if processed else None
            ),
        },
        "resource_utilization": {
            "cpu_usage": rounded(mean(ad.cpu_usage for ad in live)),
            "memory_usage": rounded(mean(ad.memory_usage for ad in live)),
            "network_throughput_mbps": host.network_mbps(),
            "storage_usage": rounded(
                storage_used / storage_limit if storage_used is not None and storage_limit else None
            ),
        },
        "queue_health": queue_counts,
    }
    return body, found


def stats_of_queue(services: Services, principal: Principal, queue: str) -> dict[str, Any]:
    """The caller's tenant's tasks in ``queue`` (a checked name): a queue with none of them
    must take tasks (configured or served), else it is an unknown queue."""
    has_tasks = (principal.tenant, queue) in services.view.tenant_queues
    if not has_tasks and queue not in services.rules.disabled_queues:
        services.check_queue(queue)
    return queue_stats(
        services.view, services.nodes, tenant=principal.tenant, queue=queue, now=time.time()
    )


def nats_state(services: Services) -> str:
    """connected, not_answering (connected, yet a ping waits unanswered for half the stall
    limit: the watchdog is about to reconnect) or disconnected; no round trip."""
    liveness = services.stores.liveness
    if not liveness.connected:
        return "disconnected"
    if not liveness.answering:
        return "not_answering"
    return "connected"


def health_of(services: Services) -> tuple[dict[str, Any], Verdict]:
    """The health report from what the edge holds (connection state, views, adverts, the
    last storage sample): a probe costs no NATS round trip, so it answers during a stall."""
    now = time.time()
    read_at, used, limit = services.storage
    if now - read_at > STORAGE_STALE_S:
        used = limit = None  # too old to tell
    rules = services.rules
    body, found = health(
        services.view,
        services.nodes,
        services.host,
        queues=set(rules.queues) - rules.disabled_queues,
        nats=nats_state(services),
        caught_up=services.caught_up,
        storage_used=used,
        storage_limit=limit,
        now=now,
    )
    if found.status != services.health_status:
        logged = log.info if found.status == "healthy" else log.warning
        logged("edge_health_changed", status=found.status, reasons=list(found.reasons))
        services.health_status = found.status
    return body, found


def health_checks(services: Services, found: Verdict) -> dict[str, Any]:
    """What an admin's /health adds: why the status is what it is, and the connection's
    state. System facts only: no tenant's figures, no names of streams or subjects."""
    liveness = services.stores.liveness
    return {
        "nats": nats_state(services),
        "nats_silent_seconds": round(liveness.silent_s, 3),
        "nats_forced_reconnects": liveness.forced_reconnects,
        "views_caught_up": services.caught_up,
        "reasons": list(found.reasons),
    }


async def sample_storage(services: Services) -> None:
    """Read JetStream's usage every STORAGE_SAMPLE_S for /health, off the request path."""
    while True:
        try:
            used, limit = await jetstream_usage(services.stores.js)
            services.storage = (time.time(), used, limit)
        except ServiceUnavailableError as exc:
            log.debug("storage_sample_failed", error=str(exc))
        await asyncio.sleep(STORAGE_SAMPLE_S)
