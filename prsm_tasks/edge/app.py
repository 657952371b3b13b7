"""The edge node: the aiohttp app serving the Task API from the PRSM_TASKS bucket.

Every resource (NATS connection, event publisher, the bucket watches of TaskView, node
adverts and task types, the JWT verifier) is opened and closed in one ``cleanup_ctx``
generator. An edge never talks to a peer node: everything it knows comes from NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson
import structlog
from aiohttp import web

from prsm_tasks import bus, wire
from prsm_tasks.edge import events_api, routes, task_list_api, task_types_api
from prsm_tasks.edge.api_common import open_api_state
from prsm_tasks.edge.auth import JwtVerifier, Principal
from prsm_tasks.edge.errors import error_middleware
from prsm_tasks.edge.mirrors import NodeView
from prsm_tasks.edge.openapi import (
    DOCS_CONTENT,
    DOCS_FILES,
    Param,
    Route,
    build_spec,
    docs_page,
    docs_static,
)
from prsm_tasks.edge.ratelimit import RateLimiter
from prsm_tasks.edge.schemas import (
    BulkEnqueueRequest,
    BulkEnqueueResponse,
    CancelResponse,
    EnqueueRequest,
    EnqueueResponse,
    HealthResponse,
    QueueStatsResponse,
    ResultResponse,
    StatusResponse,
    TaskListResponse,
)
from prsm_tasks.edge.state import STATE, EdgeConfig, EdgeState
from prsm_tasks.store.batches import BatchCoordinator
from prsm_tasks.store.events import EventPublisher
from prsm_tasks.store.tasks import TaskStore
from prsm_tasks.store.watch import BucketWatch

log = structlog.get_logger("prsm.edge")

TASK_ID = Param(
    name="task_id", where="path", schema={"type": "string", "pattern": wire.TASK_ID_RE.pattern}
)
QUEUE = {"type": "string", "pattern": wire.QUEUE_NAME_RE.pattern}
RETRY_AFTER = {
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
}


async def openapi_json(request: web.Request, *_: Any) -> web.Response:
    spec = request.app[SPEC]
    return web.Response(body=spec, content_type="application/json")


ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path="/enqueue",
        handler=routes.enqueue,
        summary="Enqueue a task",
        request=EnqueueRequest,
        response=EnqueueResponse,
        errors=(400, 413, 429, 503),
        headers=RETRY_AFTER,
        links={
            f"{verb}Task": (operation, {"task_id": "$response.body#/task_id"})
            for verb, operation in (
                ("Status", "status"),
                ("Result", "result"),
                ("Cancel", "cancel"),
            )
        },
    ),
    Route(
        method="GET",
        path="/status/{task_id}",
        handler=routes.status,
        summary="A task's status and progress (read from the task bucket directly)",
        response=StatusResponse,
        errors=(403, 404, 503),
        params=(TASK_ID,),
    ),
    Route(
        method="GET",
        path="/result/{task_id}",
        handler=routes.result,
        summary="The result of a completed task (409 task_not_completed otherwise)",
        response=ResultResponse,
        errors=(403, 404, 409, 503),
        params=(TASK_ID,),
    ),
    Route(
        method="DELETE",
        path="/cancel/{task_id}",
        handler=routes.cancel,
        summary="Cancel a task that has not finished",
        response=CancelResponse,
        errors=(403, 404, 409, 503),
        params=(TASK_ID,),
    ),
    Route(
        method="GET",
        path="/queue/{queue_name}/stats",
        handler=routes.queue_stats,
        summary="Statistics of your tenant's tasks in one queue",
        response=QueueStatsResponse,
        errors=(400, 503),
        params=(Param(name="queue_name", where="path", schema=QUEUE),),
    ),
    Route(
        method="GET",
        path="/tasks",
        handler=routes.list_tasks,
        summary="Your tasks (a tenant admin: the tenant's), newest first",
        response=TaskListResponse,
        errors=(400,),
        params=(
            Param(
                name="status",
                where="query",
                schema={"type": "string", "enum": list(routes.PUBLIC_STATUSES)},
            ),
            Param(name="queue_name", where="query", schema=QUEUE),
            Param(
                name="limit",
                where="query",
                schema={"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
            ),
            Param(
                name="offset",
                where="query",
                schema={"type": "integer", "minimum": 0, "default": 0},
            ),
        ),
    ),
    Route(
        method="POST",
        path="/bulk/enqueue",
        handler=routes.bulk_enqueue,
        summary="Enqueue up to 1,000 tasks as one batch (all or nothing validation)",
        request=BulkEnqueueRequest,
        response=BulkEnqueueResponse,
        errors=(400, 413, 429, 503),
        headers=RETRY_AFTER,
    ),
    Route(
        method="GET",
        path="/health",
        handler=routes.health,
        summary="Health of the task system (503 when NATS is unreachable)",
        tag="system",
        auth=False,
        response=HealthResponse,
        errors=(503,),
    ),
    Route(
        method="GET",
        path="/openapi.json",
        handler=openapi_json,
        summary="This document",
        tag="system",
        auth=False,
        content={"application/json": {"type": "object"}},
    ),
    Route(
        method="GET",
        path="/docs",
        handler=docs_page,
        summary="API documentation (Swagger UI)",
        tag="system",
        auth=False,
        content={"text/html": {"type": "string"}},
    ),
    Route(
        method="GET",
        path="/docs/static/{name}",
        handler=docs_static,
        summary="Scripts and styles of the documentation page",
        tag="system",
        auth=False,
        errors=(404,),
        params=(Param(name="name", where="path", schema={"type": "string", "enum": DOCS_FILES}),),
        content=DOCS_CONTENT,
    ),
)

SPEC: web.AppKey[bytes] = web.AppKey("prsm_openapi", bytes)


def package_version() -> str:
    try:
        return version("prsm-tasks")
    except PackageNotFoundError:
        return "0+unknown"


def bind(route: Route) -> Callable[[web.Request], Any]:
    """The aiohttp handler: authenticate (unless open), check NATS, call the route."""

    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        principal: Principal | None = None
        if route.auth:
            principal = await state.verifier.verify_header(request.headers.get("Authorization"))
            state.check_connected()
        return await route.handler(request, state, principal)

    handle.__name__ = route.operation_id
    return handle


def build_app(config: EdgeConfig, *, extra_routes: Sequence[Route] = ()) -> web.Application:
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=[error_middleware])
    all_routes = (
        *ROUTES,
        *task_types_api.ROUTES,
        *task_list_api.ROUTES,  # before events_api: /api/tasks/claim, then /api/tasks/{task_id}
        *events_api.ROUTES,
        *extra_routes,
    )
    for route in all_routes:
        app.router.add_route(route.method, route.path, bind(route))
    app[SPEC] = orjson.dumps(
        build_spec(all_routes, title="prsm-tasks Task API", version=package_version())
    )
    app.cleanup_ctx.append(open_state(config))
    app.cleanup_ctx.append(events_api.open_events())  # after the state: it uses its connection
    app.cleanup_ctx.append(open_api_state())  # the /api/… registry and task list
    app.on_shutdown.append(events_api.close_streams)
    return app


def open_state(config: EdgeConfig) -> Callable[[web.Application], AsyncIterator[None]]:
    async def state_ctx(app: web.Application) -> AsyncIterator[None]:
        verifier = JwtVerifier(config.auth)
        nc = await bus.connect(config.servers, name=config.name)
        try:
            js = nc.jetstream(timeout=10.0)
            await bus.ensure_topology(js, config.topology)
            store = await TaskStore.open(nc, js, final_ttl_s=config.topology.finished_task_ttl_s)
            events = EventPublisher(nc)
            await events.start()
            state = EdgeState(
                config=config,
                nc=nc,
                js=js,
                store=store,
                events=events,
                batches=await BatchCoordinator.open(
                    nc=nc,
                    js=js,
                    store=store,
                    events=events,
                    max_task_data_bytes=config.max_task_data_bytes,
                ),
                verifier=verifier,
                limiter=RateLimiter(
                    rate_per_s=config.rate_limit_per_s, burst=config.rate_limit_burst
                ),
                nodes=NodeView(stale_s=config.node_stale_s),
            )
            state.host.network_mbps()  # the baseline the first /health compares with
            for bucket, sink in (
                (wire.NODES_BUCKET, state.nodes.on_entry),
                (wire.TYPES_BUCKET, state.types.on_entry),
                (wire.TASKS_BUCKET, state.view.on_entry),
            ):
                watch = BucketWatch(js, bucket, sink)
                state.watches.append(watch)
                await watch.start()
            app[STATE] = state
            log.info("edge_view_ready", tasks=len(state.view.entries), nodes=len(state.nodes.ads))
            yield
            for watch in state.watches:
                await watch.stop()
            await events.stop()
            await store.close()
        finally:
            await verifier.close()
            with contextlib.suppress(*bus.NATS_DOWN_ERRORS):
                await nc.drain()

    return state_ctx


@dataclass
class RunningEdge:
    app: web.Application
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> EdgeState:
        return self.app[STATE]


@contextlib.asynccontextmanager
async def open_edge(
    config: EdgeConfig, *, extra_routes: Sequence[Route] = ()
) -> AsyncIterator[RunningEdge]:
    """Serve the edge on ``config.host:config.port`` (0: a free port) until the block ends."""
    app = build_app(config, extra_routes=extra_routes)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port, backlog=1024)
        await site.start()
        port = config.port
        server = site._server  # the only way aiohttp tells the port it bound to
        if server is not None and getattr(server, "sockets", None):
            port = server.sockets[0].getsockname()[1]
        log.info("edge_ready", url=f"http://{config.host}:{port}")
        yield RunningEdge(app=app, host=config.host, port=port)
    finally:
        await runner.cleanup()


async def serve_edge(
    config: EdgeConfig, *, stop: asyncio.Event, on_ready: Callable[[RunningEdge], None]
) -> None:
    async with open_edge(config) as edge:
        on_ready(edge)
        await stop.wait()
