"""How every dashboard answer is made: HTML with strict security headers, the sign-in
check around each page and action, and errors rendered as pages instead of JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

import structlog
from aiohttp import web

from prsm_tasks.edge.surfaces.ui.guard import check_action, signed_in
from prsm_tasks.edge.surfaces.ui.session import Session
from prsm_tasks.edge.surfaces.ui.state import UI
from prsm_tasks.errors import PrsmError, UnauthorizedError
from prsm_tasks.services.access import Principal

log = structlog.get_logger("prsm.edge.ui")

# no inline script or style anywhere, nothing from another origin, no framing
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Page = Callable[[web.Request, Principal, Session], Awaitable[web.StreamResponse]]


def html(
    request: web.Request, template: str, *, http_status: int = 200, **context: object
) -> web.Response:
    body = request.app[UI].render(template, **context)
    return web.Response(
        text=body, status=http_status, content_type="text/html", headers=SECURITY_HEADERS
    )


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={**SECURITY_HEADERS, "Location": location})


def error_page(
    request: web.Request, exc: PrsmError, principal: Principal | None, session: Session | None
) -> web.Response:
    return html(
        request,
        "error.html",
        http_status=exc.status,
        status=exc.status,
        code=exc.code,
        message=str(exc),
        principal=principal,
        csrf=session.csrf if session else None,
        page=None,
        flash=None,
    )


def page(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A page for the signed-in: without a valid session, the sign-in form instead."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            principal, session = await signed_in(request)
        except UnauthorizedError:
            return see_other(f"/ui/signin?next={quote(request.path_qs, safe='')}")
        except PrsmError as exc:
            return error_page(request, exc, None, None)
        try:
            return await handler(request, principal, session)
        except PrsmError as exc:
            return error_page(request, exc, principal, session)

    return handle


def action(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A state-changing POST: signed in, same origin, the session's CSRF token."""

    async def handle(request: web.Request) -> web.StreamResponse:
        principal: Principal | None = None
        session: Session | None = None
        try:
            principal, session = await signed_in(request)
            await check_action(request, session)
            return await handler(request, principal, session)
        except PrsmError as exc:
            log.info("ui_action_refused", path=request.path, code=exc.code)
            return error_page(request, exc, principal, session)

    return handle
