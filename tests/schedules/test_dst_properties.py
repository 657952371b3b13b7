"""Properties of the DST rule over many daily rules and both transitions of two zones: each
rule runs exactly once per local day, at its wall-clock time when that exists (the first
occurrence when it happens twice) and at the end of the gap when it does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from prsm_tasks.schedules.rules import parse_rule

# (zone, the local day of a transition)
TRANSITIONS = [
    ("America/New_York", datetime(2024, 3, 10)),
    ("America/New_York", datetime(2024, 11, 3)),
    ("Europe/London", datetime(2024, 3, 31)),
    ("Europe/London", datetime(2024, 10, 27)),
]


@settings(max_examples=150, deadline=None)
@given(
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    transition=st.sampled_from(TRANSITIONS),
)
def test_a_daily_rule_runs_once_per_local_day(
    hour: int, minute: int, transition: tuple[str, datetime]
) -> None:
    zone_name, day = transition
    zone = ZoneInfo(zone_name)
    rule = parse_rule(
        "cron", f"{minute} {hour} * * *", zone_name, now=datetime(2024, 1, 1, tzinfo=UTC)
    )
    start = (day - timedelta(days=2)).replace(tzinfo=zone).astimezone(UTC)
    runs = []
    after = start
    for _ in range(5):
        after = rule.next_after(after)  # type: ignore[assignment]
        runs.append(after)
    assert runs == sorted(set(runs))  # strictly later each time
    local_days = [run.astimezone(zone).date() for run in runs]
    assert len(set(local_days)) == 5  # one run per local day
    for run in runs:
        local = run.astimezone(zone)
        wall = local.replace(hour=hour, minute=minute, tzinfo=None)
        exists = wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if exists == wall:
            # it exists: at that wall-clock time, and its first occurrence
            assert local.replace(tzinfo=None) == wall
            assert run == wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        else:
            # in the gap: the first instant after it, where the offset has just changed
            before = (run - timedelta(seconds=1)).astimezone(zone)
            assert before.utcoffset() != local.utcoffset()
