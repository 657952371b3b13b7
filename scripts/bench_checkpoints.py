"""The cost of a checkpoint: the no-op handler against the same handler saving one small
checkpoint per task, on one node process and an embedded nats-server (loopback only).

    python scripts/bench_checkpoints.py --tasks 5000 --rounds 2 --samples 300

Each round drains a backlog of N tasks of each queue, the two alternated (``bench`` first,
then ``bench-checkpoint``), timed from the first task started to the last completed, then
measures one-at-a-time e2e latency on each. Prints one JSON line: the rates, their ratio,
the time a checkpoint adds per task on the node, and the latencies.

A checkpoint is a long task's habit: it claims the task (a record write a short no-op task
otherwise skips), reads and writes PRSM_CHECKPOINTS and writes the record's mark, so the
figure is the price of those four requests on a task that does nothing else.
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

import nats.js.errors

from prsm_tasks import Client
from prsm_tasks.cli import run_async
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.wire import WORK_STREAM, work_consumer

REPO = Path(__file__).resolve().parents[1]
PLAIN, CHECKPOINTED = "bench", "bench-checkpoint"


def start_node(url: str, capacity: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PRSM_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "prsm_tasks.cli", "node", "--servers", url]
    command += ["--queues", f"{PLAIN},{CHECKPOINTED}"]
    command += ["--handlers", "scripts.bench_checkpoint_handlers"]
    command += ["--capacity", str(capacity)]
    return subprocess.Popen(command, env=env, cwd=REPO)


async def drained(client: Client, queue: str) -> bool:
    js = client._js  # the benchmark reads the server's counters
    assert js is not None
    for band in ("critical", "high", "normal", "low"):
        try:
            info = await js.consumer_info(WORK_STREAM, work_consumer(queue, band))
        except nats.js.errors.NotFoundError:
            return False
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def drain_rate(client: Client, queue: str, tasks: int, window: int) -> float:
    records = await client.enqueue_many(queue, ({} for _ in range(tasks)), window=window)
    deadline = time.monotonic() + 600
    while not await drained(client, queue):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{queue} was not drained")
        await asyncio.sleep(0.2)
    first, last = float("inf"), 0.0
    ids = [r.task_id for r in records]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        finals = await asyncio.gather(*(client.wait(t, timeout=60) for t in chunk))
        for final in finals:
            assert final.status == "completed", (final.status, final.error)
            first = min(first, final.attempts[0].started_at)
            last = max(last, final.completed_at or 0.0)
    return tasks / (last - first)


async def latencies_ms(client: Client, queue: str, samples: int) -> list[float]:
    measured = []
    for _ in range(samples):
        started = time.perf_counter()
        record = await client.enqueue(queue, {})
        await client.wait(record.task_id, timeout=30)
        measured.append((time.perf_counter() - started) * 1000)
    return measured


async def bench(args: argparse.Namespace) -> dict[str, object]:
    rates: dict[str, list[float]] = {PLAIN: [], CHECKPOINTED: []}
    lat: dict[str, list[float]] = {PLAIN: [], CHECKPOINTED: []}
    with tempfile.TemporaryDirectory(prefix="prsm-bench-ckpt-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp)).start()
        node = start_node(server.url, args.capacity)
        try:
            async with Client(server.url) as client:
                await latencies_ms(client, PLAIN, 50)  # warm up (and wait for the node)
                await latencies_ms(client, CHECKPOINTED, 50)
                for _ in range(args.rounds):
                    for queue in (PLAIN, CHECKPOINTED):
                        rates[queue].append(await drain_rate(client, queue, args.tasks, 512))
                        lat[queue] += await latencies_ms(client, queue, args.samples)
        finally:
            node.terminate()
            node.wait(30)
            server.stop()
    plain, ckpt = statistics.median(rates[PLAIN]), statistics.median(rates[CHECKPOINTED])
    return {
        "tasks": args.tasks,
        "rounds": args.rounds,
        "capacity": args.capacity,
        "drain_plain_per_s": [round(r) for r in rates[PLAIN]],
        "drain_checkpoint_per_s": [round(r) for r in rates[CHECKPOINTED]],
        "drain_ratio": round(ckpt / plain, 3),
        "node_ms_added_per_task": round(1000 / ckpt - 1000 / plain, 3),
        "e2e_p50_plain_ms": round(statistics.median(lat[PLAIN]), 3),
        "e2e_p50_checkpoint_ms": round(statistics.median(lat[CHECKPOINTED]), 3),
        "cpu_count": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--capacity", type=int, default=256)
    args = parser.parse_args()
    print(json.dumps(run_async(bench(args))), flush=True)


if __name__ == "__main__":
    main()
