"""Schemathesis over the hub's core and scheduling routes, acting in a brand the token
lists: no server error, every answer as the OpenAPI document says (the hub's error body
included), bad input refused. The monitoring and persistent-jobs routes have tests of their own
(tests/hub/test_monitoring.py, tests/hub/test_jobs.py) and are not in this run."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from prsm_tasks.edge.http.app import RunningEdge
from tests.conftest import NodeFactory
from tests.edge.handlers import echo
from tests.hub.conftest import BRAND, HubCaller, register_type


async def test_schemathesis_finds_no_server_error_or_schema_breach_in_the_hub(
    edge: RunningEdge, martin: HubCaller, tmp_path: Path, start_node: NodeFactory, queue: str
) -> None:
    await register_type(martin, "seo_keyword_analysis", queue)
    st = Path(sys.executable).with_name("st")
    async with start_node({queue: echo}):
        process = await asyncio.create_subprocess_exec(
            str(st),
            "run",
            f"{edge.url}/openapi.json",
            "--include-tag-regex",
            "^hub-(core|scheduling)$",
            "--header",
            f"Authorization: Bearer {martin.bearer}",
            "--header",
            f"X-Brand-ID: {BRAND}",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,"
            "content_type_conformance",
            "--max-examples",
            os.environ.get("PRSM_SCHEMATHESIS_EXAMPLES", "15"),
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "20261206",
            "--workers",
            "1",
            "--no-color",
            "--generation-database",
            "none",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        output, _ = await process.communicate()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
