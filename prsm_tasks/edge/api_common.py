"""What the /api/… routes (task types, task list) share: their state on the app, the 422
convention for bad input, and small parameter readers."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from prsm_tasks.edge.auth import Principal
from prsm_tasks.edge.state import STATE, EdgeState
from prsm_tasks.errors import (
    InvalidParametersError,
    InvalidTaskDataError,
    PrsmError,
    QueueNotAvailableError,
    TaskTypeInactiveError,
    TaskTypeNotFoundError,
    UnprocessableError,
    ValidationError,
)
from prsm_tasks.store.external import ExternalWork
from prsm_tasks.store.type_index import Found
from prsm_tasks.store.types import TaskTypeStore

Handler = Callable[[web.Request, EdgeState, Principal], Awaitable[web.StreamResponse]]
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


@dataclass(frozen=True, kw_only=True)
class ApiState:
    types: TaskTypeStore
    external: ExternalWork


API_STATE: web.AppKey[ApiState] = web.AppKey("prsm_edge_api", ApiState)


def open_api_state() -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup_ctx of the /api/… routes (after the edge state: it uses its connection)."""

    async def api_ctx(app: web.Application) -> AsyncIterator[None]:
        state = app[STATE]
        app[API_STATE] = ApiState(
            types=await TaskTypeStore.open(state.js),
            external=ExternalWork(
                nc=state.nc,
                js=state.js,
                store=state.store,
                events=state.events,
                after_final=state.writer.after_final,
            ),
        )
        yield

    return api_ctx


def as_api_error(exc: ValidationError) -> PrsmError:
    """A 400 of the shared checks as the /api/… routes answer it: 422 (same code). An
    inactive type and an unavailable queue stay 400; a too large body stays 413."""
    if exc.status != 400 or isinstance(exc, TaskTypeInactiveError | QueueNotAvailableError):
        return exc
    details = {key: value for key, value in exc.details.items() if key != "field"}
    error_class = InvalidParametersError if isinstance(exc, InvalidTaskDataError) else None
    if error_class is not None:
        converted: ValidationError = error_class(exc.message, field=exc.field, **details)
    else:
        converted = UnprocessableError(exc.message, field=exc.field, **details)
        converted.code = exc.code  # type: ignore[misc]  # keep validation_error, payload..., etc.
    converted.task_id = exc.task_id
    return converted


def api_route(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def handle(request: web.Request, state: EdgeState, principal: Principal) -> Any:
        try:
            return await handler(request, state, principal)
        except ValidationError as exc:
            converted = as_api_error(exc)
            if converted is exc:
                raise
            raise converted from exc

    return handle


def bool_param(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    raise UnprocessableError(f"{name} must be true or false, got {raw!r}", field=name)


def int_param(request: web.Request, name: str, *, low: int, high: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise UnprocessableError(f"{name} must be an integer, got {raw!r}", field=name) from exc
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f"at least {low}"
        raise UnprocessableError(f"{name} must be {bounds}, got {value}", field=name)
    return value


def type_id_of(request: web.Request) -> int:
    raw = request.match_info["task_type_id"]
    if not raw.isdigit() or not 1 <= int(raw) < 2**63:
        raise TaskTypeNotFoundError(f"Task type {raw} not found")
    return int(raw)


async def find_type(request: web.Request, state: EdgeState, type_id: int, tenant: str) -> Found:
    """A type ``tenant`` may see: from the edge's index, else (written through another edge a
    moment ago) from the bucket; 404 ``task_type_not_found`` otherwise."""
    found = state.types.get(type_id, tenant=tenant)
    if found is not None:
        return found
    try:
        record, rev = await request.app[API_STATE].types.get_by_id(type_id)
    except TaskTypeNotFoundError:
        raise TaskTypeNotFoundError(f"Task type {type_id} not found") from None
    state.types.apply(record, rev)
    found = state.types.get(type_id, tenant=tenant)
    if found is None:
        raise TaskTypeNotFoundError(f"Task type {type_id} not found")
    return found
