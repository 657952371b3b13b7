"""Query parameters as this surface reads them (bad ones: 422)."""

from __future__ import annotations

from aiohttp import web

from prsm_tasks.errors import UnprocessableError

TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


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
