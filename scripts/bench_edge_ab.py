"""The edge's CPU per request, this checkout against another one, side by side.

    python scripts/bench_edge_ab.py --baseline ../other-checkout [--rounds 6]
        [--enqueues 3000] [--statuses 10000] [--clients 64]

On a shared machine whose speed drifts by the minute, two benchmark runs one after the other
compare the machine as much as the code. This starts one nats-server and two edge processes
on it, the baseline's (``prsm-tasks edge`` run from ``--baseline``) and this checkout's, and
drives them in short bursts, alternately (the order swaps every round): ``--enqueues`` POST
/enqueue, then ``--statuses`` GET /status of those tasks, from ``--clients`` keep-alive
connections in this process. Only the edge under load is measured (psutil, its user + system
CPU over the burst), so both see the same minutes of the machine.

Prints one JSON line: for each edge, the medians over rounds of the CPU per request (µs) of
enqueue and of /status and the requests one second of its CPU serves, and the per-round
figures; ``enqueue_ratio`` and ``status_ratio``, the median over rounds of this checkout's
CPU per request over the baseline's in the same round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
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
from scripts.bench_http import (  # noqa: E402
    QUEUE,
    USERS,
    Connection,
    Phase,
    cpu_seconds,
    edge_address,
    enqueue_all,
    status_load,
    stop,
)


def spawn_edge(checkout: Path, server_url: str, secret: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "prsm_tasks.cli", "edge", "--servers", server_url, "--port", "0"],
        env={
            **os.environ,
            "PYTHONPATH": str(checkout),
            "PRSM_LOG_LEVEL": "warning",
            "PRSM_JWT_SECRET": secret,
            "PRSM_RATE_LIMIT_PER_SECOND": "0",
            "PRSM_QUEUES": QUEUE,
        },
        cwd=checkout,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class Edge:
    def __init__(self, name: str, process: subprocess.Popen[str], conns: list[Connection]) -> None:
        self.name = name
        self.process = psutil.Process(process.pid)
        self.conns = conns
        self.enqueue_us: list[float] = []
        self.status_us: list[float] = []

    async def burst(self, enqueues: int, statuses: int) -> None:
        before = cpu_seconds(self.process)
        owned = await enqueue_all(self.conns, enqueues, Phase("enqueue"))
        middle = cpu_seconds(self.process)
        await status_load(self.conns, owned, statuses, Phase("status"))
        after = cpu_seconds(self.process)
        self.enqueue_us.append((middle - before) / enqueues * 1e6)
        self.status_us.append((after - middle) / statuses * 1e6)

    def summary(self) -> dict[str, Any]:
        enqueue_us = statistics.median(self.enqueue_us)
        status_us = statistics.median(self.status_us)
        return {
            f"{self.name}_enqueue_edge_cpu_us": round(enqueue_us, 1),
            f"{self.name}_status_edge_cpu_us": round(status_us, 1),
            f"{self.name}_enqueue_per_edge_core_s": round(1e6 / enqueue_us),
            f"{self.name}_status_per_edge_core_s": round(1e6 / status_us),
            f"{self.name}_enqueue_rounds_us": [round(us, 1) for us in self.enqueue_us],
            f"{self.name}_status_rounds_us": [round(us, 1) for us in self.status_us],
        }


def ratios(edges: list[Edge], figure: str) -> list[float]:
    baseline, this = (getattr(edge, figure) for edge in edges)
    return [ours / theirs for theirs, ours in zip(baseline, this, strict=True)]


async def run_ab(args: argparse.Namespace) -> dict[str, Any]:
    secret = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="prsm-bench-ab-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp) / "nats")
        server.start()
        processes: list[subprocess.Popen[str]] = []
        try:
            edges: list[Edge] = []
            for name, checkout in (("baseline", args.baseline.resolve()), ("this", REPO)):
                process = spawn_edge(checkout, server.url, secret)
                processes.append(process)
                host, port = await asyncio.to_thread(edge_address, process)
                conns = [
                    Connection(host, port, mint_token(secret, user=f"u{i % USERS}", tenant="ab"))
                    for i in range(args.clients)
                ]
                await asyncio.gather(*(conn.open() for conn in conns))
                edges.append(Edge(name, process, conns))
            for edge in edges:  # warm up: imports, caches, the first watch deliveries
                await edge.burst(500, 1000)
                edge.enqueue_us.clear()
                edge.status_us.clear()
            started = time.perf_counter()
            for round_number in range(args.rounds):
                order = edges if round_number % 2 == 0 else edges[::-1]
                for edge in order:
                    await edge.burst(args.enqueues, args.statuses)
            for edge in edges:
                await asyncio.gather(*(conn.close() for conn in edge.conns))
        finally:
            for process in processes:
                stop(process)
            server.stop()
    return {
        "mode": "edge_ab",
        "baseline": str(args.baseline),
        "rounds": args.rounds,
        "enqueues": args.enqueues,
        "statuses": args.statuses,
        "clients": args.clients,
        **edges[0].summary(),
        **edges[1].summary(),
        # this checkout's CPU per request over the baseline's, round by round: the median
        "enqueue_ratio": round(statistics.median(ratios(edges, "enqueue_us")), 3),
        "status_ratio": round(statistics.median(ratios(edges, "status_us")), 3),
        "elapsed_s": round(time.perf_counter() - started, 1),
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--enqueues", type=int, default=3000)
    parser.add_argument("--statuses", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=64)
    print(json.dumps(run_async(run_ab(parser.parse_args(argv)))), flush=True)


if __name__ == "__main__":
    main()
