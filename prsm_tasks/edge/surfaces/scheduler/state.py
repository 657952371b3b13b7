"""What the scheduler surface opens for the edge's lifetime: the schedules' service, shared
with the hub's scheduling app (edge/http/schedules.py)."""

from __future__ import annotations

from prsm_tasks.edge.http.schedules import SCHEDULES, open_scheduler

__all__ = ["SCHEDULES", "open_scheduler"]
