"""Pure parts of the edge, without a server: the rate limiter, the index, the time format,
and RS256 tokens from a JWKS endpoint."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from prsm_tasks.edge.http.auth import AuthConfig, JwtVerifier
from prsm_tasks.edge.http.ratelimit import RateLimiter
from prsm_tasks.errors import RateLimitedError, UnauthorizedError
from prsm_tasks.services.timestamps import iso
from prsm_tasks.services.view import Entry, TaskView


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_and_counts_bulk_tasks() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=2.0, burst=4, clock=clock)
    for _ in range(4):
        limiter.take("alice")
    with pytest.raises(RateLimitedError) as limited:
        limiter.take("alice")
    assert limited.value.retry_after_s == 1
    limiter.take("bob")  # another user's bucket is full
    clock.now += 1.0  # two tokens back
    limiter.take("alice", cost=2)
    with pytest.raises(RateLimitedError):
        limiter.take("alice")
    clock.now += 2.0
    limiter.take("alice", cost=10)  # a bulk bigger than the burst goes through a full bucket...
    with pytest.raises(RateLimitedError) as debt:
        limiter.take("alice")
    assert debt.value.retry_after_s == 4  # ...and leaves it in debt: (1 - -6) / 2 s
    assert RateLimiter(rate_per_s=0, burst=1).enabled is False


def entry(
    task_id: str, *, priority: int, at: float, status: str = "enqueued", rev: int = 1
) -> Entry:
    return Entry(
        task_id=task_id, tenant="t", user="u", queue="q", status=status, priority=priority,
        created_at=at, enqueued_at=at, started_at=None, completed_at=None,
        first_started_at=None, retry_count=0, rev=rev,
    )  # fmt: skip


def test_positions_and_updates_in_the_index() -> None:
    view = TaskView()
    view.apply(entry("a", priority=5, at=1))
    view.apply(entry("b", priority=5, at=2))
    view.apply(entry("c", priority=9, at=3))
    view.apply(entry("d", priority=1, at=4))
    assert [view.position(t) for t in "abcd"] == [2, 3, 1, 4]
    view.apply(entry("c", priority=9, at=3, status="processing", rev=2))
    assert [view.position(t) for t in "abd"] == [1, 2, 3]
    view.apply(entry("c", priority=9, at=3, status="enqueued", rev=1))  # older: ignored
    assert view.position("c") is None
    done = entry("c", priority=9, at=3, status="completed", rev=3)
    done.started_at, done.completed_at, done.first_started_at = 3.5, 5.5, 3.5
    view.apply(done)
    assert view.average_execution_s("q") == 2.0 and view.average_wait_s("q") == 0.5
    scope = view.visible("t", "u", admin=False)
    assert [e.task_id for e in scope.newest_first()] == ["d", "c", "b", "a"]
    assert scope.counts["completed"] == 1 and scope.counts["enqueued"] == 3
    view.on_entry("a", None, 9)  # deleted
    assert view.position("b") == 1 and "a" not in view.entries


def test_iso_timestamps_end_in_z() -> None:
    assert iso(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso(1_700_000_000.1234) == "2023-11-14T22:13:20.123Z"
    assert iso(None) is None


async def test_rs256_tokens_from_a_jwks_url() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk["kid"] = "key-1"
    app = web.Application()

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk]})

    app.router.add_get("/jwks.json", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    verifier = JwtVerifier(AuthConfig(jwks_url=f"http://127.0.0.1:{port}/jwks.json"))
    try:
        claims = {"sub": "jo", "tenant": "jw", "roles": ["admin"], "exp": int(time.time()) + 60}
        good = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "key-1"})
        principal = await verifier.verify(good)
        assert principal.user == "jo" and principal.is_admin
        unknown = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "key-2"})
        with pytest.raises(UnauthorizedError):
            await verifier.verify(unknown)
    finally:
        await verifier.close()
        await runner.cleanup()


def test_view_keeps_a_final_state_against_late_writes() -> None:
    """The edge's own cancel shows at once; an older write arriving later cannot undo it."""
    from prsm_tasks.services.view import Entry, TaskView

    view = TaskView()

    def entry(status: str, rev: int, **fields: object) -> Entry:
        values: dict[str, object] = {
            "task_id": "task_x",
            "tenant": "t",
            "user": "u",
            "queue": "q",
            "status": status,
            "priority": 5,
            "created_at": 1.0,
            "enqueued_at": 1.0,
            "started_at": 2.0,
            "completed_at": None,
            "first_started_at": 2.0,
            "retry_count": 0,
            "rev": rev,
        }
        values.update(fields)
        return Entry(**values)  # type: ignore[arg-type]

    view.apply(entry("processing", 5))
    view.apply(entry("cancelled", 0, completed_at=3.0))  # this edge's cancel, provisional
    view.apply(entry("processing", 6))  # a progress write made before the cancel
    assert view.entries["task_x"].status == "cancelled"
    view.apply(entry("cancelled", 7, completed_at=3.0))  # the cancel, from the watch
    assert sum(view.finished_by_day.values()) == 1
    assert dict(view.tenants["t"].counts) == {"processing": 0, "cancelled": 1}
