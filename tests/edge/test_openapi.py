"""/openapi.json documents every route with its errors; /docs renders it from files the edge
serves itself; a schemathesis run against a live edge finds no 5xx and no schema breach."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from prsm_tasks import TaskContext
from prsm_tasks.edge.http.app import RunningEdge
from tests.conftest import NodeFactory
from tests.edge.conftest import token

ERROR_REF = "#/components/schemas/ErrorResponse"


async def test_openapi_documents_every_route_and_its_errors(
    edge: RunningEdge, session: aiohttp.ClientSession
) -> None:
    async with session.get(edge.url + "/openapi.json") as response:
        assert response.status == 200
        spec = await response.json()
    assert spec["openapi"].startswith("3.1")
    served = {
        (route.method, route.resource.canonical)
        for route in edge.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    documented = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
    }
    assert served == documented
    enqueue = spec["paths"]["/enqueue"]["post"]
    assert enqueue["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/EnqueueRequest"
    )
    for code in ("400", "401", "413", "429", "500", "503"):
        assert (
            enqueue["responses"][code]["content"]["application/json"]["schema"]["$ref"] == ERROR_REF
        )
    assert "Retry-After" in enqueue["responses"]["429"]["headers"]
    status = spec["paths"]["/status/{task_id}"]["get"]
    assert {"401", "403", "404"} <= set(status["responses"])
    health = spec["paths"]["/health"]["get"]
    assert health["security"] == [{}, {"bearerAuth": []}]  # open; an admin's token adds checks
    health_ref = health["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    health_schema = spec["components"]["schemas"][health_ref.rsplit("/", 1)[-1]]
    assert "checks" in health_schema["properties"] and "checks" not in health_schema["required"]
    resources = spec["components"]["schemas"]["ResourceUtilization"]["properties"]
    assert set(resources) == {
        "cpu_usage",
        "memory_usage",
        "network_throughput_mbps",
        "storage_usage",
    }
    schemas = spec["components"]["schemas"]
    assert {"EnqueueResponse", "StatusResponse", "QueueStatsResponse", "ErrorResponse"} <= set(
        schemas
    )
    assert set(schemas["StatusResponse"]["required"]) >= {
        "success", "task_id", "status", "progress", "queue_name", "priority", "created_at",
        "started_at", "estimated_completion", "worker_node", "retry_count", "max_retries",
        "result", "error",
    }  # fmt: skip


async def test_docs_page_and_its_files_come_from_the_edge(
    edge: RunningEdge, session: aiohttp.ClientSession
) -> None:
    async with session.get(edge.url + "/docs") as response:
        assert response.status == 200
        page = await response.text()
    assert "/openapi.json" in page
    assert "https://" not in page  # no CDN
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert f"/docs/static/{asset}" in page
        async with session.get(f"{edge.url}/docs/static/{asset}") as response:
            assert response.status == 200
            body = await response.read()
            assert len(body) > 1000
    async with session.get(edge.url + "/docs/static/swagger-ui-bundle.js") as response:
        assert b'PACKAGE_VERSION:"5.' in await response.read()  # Swagger UI 5 reads OpenAPI 3.1
    async with session.get(edge.url + "/docs/static/../../etc/passwd") as response:
        assert response.status == 404


async def echo(ctx: TaskContext, **task_data: Any) -> dict[str, Any]:
    return task_data


async def test_schemathesis_finds_no_server_error_or_schema_breach(
    edge: RunningEdge, tmp_path: Path, start_node: NodeFactory, queue: str
) -> None:
    """The PRSM routes and the system ones; the event routes' own run is in tests/events.

    A node serves the edge's queues, so ``require_worker: true`` is satisfied (its 503 is a
    documented answer, but the not_a_server_error check counts every 5xx).
    """
    st = Path(sys.executable).with_name("st")
    bearer = token("fuzzer", "fuzz-tenant")
    async with start_node({queue: echo, "ml_inference_queue": echo}):
        process = await run_schemathesis(st, edge.url, bearer, tmp_path)
        output, _ = await process.communicate()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]


async def run_schemathesis(
    st: Path, url: str, bearer: str, cwd: Path
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(st),
        "run",
        f"{url}/openapi.json",
        "--exclude-tag",
        "events",
        "--exclude-tag",
        "compatibility",
        "--exclude-tag-regex",
        "^hub-",  # the hub's run, acting in a brand, is tests/hub/test_contract.py
        "--header",
        f"Authorization: Bearer {bearer}",
        "--checks",
        "not_a_server_error,response_schema_conformance,status_code_conformance,"
        "content_type_conformance,negative_data_rejection",
        "--max-examples",
        os.environ.get("PRSM_SCHEMATHESIS_EXAMPLES", "15"),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        "20261130",
        "--workers",
        "1",
        "--no-color",
        "--generation-database",
        "none",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=cwd,
    )
