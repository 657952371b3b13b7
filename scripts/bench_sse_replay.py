"""SSE replay benchmark: clients of ONE task with a long stored history, through one edge.

    python scripts/bench_sse_replay.py [--events 20000] [--clients 3] [--give-up-s 0.5]

Starts its own nats-server (temporary store) and one edge as a subprocess (``prsm-tasks
edge``), enqueues one task (no node serves its queue) and stores ``--events`` progress events
for it straight in PRSM_EVENTS. Then, through ``/tasks/{id}/events``:

- ``--clients`` clients at once, each until its first event: the time to that event;
- ``--clients`` clients at once that read for ``--give-up-s`` and leave: the edge's CPU from
  their start until ten seconds later (what their replays cost, including after they left);
- one client that reads the whole history (reconnecting after each ``replay_truncated``),
  which ends with a stored ``task_completed``.

Prints one JSON line, with the edge's RSS before and its peak. Stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import nats
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prsm_tasks import Client, wire  # noqa: E402
from prsm_tasks.client.sse import follow, read_messages  # noqa: E402
from prsm_tasks.edge.http.auth import mint_token  # noqa: E402
from prsm_tasks.embedded import EmbeddedNats  # noqa: E402
from prsm_tasks.store.events import event_dict  # noqa: E402
from scripts.bench_http import cpu_seconds, edge_address, spawn, stop  # noqa: E402

QUEUE = "bench_replay"


async def store_history(nats_url: str, task_id: str, count: int) -> None:
    nc = await nats.connect(nats_url)
    try:
        subject = wire.event_subject(QUEUE, task_id, "progress_update")
        for step in range(1, count + 1):
            data = {"text": f"step {step}/{count}", "value": step / count}
            payload = event_dict(
                task_id=task_id,
                queue_name=QUEUE,
                event_type="progress_update",
                attempt=1,
                worker_node="bench",
                now=time.time(),
                data=data,
            )
            await nc.publish(subject, wire.pack(payload))
        final = {**payload, "event_type": "task_completed", "data": {"result": None}}
        final_subject = wire.event_subject(QUEUE, task_id, "task_completed")
        # acked: the server stores one connection's messages in order, so all of them are in
        await nc.jetstream().publish(final_subject, wire.pack(final))
    finally:
        await nc.close()


async def first_event_s(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    async with http.get(url, headers=headers) as response:
        async for _ in read_messages(response):
            return time.perf_counter() - started
    raise RuntimeError("the stream ended without an event")


async def read_then_leave(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], give_up_s: float
) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(give_up_s), http.get(url, headers=headers) as response:
            async for _ in read_messages(response):
                pass


async def sample_rss(edge: psutil.Process, peak: list[int], stop_at: asyncio.Event) -> None:
    while not stop_at.is_set():
        peak[0] = max(peak[0], edge.memory_info().rss)
        await asyncio.sleep(0.05)


async def run(nats_url: str, edge_url: str, edge: psutil.Process, args: Any, secret: str) -> Any:
    async with Client(nats_url, user="bench", tenant="bench") as client:
        task = await client.enqueue(QUEUE, {})
    await store_history(nats_url, task.task_id, args.events)
    await asyncio.sleep(2)  # the edge's live feed passes the new events by
    url = f"{edge_url}/tasks/{task.task_id}/events"
    headers = {"Authorization": f"Bearer {mint_token(secret, user='bench', tenant='bench')}"}
    rss_before = edge.memory_info().rss
    peak, done = [rss_before], asyncio.Event()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http,
        asyncio.TaskGroup() as group,
    ):
        group.create_task(sample_rss(edge, peak, done))
        firsts = await asyncio.gather(
            *(first_event_s(http, url, headers) for _ in range(args.clients))
        )
        cpu_before = cpu_seconds(edge)
        await asyncio.gather(
            *(read_then_leave(http, url, headers, args.give_up_s) for _ in range(args.clients))
        )
        await asyncio.sleep(10)
        left_cpu_s = cpu_seconds(edge) - cpu_before
        started = time.perf_counter()
        whole = [m async for m in follow(http, url, headers=headers) if m.event == "task_event"]
        whole_s = time.perf_counter() - started
        done.set()
    return {
        "stored_events": args.events + 2,
        "clients": args.clients,
        "first_event_s": [round(value, 3) for value in firsts],
        "edge_cpu_s_clients_that_left": round(left_cpu_s, 2),
        "whole_history_events": len(whole),
        "whole_history_s": round(whole_s, 2),
        "edge_rss_mb_before": round(rss_before / 2**20),
        "edge_rss_mb_peak": round(peak[0] / 2**20),
    }


async def bench(args: argparse.Namespace) -> Any:
    secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="prsm-bench-replay-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp) / "nats").start()
        env = {"PRSM_SERVERS": server.url, "PRSM_JWT_SECRET": secret, "PRSM_QUEUES": QUEUE}
        edge = spawn(["edge", "--port", "0", "--host", "127.0.0.1"], env)
        try:
            host, port = edge_address(edge)
            return await run(
                server.url, f"http://{host}:{port}", psutil.Process(edge.pid), args, secret
            )
        finally:
            stop(edge)
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--give-up-s", type=float, default=0.5)
    print(json.dumps(asyncio.run(bench(parser.parse_args()))))


if __name__ == "__main__":
    main()
