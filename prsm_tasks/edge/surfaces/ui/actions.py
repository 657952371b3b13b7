"""What a person does on the dashboard: sign in (a pasted token, or a one-time link), sign
out, cancel a task, run a final one again. Every action re-checks through the services."""

from __future__ import annotations

import time

from aiohttp import web

from prsm_tasks.edge.http.state import STATE
from prsm_tasks.edge.surfaces.ui.guard import (
    check_same_origin,
    clear_session_cookie,
    set_session_cookie,
)
from prsm_tasks.edge.surfaces.ui.respond import error_page, html, see_other
from prsm_tasks.edge.surfaces.ui.session import COOKIE_NAME, MAX_TOKEN_CHARS, Session
from prsm_tasks.edge.surfaces.ui.state import UI
from prsm_tasks.errors import PrsmError, UnauthorizedError
from prsm_tasks.services import dashboard, tasks
from prsm_tasks.services.access import Principal


def landing(request: web.Request) -> str:
    """Where to go after signing in: the page that sent the person here, on this site only."""
    wanted = request.query.get("next", "")
    if wanted.startswith("/ui/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted[:2048]
    return "/ui/"


def signin_form(
    request: web.Request, *, error: str | None = None, status: int = 200
) -> web.Response:
    return html(
        request,
        "signin.html",
        http_status=status,
        error=error,
        next_path=landing(request),
        principal=None,
        csrf=None,
        page=None,
        flash=None,
    )


async def signin_page(request: web.Request) -> web.Response:
    return signin_form(request)


async def start_session(request: web.Request, token: str, to: str) -> web.Response:
    """Verify ``token`` as the API does; a session cookie for it, or the form again."""
    state = request.app[STATE]
    await state.authenticate(f"Bearer {token}", grant_given=False)
    ui = request.app[UI]
    session = ui.codec.new_session(token)
    response = see_other(to)
    secure = state.config.origin.url_of(request, "/").startswith("https:")
    set_session_cookie(
        response, ui.codec.seal(session), int(session.expires_at - time.time()), secure=secure
    )
    return response


async def signin(request: web.Request) -> web.Response:
    """POST of the form: the token pasted once. Same-origin only (no login CSRF)."""
    try:
        check_same_origin(request)
        form = await request.post()
        token = form.get("token")
        if not isinstance(token, str) or not token.strip():
            raise UnauthorizedError("paste a token")
        if len(token) > MAX_TOKEN_CHARS:
            raise UnauthorizedError(f"a token is at most {MAX_TOKEN_CHARS} characters")
        return await start_session(request, token.strip(), landing(request))
    except PrsmError as exc:
        return signin_form(request, error=str(exc), status=exc.status)


async def signin_link(request: web.Request) -> web.Response:
    """GET of the one-time link ``prsm-tasks up`` prints: the code works once, anywhere."""
    ui = request.app[UI]
    try:
        code = request.query.get("code", "")
        if not code or len(code) > 4 * MAX_TOKEN_CHARS:
            raise UnauthorizedError("this sign-in link has no valid code")
        token, nonce = ui.codec.open_code(code)
        if not await ui.used_codes.claim(nonce):
            raise UnauthorizedError("this sign-in link was used already; ask for a new one")
        return await start_session(request, token, "/ui/")
    except PrsmError as exc:
        return signin_form(request, error=str(exc), status=exc.status)


async def signout(request: web.Request) -> web.Response:
    """Ends the session: a same-origin POST (the cookie is dropped even when the session
    has already expired, so signing out always works from the page)."""
    try:
        check_same_origin(request)
    except PrsmError as exc:
        return error_page(request, exc, None, None)
    response = see_other("/ui/signin")
    if request.cookies.get(COOKIE_NAME):
        clear_session_cookie(response)
    return response


async def cancel(request: web.Request, principal: Principal, session: Session) -> web.Response:
    task_id = request.match_info["task_id"]
    await tasks.cancel_own(request.app[STATE].services, principal, task_id)
    return see_other(f"/ui/tasks/{task_id}")


async def retry(request: web.Request, principal: Principal, session: Session) -> web.Response:
    task_id = request.match_info["task_id"]
    await dashboard.retry_own(request.app[STATE].services, principal, task_id)
    return see_other(f"/ui/tasks/{task_id}")
