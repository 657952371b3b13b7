"""A tenant's schema cannot stall anyone: its patterns run on a linear-time engine.

``"pattern": "^(a+)+$"`` against ``"aaa…a!"`` takes exponential time on a backtracking engine
(Python's ``re``): listing the problems of such data used to block the edge's event loop, so
every other client's requests waited, and a node's pre-run check stalled its leases.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.errors import InvalidSchemaError, InvalidTaskDataError
from prsm_tasks.store.type_index import TypeIndex
from prsm_tasks.store.types import TaskTypeRecord
from prsm_tasks.task_schemas import check_schema
from prsm_tasks.type_registration import NodeTypeCheck
from tests.edge.test_errors import assert_error
from tests.task_types.conftest import Caller

EVIL = "^(a+)+$"
# ~20 s on a backtracking engine, 4x more with every 2 more a's (24: 1.3 s, 26: 5 s)
HOSTILE = "a" * 28 + "!"
HOSTILE_SCHEMA = {
    "type": "object",
    "properties": {"s": {"type": "string", "pattern": EVIL}},
    "patternProperties": {EVIL: {"type": "integer"}},
    "propertyNames": {"pattern": "^(a+)+$|^s$|^t$"},
}
# generous for a busy 2-core machine; the backtracking engine took minutes
BOUND_S = 5.0


def hostile_cases() -> list[dict[str, object]]:
    return [
        {"s": HOSTILE},  # pattern
        {"s": "a", HOSTILE: 1},  # propertyNames, and patternProperties does not match it
        {"s": "a", "t": 1},  # fine
    ]


async def test_hostile_data_is_refused_while_other_clients_are_served(
    edge: RunningEdge, alice: Caller, as_user: Callable[..., Caller], type_name: str, queue: str
) -> None:
    created = await alice.post(
        "/api/task-types",
        {"name": type_name, "parameters_schema": HOSTILE_SCHEMA, "metadata": {"queue_name": queue}},
    )
    assert created.status == 201, created.body
    other = as_user("bob", "other-tenant")
    hostile = asyncio.gather(
        alice.post("/api/tasks", {"task_type": type_name, "parameters": {"s": HOSTILE}}),
        alice.post(
            "/enqueue", {"queue_name": queue, "task_type": type_name, "task_data": {"s": HOSTILE}}
        ),
    )
    waits: list[float] = []
    while not hostile.done() or not waits:  # every /health while the hostile ones are served
        started = time.monotonic()
        health = await other.get("/health")
        waits.append(time.monotonic() - started)
        assert health.status in (200, 503), health.body  # it answers, healthy or not
    api, enqueue = await hostile
    assert max(waits) < BOUND_S, waits
    assert_error(api, 422, "invalid_task_data", "parameters.s")
    assert_error(enqueue, 400, "invalid_task_data", "task_data.s")
    assert "does not match" in api.body["errors"][0]["message"]


def test_a_nodes_pre_run_check_of_hostile_data_returns_at_once() -> None:
    index = TypeIndex()
    record = TaskTypeRecord(id=7, name="evil", tenant="acme", parameters_schema=HOSTILE_SCHEMA)
    index.apply(record, 3)
    check = NodeTypeCheck(index, {})  # the schema changed under the node: not its own
    for data in hostile_cases():
        started = time.monotonic()
        if "t" in data:
            check("acme", "evil", data)
        else:
            with pytest.raises(InvalidTaskDataError):
                check("acme", "evil", data)
        assert time.monotonic() - started < BOUND_S


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"properties": {"s": {"pattern": "^(?=a)a+$"}}}, "/properties/s/pattern"),
        ({"properties": {"s": {"pattern": r"^(a)\1$"}}}, "/properties/s/pattern"),
        ({"patternProperties": {"(?<!x)y": {}}}, "/patternProperties"),
        ({"propertyNames": {"pattern": "(?!admin)"}}, "/propertyNames/pattern"),
    ],
)
def test_a_pattern_only_a_backtracking_engine_runs_is_refused(schema: dict, where: str) -> None:
    with pytest.raises(InvalidSchemaError) as caught:
        check_schema(schema)
    assert caught.value.status == 422 and caught.value.field == "parameters_schema"
    assert where in caught.value.message and "linear-time" in caught.value.message


async def test_registration_refuses_such_a_pattern_with_422(alice: Caller, type_name: str) -> None:
    schema = {"properties": {"s": {"type": "string", "pattern": r"^(\w+)\s\1$"}}}
    answer = await alice.post("/api/task-types", {"name": type_name, "parameters_schema": schema})
    assert_error(answer, 422, "invalid_schema", "parameters_schema")
    listed = (await alice.get("/api/task-types")).body
    assert type_name not in {item["name"] for item in listed}
