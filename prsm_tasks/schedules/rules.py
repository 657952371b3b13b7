"""Time rules: when a schedule is due, computed in its own time zone, answered in UTC.

Kinds: ``cron`` (5 fields, or 6 with seconds first, or an ``@daily``-style macro; croniter
matches the fields), ``interval`` (every N seconds from an anchor), ``one_time`` (one
instant).

Cron fields are matched against the zone's wall clock as naive local times, and each local
time is then placed on the UTC line by the DST rule, which croniter alone does not follow:

- a local time that does not exist (the spring-forward gap) runs at the first instant after
  the gap (the transition itself); several such times collapse into that one run;
- a local time that happens twice (fall back) runs once, at its first occurrence
  (croniter by itself runs it twice, once per offset).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

from prsm_tasks.errors import ValidationError

Kind = Literal["cron", "interval", "one_time"]
KINDS: tuple[Kind, ...] = ("cron", "interval", "one_time")
EXPRESSION_FIELD = "schedule_expression"
TIMEZONE_FIELD = "timezone"
MAX_EXPRESSION_CHARS = 128
MAX_ZONE_CHARS = 64
MIN_INTERVAL_S = 1
MAX_INTERVAL_S = 366 * 86_400
MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
# one cron field: digits, names and the operators croniter knows; linear regexes only
CRON_FIELD_RE = re.compile(r"[0-9A-Za-z*/,?#-]{1,40}")
WORD_RE = re.compile(r"[A-Za-z]+")
CRON_WORDS = frozenset(
    {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
    | {"sun", "mon", "tue", "wed", "thu", "fri", "sat", "l"}
)
INTERVAL_RE = re.compile(r"([1-9][0-9]{0,9})([smhd]?)")
UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}
ZONE_RE = re.compile(r"[A-Za-z0-9_+\-]{1,32}(/[A-Za-z0-9_+\-]{1,32}){0,3}")
# a wall-clock search that finds nothing in this many candidates has no next time (a fold's
# hour of an every-second rule is 3600)
MAX_CANDIDATES = 4000


def zone_of(name: object) -> ZoneInfo:
    """The IANA zone ``name``; 400 naming ``timezone`` otherwise (no file paths, no
    unbounded names reach zoneinfo)."""
    if not isinstance(name, str) or len(name) > MAX_ZONE_CHARS or not ZONE_RE.fullmatch(name):
        raise ValidationError(
            f"timezone: not an IANA time zone name: {name!r}", field=TIMEZONE_FIELD
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValidationError(
            f"timezone: unknown time zone {name!r}", field=TIMEZONE_FIELD
        ) from exc


def bad_expression(message: str) -> ValidationError:
    return ValidationError(f"schedule_expression: {message}", field=EXPRESSION_FIELD)


def check_cron(expression: str) -> tuple[str, bool]:
    """A cron expression croniter may see, and whether its first field is seconds."""
    text = expression.strip()
    if text.lower() in MACROS:
        return text.lower(), False
    fields = text.split()
    if len(fields) not in (5, 6):
        raise bad_expression("a cron expression has 5 fields (6 with seconds first) or is a macro")
    for field in fields:
        if not CRON_FIELD_RE.fullmatch(field):
            raise bad_expression(f"invalid cron field {field!r}")
        for word in WORD_RE.findall(field):
            if word.lower() not in CRON_WORDS:  # no R (random) or H (hashed) fields
                raise bad_expression(f"invalid cron field {field!r}")
    return " ".join(fields), len(fields) == 6


def interval_seconds(expression: str) -> int:
    """``300``, ``300s``, ``5m``, ``2h``, ``1d``: whole seconds, bounded."""
    match = INTERVAL_RE.fullmatch(expression.strip())
    if match is None:
        raise bad_expression("an interval is a whole number of seconds (or 5m, 2h, 1d)")
    seconds = int(match.group(1)) * UNIT_S[match.group(2)]
    if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
        raise bad_expression(f"an interval is {MIN_INTERVAL_S}..{MAX_INTERVAL_S} seconds")
    return seconds


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time of ``zone`` as a UTC instant, by the DST rule."""
    first = local.replace(tzinfo=zone, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local:
        return instant  # exists; in a fold, fold=0 is its first occurrence
    return gap_end(local.replace(tzinfo=zone, fold=1).astimezone(UTC), instant, zone)


def gap_end(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    """The transition instant of a gap: the first second in (low, high] whose offset is the
    post-gap one (``high`` has the pre-gap offset, ``low`` the post-gap one, for a local
    time inside the gap; a binary search over whole seconds)."""
    after_offset = high.astimezone(zone).utcoffset()
    lo, hi = int(min(low, high).timestamp()), int(max(low, high).timestamp())
    while lo < hi:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid + 1
    return datetime.fromtimestamp(lo, UTC)


@dataclass(frozen=True)
class TimeRule:
    """One schedule's rule: ``next_after`` and ``latest_at_or_before`` a UTC instant."""

    kind: Kind
    zone: ZoneInfo
    expression: str | None = None
    with_seconds: bool = False
    interval_s: int = 0
    anchor: datetime | None = None  # interval: its first due time; one_time: the time

    def next_after(self, after: datetime) -> datetime | None:
        """The first due time strictly after ``after`` (UTC), None when there is none."""
        if self.kind == "one_time":
            return self.anchor if self.anchor is not None and self.anchor > after else None
        if self.kind == "interval":
            assert self.anchor is not None
            if after < self.anchor:
                return self.anchor
            steps = int((after - self.anchor).total_seconds() // self.interval_s) + 1
            return self.anchor + timedelta(seconds=steps * self.interval_s)
        return self._cron_next(after)

    def latest_at_or_before(self, at: datetime) -> datetime | None:
        """The last due time at or before ``at`` (UTC), None when there is none."""
        if self.kind == "one_time":
            return self.anchor if self.anchor is not None and self.anchor <= at else None
        if self.kind == "interval":
            assert self.anchor is not None
            if at < self.anchor:
                return None
            steps = int((at - self.anchor).total_seconds() // self.interval_s)
            return self.anchor + timedelta(seconds=steps * self.interval_s)
        return self._cron_latest(at)

    def _iterator(self, local_start: datetime) -> croniter:
        assert self.expression is not None
        return croniter(self.expression, local_start, second_at_beginning=self.with_seconds)

    def _cron_next(self, after: datetime) -> datetime | None:
        local = after.astimezone(self.zone).replace(tzinfo=None)
        return self._search(self._iterator(local).get_next, lambda instant: instant > after)

    def _cron_latest(self, at: datetime) -> datetime | None:
        aware = at.astimezone(self.zone)
        local = aware.replace(tzinfo=None) + timedelta(seconds=1)
        if aware.fold:
            # in the second pass of a fold, the first pass's later wall-clock times (which
            # are the due ones) read after ``at``'s own: start past them
            local += fold_width(aware)
        return self._search(self._iterator(local).get_prev, lambda instant: instant <= at)

    def _search(
        self, step: Callable[[type[datetime]], datetime], wanted: Callable[[datetime], bool]
    ) -> datetime | None:
        try:
            for _ in range(MAX_CANDIDATES):
                instant = to_utc(step(datetime), self.zone)
                if wanted(instant):
                    return instant
        except CroniterError:
            return None
        return None


def fold_width(aware: datetime) -> timedelta:
    """How much wall-clock time happens twice at this fold (an hour, mostly)."""
    first = aware.replace(fold=0).utcoffset() or timedelta(0)
    second = aware.replace(fold=1).utcoffset() or timedelta(0)
    return abs(first - second)


def parse_rule(
    kind: str,
    expression: str | None,
    timezone: str,
    *,
    at: datetime | None = None,
    now: datetime,
    checked: bool = False,
) -> TimeRule:
    """The rule of a schedule, checked: 400 naming the field at fault. ``at``: the time a
        one_time schedule runs, or an interval's first due time. ``checked``: a stored rule, read
    back (its expression is not searched for a match again)."""
    zone = zone_of(timezone)
    if kind not in KINDS:
        raise ValidationError(f"task_type: one of {', '.join(KINDS)}", field="task_type")
    if expression is not None and len(expression) > MAX_EXPRESSION_CHARS:
        raise bad_expression(f"at most {MAX_EXPRESSION_CHARS} characters")
    if kind == "one_time":
        if at is None:
            raise ValidationError(
                "next_execution_time: a one_time task needs it", field="next_execution_time"
            )
        return TimeRule(kind="one_time", zone=zone, anchor=at)
    if not expression:
        raise bad_expression(f"a {kind} task needs one")
    if kind == "interval":
        seconds = interval_seconds(expression)
        anchor = at if at is not None else now.replace(microsecond=0) + timedelta(seconds=seconds)
        return TimeRule(
            kind="interval",
            zone=zone,
            interval_s=seconds,
            anchor=anchor,
            expression=expression.strip(),
        )
    if at is not None:
        raise ValidationError(
            "next_execution_time: a cron task's times come from its expression",
            field="next_execution_time",
        )
    text, with_seconds = check_cron(expression)
    try:
        rule = TimeRule(kind="cron", zone=zone, expression=text, with_seconds=with_seconds)
        rule._iterator(datetime(2000, 1, 1))  # parses the fields
    except (CroniterError, ValueError, KeyError) as exc:
        raise bad_expression(f"invalid cron expression: {exc}") from exc
    if not checked and rule.next_after(now) is None:
        raise bad_expression("the expression never matches a date")
    return rule


def parse_instant(value: str, timezone: str, *, field: str = "next_execution_time") -> datetime:
    """An ISO-8601 instant; one without an offset is a wall-clock time of ``timezone``."""
    if len(value) > 64:
        raise ValidationError(f"{field}: at most 64 characters", field=field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(f"{field}: not an ISO-8601 time: {value!r}", field=field) from exc
    if parsed.tzinfo is None:
        return to_utc(parsed, zone_of(timezone))
    return parsed.astimezone(UTC)
