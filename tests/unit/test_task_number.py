"""Task numbers: the create revision, stored by the first update, pure rules only."""

from __future__ import annotations

import pytest

from prsm_tasks import models, wire
from prsm_tasks.errors import PrsmError
from prsm_tasks.models import TaskRecord
from prsm_tasks.store.tasks import decode_record, encode_record, encode_update


def new_record(**fields: object) -> TaskRecord:
    base: dict[str, object] = {
        "task_id": "task_01abcdefghjkmnpqrstvwxyz0",
        "queue_name": "q",
        "created_at": 1.0,
        "enqueued_at": 1.0,
    }
    base.update(fields)
    return TaskRecord.model_validate(base)


def test_a_never_updated_record_is_numbered_by_its_revision() -> None:
    assert models.task_number(new_record(), 7) == 7


def test_a_stored_number_wins_over_later_revisions() -> None:
    assert models.task_number(new_record(created_rev=7), 42) == 7


def test_plain_fields_are_numbered_the_same() -> None:
    fields = models.record_fields(new_record())
    assert models.task_number(fields, 7) == 7
    assert models.task_number({**fields, "created_rev": 3}, 7) == 3


def test_a_read_without_its_revision_cannot_number_a_new_record() -> None:
    with pytest.raises(PrsmError):
        models.task_number(new_record(), 0)
    assert models.task_number(new_record(created_rev=3), 0) == 3


def test_numbered_sets_only_when_absent() -> None:
    assert models.numbered({"created_rev": None}, 5) == {"created_rev": 5}
    assert models.numbered({}, 5) == {"created_rev": 5}
    assert models.numbered({"created_rev": 3}, 5) == {"created_rev": 3}


def test_the_first_update_stores_the_revision_it_is_made_against() -> None:
    stored = wire.unpack(encode_update(new_record(), 11))
    assert stored["created_rev"] == 11
    later = wire.unpack(encode_update(new_record(created_rev=11), 30))
    assert later["created_rev"] == 11


def test_the_number_survives_every_transition() -> None:
    record = decode_record(encode_record(new_record()), 4)
    assert record.created_rev == 4
    claimed = models.claim(record, node_id="n1", now=2.0)
    done = models.complete(claimed, result={"ok": True}, now=3.0)
    assert done.created_rev == 4
    fields = models.claim_fields(models.record_fields(record), node_id="n1", now=2.0)
    assert models.complete_fields(fields, result=None, now=3.0)["created_rev"] == 4


def test_a_record_written_before_the_field_still_loads() -> None:
    old = models.record_fields(new_record())
    del old["created_rev"]
    loaded = TaskRecord.model_validate(wire.unpack(wire.pack(old)))
    assert loaded.created_rev is None
    assert models.task_number(loaded, 9) == 9
    assert decode_record(wire.pack(old), 9).created_rev == 9
