"""The dashboard's read-only pages: overview, tasks, one task, nodes, types. Each calls the
services with the signed-in Principal, exactly as the API's routes do."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from prsm_tasks.edge.http.state import STATE
from prsm_tasks.edge.surfaces.ui.respond import html
from prsm_tasks.edge.surfaces.ui.session import Session
from prsm_tasks.edge.surfaces.ui.state import UI
from prsm_tasks.errors import ValidationError
from prsm_tasks.messages import NodeAd, TaskEvent
from prsm_tasks.services import dashboard, logs, tasks
from prsm_tasks.services.access import Principal
from prsm_tasks.services.event_hub import task_filter
from prsm_tasks.services.listing import PUBLIC_STATUSES
from prsm_tasks.services.types import served_by
from prsm_tasks.services.view import FINAL, public_status

PAGE_ROWS = 50
MAX_FILTER_CHARS = 128
MAX_EVENTS_SHOWN = 500
MAX_LOG_LINES_SHOWN = 500
MAX_DATA_CHARS = 100_000  # of task data or a result shown on the page


def common(principal: Principal, session: Session, page: str | None) -> dict[str, Any]:
    return {"principal": principal, "csrf": session.csrf, "page": page, "flash": None}


@dataclass(frozen=True)
class NodeRow:
    ad: NodeAd
    silent: bool  # its advert is older than the services' stale limit


def node_rows(request: web.Request) -> list[NodeRow]:
    nodes = request.app[STATE].services.nodes
    cutoff = time.time() - nodes.stale_s
    return [
        NodeRow(ad=ad, silent=ad.updated_at < cutoff)
        for ad in sorted(nodes.ads.values(), key=lambda ad: ad.node_id)
    ]


async def overview(request: web.Request, principal: Principal, session: Session) -> web.Response:
    services = request.app[STATE].services
    return html(
        request,
        "overview.html",
        queues=dashboard.queue_figures(services, principal),
        nodes=node_rows(request),
        alerts=[],  # the hub's alerts plug in here when that data exists
        **common(principal, session, "overview"),
    )


async def nodes_page(request: web.Request, principal: Principal, session: Session) -> web.Response:
    return html(
        request, "nodes.html", nodes=node_rows(request), **common(principal, session, "nodes")
    )


async def types_page(request: web.Request, principal: Principal, session: Session) -> web.Response:
    services = request.app[STATE].services
    rows = [
        {
            "name": record.name,
            "queue": record.queue,
            "nodes": len(served_by(services, record)),
            "schema": json.dumps(record.parameters_schema, indent=2)[:MAX_DATA_CHARS],
        }
        for record, _ in services.types.visible(principal.tenant)
    ]
    return html(request, "types.html", types=rows, **common(principal, session, "types"))


# --- tasks ----------------------------------------------------------------------------------


def bounded(request: web.Request, name: str, limit: int = MAX_FILTER_CHARS) -> str | None:
    value = request.query.get(name, "").strip()
    if len(value) > limit:
        raise ValidationError(f"{name} is longer than {limit} characters", field=name)
    return value or None


def parse_filter(request: web.Request) -> dashboard.TaskFilter:
    status = bounded(request, "status")
    if status is not None and status not in PUBLIC_STATUSES:
        raise ValidationError(f"status must be one of {', '.join(PUBLIC_STATUSES)}", field="status")
    return dashboard.TaskFilter(
        queue=bounded(request, "queue"),
        status=status,
        task_type=bounded(request, "type"),
        text=bounded(request, "q", dashboard.MAX_TEXT_CHARS),
    )


def parse_cursor(raw: str | None) -> dashboard.Cursor | None:
    """``<created_at>_<task_id>``, as the Older link writes it."""
    if not raw:
        return None
    stamp, _, task_id = raw.partition("_")
    try:
        created_at = float(stamp)
    except ValueError:
        created_at = -1.0
    if created_at < 0 or not task_id or len(task_id) > MAX_FILTER_CHARS:
        raise ValidationError("after is not a cursor of this page", field="after")
    return created_at, task_id


def filter_query(selected: dashboard.TaskFilter) -> dict[str, str]:
    given = {
        "queue": selected.queue,
        "status": selected.status,
        "type": selected.task_type,
        "q": selected.text,
    }
    return {name: value for name, value in given.items() if value}


async def tasks_page(request: web.Request, principal: Principal, session: Session) -> web.Response:
    services = request.app[STATE].services
    selected = parse_filter(request)
    after = bounded(request, "after", 2 * MAX_FILTER_CHARS)
    found = dashboard.task_page(
        services, principal, selected, after=parse_cursor(after), limit=PAGE_ROWS
    )
    query = filter_query(selected)
    next_url = None
    if found.next_cursor is not None:
        stamp, task_id = found.next_cursor
        next_url = "/ui/tasks?" + urlencode({**query, "after": f"{stamp!r}_{task_id}"})
    rows = [
        {
            **{
                slot: getattr(e, slot)
                for slot in ("task_id", "queue", "task_type", "created_at", "retry_count")
            },
            "public_status": public_status(e.status),
        }
        for e in found.entries
    ]
    ids = ",".join(row["task_id"] for row in rows)
    return html(
        request,
        "tasks.html",
        tasks=rows,
        filters=selected,
        statuses=PUBLIC_STATUSES,
        queue_names=sorted({e.queue for e in found.entries}),
        after=after,
        first_url="/ui/tasks?" + urlencode(query),
        next_url=next_url,
        scanned=found.scanned,
        stream_url="/ui/stream?" + urlencode({"ids": ids}),
        **common(principal, session, "tasks"),
    )


async def task_events(request: web.Request, task_id: str, queue: str) -> list[TaskEvent]:
    hub = request.app[UI].hub
    found: list[TaskEvent] = []
    replay = hub.replay(task_filter(task_id, queue), after_seq=0, limit=MAX_EVENTS_SHOWN)
    async with contextlib.aclosing(replay) as events:
        async for event in events:
            if event.event_type != "task_log":
                found.append(event)
    return found


def shown(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)[:MAX_DATA_CHARS]


async def task_page(request: web.Request, principal: Principal, session: Session) -> web.Response:
    services = request.app[STATE].services
    task_id = request.match_info["task_id"]
    record = await tasks.read_own(services, principal, task_id)
    queue = record["queue_name"]
    attempts = []
    for attempt in record.get("attempts", []):
        lines = await logs.attempt_log_lines(
            services, task_id, queue, attempt=attempt["number"], limit=MAX_LOG_LINES_SHOWN
        )
        attempts.append({**attempt, "lines": lines})
    record.setdefault("depends_on", [])
    error = record.get("error")
    return html(
        request,
        "task.html",
        task={**record, "error": error},
        status=public_status(record["status"]),
        final=record["status"] in FINAL,
        attempts=attempts,
        events=await task_events(request, task_id, queue),
        task_data=shown(record.get("task_data")),
        result=shown(record["result"]) if record.get("result") is not None else None,
        now=time.time(),
        stream_url="/ui/stream?" + urlencode({"ids": task_id}),
        **common(principal, session, "tasks"),
    )
