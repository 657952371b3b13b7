"""Query parameters read the same way by every surface.

Surfaces differ only in how bad input is answered (400 on the PRSM routes, 422 under /api/),
so each call names its error class.
"""

from __future__ import annotations

from aiohttp import web

from prsm_tasks.errors import ValidationError

TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


def bool_param(
    request: web.Request, name: str, default: bool, *, bad: type[ValidationError] = ValidationError
) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    raise bad(f"{name} must be true or false, got {raw!r}", field=name)


def int_param(
    request: web.Request,
    name: str,
    *,
    low: int,
    high: int | None = None,
    bad: type[ValidationError] = ValidationError,
) -> int | None:
    """The integer in `name`, None when absent; outside low..high is bad input."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad(f"{name} must be an integer, got {raw!r}", field=name) from exc
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f"at least {low}"
        raise bad(f"{name} must be {bounds}, got {value}", field=name)
    return value
