"""The dashboard's cost to an edge: its CPU while tasks flow at a steady rate, without
viewers and with ``--viewers`` dashboards open on the tasks page (each signed in, each
holding the page's SSE stream of live rows).

    python scripts/bench_ui.py [--rate 200] [--seconds 20] [--viewers 50] [--rounds 2]

One nats-server, one node in this process (a handler that reports progress twice and
ends), one ``prsm-tasks edge`` subprocess, the only process measured (psutil, user +
system CPU over each window). Windows alternate (none, viewers, none, viewers ...) so both
see the same minutes of a shared machine. Viewers reopen the tasks page every
``--reload-s`` seconds, as a person moving through pages does, so their rows are tasks
that are still running and the live rows carry events.

Prints one JSON line: the achieved enqueue rate, the edge's CPU (% of one core) per window
and the medians, the difference, and the fragments the edge rendered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prsm_tasks import TaskContext  # noqa: E402
from prsm_tasks.cli import run_async  # noqa: E402
from prsm_tasks.client import Client  # noqa: E402
from prsm_tasks.edge.http.auth import mint_token  # noqa: E402
from prsm_tasks.embedded import EmbeddedNats  # noqa: E402
from prsm_tasks.handlers import HandlerRegistry  # noqa: E402
from prsm_tasks.node import Node  # noqa: E402
from scripts.bench_edge_ab import spawn_edge  # noqa: E402
from scripts.bench_http import QUEUE, cpu_seconds, edge_address, stop  # noqa: E402

STREAM_RE = re.compile(r'sse-connect="([^"]+)"')


async def short_task(ctx: TaskContext) -> None:
    await ctx.progress(0.5, "half")
    await asyncio.sleep(0.2)
    await ctx.progress(1.0, "done")


async def steady_enqueue(client: Client, rate: float, stop_at: float) -> int:
    sent = 0
    started = time.monotonic()
    while time.monotonic() < stop_at:
        due = started + sent / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await client.enqueue(QUEUE, {})
        sent += 1
    return sent


async def viewer(url: str, bearer: str, reload_s: float, stop_at: float) -> int:
    """One person with the tasks page open; the fragments it received."""
    received = 0
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.post(
            url + "/ui/signin", data={"token": bearer}, headers={"Origin": url}
        ) as answer:
            assert answer.status == 200, answer.status
        while time.monotonic() < stop_at:
            async with http.get(url + "/ui/tasks") as page:
                found = STREAM_RE.search(await page.text())
            if found is None:
                await asyncio.sleep(0.5)
                continue
            with contextlib.suppress(TimeoutError):
                async with (
                    asyncio.timeout(min(reload_s, max(0.0, stop_at - time.monotonic()))),
                    http.get(url + found.group(1).replace("&amp;", "&")) as stream,
                ):
                    async for line in stream.content:
                        received += line.startswith(b"event: t-")
    return received


async def window(
    edge: psutil.Process, client: Client, args: argparse.Namespace, url: str, viewers: int
) -> dict[str, Any]:
    stop_at = time.monotonic() + args.seconds
    bearer = mint_token(args.secret, user="bench", tenant="bench")
    before = cpu_seconds(edge)
    started = time.monotonic()
    sent, *received = await asyncio.gather(
        steady_enqueue(client, args.rate, stop_at),
        *(viewer(url, bearer, args.reload_s, stop_at) for _ in range(viewers)),
    )
    elapsed = time.monotonic() - started
    return {
        "viewers": viewers,
        "edge_cpu_pct": round((cpu_seconds(edge) - before) / elapsed * 100, 1),
        "rate_per_s": round(sent / elapsed, 1),
        "fragments_received": sum(received),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    args.secret = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="prsm-bench-ui-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp) / "nats")
        server.start()
        process = spawn_edge(REPO, server.url, args.secret)
        try:
            host, port = await asyncio.to_thread(edge_address, process)
            url = f"http://{host}:{port}"
            registry = HandlerRegistry()
            registry.register(short_task, queue=QUEUE)
            async with (
                Node(servers=server.url, handlers=registry, queues=[QUEUE], capacity=256),
                Client(server.url, user="bench", tenant="bench") as client,
            ):
                edge = psutil.Process(process.pid)
                windows = []
                for _ in range(args.rounds):
                    for viewers in (0, args.viewers):
                        windows.append(await window(edge, client, args, url, viewers))
        finally:
            stop(process)
            server.stop()
    quiet = [w["edge_cpu_pct"] for w in windows if w["viewers"] == 0]
    watched = [w["edge_cpu_pct"] for w in windows if w["viewers"] > 0]
    return {
        "mode": "ui_viewers",
        "rate_asked_per_s": args.rate,
        "seconds": args.seconds,
        "viewers": args.viewers,
        "windows": windows,
        "edge_cpu_pct_no_viewers": statistics.median(quiet),
        "edge_cpu_pct_with_viewers": statistics.median(watched),
        "edge_cpu_pct_added": round(statistics.median(watched) - statistics.median(quiet), 1),
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0, help="tasks enqueued per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each window")
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reload-s", type=float, default=5.0)
    print(json.dumps(run_async(run(parser.parse_args(argv)))), flush=True)


if __name__ == "__main__":
    main()
