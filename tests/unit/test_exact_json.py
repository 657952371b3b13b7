"""wire.loads_exact: JSON as orjson reads it, refusing integers the wire cannot carry."""

from __future__ import annotations

import json

import orjson
import pytest

from prsm_tasks import wire
from prsm_tasks.errors import InvalidTaskDataError, ValidationError


def loads(value: object) -> object:
    return wire.loads_exact(json.dumps(value).encode())


@pytest.mark.parametrize(
    ("document", "error", "field"),
    [
        ({"task_data": {"n": 10**40}}, InvalidTaskDataError, "task_data.n"),
        ({"task_data": {"n": 2**64}}, InvalidTaskDataError, "task_data.n"),
        ({"task_data": {"n": -(2**63) - 1}}, InvalidTaskDataError, "task_data.n"),
        (
            {"tasks": [{}, {"task_data": {"a": [0, 10**30]}}]},
            InvalidTaskDataError,
            "tasks[1].task_data.a[1]",
        ),
        ({"parameters": {"size": {"w": 10**20}}}, InvalidTaskDataError, "parameters.size.w"),
        ({"priority": 10**20}, ValidationError, "priority"),
        ([1, 10**20], ValidationError, "[1]"),
    ],
)
def test_a_wide_integer_names_its_field(
    document: object, error: type[ValidationError], field: str
) -> None:
    with pytest.raises(error) as refused:
        loads(document)
    assert type(refused.value) is error
    assert refused.value.field == field


@pytest.mark.parametrize(
    "document",
    [
        {"task_data": {"max": 2**64 - 1, "min": -(2**63)}},
        {"s": "9" * 40, "f": 1.0000000000000000000000001, "e": 12345678901234567890.5},
        {"n": 7, "nested": [{"x": None, "y": True}]},
    ],
)
def test_what_the_wire_carries_reads_as_orjson_reads_it(document: object) -> None:
    raw = json.dumps(document).encode()
    assert wire.loads_exact(raw) == orjson.loads(raw)


def test_invalid_json_is_orjsons_error() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        wire.loads_exact(b'{"n": 12345678901234567890123')


def test_a_deep_document_is_checked_without_recursion() -> None:
    deep: object = 10**40
    for _ in range(5000):
        deep = [deep]
    assert wire.find_wide_integer(deep) == (0,) * 5000


def test_packing_names_the_wide_integer() -> None:
    with pytest.raises(InvalidTaskDataError) as refused:
        wire.pack_checked({"a": (1, 10**30)}, what="task_data", field="task_data", max_bytes=99)
    assert refused.value.field == "task_data.a[1]"
    with pytest.raises(ValidationError) as refused:
        wire.pack_checked({"r": 2**70}, what="handler result", field="result", max_bytes=99)
    assert type(refused.value) is ValidationError and refused.value.field == "result.r"


def test_a_body_nested_beyond_the_limit_is_refused_naming_its_field() -> None:
    depth = 1000  # orjson reads up to 1024 levels, but writes at most 254
    for digits in (b"12345678901234567890", b"1"):
        with pytest.raises(ValidationError) as refused:
            wire.loads_exact(b"[" * depth + digits + b"]" * depth)
        assert refused.value.field == "body"
    deep = b'{"a": ' * 300 + b"1" + b"}" * 300
    for body, field in (
        (b'{"task_data": ' + deep + b"}", "task_data"),
        (b'{"tasks": [{"task_data": {}}, {"task_data": ' + deep + b"}]}", "tasks[1].task_data"),
        (b'{"metadata": ' + deep + b"}", "metadata"),
    ):
        with pytest.raises(ValidationError) as refused:
            wire.loads_exact(body)
        assert refused.value.field == field
        assert f"nested deeper than {wire.MAX_DEPTH} levels" in refused.value.message
        assert isinstance(refused.value, InvalidTaskDataError) is ("task_data" in field)


def test_depth_is_measured_exactly_and_without_recursion() -> None:
    value: object = 1
    for level in range(wire.MAX_DEPTH):  # one level each, dicts and lists in turn
        value = {"a": value} if level % 2 else [value]
    assert wire.nested_too_deep(value, wire.MAX_DEPTH) is None
    wire.pack_checked(value, what="task_data", field="task_data", max_bytes=10**6)
    assert wire.nested_too_deep([value], wire.MAX_DEPTH) is not None
    with pytest.raises(InvalidTaskDataError) as refused:
        wire.pack_checked({"x": value}, what="task_data", field="task_data", max_bytes=10**6)
    assert refused.value.field == "task_data"
    very_deep: object = []
    for _ in range(100_000):  # far beyond any recursion limit
        very_deep = [very_deep]
    assert wire.nested_too_deep(very_deep, 3) == (0, 0, 0)
    body = {"tasks": [{"task_data": {"a": [1] * 5}}] * 3}
    assert wire.loads_exact(orjson.dumps(body)) == body
