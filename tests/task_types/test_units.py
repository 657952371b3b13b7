"""Pure parts of the registry and the task list: names and keys, the priority and status
mappings, schema problems with their field paths, the type index, the 422 convention."""

from __future__ import annotations

import pytest

from prsm_tasks import task_schemas as schemas_module
from prsm_tasks.edge.surfaces.task_list.errors import as_api_error
from prsm_tasks.errors import (
    InvalidParametersError,
    InvalidSchemaError,
    InvalidTaskDataError,
    QueueNotAvailableError,
    TaskTypeInactiveError,
    UnprocessableError,
    ValidationError,
)
from prsm_tasks.models import Band, TaskStatus, band_for_priority
from prsm_tasks.services.task_list import (
    API_STATUS,
    ENGINE_STATUSES,
    api_priority,
    engine_priority,
    task_item,
)
from prsm_tasks.store.type_index import TypeIndex
from prsm_tasks.store.types import (
    TaskTypeRecord,
    encode_type,
    name_key,
    queue_for_type,
    queue_of,
    record_key,
    scope_token,
    type_id_of_key,
)
from prsm_tasks.task_schemas import (
    check_schema,
    compile_schema,
    schema_problems,
    validate_task_data,
)
from prsm_tasks.wire import QUEUE_NAME_RE

SCHEMA = {
    "type": "object",
    "properties": {
        "format": {"type": "string", "enum": ["mp4", "webm"]},
        "items": {"type": "array", "items": {"type": "object", "required": ["name"]}},
        "size": {"type": "object", "properties": {"width": {"type": "integer"}}},
    },
    "required": ["format"],
}


@pytest.mark.parametrize(
    ("api", "engine", "band"),
    [
        (1, 10, Band.CRITICAL),
        (100, 10, Band.CRITICAL),
        (101, 9, Band.HIGH),
        (400, 7, Band.HIGH),
        (401, 6, Band.NORMAL),
        (500, 6, Band.NORMAL),
        (700, 4, Band.NORMAL),
        (701, 3, Band.LOW),
        (1000, 1, Band.LOW),
    ],
)
def test_priority_mapping(api: int, engine: int, band: Band) -> None:
    assert engine_priority(api) == engine
    assert band_for_priority(engine) is band
    assert engine_priority(api_priority(engine)) == engine  # the way back lands in the step


def test_every_engine_status_has_one_api_status() -> None:
    assert set(API_STATUS) == {str(status) for status in TaskStatus}
    assert ENGINE_STATUSES["pending"] == {"waiting", "scheduled", "enqueued"}
    assert ENGINE_STATUSES["failed"] == {"failed", "timeout"}
    assert ENGINE_STATUSES["running"] == {"processing"}


def test_keys_and_queues_of_names() -> None:
    assert scope_token(None) == "sys" and scope_token("acme") == "t-acme"
    assert scope_token("a.b c").startswith("h-") and scope_token("sys") == "t-sys"
    assert name_key("acme", "resize") == "name.t-acme.n-resize"
    assert name_key(None, "img.resize:v2") == "name.sys.x-" + b"img.resize:v2".hex()
    assert type_id_of_key(record_key(42)) == 42 and type_id_of_key("seq") is None
    assert type_id_of_key("id.x") is None and type_id_of_key("name.sys.n-a") is None
    for name in ("Video.Processing", "a:b", "X" * 128):
        assert QUEUE_NAME_RE.match(queue_for_type(name))
    assert queue_for_type("Video.Processing") == "video_processing"
    assert queue_of("t", {"queue_name": "gpu_queue"}) == "gpu_queue"
    with pytest.raises(UnprocessableError) as caught:
        queue_of("t", {"queue_name": "GPU queue"})
    assert caught.value.field == "metadata.queue_name"


def test_every_failing_field_is_listed_most_relevant_first() -> None:
    validator = check_schema(SCHEMA)
    data = {"format": "avi", "items": [{"name": "a"}, {}], "size": {"width": "wide"}}
    problems = schema_problems(validator, data, root="parameters")
    assert {p["field"] for p in problems} == {
        "parameters.format",
        "parameters.items[1]",
        "parameters.size.width",
    }
    assert schema_problems(validator, {"format": "mp4"}, root="parameters") == []
    with pytest.raises(InvalidTaskDataError) as caught:
        validate_task_data(validator, {}, task_type="video")
    assert caught.value.status == 400 and caught.value.field == "task_data"
    assert caught.value.details["errors"][0]["message"] == '"format" is a required property'
    with pytest.raises(InvalidParametersError) as api:
        validate_task_data(validator, data, task_type="video", root="parameters", api=True)
    assert api.value.status == 422 and api.value.code == "invalid_task_data"
    assert len(api.value.details["errors"]) == 3


def test_invalid_schemas_say_why() -> None:
    with pytest.raises(InvalidSchemaError) as caught:
        check_schema({"type": "object", "properties": {"a": {"type": 5}}})
    assert caught.value.status == 422 and "/properties/a/type" in caught.value.message
    with pytest.raises(InvalidSchemaError):
        check_schema({"minimum": "zero"})


def test_a_schema_that_cannot_be_applied_is_refused_when_registered() -> None:
    with pytest.raises(InvalidSchemaError) as caught:  # never fetched
        check_schema({"$ref": "https://example.invalid/schema.json"})
    assert caught.value.status == 422 and caught.value.field == "parameters_schema"
    assert "cannot be applied" in caught.value.message


def record(type_id: int, name: str, tenant: str | None, **fields: object) -> TaskTypeRecord:
    return TaskTypeRecord(id=type_id, name=name, tenant=tenant, **fields)  # type: ignore[arg-type]


def test_the_index_resolves_tenant_types_over_system_ones() -> None:
    index = TypeIndex()
    index.on_entry("id.1", encode_type(record(1, "resize", None, parameters_schema=SCHEMA)), 10)
    index.on_entry("id.2", encode_type(record(2, "resize", "acme")), 11)
    index.on_entry("id.3", encode_type(record(3, "crop", "other")), 12)
    index.on_entry("seq", b"3", 13)  # the counter and name claims are not types
    index.on_entry("name.t-acme.n-resize", b"\x81", 14)
    assert index.resolve("acme", "resize")[0].id == 2  # type: ignore[index]
    assert index.resolve("beta", "resize")[0].id == 1  # type: ignore[index]
    assert index.resolve("beta", "crop") is None
    assert [r.id for r, _ in index.visible("acme")] == [2]
    assert [r.id for r, _ in index.visible("beta")] == [1]
    assert index.get(3, tenant="acme") is None and index.get(1, tenant="acme") is not None
    index.on_entry("id.2", None, 15)  # gone: the system type shows again
    assert index.resolve("acme", "resize")[0].id == 1  # type: ignore[index]


def test_validators_are_compiled_once_per_revision() -> None:
    index = TypeIndex()
    first = record(1, "video", "acme", parameters_schema=SCHEMA)
    index.apply(first, 5)
    compiled = index.validator(first, 5)
    assert compiled is not None and index.validator(first, 5) is compiled
    index.apply(first.model_copy(update={"description": "older"}), 4)  # an older write
    assert index.by_id[1][1] == 5
    second = first.model_copy(update={"parameters_schema": {"type": "object"}})
    index.apply(second, 6)
    assert index.validator(second, 6) is not compiled
    index.check("video", {"anything": 1}, tenant="acme")
    index.apply(second.model_copy(update={"is_active": False}), 7)
    with pytest.raises(TaskTypeInactiveError) as caught:
        index.check("video", {}, tenant="acme", field="tasks[2]")
    assert caught.value.field == "tasks[2].task_type"
    index.check("unknown-type", {}, tenant="acme")  # names nobody registered pass


def test_bad_input_on_api_routes_is_422_with_the_same_code() -> None:
    plain = as_api_error(ValidationError("bad", field="limit"))
    assert plain.status == 422 and plain.code == "validation_error"
    data = as_api_error(InvalidTaskDataError("bad", field="parameters.a", errors=[]))
    assert isinstance(data, InvalidParametersError) and data.details["errors"] == []
    for kept in (TaskTypeInactiveError("off"), QueueNotAvailableError("off")):
        assert as_api_error(kept) is kept


def test_a_task_as_the_task_list_shows_it() -> None:
    raw = {
        "task_id": "task_01",
        "queue_name": "video",
        "task_type": "video",
        "task_data": {"format": "mp4"},
        "priority": 5,
        "status": "processing",
        "created_at": 0.0,
        "started_at": 10.0,
        "worker_node": "external:w1",
        "metadata": {"external": {"expires_at": 70.0}},
        "attempts": [{}],
    }
    item = task_item(raw, type_id=3, number=7)
    assert item["id"] == 7 and item["task_id"] == "task_01"
    assert item["status"] == "running" and item["priority"] == 501
    assert item["worker_id"] == "w1" and item["lease_expires_at"] == "1970-01-01T00:01:10.000Z"
    assert item["updated_at"] == item["started_at"] and item["attempt"] == 1
    done = task_item(
        {**raw, "status": "timeout", "error": {"message": "slow"}, "completed_at": 20.0},
        type_id=3,
        number=7,
    )
    assert done["status"] == "failed" and done["error_message"] == "slow"
    assert done["worker_id"] is None and done["lease_expires_at"] is None


def test_problems_name_each_field_and_quote_values_briefly() -> None:
    compiled = compile_schema({"properties": {"s": {"type": "integer"}}})
    problems = schema_problems(compiled, {"s": "x" * 10_000}, root="p")
    assert [p["field"] for p in problems] == ["p.s"]
    assert len(problems[0]["message"]) <= schemas_module.MAX_MESSAGE_CHARS
    precise_first = compile_schema(
        {"anyOf": [{"type": "string"}, {"type": "integer"}], "required": ["a"]}
    )
    assert schema_problems(precise_first, {}, root="p")[0]["message"].endswith(
        "is a required property"
    )


def test_data_json_cannot_hold_is_invalid_task_data_not_the_types_fault() -> None:
    compiled = compile_schema({"properties": {"blob": {"type": "string"}}})
    with pytest.raises(InvalidTaskDataError) as caught:
        validate_task_data(compiled, {"blob": b"\x00"}, task_type="t")  # msgpack bytes
    assert caught.value.field == "task_data"
