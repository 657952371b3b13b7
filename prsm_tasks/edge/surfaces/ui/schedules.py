"""The schedules page and its actions (pause, resume, trigger), through the schedules'
services with the signed-in Principal, as the scheduler API's routes call them."""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from prsm_tasks.edge.http.state import STATE
from prsm_tasks.edge.surfaces.ui.pages import common
from prsm_tasks.edge.surfaces.ui.respond import html, see_other
from prsm_tasks.edge.surfaces.ui.session import Session
from prsm_tasks.edge.surfaces.ui.state import UI
from prsm_tasks.schedules.record import ScheduleRecord
from prsm_tasks.services.access import Principal
from prsm_tasks.services.schedules import changes, runs
from prsm_tasks.services.schedules.core import check_schedule_id
from prsm_tasks.services.view import public_status

MAX_SCHEDULES_SHOWN = 200
RECENT_RUNS_SHOWN = 5


def in_zone(stamp: float | None, zone: str) -> str:
    """A due time in the schedule's own zone (the one its rule is written in)."""
    if stamp is None:
        return "—"
    try:
        moment = datetime.datetime.fromtimestamp(stamp, tz=ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def schedule_row(request: web.Request, record: ScheduleRecord) -> dict[str, Any]:
    view = request.app[STATE].services.view
    recent = []
    for run in reversed(record.recent_runs[-RECENT_RUNS_SHOWN:]):
        entry = view.entries.get(run.task_id)
        status = public_status(entry.status) if entry is not None else "unknown"
        recent.append(
            {"task_id": run.task_id, "due_at": run.due_at, "status": status, "trigger": run.trigger}
        )
    return {
        "id": record.schedule_id,
        "name": record.task_name,
        "rule": f"{record.kind} {record.expression or ''}".strip(),
        "zone": record.timezone,
        "status": record.status,
        "next_due_at": record.next_due_at,
        "next_in_zone": in_zone(record.next_due_at, record.timezone),
        "last_due_at": record.last_due_at,
        "recent": recent,
    }


async def schedules_page(
    request: web.Request, principal: Principal, session: Session
) -> web.Response:
    service = request.app[UI].schedules
    records = sorted(
        service.visible(principal), key=lambda r: (r.created_at, r.schedule_id), reverse=True
    )
    return html(
        request,
        "schedules.html",
        schedules=[schedule_row(request, r) for r in records[:MAX_SCHEDULES_SHOWN]],
        hidden=max(0, len(records) - MAX_SCHEDULES_SHOWN),
        **common(principal, session, "schedules"),
    )


async def pause(request: web.Request, principal: Principal, session: Session) -> web.Response:
    return await set_paused(request, principal, paused=True)


async def resume(request: web.Request, principal: Principal, session: Session) -> web.Response:
    return await set_paused(request, principal, paused=False)


async def set_paused(request: web.Request, principal: Principal, *, paused: bool) -> web.Response:
    schedule_id = check_schedule_id(request.match_info["schedule_id"])
    await changes.set_paused(request.app[UI].schedules, principal, schedule_id, paused=paused)
    return see_other("/ui/schedules")


async def trigger(request: web.Request, principal: Principal, session: Session) -> web.Response:
    schedule_id = check_schedule_id(request.match_info["schedule_id"])
    task_id, _ = await runs.trigger(request.app[UI].schedules, principal, schedule_id)
    return see_other(f"/ui/tasks/{task_id}")
