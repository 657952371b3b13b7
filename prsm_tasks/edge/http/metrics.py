"""`/metrics` of an edge (Prometheus text format) and the middleware that times requests.

Reading it takes a bearer token with the ``metrics`` role (``prsm-tasks token --role
metrics``; Prometheus sends it with ``authorization: {credentials: ...}``): queue names and
rates are the operator's, not a tenant's, so no tenant's token reads them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from aiohttp import web

from prsm_tasks import telemetry
from prsm_tasks.edge.http.openapi import Route
from prsm_tasks.edge.http.state import STATE, EdgeState
from prsm_tasks.errors import ForbiddenError
from prsm_tasks.models import BANDS_HIGH_TO_LOW
from prsm_tasks.services.access import Principal
from prsm_tasks.services.view import TaskView

METRICS_ROLE = "metrics"
UNMATCHED_ROUTE = "unmatched"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts and times every request by its route pattern (never the raw path)."""
    metrics = telemetry.enabled()
    if metrics is None:
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = route_of(request)
        metrics.http_requests.labels(request.method, route, str(status)).inc()
        metrics.http_latency.labels(request.method, route).observe(time.perf_counter() - started)


def route_of(request: web.Request) -> str:
    match = request.match_info
    resource = match.route.resource if match.http_exception is None else None
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


async def metrics_page(
    request: web.Request, state: EdgeState, principal: Principal | None
) -> web.Response:
    assert principal is not None  # the route authenticates
    if METRICS_ROLE not in principal.roles:
        raise ForbiddenError(f"reading /metrics takes a token with the {METRICS_ROLE!r} role")
    body, content_type = telemetry.exposition(request.headers.get("Accept"))
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type  # with its version and charset
    return response


def queue_rows(view: TaskView) -> Callable[[], Iterator[tuple[str, str, int, float | None]]]:
    def rows() -> Iterator[tuple[str, str, int, float | None]]:
        now = time.time()
        for queue, lanes in list(view.queued.items()):
            for band, lane in zip(BANDS_HIGH_TO_LOW, lanes, strict=True):
                if lane:
                    yield queue, str(band), len(lane), max(0.0, now - lane[0][0])

    return rows


async def queue_state_ctx(app: web.Application) -> AsyncIterator[None]:
    """The queue depth gauges, read from this edge's task view while the edge runs."""
    telemetry.enable()
    state: EdgeState = app[STATE]
    collector = telemetry.queue_state_collector(queue_rows(state.services.view))
    unregister = telemetry.register(collector)
    try:
        yield
    finally:
        unregister()


METRICS_ROUTE = Route(
    method="GET",
    path="/metrics",
    handler=metrics_page,
    summary="Prometheus metrics of this edge (a token with the `metrics` role)",
    tag="system",
    errors=(401, 403),
    content={"text/plain": {"type": "string"}},
)
