"""Every hub route acts in one brand: ``X-Brand-ID``, checked against the token's
``brands`` claim before the route's handler runs (400 without it, 403 for another)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from prsm_tasks.edge.http.openapi import Param
from prsm_tasks.edge.http.state import EdgeState
from prsm_tasks.services.access import Principal
from prsm_tasks.services.hub.brands import BRAND_HEADER, MAX_BRAND_ID, BrandScope, brand_scope

HubHandler = Callable[[web.Request, EdgeState, BrandScope], Awaitable[web.StreamResponse]]
RouteHandler = Callable[[web.Request, EdgeState, Principal], Awaitable[web.StreamResponse]]

BRAND_PARAM = Param(
    name=BRAND_HEADER,
    where="header",
    required=True,
    schema={"type": "string", "pattern": r"^[1-9][0-9]{0,9}$"},
    description=f"the brand to act in (1..{MAX_BRAND_ID}); your token's brands claim lists it",
)


def in_brand(handler: HubHandler) -> RouteHandler:
    """The route handler of a hub handler: the caller's brand scope first."""

    @functools.wraps(handler)
    async def scoped(
        request: web.Request, state: EdgeState, principal: Principal
    ) -> web.StreamResponse:
        scope = brand_scope(principal, request.headers.get(BRAND_HEADER))
        return await handler(request, state, scope)

    return scoped
