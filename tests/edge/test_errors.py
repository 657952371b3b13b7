"""Every error of the contract: the standard body, the right status, and nothing written."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from prsm_tasks.edge.app import open_edge
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.http.auth import AuthConfig
from prsm_tasks.edge.http.state import EDGE_NAME
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.services.core import QueueRules
from prsm_tasks.store.opener import Connection
from prsm_tasks.store.types import TaskTypeStore
from tests.conftest import NodeFactory
from tests.edge.conftest import SECRET, Answer, Caller, token
from tests.edge.handlers import echo

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def assert_error(answer: Answer, status: int, code: str, field: str | None = None) -> None:
    assert answer.status == status, (answer.status, answer.body)
    body = answer.body
    assert body["error"] == code, body
    assert body["code"] == status and body["message"]
    assert ISO_Z.match(body["timestamp"])
    if field is not None:
        assert body.get("field") == field, body


async def count_tasks(caller: Caller, queue: str) -> int:
    return (await caller.get("/tasks", queue_name=queue)).body["pagination"]["total_count"]


async def test_bad_enqueue_bodies_get_400_and_write_nothing(
    edge: RunningEdge, alice: Caller, queue: str
) -> None:
    good = {"queue_name": queue, "task_data": {"x": 1}}
    cases: list[tuple[object, str, str | None]] = [
        ({**good, "priority": 0}, "validation_error", "priority"),
        ({**good, "priority": 11}, "validation_error", "priority"),
        ({**good, "priority": "5"}, "validation_error", "priority"),
        ({**good, "priority": True}, "validation_error", "priority"),
        ({**good, "retry_count": -1}, "validation_error", "retry_count"),
        ({**good, "timeout_seconds": 0}, "validation_error", "timeout_seconds"),
        ({**good, "surprise": 1}, "validation_error", "surprise"),
        ({"task_data": {}}, "validation_error", "queue_name"),
        ({**good, "queue_name": "Bad Name"}, "validation_error", "queue_name"),
        ({**good, "task_data": [1, 2]}, "invalid_task_data", "task_data"),
        ({**good, "task_data": "text"}, "invalid_task_data", "task_data"),
        ({"queue_name": queue}, "validation_error", "task_data"),
        ([good], "validation_error", "body"),
        ({**good, "queue_name": "no-such-queue-anywhere"}, "queue_not_available", "queue_name"),
    ]
    for body, code, field in cases:
        assert_error(await alice.post("/enqueue", body), 400, code, field)
    assert_error(await alice.post("/enqueue", raw=b'{"queue_name": '), 400, "validation_error")
    assert_error(await alice.post("/enqueue", raw=b""), 400, "validation_error", "body")
    huge = b'{"queue_name": "%s", "task_data": {"blob": "%s"}}' % (queue.encode(), b"x" * 1_100_000)
    assert_error(await alice.post("/enqueue", raw=huge), 413, "payload_too_large")
    assert await count_tasks(alice, queue) == 0


async def test_bad_queries_paths_and_methods(edge: RunningEdge, alice: Caller, queue: str) -> None:
    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"status": "sleeping"}, "status"),
        ({"queue_name": "BAD"}, "queue_name"),
    ):
        assert_error(await alice.get("/tasks", **params), 400, "validation_error", field)
    assert_error(await alice.get("/status/task_01m8pgjm3jdjpxpdxahy1hd4p3"), 404, "task_not_found")
    missing = await alice.get("/status/not-a-task-id")
    assert_error(missing, 404, "task_not_found")
    assert missing.body["task_id"] == "not-a-task-id"
    assert_error(await alice.get("/queue/no-such-queue-anywhere/stats"), 400, "queue_not_available")
    assert_error(await alice.get("/nowhere"), 404, "not_found")
    assert_error(await alice.call("PUT", "/enqueue"), 405, "method_not_allowed")


async def test_auth_failures_are_401(
    edge: RunningEdge, session, queue: str, tmp_path: Path
) -> None:
    url = edge.url + "/status/task_01m8pgjm3jdjpxpdxahy1hd4p3"
    now = time.time()
    wrong_secret = jwt.encode(
        {"sub": "a", "tenant": "t", "exp": int(now) + 60},
        "another-secret-of-32-bytes-long!!",
        algorithm="HS256",
    )
    no_tenant = jwt.encode({"sub": "a", "exp": int(now) + 60}, SECRET, algorithm="HS256")
    no_exp = jwt.encode({"sub": "a", "tenant": "t"}, SECRET, algorithm="HS256")
    expired = token("alice", "acme", ttl_s=-3600)
    for header in (
        None,
        "Basic abc",
        "Bearer",
        "Bearer not.a.jwt",
        f"Bearer {wrong_secret}",
        f"Bearer {no_tenant}",
        f"Bearer {no_exp}",
        f"Bearer {expired}",
    ):
        headers = {"Authorization": header} if header else {}
        async with session.get(url, headers=headers) as response:
            body = await response.json()
            answer = Answer(response.status, body, response.headers)
        assert_error(answer, 401, "unauthorized")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    async with session.get(edge.url + "/health") as response:
        assert response.status == 200  # no auth on /health


async def test_rs256_with_a_public_key_file(edge_config: Callable, session, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = tmp_path / "public.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    good = jwt.encode(
        {"sub": "rita", "tenant": "rs", "exp": int(time.time()) + 60}, key, algorithm="RS256"
    )
    async with open_edge(edge_config(auth=AuthConfig(public_key_file=public))) as rs_edge:
        caller = Caller(session, rs_edge.url, good)
        assert (await caller.get("/tasks")).status == 200
        hs = Caller(session, rs_edge.url, token("rita", "rs"))
        assert_error(await hs.get("/tasks"), 401, "unauthorized")


async def test_task_type_schema_is_checked_at_the_edge(
    edge: RunningEdge, alice: Caller, queue: str, nats_url: str
) -> None:
    import nats

    connection = await nats.connect(nats_url)
    try:
        types = await TaskTypeStore.open(connection.jetstream())
        await types.register_system(  # as a peer node registers its handler's type
            name=f"resize-{queue}",
            queue_name=queue,
            parameters_schema={
                "type": "object",
                "properties": {
                    "image": {"type": "object", "properties": {"width": {"type": "integer"}}}
                },
                "required": ["image"],
            },
            result_schema=None,
            description=None,
        )
    finally:
        await connection.close()
    task_type = f"resize-{queue}"

    async def bad(task_data: dict) -> Answer:
        return await alice.post(
            "/enqueue", {"queue_name": queue, "task_data": task_data, "task_type": task_type}
        )

    from tests.conftest import eventually

    async def known() -> bool:
        return edge.services.types.resolve("acme", task_type) is not None

    await eventually(known)
    assert_error(await bad({}), 400, "invalid_task_data", "task_data")
    assert_error(
        await bad({"image": {"width": "wide"}}), 400, "invalid_task_data", "task_data.image.width"
    )
    bulk = await alice.post(
        "/bulk/enqueue",
        {
            "queue_name": queue,
            "tasks": [
                {"task_data": {"image": {"width": 1}}, "task_type": task_type},
                {"task_data": {"image": 3}, "task_type": task_type},
            ],
        },
    )
    assert_error(bulk, 400, "invalid_task_data", "tasks[1].task_data.image")
    assert (await bad({"image": {"width": 640}})).status == 200
    assert await count_tasks(alice, queue) == 1


async def test_rate_limit_answers_429_with_retry_after(
    edge_config: Callable, session, queue: str
) -> None:
    config = edge_config(
        rules=QueueRules(queues=(queue,)), rate_limit_per_s=0.5, rate_limit_burst=2
    )
    async with open_edge(config) as limited:
        alice = Caller(session, limited.url, token("alice", "acme"))
        bob = Caller(session, limited.url, token("bob", "acme"))
        body = {"queue_name": queue, "task_data": {}}
        assert (await alice.post("/enqueue", body)).status == 200
        assert (await alice.post("/enqueue", body)).status == 200
        limited_answer = await alice.post("/enqueue", body)
        assert_error(limited_answer, 429, "rate_limited")
        assert int(limited_answer.headers["Retry-After"]) >= 1
        assert (await bob.post("/enqueue", body)).status == 200  # per user
        bulk = await bob.post(
            "/bulk/enqueue", {"queue_name": queue, "tasks": [{"task_data": {}}] * 3}
        )
        assert_error(bulk, 429, "rate_limited")  # each task of a bulk counts
        assert await count_tasks(alice, queue) == 2


async def test_worker_unavailable_only_when_asked(
    edge: RunningEdge, alice: Caller, queue: str, start_node: NodeFactory
) -> None:
    body = {"queue_name": queue, "task_data": {}, "require_worker": True}
    assert_error(await alice.post("/enqueue", body), 503, "worker_unavailable")
    assert (await alice.post("/enqueue", {**body, "require_worker": False})).status == 200
    async with start_node({queue: echo}) as node:
        from tests.conftest import eventually

        async def seen() -> bool:
            return node.node_id in edge.services.nodes.ads

        await eventually(seen)
        assert (await alice.post("/enqueue", body)).status == 200


async def test_disabled_and_unconfigured_queues(
    edge_config: Callable, session, queue: str, start_node: NodeFactory
) -> None:
    config = edge_config(rules=QueueRules(queues=(queue,), disabled_queues=frozenset({queue})))
    async with open_edge(config) as disabled_edge:
        alice = Caller(session, disabled_edge.url, token())
        answer = await alice.post("/enqueue", {"queue_name": queue, "task_data": {}})
        assert_error(answer, 400, "queue_not_available", "queue_name")
    served = queue + "-served"
    async with (
        start_node({served: echo}) as node,
        open_edge(edge_config(rules=QueueRules(queues=()))) as bare,
    ):
        from tests.conftest import eventually

        async def seen() -> bool:
            return node.node_id in bare.services.nodes.ads

        await eventually(seen)
        alice = Caller(session, bare.url, token())
        assert (await alice.post("/enqueue", {"queue_name": served, "task_data": {}})).status == 200


async def test_nats_down_is_503_and_health_unhealthy(
    edge_config: Callable, session, tmp_path: Path
) -> None:
    server = EmbeddedNats(store_dir=tmp_path / "nats")
    server.start()
    try:
        async with open_edge(
            edge_config(connection=Connection(servers=[server.url], name=EDGE_NAME))
        ) as lonely:
            alice = Caller(session, lonely.url, token())
            assert (await alice.get("/tasks")).status == 200
            server.stop()
            from tests.conftest import eventually

            async def disconnected() -> bool:
                return not lonely.services.stores.nc.is_connected

            await eventually(disconnected)
            assert_error(
                await alice.get("/status/task_01m8pgjm3jdjpxpdxahy1hd4p3"),
                503,
                "service_unavailable",
            )
            assert_error(
                await alice.post("/enqueue", {"queue_name": "ml_inference_queue", "task_data": {}}),
                503,
                "service_unavailable",
            )
            health = await alice.get("/health")
            assert health.status == 503 and health.body["status"] == "unhealthy"
            server.start()

            async def back() -> bool:
                return (await alice.get("/health")).status == 200

            await eventually(back)
    finally:
        server.stop()
