"""``GET /tasks/queue-stats/``: every queue the brand has tasks in, from the edge's TaskView
(the brand's counts per hub status, the age of its oldest pending task) and the node
adverts (the live nodes serving the queue). Nothing is read from the bucket."""

from __future__ import annotations

import time
from typing import Any

from prsm_tasks.services.core import Services
from prsm_tasks.services.hub.brands import BrandScope
from prsm_tasks.services.hub.tasks import HUB_STATUS
from prsm_tasks.services.view import PENDING, Scope

COUNTED = ("pending", "running", "completed", "failed", "timeout", "cancelled")


def queue_counts(scope: Scope) -> dict[str, int]:
    counts = dict.fromkeys(COUNTED, 0)
    for status, number in scope.counts.items():
        hub = HUB_STATUS.get(status)
        if hub is not None:
            counts[hub] += number
    return counts


def oldest_pending_age_s(scope: Scope, now: float) -> float | None:
    if not any(scope.counts.get(status, 0) for status in PENDING):
        return None
    oldest = min(entry.enqueued_at for entry in scope.tasks.values() if entry.is_pending)
    return round(max(0.0, now - oldest), 3)


def queue_stats(services: Services, brand: BrandScope) -> dict[str, Any]:
    now = time.time()
    tenant = brand.principal.tenant
    queues: list[dict[str, Any]] = []
    totals = dict.fromkeys(COUNTED, 0)
    mine = [
        (queue, scope)
        for (owner, queue), scope in services.view.tenant_queues.items()
        if owner == tenant and scope.tasks
    ]
    for queue, scope in sorted(mine, key=lambda item: item[0]):
        counts = queue_counts(scope)
        for name, number in counts.items():
            totals[name] += number
        queues.append(
            {
                "queue": queue,
                **counts,
                "total": len(scope.tasks),
                "oldest_pending_age_seconds": oldest_pending_age_s(scope, now),
                "workers": len(services.nodes.serving(queue)),
            }
        )
    return {
        "brand": {"id": brand.brand, "name": None},
        "queues": queues,
        "totals": {**totals, "total": sum(totals.values())},
    }
