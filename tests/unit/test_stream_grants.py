"""Stream grants: signed, short-lived, for one task's events only; pure, no server."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prsm_tasks.errors import ValidationError
from prsm_tasks.services.grants import (
    GRANT_MARGIN_S,
    GRANT_PARAM,
    MAX_GRANT_LIFETIME_S,
    StreamGrants,
    grant_lifetime_s,
    with_grant,
)

KEY = bytes(range(32))
TASK = "task_01abcdefghjkmnpqrstvwxyz0"


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def grants(clock: FakeClock) -> StreamGrants:
    return StreamGrants(KEY, clock=clock)


def test_a_grant_reads_back_for_its_task_tenant_and_user(grants: StreamGrants) -> None:
    grant = grants.sign(TASK, "acme", "alice", 60)
    assert grant.startswith("g1.")
    assert grants.check(grant, TASK, "acme", "alice")
    assert grants.check(grants.sign(TASK, None, None, 60), TASK, None, None)


def test_any_edge_with_the_same_key_accepts_it(grants: StreamGrants, clock: FakeClock) -> None:
    grant = grants.sign(TASK, "acme", "alice", 60)
    assert StreamGrants(KEY, clock=clock).check(grant, TASK, "acme", "alice")
    assert not StreamGrants(bytes(32), clock=clock).check(grant, TASK, "acme", "alice")


@pytest.mark.parametrize(
    ("task_id", "tenant", "user"),
    [
        ("task_01abcdefghjkmnpqrstvwxyz1", "acme", "alice"),
        (TASK, "other", "alice"),
        (TASK, "acme", "bob"),
        (TASK, None, "alice"),
        (TASK, "acme", None),
        (TASK, "", "alice"),
        (TASK, "acme", ""),
    ],
)
def test_a_grant_reads_no_other_stream(
    grants: StreamGrants, task_id: str, tenant: str | None, user: str | None
) -> None:
    grant = grants.sign(TASK, "acme", "alice", 60)
    assert not grants.check(grant, task_id, tenant, user)


def test_fields_cannot_shift_into_each_other(grants: StreamGrants) -> None:
    grant = grants.sign(TASK, "a.b", "c", 60)
    assert not grants.check(grant, TASK, "a", "b.c")


def test_an_expired_grant_is_refused(grants: StreamGrants, clock: FakeClock) -> None:
    grant = grants.sign(TASK, "acme", "alice", 60)
    clock.now += 59
    assert grants.check(grant, TASK, "acme", "alice")
    clock.now += 2
    assert not grants.check(grant, TASK, "acme", "alice")


def test_a_later_expiry_cannot_be_written_in(grants: StreamGrants) -> None:
    version, expiry, mac = grants.sign(TASK, "acme", "alice", 60).split(".")
    longer = f"{version}.{int(expiry) + 86_400}.{mac}"
    assert not grants.check(longer, TASK, "acme", "alice")
    assert not grants.check(f"{version}.0{expiry}.{mac}", TASK, "acme", "alice")


def test_tampered_and_malformed_grants_are_refused(grants: StreamGrants) -> None:
    grant = grants.sign(TASK, "acme", "alice", 60)
    version, expiry, mac = grant.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    hostile: list[object] = [
        "",
        ".",
        "..",
        "g1",
        "g1..",
        f"g2.{expiry}.{mac}",
        f"{version}.{expiry}.{flipped}",
        f"{version}.{expiry}.{mac}=",
        f"{version}.{expiry}.{mac[:-1]}",
        f"{version}.-{expiry}.{mac}",
        f"{version}.{expiry}.{mac}.extra",
        f"{version}.{'٣' * len(expiry)}.{mac}",
        grant + "x" * 10_000,
        "g1." + "9" * 100_000 + "." + mac,
        "é" * 50,
        "\x00" * 50,
        None,
        12345,
        b"g1.1.abc",
    ]
    for bad in hostile:
        assert not grants.check(bad, TASK, "acme", "alice"), bad


@given(st.text(max_size=200))
def test_no_string_makes_check_raise(text: str) -> None:
    grants = StreamGrants(KEY, clock=FakeClock())
    assert grants.check(text, TASK, "acme", "alice") is False
    assert grants.check(text, text, text, text) is False


def test_lifetime_covers_every_attempt_plus_a_margin() -> None:
    assert grant_lifetime_s(300, 3) == 300 * 4 + GRANT_MARGIN_S
    assert grant_lifetime_s(300, 0) == 300 + GRANT_MARGIN_S
    assert grant_lifetime_s(300, -1) == 300 + GRANT_MARGIN_S
    assert grant_lifetime_s(86_400, 100) == MAX_GRANT_LIFETIME_S
    assert grant_lifetime_s(float("inf"), 3) == MAX_GRANT_LIFETIME_S
    assert grant_lifetime_s(float("nan"), 3) == MAX_GRANT_LIFETIME_S


def test_sign_refuses_a_lifetime_out_of_bounds(grants: StreamGrants) -> None:
    for lifetime_s in (0, -1, MAX_GRANT_LIFETIME_S + 1, float("nan")):
        with pytest.raises(ValidationError):
            grants.sign(TASK, "acme", "alice", lifetime_s)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValidationError):
        StreamGrants(b"short")


def test_with_grant_sets_the_query_parameter() -> None:
    assert with_grant("/tasks/t/events", "g1.1.x") == f"/tasks/t/events?{GRANT_PARAM}=g1.1.x"
    url = with_grant("https://h/e?a=1&grant=old", "g1.2.y")
    assert url == "https://h/e?a=1&grant=g1.2.y"
