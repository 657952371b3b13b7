"""Epoch seconds as the UTC ISO-8601 strings every API answers with."""

from __future__ import annotations

import time

_SECONDS: dict[int, str] = {}  # whole seconds -> "YYYY-MM-DDTHH:MM:SS", formatted once


def iso(ts: float | None) -> str | None:
    """Epoch seconds -> UTC ISO-8601 ending in Z (millisecond precision)."""
    if ts is None:
        return None
    whole = int(ts)
    prefix = _SECONDS.get(whole)
    if prefix is None:
        if len(_SECONDS) > 100_000:
            _SECONDS.clear()
        prefix = _SECONDS[whole] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{prefix}.{min(999, int((ts - whole) * 1000)):03d}Z"


def now_iso() -> str:
    return iso(time.time()) or ""
