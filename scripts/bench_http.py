"""HTTP benchmark: many concurrent clients enqueue through ONE edge process and wait.

    python scripts/bench_http.py [--tasks 20000] [--clients 64] [--status-requests 40000]
                                 [--profile DIR]
    python scripts/bench.py --mode http [same flags]

Starts its own nats-server (temporary store), one peer node process with a no-op handler
(queue ``bench``, scripts/bench_handlers.py) and one edge process (``prsm-tasks edge``), all
on 127.0.0.1; stops them by itself. The clients run in this process, apart from the edge, so
their CPU is not the edge's: keep-alive HTTP/1.1 connections (a minimal client, so the load
generator spends little of the machine's cores), each with the token of one of a few users,
enough of them to keep the edge busy. Phases:

1. enqueue: the clients POST /enqueue until ``--tasks`` are accepted;
2. wait: each client polls GET /status of its tasks until every one is completed;
3. status: the clients GET /status of completed tasks ``--status-requests`` times.

Prints one JSON line: requests/s and p50/p99 latency (ms) of enqueue and of /status, the time
until the last task completed, and the edge process's CPU (psutil, user + system, over each
phase's window): its share of one core (``_edge_cpu``), its CPU per request in microseconds
(``_edge_cpu_us``), and the requests one second of its CPU serves (``_per_edge_core_s``:
the rate of an edge that owns a core), which the machine's other load changes least.

``--profile DIR`` records the edge's stacks in each phase with py-spy (``pip install
py-spy``), as DIR/<phase>.txt in its collapsed format (a flame graph's input).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prsm_tasks.cli import run_async  # noqa: E402
from prsm_tasks.edge.http.auth import mint_token  # noqa: E402
from prsm_tasks.embedded import EmbeddedNats  # noqa: E402

QUEUE = "bench"
USERS = 8
EDGE_LINE = re.compile(r"edge:\s+http://([\d.]+):(\d+)")


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        ).encode()
        self.writer.write(head + self.auth + b"\r\n" + body)
        headers = await self.reader.readuntil(b"\r\n\r\n")
        status = int(headers[9:12])
        at = headers.lower().find(b"content-length:")
        length = int(headers[at + 15 : headers.find(b"\r\n", at)]) if at >= 0 else 0
        return status, await self.reader.readexactly(length)


@dataclass
class Phase:
    name: str
    latencies_s: list[float] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    edge_cpu_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        elapsed = self.ended - self.started
        ordered = sorted(self.latencies_s)

        def pct(fraction: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 3)

        return {
            f"{self.name}_requests": len(ordered),
            f"{self.name}_per_s": round(len(ordered) / elapsed, 1) if elapsed else None,
            f"{self.name}_p50_ms": pct(0.50) if ordered else None,
            f"{self.name}_p99_ms": pct(0.99) if ordered else None,
            f"{self.name}_mean_ms": round(statistics.fmean(ordered) * 1000, 3) if ordered else None,
            f"{self.name}_edge_cpu": round(self.edge_cpu_s / elapsed, 3) if elapsed else None,
            f"{self.name}_edge_cpu_us": round(self.edge_cpu_s / len(ordered) * 1e6, 1)
            if ordered
            else None,
            f"{self.name}_per_edge_core_s": round(len(ordered) / self.edge_cpu_s)
            if self.edge_cpu_s
            else None,
        }


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def timed(phase: Phase, edge: psutil.Process, work: Any) -> None:
    before = cpu_seconds(edge)
    phase.started = time.perf_counter()
    await work
    phase.ended = time.perf_counter()
    phase.edge_cpu_s = cpu_seconds(edge) - before


@contextlib.contextmanager
def profiled(edge: psutil.Process, out: Path | None) -> Iterator[None]:
    """py-spy records the edge's stacks while the block runs (``out`` None: nothing)."""
    if out is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [spy, "record", "--pid", str(edge.pid), "--rate", "400", "--format", "raw"]
    recorder = subprocess.Popen(
        [*command, "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # attached before the phase starts
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        recorder.wait(timeout=60)


async def enqueue_all(conns: list[Connection], total: int, phase: Phase) -> list[list[str]]:
    counter = itertools.count()
    owned: list[list[str]] = [[] for _ in conns]

    async def client(index: int, conn: Connection) -> None:
        while next(counter) < total:
            body = b'{"queue_name":"%s","task_data":{"i":%d}}' % (QUEUE.encode(), index)
            started = time.perf_counter()
            status, answer = await conn.request("POST", "/enqueue", body)
            phase.latencies_s.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"enqueue answered {status}: {answer[:300]!r}")
            owned[index].append(json.loads(answer)["task_id"])

    await asyncio.gather(*(client(i, c) for i, c in enumerate(conns)))
    return owned


async def wait_all(conns: list[Connection], owned: list[list[str]], phase: Phase) -> None:
    async def client(conn: Connection, task_ids: list[str]) -> None:
        for task_id in task_ids:
            while True:
                started = time.perf_counter()
                status, answer = await conn.request("GET", f"/status/{task_id}")
                phase.latencies_s.append(time.perf_counter() - started)
                if status != 200:
                    raise RuntimeError(f"status answered {status}: {answer[:300]!r}")
                if b'"status":"completed"' in answer:
                    break
                await asyncio.sleep(0.02)

    await asyncio.gather(*(client(c, ids) for c, ids in zip(conns, owned, strict=True)))


async def status_load(
    conns: list[Connection], owned: list[list[str]], total: int, phase: Phase
) -> None:
    counter = itertools.count()

    async def client(conn: Connection, task_ids: list[str]) -> None:
        chooser = random.Random(len(task_ids))
        while next(counter) < total:
            path = f"/status/{chooser.choice(task_ids)}"
            started = time.perf_counter()
            status, answer = await conn.request("GET", path)
            phase.latencies_s.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"status answered {status}: {answer[:300]!r}")

    await asyncio.gather(*(client(c, ids) for c, ids in zip(conns, owned, strict=True) if ids))


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "prsm_tasks.cli", *args],
        env={**os.environ, "PYTHONPATH": str(REPO), "PRSM_LOG_LEVEL": "warning", **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def edge_address(edge: subprocess.Popen[str], within_s: float = 60.0) -> tuple[str, int]:
    assert edge.stdout is not None
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        line = edge.stdout.readline()
        match = EDGE_LINE.search(line)
        if match:
            return match.group(1), int(match.group(2))
        if not line and edge.poll() is not None:
            break
    raise RuntimeError("the edge did not start")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def run_http_bench(args: argparse.Namespace) -> dict[str, Any]:
    secret = secrets.token_urlsafe(32)
    node_args = ["node", "--queues", QUEUE, "--handlers", "scripts.bench_handlers",
                 "--capacity", str(args.capacity)]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="prsm-bench-http-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp) / "nats")
        server.start()
        processes: list[subprocess.Popen[str]] = []
        try:
            edge = spawn(
                ["edge", "--servers", server.url, "--port", "0"],
                {"PRSM_JWT_SECRET": secret, "PRSM_RATE_LIMIT_PER_SECOND": "0",
                 "PRSM_QUEUES": QUEUE},
            )  # fmt: skip
            processes.append(edge)
            host, port = await asyncio.to_thread(edge_address, edge)
            edge_process = psutil.Process(edge.pid)
            conns = [
                Connection(host, port, mint_token(secret, user=f"user{i % USERS}", tenant="bench"))
                for i in range(args.clients)
            ]
            await asyncio.gather(*(conn.open() for conn in conns))
            phases = {
                name: Phase(name)
                for name in ("enqueue_alone", "wait_status", "enqueue", "wait_live", "status")
            }
            batches: dict[str, list[list[str]]] = {}

            async def enqueue_into(name: str) -> None:
                batches[name] = await enqueue_all(conns, args.tasks, phases[name])

            async def run(name: str, work: Any) -> None:
                out = args.profile / f"{name}.txt" if args.profile is not None else None
                with profiled(edge_process, out):
                    await timed(phases[name], edge_process, work)

            # 1. the edge alone takes a backlog (no node yet: nothing else competes for CPU)
            await run("enqueue_alone", enqueue_into("enqueue_alone"))
            processes.append(spawn([*node_args[:1], "--servers", server.url, *node_args[1:]], {}))
            # 2. a node drains it while the clients poll /status until all are completed
            owned = batches["enqueue_alone"]
            await run("wait_status", wait_all(conns, owned, phases["wait_status"]))
            # 3. enqueue while the node drains at the same time, then wait again
            await run("enqueue", enqueue_into("enqueue"))
            await run("wait_live", wait_all(conns, batches["enqueue"], phases["wait_live"]))
            # 4. /status of completed tasks, as fast as the clients can ask
            total = args.status_requests
            await run("status", status_load(conns, owned, total, phases["status"]))
            await asyncio.gather(*(conn.close() for conn in conns))
        finally:
            for process in reversed(processes):
                stop(process)
            server.stop()
    return {
        "mode": "http",
        "tasks": args.tasks,
        "clients": args.clients,
        **phases["enqueue_alone"].summary(),
        **phases["enqueue"].summary(),
        "all_completed_after_enqueue_s": round(
            phases["wait_live"].ended - phases["enqueue"].ended, 3
        ),
        **phases["status"].summary(),
        "cpu_count": os.cpu_count(),
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--status-requests", type=int, default=40_000)
    parser.add_argument("--capacity", type=int, default=256)
    parser.add_argument(
        "--profile", type=Path, help="a folder for py-spy's stacks of the edge, one per phase"
    )
    args = parser.parse_args(argv)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    result = run_async(run_http_bench(args))  # uvloop, like the node and edge processes
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
