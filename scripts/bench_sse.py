"""SSE benchmark: N clients following N running tasks through ONE edge node.

    python scripts/bench_sse.py [--clients 500] [--steps 20] [--step-seconds 0.5]

Starts its own nats-server (temporary store), a peer node in this process (capacity N, a
handler that reports progress every ``--step-seconds``), and one edge as a subprocess
(``prsm-tasks edge``), all on 127.0.0.1. Enqueues N tasks, opens N SSE streams
(``/tasks/{id}/events``), and measures, for every live event, the delay from the node's
timestamp to its arrival at the client. Prints one JSON line: latency p50/p99/max, events
delivered, edge CPU (percent of one core, via psutil) and the edge's peak RSS. Stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from prsm_tasks import Client, Node, TaskContext
from prsm_tasks.client.sse import read_messages
from prsm_tasks.edge.http.auth import mint_token
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.handlers import HandlerRegistry
from prsm_tasks.logging import configure_logging

QUEUE = "bench_sse_queue"
LISTEN_RE = re.compile(r"https?://127\.0\.0\.1:(\d+)")


def make_handler(steps: int, step_s: float) -> Any:
    async def report(ctx: TaskContext) -> dict[str, int]:
        for step in range(1, steps + 1):
            await asyncio.sleep(step_s)
            await ctx.progress(step / steps, f"step {step}/{steps}")
        return {"steps": steps}

    return report


def start_edge(nats_url: str, secret: str, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "PRSM_SERVERS": nats_url,
        "PRSM_JWT_SECRET": secret,
        "PRSM_LOG_LEVEL": "warning",
        "PRSM_RATE_LIMIT_PER_SECOND": "0",
    }
    log_file = open(log_path, "wb")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [sys.executable, "-m", "prsm_tasks.cli", "edge", "--port", "0", "--host", "127.0.0.1"],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = LISTEN_RE.search(log_path.read_text(errors="replace"))
        if match:
            return process, f"http://127.0.0.1:{match.group(1)}"
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"edge did not start:\n{log_path.read_text(errors='replace')[-3000:]}")


async def follow_task(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    latencies: list[float],
    measure_from: list[float],
) -> int:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    received = 0
    async with session.get(url, headers=headers) as response:
        response.raise_for_status()
        async for message in read_messages(response):
            arrived = time.time()
            event = json.loads(message.data)
            received += 1
            sent = datetime.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            sent_s = sent.timestamp()
            if measure_from and sent_s >= measure_from[0]:
                latencies.append(arrived - sent_s)
            if event["event_type"] in ("task_completed", "task_failed", "task_cancelled"):
                break
    return received


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def bench(clients: int, steps: int, step_s: float) -> dict[str, Any]:
    secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="prsm-bench-sse-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp) / "nats").start()
        edge, edge_url = start_edge(server.url, secret, Path(tmp) / "edge.log")
        try:
            return await run(server.url, edge, edge_url, secret, clients, steps, step_s)
        finally:
            edge.terminate()
            edge.wait(timeout=20)
            server.stop()


async def run(
    nats_url: str,
    edge: subprocess.Popen[bytes],
    edge_url: str,
    secret: str,
    clients: int,
    steps: int,
    step_s: float,
) -> dict[str, Any]:
    registry = HandlerRegistry()
    registry.register(make_handler(steps, step_s), queue=QUEUE)
    token = mint_token(secret, user="bench", tenant="bench")
    latencies: list[float] = []
    measure_from: list[float] = []
    edge_process = psutil.Process(edge.pid)
    connector = aiohttp.TCPConnector(limit=0)
    async with (
        Client(nats_url, user="bench", tenant="bench") as client,
        Node(servers=nats_url, handlers=registry, capacity=clients, name="bench-node") as _node,
        aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout()) as session,
    ):
        records = await client.enqueue_many(QUEUE, [{} for _ in range(clients)])
        followers = [
            asyncio.create_task(
                follow_task(
                    session,
                    f"{edge_url}/tasks/{record.task_id}/events",
                    token,
                    latencies,
                    measure_from,
                )
            )
            for record in records
        ]
        await asyncio.sleep(min(2.0, steps * step_s / 4))  # every stream connected and replayed
        cpu_start = edge_process.cpu_times()
        wall_start = time.monotonic()
        measure_from.append(time.time())
        received = await asyncio.gather(*followers)
        wall_s = time.monotonic() - wall_start
        cpu_end = edge_process.cpu_times()
        rss_mb = edge_process.memory_info().rss / 2**20
    cpu_s = (cpu_end.user - cpu_start.user) + (cpu_end.system - cpu_start.system)
    return {
        "bench": "sse",
        "clients": clients,
        "tasks": clients,
        "progress_steps": steps,
        "step_seconds": step_s,
        "events_received": sum(received),
        "live_events_measured": len(latencies),
        "latency_ms_p50": round(percentile(latencies, 0.50) * 1000, 2) if latencies else None,
        "latency_ms_p99": round(percentile(latencies, 0.99) * 1000, 2) if latencies else None,
        "latency_ms_max": round(max(latencies) * 1000, 2) if latencies else None,
        "latency_ms_mean": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
        "measured_seconds": round(wall_s, 2),
        "edge_cpu_percent_of_one_core": round(100 * cpu_s / wall_s, 1),
        "edge_rss_mb": round(rss_mb, 1),
        "cpu_count": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--step-seconds", type=float, default=0.5)
    args = parser.parse_args()
    configure_logging(level="warning")
    result = asyncio.run(bench(args.clients, args.steps, args.step_seconds))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
