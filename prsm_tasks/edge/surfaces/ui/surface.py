"""The dashboard surface: its pages at ``/ui/``, mounted by every edge.

Its routes are pages, not API operations, so they stay out of the OpenAPI document: the
surface adds them to the router itself (``Surface.pages``).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Awaitable, Callable

from aiohttp import web

from prsm_tasks.edge.http.surface import Surface
from prsm_tasks.edge.surfaces.ui import actions, pages, schedules, stream
from prsm_tasks.edge.surfaces.ui.respond import action, page
from prsm_tasks.edge.surfaces.ui.state import close_ui_streams, open_ui
from prsm_tasks.errors import NotFoundError

STATIC_FILES = {
    "htmx.min.js": "application/javascript",
    "htmx-sse.min.js": "application/javascript",
    "ui.js": "application/javascript",
    "ui.css": "text/css",
}
STATIC_MAX_AGE_S = 3600  # files change only with the package; an hour keeps upgrades quick


def static_body(name: str) -> bytes:
    return (importlib.resources.files("prsm_tasks.edge.surfaces.ui") / "static" / name).read_bytes()


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    kind = STATIC_FILES.get(name)
    if kind is None:
        raise NotFoundError(f"no dashboard file {name}")
    return web.Response(
        body=static_body(name),
        content_type=kind,
        headers={
            "Cache-Control": f"public, max-age={STATIC_MAX_AGE_S}",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def root(request: web.Request) -> web.Response:
    """``/``: a browser goes to the dashboard; an API client gets the usual 404."""
    if "text/html" in request.headers.get("Accept", ""):
        raise web.HTTPFound("/ui/")
    raise NotFoundError("nothing at /; the API is described at /openapi.json")


async def to_slash(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PAGES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/", root),
    ("GET", "/ui", to_slash),
    ("GET", "/ui/static/{name}", static),
    ("GET", "/ui/signin", actions.signin_page),
    ("POST", "/ui/signin", actions.signin),
    ("GET", "/ui/signin/link", actions.signin_link),
    ("POST", "/ui/signout", actions.signout),
    ("GET", "/ui/", page(pages.overview)),
    ("GET", "/ui/tasks", page(pages.tasks_page)),
    ("GET", "/ui/tasks/{task_id}", page(pages.task_page)),
    ("POST", "/ui/tasks/{task_id}/cancel", action(actions.cancel)),
    ("POST", "/ui/tasks/{task_id}/retry", action(actions.retry)),
    ("GET", "/ui/nodes", page(pages.nodes_page)),
    ("GET", "/ui/types", page(pages.types_page)),
    ("GET", "/ui/stream", page(stream.stream)),
    ("GET", "/ui/schedules", page(schedules.schedules_page)),
    ("POST", "/ui/schedules/{schedule_id}/pause", action(schedules.pause)),
    ("POST", "/ui/schedules/{schedule_id}/resume", action(schedules.resume)),
    ("POST", "/ui/schedules/{schedule_id}/trigger", action(schedules.trigger)),
)


def add_pages(router: web.UrlDispatcher) -> None:
    for method, path, handler in PAGES:
        router.add_route(method, path, handler)


SURFACE = Surface(
    name="ui",
    routes=(),
    pages=add_pages,
    open=open_ui,
    on_shutdown=close_ui_streams,
)
