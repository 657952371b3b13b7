"""The hub's error body: ``{"detail", "error_code", "field_errors": {field: [messages]}}``
with upper-case codes (``TASK_NOT_FOUND``, ``VALIDATION_ERROR``, ...), from the one error
tree. A 5xx that names internals says the plain message (the edge logs the other)."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from prsm_tasks.edge.http.errors import json_response, public_message
from prsm_tasks.errors import PrsmError, RateLimitedError, UnauthorizedError

log = structlog.get_logger("prsm.edge.hub")


def field_errors(exc: PrsmError) -> dict[str, list[str]]:
    """Every field at fault: the ones a body check collected, a schema's failing fields,
    else the error's one field."""
    collected = exc.details.get("field_errors")
    if isinstance(collected, dict):
        return collected
    found: dict[str, list[str]] = {}
    for problem in exc.details.get("errors") or ():
        if isinstance(problem, dict) and "field" in problem:
            found.setdefault(str(problem["field"]), []).append(str(problem.get("message")))
    field = getattr(exc, "field", None) or exc.details.get("field")
    if not found and field:
        found[str(field)] = [public_message(exc)]
    return found


def hub_error_body(exc: PrsmError) -> dict[str, Any]:
    return {
        "detail": public_message(exc),
        "error_code": exc.code.upper(),
        "field_errors": field_errors(exc),
    }


def render_error(request: web.Request, exc: PrsmError) -> web.Response:
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="prsm-tasks"'
    if exc.public_message is not None and exc.public_message != exc.message:
        log.warning("request_unavailable", path=request.path, error=exc.code, detail=exc.message)
    return json_response(hub_error_body(exc), status=exc.status, headers=headers)
