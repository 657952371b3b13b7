"""The time rules, pure: cron in a zone with the DST rule, intervals, one-time, bad input,
and the misfire plan the firing step applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter

from prsm_tasks.errors import ValidationError
from prsm_tasks.schedules.dependencies import would_cycle
from prsm_tasks.schedules.misfire import plan_fire
from prsm_tasks.schedules.rules import TimeRule, parse_instant, parse_rule

NOW = datetime(2024, 1, 8, 10, 0, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def cron(expression: str, zone: str, now: datetime = NOW) -> TimeRule:
    return parse_rule("cron", expression, zone, now=now)


def run_times(rule: TimeRule, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = rule.next_after(after)  # type: ignore[assignment]
        found.append(after)
    return found


def test_the_documents_example_is_answered_in_utc() -> None:
    rule = cron("0 0 * * *", "America/New_York")
    assert rule.next_after(NOW) == utc(2024, 1, 9, 5, 0)


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # 02:30 does not exist: it runs at the end of the gap (03:00 local, the transition)
        ("America/New_York", utc(2024, 3, 10), utc(2024, 3, 10, 7, 0)),
        ("Europe/London", utc(2024, 3, 31), utc(2024, 3, 31, 1, 0)),
    ],
)
def test_a_time_in_the_spring_gap_runs_when_the_gap_ends(
    zone: str, day: datetime, expected: datetime
) -> None:
    expression = "30 2 * * *" if zone == "America/New_York" else "30 1 * * *"
    rule = cron(expression, zone, now=day - timedelta(days=2))
    first, second = run_times(rule, day - timedelta(hours=1), 2)
    assert first == expected
    assert second - first > timedelta(hours=20)  # the next day, once


def test_every_time_inside_the_gap_collapses_into_one_run() -> None:
    rule = cron("*/15 2 * * *", "America/New_York", now=utc(2024, 3, 1))
    times = run_times(rule, utc(2024, 3, 10, 6, 0), 3)
    assert times[0] == utc(2024, 3, 10, 7, 0)
    assert times[1] == utc(2024, 3, 11, 6, 0)  # 02:00 EDT of the next day


@pytest.mark.parametrize(
    ("zone", "expression", "day", "first"),
    [
        ("America/New_York", "30 1 * * *", utc(2024, 11, 3), utc(2024, 11, 3, 5, 30)),
        ("Europe/London", "30 1 * * *", utc(2024, 10, 27), utc(2024, 10, 27, 0, 30)),
    ],
)
def test_a_time_that_happens_twice_runs_once_at_its_first_occurrence(
    zone: str, expression: str, day: datetime, first: datetime
) -> None:
    rule = cron(expression, zone, now=day - timedelta(days=2))
    times = run_times(rule, day - timedelta(hours=2), 2)
    assert times[0] == first
    assert times[1] - times[0] > timedelta(hours=20)


def test_croniter_alone_runs_a_repeated_time_twice() -> None:
    """What we correct: croniter with an aware start runs 01:30 on both passes."""
    from zoneinfo import ZoneInfo

    start = datetime(2024, 11, 3, 0, 0, tzinfo=ZoneInfo("America/New_York"))
    it = croniter("30 1 * * *", start)
    firsts = [it.get_next(datetime).astimezone(UTC) for _ in range(2)]
    assert firsts == [utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 6, 30)]


def test_a_half_hourly_rule_skips_the_second_pass_of_the_fold() -> None:
    rule = cron("*/30 * * * *", "America/New_York", now=utc(2024, 11, 1))
    times = run_times(rule, utc(2024, 11, 3, 4, 45), 4)
    # 01:00 EDT, 01:30 EDT, (01:00 and 01:30 EST skipped), 02:00 EST
    assert times == [
        utc(2024, 11, 3, 5, 0),
        utc(2024, 11, 3, 5, 30),
        utc(2024, 11, 3, 7, 0),
        utc(2024, 11, 3, 7, 30),
    ]
    # from inside the second pass, the last due time is the first pass's 01:30
    assert rule.latest_at_or_before(utc(2024, 11, 3, 6, 40)) == utc(2024, 11, 3, 5, 30)


def test_six_fields_have_seconds_first_and_macros_work() -> None:
    assert cron("15 0 0 * * *", "UTC").next_after(NOW) == utc(2024, 1, 9, 0, 0, 15)
    assert cron("@hourly", "UTC").next_after(NOW) == utc(2024, 1, 8, 11, 0)
    assert cron("@daily", "Europe/London").next_after(NOW) == utc(2024, 1, 9, 0, 0)


def test_interval_counts_from_its_first_time() -> None:
    rule = parse_rule("interval", "5m", "UTC", now=NOW)
    assert rule.next_after(NOW) == NOW + timedelta(minutes=5)
    assert rule.next_after(NOW + timedelta(minutes=7)) == NOW + timedelta(minutes=10)
    assert rule.latest_at_or_before(NOW + timedelta(minutes=7)) == NOW + timedelta(minutes=5)


def test_one_time_runs_once() -> None:
    at = NOW + timedelta(hours=1)
    rule = parse_rule("one_time", None, "UTC", at=at, now=NOW)
    assert rule.next_after(NOW) == at
    assert rule.next_after(at) is None


def test_a_time_without_offset_is_read_in_the_zone() -> None:
    assert parse_instant("2024-07-01T09:00:00", "Europe/London") == utc(2024, 7, 1, 8, 0)
    assert parse_instant("2024-07-01T09:00:00Z", "Europe/London") == utc(2024, 7, 1, 9, 0)


@pytest.mark.parametrize(
    ("kind", "expression", "zone", "field"),
    [
        ("cron", "61 * * * *", "UTC", "schedule_expression"),
        ("cron", "* * *", "UTC", "schedule_expression"),
        ("cron", "0 0 * * * 2024", "UTC", "schedule_expression"),
        ("cron", "0 0 * * * * *", "UTC", "schedule_expression"),
        ("cron", "R 0 * * *", "UTC", "schedule_expression"),
        ("cron", "H * * * *", "UTC", "schedule_expression"),
        ("cron", "@reboot", "UTC", "schedule_expression"),
        ("cron", "0 0 30 2 *", "UTC", "schedule_expression"),
        ("cron", "*" * 129, "UTC", "schedule_expression"),
        ("cron", "(" * 100 + "a" * 20, "UTC", "schedule_expression"),
        ("cron", None, "UTC", "schedule_expression"),
        ("interval", "0", "UTC", "schedule_expression"),
        ("interval", "400d", "UTC", "schedule_expression"),
        ("interval", "1e9", "UTC", "schedule_expression"),
        ("cron", "0 0 * * *", "Mars/Olympus", "timezone"),
        ("cron", "0 0 * * *", "../../etc/passwd", "timezone"),
        ("cron", "0 0 * * *", "A" * 200, "timezone"),
        ("one_time", None, "UTC", "next_execution_time"),
    ],
)
def test_bad_rules_name_their_field(
    kind: str, expression: str | None, zone: str, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_rule(kind, expression, zone, now=NOW)
    assert caught.value.field == field


def test_misfire_run_once_makes_one_run_for_all_missed() -> None:
    rule = parse_rule("interval", "60", "UTC", now=NOW)
    due = NOW + timedelta(minutes=1)
    plan = plan_fire(rule, due, due + timedelta(minutes=10, seconds=5))
    assert plan.run_at == (due + timedelta(minutes=10),)
    assert plan.next_due == due + timedelta(minutes=11)
    assert plan.missed


def test_misfire_skip_runs_nothing_late_and_an_on_time_fire() -> None:
    rule = parse_rule("interval", "60", "UTC", now=NOW)
    due = NOW + timedelta(minutes=1)
    late = plan_fire(rule, due, due + timedelta(minutes=10, seconds=5), "skip")
    assert late.run_at == (due + timedelta(minutes=10),)  # within the grace of the latest
    hourly = parse_rule("interval", "1h", "UTC", now=NOW)
    very_late = plan_fire(
        hourly, NOW + timedelta(hours=1), NOW + timedelta(hours=3, minutes=5), "skip"
    )
    assert very_late.run_at == ()
    assert very_late.next_due == NOW + timedelta(hours=4)
    on_time = plan_fire(rule, due, due + timedelta(seconds=1), "skip")
    assert on_time.run_at == (due,) and not on_time.missed


def test_misfire_backfill_runs_the_latest_up_to_its_limit() -> None:
    rule = cron("0 * * * *", "UTC", now=NOW)
    due = utc(2024, 1, 8, 11, 0)
    now = utc(2024, 1, 8, 15, 30)
    plan = plan_fire(rule, due, now, "backfill", backfill_limit=3)
    assert plan.run_at == (utc(2024, 1, 8, 13), utc(2024, 1, 8, 14), utc(2024, 1, 8, 15))
    everything = plan_fire(rule, due, now, "backfill", backfill_limit=100)
    assert everything.run_at[0] == due and len(everything.run_at) == 5
    assert plan.next_due == utc(2024, 1, 8, 16)


def test_an_early_fire_runs_nothing_and_keeps_its_due_time() -> None:
    rule = cron("0 * * * *", "UTC", now=NOW)
    plan = plan_fire(rule, utc(2024, 1, 8, 11), utc(2024, 1, 8, 10, 59))
    assert plan.run_at == () and plan.next_due == utc(2024, 1, 8, 11)


def test_a_one_time_fire_leaves_nothing_to_arm() -> None:
    at = NOW + timedelta(hours=1)
    rule = parse_rule("one_time", None, "UTC", at=at, now=NOW)
    plan = plan_fire(rule, at, at + timedelta(seconds=2))
    assert plan.run_at == (at,) and plan.next_due is None


def test_cycles_are_found() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": []}
    assert would_cycle("c", "a", lambda node: graph[node])
    assert would_cycle("a", "a", lambda node: graph[node])
    assert not would_cycle("a", "c", lambda node: graph[node])
