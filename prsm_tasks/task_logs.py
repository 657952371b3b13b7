"""What a handler logs through ``ctx.logger``: captured per attempt, capped, handed to the node.

``TaskLogger`` is what handlers call (``info``, ``warning``, ... like a structlog or stdlib
logger): each call goes to the node's own log as before, and its line (time, level, message)
into the attempt's ``LogCapture``. The capture only appends under a lock, from the loop or a
sync handler's thread, and never waits: the node's log pump (actors/logs.py) takes what is
pending, off the handler's path, and publishes it.

The cap: an attempt keeps at most ``max_lines`` lines of at most ``max_line_bytes`` each (a
longer one is cut); past the cap lines are only counted, and closing the capture adds one
``N lines dropped`` line. So a handler logging in a tight loop costs a bounded buffer and a
bounded stream, whatever it does.
"""

from __future__ import annotations

import datetime
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import structlog

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
CUT_MARK = "… [cut]"

# (epoch seconds, level, message)
LogLine = tuple[float, str, str]


def iso_utc(stamp: float) -> str:
    """Epoch seconds as ISO-8601 UTC with ``Z``, millisecond precision (as the APIs answer)."""
    moment = datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cut_to_bytes(message: str, max_bytes: int) -> str:
    encoded = message.encode("utf-8", "replace")
    if len(encoded) <= max_bytes:
        return message
    room = max(0, max_bytes - len(CUT_MARK.encode()))
    return encoded[:room].decode("utf-8", "ignore") + CUT_MARK


def render_message(event: object, args: tuple[Any, ...], context: dict[str, Any]) -> str:
    """``event % args`` (stdlib style), then ``key=value`` pairs (structlog style)."""
    text = str(event)
    if args:
        try:
            text = text % args
        except (TypeError, ValueError):
            text = " ".join([text, *map(str, args)])
    pairs = " ".join(f"{key}={value!r}" for key, value in context.items())
    return f"{text} {pairs}" if pairs else text


class LogCapture:
    """One attempt's log lines, appended from any thread, taken in batches by the pump."""

    def __init__(
        self,
        *,
        attempt: int,
        max_lines: int,
        max_line_bytes: int,
        wake: Callable[[LogCapture], None],
    ) -> None:
        self.attempt = attempt
        self._max_lines = max_lines
        self._max_line_bytes = max_line_bytes
        self._wake = wake
        self._lock = threading.Lock()
        self._pending: list[LogLine] = []
        self.kept = 0  # lines kept, published or pending
        self.dropped = 0  # lines past the cap, counted only
        self.closed = False
        self.owned = False  # the attempt was seen owning its record (set by the pump)
        self.events_closed = False  # its outcome's event is out: no task_log after it

    def add(self, level: str, message: str) -> bool:
        """Keep a line; False when it is past the cap (or the attempt's log is closed)."""
        line = (time.time(), level, cut_to_bytes(message, self._max_line_bytes))
        with self._lock:
            if self.closed:
                return False
            if self.kept >= self._max_lines:
                self.dropped += 1
                return False
            self.kept += 1
            self._pending.append(line)
            first = len(self._pending) == 1
        if first:  # one wake per batch, not per line
            self._wake(self)
        return True

    def take(self, *, closing: bool = False) -> list[LogLine]:
        """What is pending; ``closing``: the last take, with the dropped-lines line."""
        with self._lock:
            lines, self._pending = self._pending, []
            if closing and not self.closed:
                self.closed = True
                if self.dropped:
                    lines.append(
                        (
                            time.time(),
                            "WARNING",
                            f"{self.dropped} lines dropped: this attempt reached its cap "
                            f"of {self._max_lines} lines",
                        )
                    )
        return lines


class TaskLogger:
    """The logger handlers get as ``ctx.logger``: bound to the task in the node's log, and
    captured into the attempt's log (when the node captures one)."""

    __slots__ = ("_capture", "_context", "_log")

    def __init__(
        self, log: Any, capture: LogCapture | None, context: dict[str, Any] | None = None
    ) -> None:
        self._log = log
        self._capture = capture
        self._context = context or {}

    def bind(self, **context: Any) -> TaskLogger:
        return TaskLogger(self._log.bind(**context), self._capture, {**self._context, **context})

    def log(self, level: int | str, event: object, *args: Any, **context: Any) -> None:
        name = level if isinstance(level, str) else _level_name(level)
        name = name.upper()
        if name == "WARN":
            name = "WARNING"
        if name not in LEVELS:
            name = "INFO"
        text = render_message(event, args, {})
        capture = self._capture
        if capture is not None:
            shown = {key: value for key, value in context.items() if key != "exc_info"}
            line = render_message(text, (), {**self._context, **shown})
            if context.get("exc_info") and sys.exc_info()[0] is not None:
                line = f"{line}\n{traceback.format_exc()}"
            if not capture.add(name, line):
                # past the cap the node's own log is spared too: the closing line counts them
                return
        getattr(self._log, name.lower())(text, **context)

    def debug(self, event: object, *args: Any, **context: Any) -> None:
        self.log("DEBUG", event, *args, **context)

    def info(self, event: object, *args: Any, **context: Any) -> None:
        self.log("INFO", event, *args, **context)

    def warning(self, event: object, *args: Any, **context: Any) -> None:
        self.log("WARNING", event, *args, **context)

    warn = warning

    def error(self, event: object, *args: Any, **context: Any) -> None:
        self.log("ERROR", event, *args, **context)

    def exception(self, event: object, *args: Any, **context: Any) -> None:
        """An error line with the traceback of the exception being handled."""
        self.log("ERROR", event, *args, exc_info=True, **context)

    def critical(self, event: object, *args: Any, **context: Any) -> None:
        self.log("CRITICAL", event, *args, **context)


def _level_name(level: int) -> str:
    for threshold, name in ((50, "CRITICAL"), (40, "ERROR"), (30, "WARNING"), (20, "INFO")):
        if level >= threshold:
            return name
    return "DEBUG"


def task_logger(context: dict[str, Any], capture: LogCapture | None) -> TaskLogger:
    return TaskLogger(structlog.get_logger("prsm.task").bind(**context), capture)
