"""Who is looking at a page, and whether a state-changing request really came from one.

Every request re-reads the session cookie and re-verifies its token with the API's own
verifier (``EdgeState.authenticate``): the pages then call the services with that
Principal, so a page shows and does exactly what the API allows that token.

A state-changing request must pass three checks, any one of which stops a cross-site
request on its own: the cookie is ``SameSite=Strict`` (a browser does not send it from
another site), the ``Origin`` (or, without it, ``Sec-Fetch-Site``) names this edge, and the
form or the htmx header carries the session's CSRF token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from prsm_tasks.edge.http.state import STATE
from prsm_tasks.edge.surfaces.ui.session import (
    COOKIE_NAME,
    COOKIE_PATH,
    Session,
    same_secret,
)
from prsm_tasks.edge.surfaces.ui.state import UI
from prsm_tasks.errors import ForbiddenError
from prsm_tasks.services.access import Principal

CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


async def signed_in(request: web.Request) -> tuple[Principal, Session]:
    """The caller of the session cookie; UnauthorizedError (401) when there is none."""
    session = request.app[UI].codec.open(request.cookies.get(COOKIE_NAME))
    principal = await request.app[STATE].authenticate(f"Bearer {session.token}", grant_given=False)
    return principal, session


def own_origin(request: web.Request) -> str:
    base = urlsplit(request.app[STATE].config.origin.url_of(request, "/"))
    return f"{base.scheme}://{base.netloc}".lower()


def check_same_origin(request: web.Request) -> None:
    """403 for a request a page of another site sent (or one that hides where it is from)."""
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin.lower() != own_origin(request):
            raise ForbiddenError("cross-site request refused (Origin is another site)")
        return
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site not in (None, "same-origin", "none"):
        raise ForbiddenError("cross-site request refused (Sec-Fetch-Site)")
    if fetch_site is None:
        raise ForbiddenError("a state-changing request must say its Origin")


async def check_action(request: web.Request, session: Session) -> None:
    """A state-changing request of a signed-in page: same origin and the session's token."""
    check_same_origin(request)
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.post()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not given or not same_secret(given, session.csrf):
        raise ForbiddenError("missing or wrong CSRF token; reload the page")


def set_session_cookie(
    response: web.StreamResponse, sealed: str, max_age_s: int, *, secure: bool
) -> None:
    response.set_cookie(
        COOKIE_NAME,
        sealed,
        max_age=max(0, max_age_s),
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=secure,  # set when the edge is reached over https (PRSM_PUBLIC_URL, a proxy)
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE_NAME, path=COOKIE_PATH)
