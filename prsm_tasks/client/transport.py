"""The HTTP SDK's transport: one session to an edge, and error answers as ``PrsmError``.

``HttpTransport`` is the base of the async API classes (``TaskListCalls`` → ``TaskAPI``),
``SyncTransport`` of their blocking twins: each class adds the calls of one API surface.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Self, TypeVar

import aiohttp

from prsm_tasks import errors
from prsm_tasks.errors import PrsmError, RateLimitedError, ServiceUnavailableError

T = TypeVar("T")


def _error_classes() -> dict[str, type[PrsmError]]:
    found: dict[str, type[PrsmError]] = {}
    pending: list[type[PrsmError]] = [PrsmError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def error_from_body(status: int, body: Any, headers: Any = None) -> PrsmError:
    """The PrsmError for an error answer (the standard body, or whatever came instead)."""
    if not isinstance(body, dict) or "error" not in body:
        error = PrsmError(f"HTTP {status}: {str(body)[:200]}")
        error.status = status  # type: ignore[misc]
        return error
    code = str(body.get("error"))
    message = str(body.get("message", code))
    cls = _error_classes().get(code)
    details = {
        key: body[key]
        for key in ("status", "task_error", "request_id", "field", "errors", "batch_id", "task_ids")
        if key in body
    }
    if cls is RateLimitedError or code == "rate_limited":
        retry_after = body.get("retry_after_seconds")
        if retry_after is None and headers is not None:
            retry_after = headers.get("Retry-After")
        return RateLimitedError(message, retry_after_s=int(retry_after or 1), **details)
    if cls is None:
        error = PrsmError(message, task_id=body.get("task_id"), **details)
        error.code = code  # type: ignore[misc]
        error.status = status  # type: ignore[misc]
        return error
    if issubclass(cls, errors.ValidationError):
        details.pop("field", None)
        error = cls(message, field=body.get("field"), **details)
        error.task_id = body.get("task_id")
        return error
    return cls(message, task_id=body.get("task_id"), **details)


class HttpTransport:
    """One edge's base URL, token and aiohttp session; ``request`` sends a call and turns an
    error answer into its ``PrsmError``."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout_s: float = 30.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
            self._owns_session = True
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        accept: tuple[int, ...] = (),
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._client().request(
                method, self.base_url + path, json=json, params=query, headers=headers
            ) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = await response.text()
                if response.status >= 400 and response.status not in accept:
                    raise error_from_body(response.status, body, response.headers)
                return body
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise ServiceUnavailableError(f"cannot reach {self.base_url}: {exc!r}") from exc


class SyncTransport:
    """Runs the calls of an async API object, blocking, on this object's own event loop."""

    def __init__(self, api: HttpTransport) -> None:
        self._loop = asyncio.new_event_loop()
        self._api = api

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._loop.is_closed():
            self._run(self._api.close())
            self._loop.close()

    def _run(self, call: Awaitable[T]) -> T:
        return self._loop.run_until_complete(call)
