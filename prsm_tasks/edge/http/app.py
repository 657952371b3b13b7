"""The edge's aiohttp app: the surfaces it is given, mounted over one edge state.

Every resource (NATS connection and stores, the services' bucket watches, the JWT verifier,
what each surface opens) is opened and closed in ``cleanup_ctx`` generators, the edge
state's first. An edge never talks to a peer node: everything it knows comes from NATS.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson
import structlog
from aiohttp import web

from prsm_tasks import telemetry
from prsm_tasks.edge.http.auth import JwtVerifier
from prsm_tasks.edge.http.errors import error_middleware
from prsm_tasks.edge.http.metrics import METRICS_ROUTE, metrics_middleware, queue_state_ctx
from prsm_tasks.edge.http.openapi import (
    DOCS_CONTENT,
    DOCS_FILES,
    Param,
    Route,
    build_spec,
    docs_page,
    docs_static,
)
from prsm_tasks.edge.http.ratelimit import RateLimiter
from prsm_tasks.edge.http.state import STATE, EdgeConfig, EdgeState
from prsm_tasks.edge.http.surface import Surface
from prsm_tasks.errors import PrsmError
from prsm_tasks.services.access import Principal
from prsm_tasks.services.core import Services, open_services
from prsm_tasks.services.grants import GRANT_PARAM
from prsm_tasks.store.opener import open_stores

log = structlog.get_logger("prsm.edge")

SPEC: web.AppKey[bytes] = web.AppKey("prsm_openapi", bytes)


async def openapi_json(request: web.Request, *_: Any) -> web.Response:
    return web.Response(body=request.app[SPEC], content_type="application/json")


SYSTEM_ROUTES: tuple[Route, ...] = (
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
    METRICS_ROUTE,
)


def package_version() -> str:
    try:
        return version("prsm-tasks")
    except PackageNotFoundError:
        return "0+unknown"


def bind(route: Route, surface: Surface | None) -> Callable[[web.Request], Any]:
    """The aiohttp handler: authenticate (unless open), call the route, let its surface read
    an error before the middleware renders it."""
    map_error = surface.map_error if surface is not None else None
    render_error = surface.render_error if surface is not None else None

    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        principal: Principal | None = None
        try:
            if route.auth:
                header = request.headers.get("Authorization")
                # the query is parsed only for a request without a header (a grant's refusal)
                principal = await state.authenticate(
                    header, grant_given=not header and GRANT_PARAM in request.query
                )
            return await route.handler(request, state, principal)
        except PrsmError as exc:
            mapped = map_error(exc) if map_error is not None else exc
            if render_error is not None:
                return render_error(request, mapped)
            if mapped is exc:
                raise
            raise mapped from exc

    handle.__name__ = route.operation_id
    return handle


def build_app(config: EdgeConfig, surfaces: Sequence[Surface]) -> web.Application:
    telemetry.enable()  # before any request or stream: every edge serves /metrics
    app = web.Application(
        client_max_size=config.max_body_bytes,
        # outermost: a request is counted with the status its error body was given
        middlewares=[metrics_middleware, error_middleware],
    )
    mounted: list[tuple[Route, Surface | None]] = [
        (route, surface) for surface in surfaces for route in surface.routes
    ]
    mounted += [(route, None) for route in SYSTEM_ROUTES]
    for route, surface in mounted:
        app.router.add_route(route.method, route.path, bind(route, surface))
    all_routes = [route for route, _ in mounted]
    app[SPEC] = orjson.dumps(
        build_spec(all_routes, title="prsm-tasks Task API", version=package_version())
    )
    app.cleanup_ctx.append(open_state(config))
    app.cleanup_ctx.append(queue_state_ctx)
    for surface in surfaces:
        if surface.open is not None:
            app.cleanup_ctx.append(surface.open)
        if surface.on_shutdown is not None:
            app.on_shutdown.append(surface.on_shutdown)
    return app


def open_state(config: EdgeConfig) -> Callable[[web.Application], AsyncIterator[None]]:
    async def state_ctx(app: web.Application) -> AsyncIterator[None]:
        verifier = JwtVerifier(config.auth)
        try:
            async with (
                open_stores(config.connection) as stores,
                open_services(stores, config.rules, config.quotas) as services,
            ):
                app[STATE] = EdgeState(
                    config=config,
                    services=services,
                    verifier=verifier,
                    limiter=RateLimiter(
                        rate_per_s=config.rate_limit_per_s, burst=config.rate_limit_burst
                    ),
                )
                yield
        finally:
            await verifier.close()

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

    @property
    def services(self) -> Services:
        return self.app[STATE].services


@contextlib.asynccontextmanager
async def open_edge(config: EdgeConfig, surfaces: Sequence[Surface]) -> AsyncIterator[RunningEdge]:
    """Serve ``surfaces`` on ``config.host:config.port`` (0: a free port) until the block
    ends."""
    app = build_app(config, surfaces)
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
