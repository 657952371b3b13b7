"""Enqueue with and without schema validation, through ONE edge process.

    python scripts/bench_schema.py [--tasks 4000] [--rounds 5] [--clients 32]
    python scripts/bench.py --mode schema [same flags]

Starts its own nats-server (temporary store) and one edge process (``prsm-tasks edge``),
registers a task type with a realistic parameters schema, then alternates rounds of
``POST /enqueue`` of the same task data: without ``task_type`` (no validation) and with it
(the edge checks the data against the type's compiled schema). No node runs: the enqueue path
alone is measured. The modes alternate, in alternating order, so both see the same machine
and the same (growing) stream.

Prints one JSON line: the median rate of each mode (requests/s) and the edge's CPU time per
enqueue in each (microseconds); ``slowdown`` and ``cpu_slowdown``, the median over rounds of
the validating mode's ratio to the plain one in the same round (target: at most 0.10); and
``check_us``, the lookup and check alone measured in this process, with its share of a plain
enqueue's edge CPU: the part of the difference that is the check (the rest is noise of a
loaded machine, about +-5% per round on two cores).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prsm_tasks.cli import run_async  # noqa: E402
from prsm_tasks.edge.http.auth import mint_token  # noqa: E402
from prsm_tasks.embedded import EmbeddedNats  # noqa: E402
from prsm_tasks.store.type_index import TypeIndex  # noqa: E402
from prsm_tasks.store.types import TaskTypeRecord  # noqa: E402
from prsm_tasks.task_schemas import jsonschema_rs  # noqa: E402
from scripts.bench_http import Connection, cpu_seconds, edge_address, spawn, stop  # noqa: E402

QUEUE = "bench"
TASK_TYPE = "bench_transcode"
SCHEMA = {
    "type": "object",
    "properties": {
        "input_url": {"type": "string", "minLength": 1},
        "format": {"type": "string", "enum": ["mp4", "webm", "mkv"]},
        "resolution": {"type": "string", "enum": ["720p", "1080p", "4k"]},
        "bitrate_kbps": {"type": "integer", "minimum": 100, "maximum": 100_000},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 16},
    },
    "required": ["input_url", "format"],
    "additionalProperties": False,
}
TASK_DATA = {
    "input_url": "s3://bucket/video.raw",
    "format": "mp4",
    "resolution": "1080p",
    "bitrate_kbps": 4500,
    "tags": ["bench", "schema"],
}


async def enqueue_round(conns: list[Connection], total: int, *, typed: bool) -> float:
    """Requests per second of ``total`` enqueues spread over the connections."""
    body: dict[str, Any] = {"queue_name": QUEUE, "task_data": TASK_DATA}
    if typed:
        body["task_type"] = TASK_TYPE
    payload = json.dumps(body).encode()
    counter = itertools.count()

    async def client(conn: Connection) -> None:
        while next(counter) < total:
            status, answer = await conn.request("POST", "/enqueue", payload)
            if status != 200:
                raise RuntimeError(f"enqueue answered {status}: {answer[:300]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(client(conn) for conn in conns))
    return total / (time.perf_counter() - started)


async def run_schema_bench(args: argparse.Namespace) -> dict[str, Any]:
    secret = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="prsm-bench-schema-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp) / "nats")
        server.start()
        edge = spawn(
            ["edge", "--servers", server.url, "--port", "0"],
            {"PRSM_JWT_SECRET": secret, "PRSM_RATE_LIMIT_PER_SECOND": "0", "PRSM_QUEUES": QUEUE},
        )
        try:
            host, port = await asyncio.to_thread(edge_address, edge)
            edge_process = psutil.Process(edge.pid)
            conns = [
                Connection(host, port, mint_token(secret, user=f"user{i % 8}", tenant="bench"))
                for i in range(args.clients)
            ]
            await asyncio.gather(*(conn.open() for conn in conns))
            type_body = json.dumps({"name": TASK_TYPE, "parameters_schema": SCHEMA}).encode()
            status, answer = await conns[0].request("POST", "/api/task-types", type_body)
            if status != 201:
                raise RuntimeError(f"registering the type answered {status}: {answer!r}")
            await enqueue_round(conns, args.tasks // 4, typed=True)  # warm up both paths
            await enqueue_round(conns, args.tasks // 4, typed=False)
            rates: dict[bool, list[float]] = {False: [], True: []}
            cpu_us: dict[bool, list[float]] = {False: [], True: []}
            for index in range(args.rounds):
                # the order alternates: the stream and the bucket grow with every round
                for typed in (False, True) if index % 2 == 0 else (True, False):
                    before = cpu_seconds(edge_process)
                    rates[typed].append(await enqueue_round(conns, args.tasks, typed=typed))
                    cpu_us[typed].append((cpu_seconds(edge_process) - before) / args.tasks * 1e6)
            await asyncio.gather(*(conn.close() for conn in conns))
        finally:
            stop(edge)
            server.stop()
    # each round pairs the two modes back to back: the median of the pairs' ratios cancels
    # the drift of a busy machine better than a ratio of medians
    rate_ratios = [t / p for p, t in zip(rates[False], rates[True], strict=True)]
    cpu_ratios = [t / p for p, t in zip(cpu_us[False], cpu_us[True], strict=True)]
    check_us = check_cost_us()
    plain_cpu = statistics.median(cpu_us[False])
    return {
        "mode": "schema",
        "tasks_per_round": args.tasks,
        "rounds": args.rounds,
        "clients": args.clients,
        "plain_enqueue_per_s": round(statistics.median(rates[False]), 1),
        "schema_enqueue_per_s": round(statistics.median(rates[True]), 1),
        "slowdown": round(1 - statistics.median(rate_ratios), 4),
        "plain_edge_cpu_us": round(plain_cpu, 1),
        "schema_edge_cpu_us": round(statistics.median(cpu_us[True]), 1),
        "cpu_slowdown": round(statistics.median(cpu_ratios) - 1, 4),
        "check_us": round(check_us, 2),
        "check_share_of_enqueue": round(check_us / plain_cpu, 4),
        "fast_validator": jsonschema_rs is not None,
        "cpu_count": os.cpu_count(),
    }


def check_cost_us(repeat: int = 20_000) -> float:
    """What the edge adds per enqueue, measured alone: the type lookup and the check."""
    index = TypeIndex()
    index.apply(TaskTypeRecord(id=1, name=TASK_TYPE, tenant="bench", parameters_schema=SCHEMA), 1)
    index.check(TASK_TYPE, TASK_DATA, tenant="bench")  # compiles it
    started = time.perf_counter()
    for _ in range(repeat):
        index.check(TASK_TYPE, TASK_DATA, tenant="bench")
    return (time.perf_counter() - started) / repeat * 1e6


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1500, help="enqueues per round and mode")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--clients", type=int, default=32)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    result = run_async(run_schema_bench(args))  # uvloop, like the node and edge processes
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
