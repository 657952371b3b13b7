"""Benchmarks of prsm_tasks on an embedded nats-server (loopback only; stops by itself).

    python scripts/bench.py                 # core: enqueue, drain, e2e latency, raw baseline
    python scripts/bench.py --mode http     # through one HTTP edge (see scripts/bench_http.py)
    python scripts/bench.py --mode schema   # enqueue with and without a schema check (bench_schema)

Core mode prints one JSON line:
- ``raw_pull_ack_per_s``: nats-py pulls the same N messages from a WorkQueue stream in
  batches of 100 and acks each (the JetStream baseline of this machine, same server, same run);
- ``enqueue_per_s``: ``Client.enqueue_many`` of N no-op tasks (record create + work publish);
- ``enqueue_one_per_s``: ``Client.enqueue`` one call after another (each awaited before the
  next, like a web request handler enqueuing one task), on a queue no node serves;
- ``drain_per_s``: one node process (capacity C) drains that backlog, timed from the first
  task started to the last completed (read back from the task records);
- ``e2e_p50_ms``/``p95``/``p99``: one task at a time, enqueue -> completed seen by the client
  through its one shared watch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig

from prsm_tasks import Client
from prsm_tasks.cli import run_async
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.wire import WORK_STREAM, work_consumer

REPO = Path(__file__).resolve().parents[1]
QUEUE = "bench"
UNSERVED_QUEUE = "bench-unserved"


async def raw_baseline(url: str, count: int) -> float:
    """Publish N messages, then time pulling them in batches of 100 with an ack each."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(name="BENCH_RAW", subjects=["bench.raw"], retention=RetentionPolicy.WORK_QUEUE)
    )
    payload = b"x" * 300
    for start in range(0, count, 500):
        await asyncio.gather(
            *(js.publish("bench.raw", payload) for _ in range(min(500, count - start)))
        )
    await js.add_consumer(
        "BENCH_RAW", ConsumerConfig(durable_name="raw", ack_policy=AckPolicy.EXPLICIT)
    )
    sub = await js.pull_subscribe_bind("raw", "BENCH_RAW")
    received = 0
    started = time.perf_counter()
    while received < count:
        for msg in await sub.fetch(100, timeout=5):
            await msg.ack()
            received += 1
    await nc.flush()
    elapsed = time.perf_counter() - started
    await js.delete_stream("BENCH_RAW")
    await nc.close()
    return count / elapsed


def start_node_process(url: str, capacity: int, *, metrics: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PRSM_LOG_LEVEL": "warning"}
    if metrics:  # the node measures every task, served on a free port
        env["PRSM_METRICS_PORT"] = "0"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prsm_tasks.cli",
            "node",
            "--servers",
            url,
            "--queues",
            QUEUE,
            "--handlers",
            "scripts.bench_handlers",
            "--capacity",
            str(capacity),
        ],
        env=env,
        cwd=REPO,
    )


async def backlog_drained(client: Client) -> bool:
    js = client._js  # the benchmark reads the server's counters
    assert js is not None
    for band in ("critical", "high", "normal", "low"):
        try:
            info = await js.consumer_info(WORK_STREAM, work_consumer(QUEUE, band))
        except nats.js.errors.NotFoundError:
            return False
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def drain_window(client: Client, task_ids: list[str]) -> tuple[float, float]:
    """(first started_at, last completed_at) over the tasks, from their records."""
    first_start, last_end = float("inf"), 0.0
    for start in range(0, len(task_ids), 500):
        records = await asyncio.gather(*(client.status(t) for t in task_ids[start : start + 500]))
        for record in records:
            assert record.status == "completed", record.status
            first_start = min(first_start, record.attempts[0].started_at)
            last_end = max(last_end, record.completed_at or 0.0)
    return first_start, last_end


async def enqueue_one_at_a_time(client: Client, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await client.enqueue(UNSERVED_QUEUE, {})
    return count / (time.perf_counter() - started)


async def e2e_latency(client: Client, samples: int) -> list[float]:
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        record = await client.enqueue(QUEUE, {})
        await client.wait(record.task_id, timeout=30)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def core_bench(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="prsm-bench-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp)).start()
        try:
            raw = raw_baseline(server.url, args.tasks)
            raw_per_s = await raw
            async with Client(server.url) as client:
                await enqueue_one_at_a_time(client, 100)  # warm up
                enqueue_one_per_s = await enqueue_one_at_a_time(client, args.one_at_a_time)
                started = time.perf_counter()
                records = await client.enqueue_many(
                    QUEUE, ({} for _ in range(args.tasks)), window=args.window
                )
                enqueue_per_s = len(records) / (time.perf_counter() - started)
                node = start_node_process(server.url, args.capacity, metrics=args.metrics)
                try:
                    deadline = time.monotonic() + 600
                    while not await backlog_drained(client):
                        if time.monotonic() > deadline or node.poll() is not None:
                            raise RuntimeError("the node did not drain the backlog")
                        await asyncio.sleep(0.2)
                    first, last = await drain_window(client, [r.task_id for r in records])
                    drain_per_s = len(records) / (last - first)
                    await e2e_latency(client, 50)  # warm up
                    latencies = await e2e_latency(client, args.samples)
                finally:
                    node.terminate()
                    node.wait(30)
        finally:
            server.stop()
    return {
        "mode": "core",
        "tasks": args.tasks,
        "capacity": args.capacity,
        "raw_pull_ack_per_s": round(raw_per_s),
        "enqueue_per_s": round(enqueue_per_s),
        "enqueue_one_per_s": round(enqueue_one_per_s),
        "drain_per_s": round(drain_per_s),
        "drain_vs_raw": round(drain_per_s / raw_per_s, 3),
        "e2e_p50_ms": round(statistics.median(latencies), 3),
        "e2e_p95_ms": round(percentile(latencies, 0.95), 3),
        "e2e_p99_ms": round(percentile(latencies, 0.99), 3),
        "e2e_samples": len(latencies),
        "cpu_count": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["core", "http", "schema"], default="core")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--capacity", type=int, default=256)
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--one-at-a-time", type=int, default=3000)
    parser.add_argument(
        "--metrics", action="store_true", help="measure with Prometheus metrics on (telemetry)"
    )
    args, rest = parser.parse_known_args()
    if args.mode == "http":
        sys.path.insert(0, str(REPO))
        from scripts.bench_http import main as http_main

        http_main(rest)
        return
    if args.mode == "schema":
        sys.path.insert(0, str(REPO))
        from scripts.bench_schema import main as schema_main

        schema_main(rest)
        return
    # the same event loop as the node process (uvloop), for the client and the raw baseline
    print(json.dumps(run_async(core_bench(args))), flush=True)


if __name__ == "__main__":
    main()
