"""``/api/v1/status`` and ``/api/v1/workers``: from the node adverts (PRSM_NODES), the task
index and the schedule index; nothing is read from NATS per request.

There is no scheduler process and so no leader: each enabled schedule keeps one pending
timer message for its next due time, and whichever live peer node takes the fire converts
it into the run (the task id derived from schedule id + due time makes a second conversion
a no-op) and re-arms by compare-and-set on the schedule's record.
"""

from __future__ import annotations

import time
from typing import Any

from prsm_tasks.messages import NodeAd
from prsm_tasks.models import BANDS_HIGH_TO_LOW
from prsm_tasks.services.access import Principal
from prsm_tasks.services.schedules.core import ScheduleService
from prsm_tasks.services.schedules.routing import route_of_record
from prsm_tasks.services.timestamps import iso
from prsm_tasks.services.view import PENDING

FIRING = (
    "leaderless: each enabled schedule holds one server-side timer message for its next due "
    "time; any live peer node converts a fire into the run (task id from schedule id + due "
    "time, so a second conversion is a no-op) and re-arms by compare-and-set"
)
BAND_KEYS = {"critical": "critical_priority", "high": "high_priority"}
BAND_KEYS |= {"normal": "medium_priority", "low": "low_priority"}
MAX_UNSERVED_LISTED = 100


def worker_item(ad: NodeAd, *, live: bool, now: float) -> dict[str, Any]:
    return {
        "worker_id": ad.node_id,
        "status": "active" if live else "inactive",
        "capacity": ad.capacity,
        "current_load": ad.in_flight,
        "last_heartbeat": iso(ad.updated_at),
        "uptime_seconds": max(0, int(now - ad.started_at)),
        "queues": sorted(ad.queues),
    }


def workers(schedules: ScheduleService) -> list[dict[str, Any]]:
    nodes = schedules.services.nodes
    now = time.time()
    live = {ad.node_id for ad in nodes.live(now)}
    ads = sorted(nodes.ads.values(), key=lambda ad: ad.node_id)
    return [worker_item(ad, live=ad.node_id in live, now=now) for ad in ads]


def unserved(schedules: ScheduleService, principal: Principal) -> list[dict[str, Any]]:
    """The caller's enabled schedules whose queue no live node serves (workers may join)."""
    served = schedules.services.nodes.served_queues()
    found: list[dict[str, Any]] = []
    for record in schedules.visible(principal):
        if record.status != "scheduled":
            continue
        route = route_of_record(schedules.services.types, record)
        queue = route.queue if route is not None else None
        if queue is None or queue not in served:
            found.append(
                {"task_id": record.schedule_id, "task_name": record.task_name, "queue_name": queue}
            )
            if len(found) >= MAX_UNSERVED_LISTED:
                break
    return found


def status(schedules: ScheduleService, principal: Principal) -> dict[str, Any]:
    services = schedules.services
    listed = workers(schedules)
    active = [worker for worker in listed if worker["status"] == "active"]
    visible = schedules.visible(principal)
    scope = services.view.visible(principal.tenant, principal.user, admin=principal.is_admin)
    by_band = dict.fromkeys(BAND_KEYS.values(), 0)
    for entry in scope.tasks.values():
        if entry.is_pending:
            by_band[BAND_KEYS[BANDS_HIGH_TO_LOW[entry.band_index]]] += 1
    return {
        "status": "healthy" if services.stores.liveness.answering and active else "degraded",
        "scheduler": {
            "leader": None,
            "followers": [],
            "mode": "leaderless",
            "firing": FIRING,
            "converting_nodes": [worker["worker_id"] for worker in active],
            "tasks_scheduled": sum(1 for record in visible if record.status == "scheduled"),
            "tasks_paused": sum(1 for record in visible if record.status == "paused"),
            "tasks_pending": sum(count for name, count in scope.counts.items() if name in PENDING),
        },
        "workers": {
            "total": len(listed),
            "active": len(active),
            "inactive": len(listed) - len(active),
            "total_capacity": sum(worker["capacity"] for worker in active),
            "current_load": sum(worker["current_load"] for worker in active),
        },
        "queue": by_band,
        "unserved_tasks": unserved(schedules, principal),
    }
