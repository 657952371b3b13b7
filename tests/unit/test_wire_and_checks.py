"""Names, codec and input checks: everything a producer validates before writing."""

from __future__ import annotations

import datetime as dt
import math
import time

import pydantic
import pytest

from prsm_tasks import wire
from prsm_tasks.errors import (
    InvalidTaskDataError,
    PayloadTooLargeError,
    PrsmError,
    ValidationError,
)
from prsm_tasks.store.options import TaskOptions, check_task_data


@pytest.mark.parametrize("name", ["a", "ml_inference_queue", "q-1", "x" * 64, "0_9-z"])
def test_valid_queue_names(name: str) -> None:
    assert wire.check_queue_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "a.b", "a b", "x" * 65, "q*", "q>", None, 5])
def test_invalid_queue_names(name: object) -> None:
    with pytest.raises(ValidationError) as info:
        wire.check_queue_name(name)
    assert info.value.field == "queue_name"
    assert info.value.status == 400


def test_task_ids_are_sortable_and_well_formed() -> None:
    ids = [wire.new_task_id() for _ in range(200)]
    assert all(wire.is_task_id(task_id) for task_id in ids)
    assert len(set(ids)) == len(ids)
    earlier = wire.new_task_id()
    time.sleep(0.002)
    assert earlier < wire.new_task_id()  # ids sort by creation time (ULID)


def test_codec_round_trip() -> None:
    value = {"a": [1, 2.5, "x", None, True], "b": {"nested": b"bytes"}}
    assert wire.unpack(wire.pack(value)) == value
    assert wire.decode_work(wire.encode_work(42, b"record", first=True)) == (42, b"record", True)
    assert wire.decode_work(wire.encode_work(7, b"r", first=False)) == (7, b"r", False)
    # a message from before the flag existed is never treated as a first message
    assert wire.decode_work(wire.pack((3, b"old"))) == (3, b"old", False)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"priority": 0}, "priority"),
        ({"priority": 11}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": "5"}, "priority"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1000}, "max_retries"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": math.inf}, "timeout_seconds"),
        ({"timeout_seconds": math.nan}, "timeout_seconds"),
        ({"task_type": "has space"}, "task_type"),
        ({"idempotency_key": ""}, "idempotency_key"),
    ],
)
def test_bad_options_name_their_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        TaskOptions(**fields)
    assert info.value.field == field
    assert info.value.status == 400


def test_options_are_frozen() -> None:
    options = TaskOptions(priority=7)
    with pytest.raises(pydantic.ValidationError):
        options.priority = 8  # type: ignore[misc]


@pytest.mark.parametrize(
    "task_data",
    [[1, 2], "text", None, {"when": dt.datetime.now()}, {"obj": object()}, {1: "int key"}],
)
def test_task_data_must_be_a_serialisable_object(task_data: object) -> None:
    with pytest.raises(ValidationError) as info:
        check_task_data(task_data, max_bytes=1024)
    assert isinstance(info.value, PrsmError)
    assert info.value.field == "task_data"


def test_task_data_over_the_limit() -> None:
    with pytest.raises(PayloadTooLargeError):
        check_task_data({"blob": "x" * 2000}, max_bytes=1024)
    assert check_task_data({"small": 1}, max_bytes=1024)


def test_invalid_task_data_is_a_validation_error() -> None:
    with pytest.raises(InvalidTaskDataError):
        check_task_data([], max_bytes=1024)
