"""The hub's query parameters: each bad one a 400 naming it (the document's
``field_errors``), absent ones None."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from prsm_tasks.edge.http.params import FALSE_WORDS, TRUE_WORDS, int_param
from prsm_tasks.errors import ValidationError

MAX_TEXT_CHARS = 200
MAX_MS = 10**12


def text_param(request: web.Request, name: str, *, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_chars:
        raise ValidationError(f"{name}: at most {max_chars} characters", field=name)
    return raw


def choice_param(request: web.Request, name: str, choices: object) -> str | None:
    raw = text_param(request, name)
    if raw is not None and raw not in choices:  # type: ignore[operator]
        allowed = ", ".join(sorted(choices))  # type: ignore[call-overload]
        raise ValidationError(f"{name}: one of {allowed}, got {raw!r}", field=name)
    return raw


def bool_param(request: web.Request, name: str) -> bool | None:
    raw = text_param(request, name)
    if raw is None:
        return None
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    raise ValidationError(f"{name}: true or false, got {raw!r}", field=name)


def ms_param(request: web.Request, name: str) -> float | None:
    raw = text_param(request, name, max_chars=20)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_MS:  # NaN fails too
        raise ValidationError(f"{name}: milliseconds, 0..{MAX_MS}, got {raw!r}", field=name)
    return value


def time_param(request: web.Request, name: str) -> datetime | None:
    """An ISO-8601 time (UTC when it names no offset)."""
    raw = text_param(request, name, max_chars=64)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace(" ", "+"))  # a '+' unescaped in a query
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # overflow: an offset at the calendar's edge
        raise ValidationError(f"{name}: an ISO-8601 time, got {raw!r}", field=name) from exc


def epoch_param(request: web.Request, name: str) -> float | None:
    parsed = time_param(request, name)
    return parsed.timestamp() if parsed is not None else None


def page_params(
    request: web.Request, *, default_size: int, max_size: int, max_page: int
) -> tuple[int, int]:
    page = int_param(request, "page", low=1, high=max_page) or 1
    size = int_param(request, "page_size", low=1, high=max_size) or default_size
    return page, size


def page_links(
    request: web.Request, page: int, size: int, count: int
) -> tuple[str | None, str | None]:
    """DRF's ``next`` and ``previous``: relative URLs (no Host header trusted)."""
    url = request.rel_url
    following = (
        str(url.update_query(page=page + 1, page_size=size)) if page * size < count else None
    )
    earlier = str(url.update_query(page=page - 1, page_size=size)) if page > 1 else None
    return following, earlier
