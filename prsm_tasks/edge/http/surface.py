"""How an API surface declares itself to the app: its routes as data, what it opens for
its lifetime, what it ends on shutdown, and how it reads errors before they are rendered.

The app mounts the surfaces it is given, in order; a new surface (the scheduler, the hub)
is a new package with one ``SURFACE``, and touches no other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from prsm_tasks.edge.http.errors import ErrorMapper
from prsm_tasks.edge.http.openapi import Route
from prsm_tasks.errors import PrsmError

# an aiohttp cleanup_ctx generator, run after the edge state is open (it may use STATE)
Lifetime = Callable[[web.Application], AsyncIterator[None]]
Shutdown = Callable[[web.Application], Awaitable[None]]
# a surface whose document has its own error body renders its errors itself (the hub)
ErrorRenderer = Callable[[web.Request, PrsmError], web.Response]


@dataclass(frozen=True, kw_only=True)
class Surface:
    name: str
    routes: tuple[Route, ...]
    open: Lifetime | None = None
    on_shutdown: Shutdown | None = None
    map_error: ErrorMapper | None = None  # e.g. the task list answers 422 where others 400
    # the surface's own error body for what its routes raise (authentication included);
    # a path no route matches, or a wrong method, still gets the edge's one body
    render_error: ErrorRenderer | None = None
