"""Names are checked in full: a trailing newline (which ``$`` lets through) is refused."""

from __future__ import annotations

import pytest

from prsm_tasks import wire
from prsm_tasks.errors import PrsmError
from prsm_tasks.services.access import Principal
from prsm_tasks.store import types
from prsm_tasks.store.options import TaskOptions, idempotency_digest
from prsm_tasks.store.work import WorkWriter

TASK_ID = "task_01m8pgjm3jdjpxpdxahy1hd4p3"


@pytest.mark.parametrize("name", ["abc\n", "abc\n\n", "\nabc"])
def test_names_ending_in_a_newline_are_refused(name: str) -> None:
    for check in (wire.check_queue_name, wire.check_task_type, types.check_type_name):
        with pytest.raises(PrsmError):
            check(name)
    with pytest.raises(PrsmError):
        types.queue_of("ok", {"queue_name": name})
    assert not wire.is_task_id(TASK_ID + name)
    assert not wire.is_batch_id("batch_01m8pgjm3jdjpxpdxahy1hd4p3" + name)
    assert types.scope_token(name).startswith("h-")  # hashed, never a key token with "\n"
    assert types.name_token(name).startswith("x-")
    with pytest.raises(PrsmError):
        wire.event_subject("q", TASK_ID, "task_enqueued" + name)


def test_good_names_still_pass() -> None:
    assert wire.check_queue_name("abc") == "abc"
    assert wire.is_task_id(TASK_ID)
    assert wire.event_subject("q", TASK_ID, "task_enqueued").endswith(".task_enqueued")


def test_idempotency_digest_keeps_its_parts_apart() -> None:
    # a NUL inside a claim could shift the parts; the tenant "None" was the missing tenant
    assert idempotency_digest("a\x00b", "c", "k") != idempotency_digest("a", "b\x00c", "k")
    assert idempotency_digest("t", "u\x00k", "x") != idempotency_digest("t", "u", "k\x00x")
    assert idempotency_digest("None", "u", "k") != idempotency_digest(None, "u", "k")
    assert idempotency_digest("t", "u", "k") == idempotency_digest("t", "u", "k")


def test_rate_limit_buckets_keep_tenant_and_user_apart() -> None:
    first = Principal(user="b\x00c", tenant="a", roles=frozenset())
    second = Principal(user="c", tenant="a\x00b", roles=frozenset())
    assert first.owner_key != second.owner_key


def test_a_stored_queue_with_a_newline_is_refused_before_any_write() -> None:
    # a type stored before names were checked in full may still carry one
    writer = WorkWriter(
        nc=None,  # type: ignore[arg-type]  # prepare writes nothing
        store=None,  # type: ignore[arg-type]
        events=None,  # type: ignore[arg-type]
        idempotency=None,  # type: ignore[arg-type]
        max_task_data_bytes=1024,
    )
    with pytest.raises(PrsmError):
        writer.prepare("abc\n", {}, TaskOptions())
    assert writer.prepare("abc", {}, TaskOptions()).record.queue_name == "abc"
