"""Template filters of the dashboard: times, durations, and the small SVG charts (drawn on
the server: the page needs no chart library and no inline script or style)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Sequence
from typing import Any

CHART_W = 120
CHART_H = 28


def utc(stamp: float | None) -> str:
    if stamp is None:
        return "—"
    moment = datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(stamp: float | None) -> str:
    if stamp is None:
        return ""
    moment = datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def ago(stamp: float | None) -> str:
    return "—" if stamp is None else f"{duration(max(0.0, time.time() - stamp))} ago"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def chart_bars(values: Sequence[float]) -> list[dict[str, float]]:
    """Bars of an inline SVG bar chart (x, y, width, height), scaled to the largest value."""
    if not values:
        return []
    top = max(values) or 1.0
    width = CHART_W / len(values)
    bars = []
    for index, value in enumerate(values):
        height = round(CHART_H * value / top, 1) if value else 0.0
        bars.append(
            {
                "x": round(index * width + 0.5, 1),
                "y": round(CHART_H - height, 1),
                "w": round(width - 1, 1),
                "h": height,
            }
        )
    return bars


FILTERS: dict[str, Callable[..., Any]] = {
    "utc": utc,
    "iso": iso,
    "duration": duration,
    "ago": ago,
    "percent": percent,
    "chart_bars": chart_bars,
}
