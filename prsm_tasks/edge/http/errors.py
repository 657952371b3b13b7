"""One error body for every path, rendered in one middleware from the PrsmError tree.

``{"error": <code>, "message", "code": <http status>, "timestamp", "task_id"?}``; nothing
unexpected ever leaves as a 500 with a stack trace: it is logged with the request id and
answered with the same body.

Under ``/api/`` the body also carries ``"detail": <message>``: the clients of the task list
document (seed 001) read FastAPI's ``detail``. The rule is the path's, not a surface's, so it
holds for every route under ``/api/`` (the events surface's compatibility routes too) and for
the errors no surface sees (an unknown ``/api/`` path, a wrong method).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pydantic
import structlog
from aiohttp import web
from ulid import ULID

from prsm_tasks.errors import (
    InvalidTaskDataError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PrsmError,
    RateLimitedError,
    UnauthorizedError,
    ValidationError,
)
from prsm_tasks.services.timestamps import now_iso

log = structlog.get_logger("prsm.edge")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# a surface's own reading of an error before the one body renders it (400 -> 422, say)
ErrorMapper = Callable[[PrsmError], PrsmError]
REQUEST_ID = "X-Request-Id"
DETAIL_PREFIX = "/api/"  # paths whose error bodies carry "detail" too
JSON = "application/json"


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    all_headers = {"Content-Type": JSON}
    if headers:
        all_headers.update(headers)
    return web.Response(body=orjson.dumps(body), status=status, headers=all_headers)


def public_message(exc: PrsmError) -> str:
    """The message a caller may read: a 503's names NATS internals, so it is replaced by a
    plain one (the middleware logs the original with the request id)."""
    return exc.public_message or exc.message


def error_body(exc: PrsmError, *, request_id: str | None, detail: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": exc.code,
        "message": public_message(exc),
        "code": exc.status,
        "timestamp": now_iso(),
    }
    if exc.task_id is not None:
        body["task_id"] = exc.task_id
    field = getattr(exc, "field", None)
    if field is not None:
        body["field"] = field
    # errors: every failing field of a schema; limit and maximum: the quota a request hit;
    # batch_id, task_ids: what a bulk wrote
    for key in ("status", "task_error", "errors", "limit", "maximum", "batch_id", "task_ids"):
        value = exc.details.get(key)
        if value is not None:
            body[key] = value
    if isinstance(exc, RateLimitedError):
        body["retry_after_seconds"] = exc.retry_after_s
    if request_id is not None:
        body["request_id"] = request_id
    if detail:
        body["detail"] = body["message"]
    return body


def error_response(exc: PrsmError, *, request_id: str | None, detail: bool = False) -> web.Response:
    headers = {REQUEST_ID: request_id} if request_id else {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="prsm-tasks"'
    body = error_body(exc, request_id=request_id, detail=detail)
    return json_response(body, status=exc.status, headers=headers)


def from_pydantic(exc: pydantic.ValidationError, *, prefix: str = "") -> ValidationError:
    """The first problem of a request body, naming its field (``tasks[3].priority``)."""
    first = exc.errors()[0]
    field = prefix
    for part in first.get("loc", ()):
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    field = field or "body"
    message = f"{field}: {first.get('msg', 'invalid value')}"
    if first.get("type") == "extra_forbidden":
        message = f"{field}: unknown field"
    is_task_data = field == "task_data" or field.endswith("].task_data") or ".task_data" in field
    if is_task_data and first.get("type") != "missing":
        return InvalidTaskDataError(message, field=field)
    return ValidationError(message, field=field)


def from_http(exc: web.HTTPException) -> PrsmError:
    """aiohttp's own answers (no route, wrong method, body too big) in our error tree."""
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLargeError(
            f"request body is larger than the limit of {exc.max_size} bytes", field="body"
        )
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowedError(
            f"method {exc.method} is not allowed here; "
            f"allowed: {', '.join(sorted(exc.allowed_methods))}"
        )
    if isinstance(exc, web.HTTPNotFound):
        return NotFoundError("no such path")
    return HttpStatusError(exc.status, exc.reason or "http error")


class HttpStatusError(PrsmError):
    """Any other status aiohttp answered with by itself."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status  # type: ignore[misc]
        self.code = reason.lower().replace(" ", "_")  # type: ignore[misc]


_PROCESS = str(ULID()).lower()[-10:]  # tells the edge processes apart in logs
_requests = itertools.count(1)


def next_request_id() -> str:
    return f"{_PROCESS}-{next(_requests)}"


def wants_detail(request: web.Request) -> bool:
    """Whether the error body carries ``detail`` (read only on errors: the path is parsed)."""
    return request.path.startswith(DETAIL_PREFIX)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get(REQUEST_ID) or next_request_id()
    if len(request_id) > 64:
        request_id = request_id[:64]
    try:
        response = await handler(request)
    except PrsmError as exc:
        if exc.public_message is not None and exc.public_message != exc.message:
            log.warning(
                "request_unavailable",
                request_id=request_id,
                method=request.method,
                path=request.path,
                error=exc.code,
                detail=exc.message,
            )
        return error_response(exc, request_id=request_id, detail=wants_detail(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(from_http(exc), request_id=request_id, detail=wants_detail(request))
    except Exception as exc:  # a bug: log it with the request id, answer with the standard body
        log.error(
            "request_failed",
            request_id=request_id,
            method=request.method,
            path=request.path,
            error=repr(exc),
            exc_info=True,
        )
        return error_response(
            PrsmError("internal error; quote the request id when reporting it"),
            request_id=request_id,
            detail=wants_detail(request),
        )
    if not response.prepared:
        response.headers[REQUEST_ID] = request_id
    return response
