"""W3C trace context (``traceparent``, version 00): the trace a task belongs to.

A task stores the ``traceparent`` it was created under; each attempt runs as a child span of
it (``ctx.trace``), and the tasks an attempt enqueues are children of the attempt's span.

Parsing is strict, as the W3C recommendation asks: version ``00``, lowercase hex, a trace id
and a parent id that are not all zeros, and exactly four fields. A value that fails is not an
error for the caller: like any tracer, we ignore it and start a new trace (see
``from_header``), so a bad header never refuses a task.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from prsm_tasks.errors import ValidationError

TRACEPARENT_RE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
MAX_TRACEPARENT_CHARS = 55
SAMPLED = 0x01
ZERO_TRACE_ID = "0" * 32
ZERO_SPAN_ID = "0" * 16


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits: the span this context names (the parent of a child)
    flags: int = SAMPLED

    @property
    def sampled(self) -> bool:
        return bool(self.flags & SAMPLED)

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags:02x}"

    def child(self) -> TraceContext:
        """A new span in the same trace, whose parent is this one."""
        return TraceContext(self.trace_id, new_span_id(), self.flags)

    @classmethod
    def new(cls) -> TraceContext:
        return cls(new_trace_id(), new_span_id(), SAMPLED)


def new_trace_id() -> str:
    while True:
        value = os.urandom(16).hex()
        if value != ZERO_TRACE_ID:
            return value


def new_span_id() -> str:
    while True:
        value = os.urandom(8).hex()
        if value != ZERO_SPAN_ID:
            return value


def parse(value: str | None) -> TraceContext | None:
    """The context of a valid version-00 ``traceparent``, else None."""
    if not value or len(value) != MAX_TRACEPARENT_CHARS:
        return None
    match = TRACEPARENT_RE.fullmatch(value)
    if match is None:
        return None
    trace_id, span_id, flags = match.groups()
    if trace_id == ZERO_TRACE_ID or span_id == ZERO_SPAN_ID:
        return None
    return TraceContext(trace_id, span_id, int(flags, 16))


def attempt_span(stored: str | None) -> TraceContext | None:
    """An attempt's span: a child of the traceparent its task stored (None without one)."""
    parent = parse(stored)
    return parent.child() if parent is not None else None


def from_header(value: str | None) -> TraceContext:
    """The trace a request carries in ``traceparent``; a missing or invalid one starts a new
    trace (W3C: a receiver ignores a traceparent it cannot parse)."""
    return parse(value) or TraceContext.new()


def checked(value: str | TraceContext | None, *, field: str = "trace") -> str | None:
    """A client argument as the stored traceparent: a context, a valid string, or None; a
    program that passes a malformed one hears about it (400 naming the field)."""
    if value is None or isinstance(value, TraceContext):
        return value.traceparent if value is not None else None
    if parse(value) is None:
        raise ValidationError(
            f"{field}: not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>), got {value[:80]!r}",
            field=field,
        )
    return value
