"""``GET /ui/stream?ids=…``: the live fragments of the rows a page shows, as SSE.

htmx's SSE extension swaps each ``t-<task id>`` event into the element that names it. Only
ids of tasks the signed-in caller may see (their scope in the TaskView) are watched; any
other id of the query is dropped without a word, like a task that does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from prsm_tasks.edge.http.state import STATE
from prsm_tasks.edge.surfaces.ui.live import MAX_WATCHED_PER_VIEWER
from prsm_tasks.edge.surfaces.ui.session import Session
from prsm_tasks.edge.surfaces.ui.state import UI
from prsm_tasks.errors import ValidationError
from prsm_tasks.services import dashboard
from prsm_tasks.services.access import Principal

HEARTBEAT_S = 15.0
MAX_IDS_CHARS = MAX_WATCHED_PER_VIEWER * 40


def sse_fragment(task_id: str, fragment: str) -> bytes:
    # one data: line per line of the fragment: a bare newline would end the event
    lines = "".join(f"data: {line}\n" for line in fragment.splitlines() or [""])
    return f"event: t-{task_id}\n{lines}\n".encode()


def watched_ids(request: web.Request, principal: Principal) -> frozenset[str]:
    raw = request.query.get("ids", "")
    if len(raw) > MAX_IDS_CHARS:
        raise ValidationError(f"ids is longer than {MAX_IDS_CHARS} characters", field="ids")
    scope = dashboard.scope_of(request.app[STATE].services, principal)
    return frozenset(
        task_id for task_id in raw.split(",")[:MAX_WATCHED_PER_VIEWER] if task_id in scope.tasks
    )


async def write(response: web.StreamResponse, data: bytes) -> bool:
    try:
        await response.write(data)
    except (ConnectionResetError, RuntimeError, OSError):
        return False  # the page went away
    return True


async def stream(
    request: web.Request, principal: Principal, session: Session
) -> web.StreamResponse:
    ids = watched_ids(request, principal)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    if not await write(response, b"retry: 3000\n\n"):
        return response
    async with request.app[UI].live.watch(ids) as viewer:
        while not viewer.closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_S):
                    await viewer.wake.wait()
            if viewer.closed:
                break
            taken = viewer.take()
            data = b"".join(sse_fragment(tid, frag) for tid, frag in taken.items())
            if not await write(response, data or b": keep-alive\n\n"):
                break
    return response
