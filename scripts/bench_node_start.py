"""From spawn to full rate: how fast `prsm-tasks node` processes take up a waiting backlog.

    python scripts/bench_node_start.py                        # 20,000 tasks, 1 and 2 nodes
    python scripts/bench_node_start.py --nodes 2 --reps 3
    python scripts/bench_node_start.py --code before=/tmp/old-checkout --code after=. --reps 3

Each run starts its own nats-server (a fresh store: the streams exist, the work consumers
do not, as on a first deployment), queues N no-op tasks with ``Client.enqueue_many``, then
spawns K node processes (capacity C each) and waits until the backlog is drained. Every
figure is in seconds from the spawn, read from the task records (``attempts[0].started_at``,
``completed_at``) except two read from the nodes themselves: ``imported_s`` (the latest
advert's ``started_at``, set when the node object is built, after the imports) and
``ready_s`` (the timestamp of the latest ``node_ready`` log line).

- ``first_start_s``: the first task started; ``p50_done_s``/``p90_done_s``/``done_s``: half,
  nine tenths and all of the backlog completed;
- ``from_spawn_per_s``: N / ``done_s``; ``steady_per_s``: the rate over the middle of the drain
  (from 25 % to 75 % of the completions); ``from_spawn_vs_steady``: their ratio;
- ``harness_steady_per_s``: N / (last completed - first started), the peer harness's "steady";
- ``ready_cpu_s``: before each run, one node spawned on a fresh server without work: the CPU
  time (user + system) it used from spawn to ``node_ready``. Wall times move with whatever
  else the machine runs; this hardly does.

``--code LABEL=PATH`` (repeatable) runs the nodes of another checkout (its package on
PYTHONPATH, this venv's interpreter); the labels alternate within each repetition, so a busy
machine's drift falls on all of them alike. One JSON line: every run, and the medians per
(code, nodes).
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
import threading
import time
from datetime import datetime
from pathlib import Path

import nats.js.errors

from prsm_tasks import Client, wire
from prsm_tasks.cli import run_async
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.logging import configure_logging
from prsm_tasks.messages import NodeAd

REPO = Path(__file__).resolve().parents[1]
QUEUE = "bench"
FIGURES = (
    "ready_cpu_s",
    "imported_s",
    "ready_s",
    "first_start_s",
    "p50_done_s",
    "p90_done_s",
    "done_s",
    "from_spawn_per_s",
    "steady_per_s",
    "from_spawn_vs_steady",
    "harness_steady_per_s",
)


class NodeProcess:
    """One `prsm-tasks node` of the checkout at ``code``; remembers when it logged ready."""

    def __init__(self, code: Path, url: str, capacity: int) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": f"{code}{os.pathsep}{REPO}",  # the checkout's package, our handlers
            "PRSM_LOG_FORMAT": "json",
            "PRSM_LOG_LEVEL": "info",
        }
        argv = [sys.executable, "-m", "prsm_tasks.cli", "node", "--servers", url]
        argv += ["--queues", QUEUE, "--handlers", "scripts.bench_handlers"]
        argv += ["--capacity", str(capacity)]
        self.ready_at: float | None = None
        self.ready_cpu_s: float | None = None
        self.proc = subprocess.Popen(
            argv, env=env, cwd=code, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "node_ready":
                self.ready_cpu_s = self.cpu_s()
                self.ready_at = datetime.fromisoformat(entry["timestamp"]).timestamp()

    def cpu_s(self) -> float:
        """CPU time (user + system) the process has used so far (Linux)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)


async def backlog_drained(client: Client) -> bool:
    js = client._js  # the benchmark reads the server's counters
    assert js is not None
    for band in ("critical", "high", "normal", "low"):
        try:
            info = await js.consumer_info(wire.WORK_STREAM, wire.work_consumer(QUEUE, band))
        except nats.js.errors.NotFoundError:
            return False
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def node_started_at(client: Client) -> list[float]:
    """``started_at`` of every node advert (set once a node's imports are done)."""
    js = client._js
    assert js is not None
    kv = await js.key_value(wire.NODES_BUCKET)
    try:
        keys = await kv.keys()
    except nats.js.errors.NoKeysError:
        return []
    ads = [NodeAd.model_validate(wire.unpack((await kv.get(key)).value or b"")) for key in keys]
    return [ad.started_at for ad in ads]


async def task_times(client: Client, task_ids: list[str]) -> tuple[list[float], list[float]]:
    """(started_at of the first attempts, completed_at) of every task, from the records."""
    starts: list[float] = []
    ends: list[float] = []
    for first in range(0, len(task_ids), 500):
        records = await asyncio.gather(*(client.status(t) for t in task_ids[first : first + 500]))
        for record in records:
            if record.status != "completed" or record.completed_at is None:
                raise RuntimeError(f"task {record.task_id} is {record.status}")
            starts.append(record.attempts[0].started_at)
            ends.append(record.completed_at)
    return starts, sorted(ends)


async def idle_start_cpu_s(code: Path, capacity: int) -> float:
    """CPU seconds one node spends from spawn to ready on a fresh server with no work: what a
    start costs, unlike wall times, hardly moved by other load on the machine."""
    with tempfile.TemporaryDirectory(prefix="prsm-bench-start-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp)).start()
        node = NodeProcess(code, server.url, capacity)
        try:
            deadline = time.monotonic() + 120
            while node.ready_cpu_s is None:
                if time.monotonic() > deadline or node.proc.poll() is not None:
                    raise RuntimeError("the node did not start")
                await asyncio.sleep(0.02)
            return node.ready_cpu_s
        finally:
            node.stop()
            server.stop()


async def one_run(code: Path, nodes: int, args: argparse.Namespace) -> dict[str, float]:
    ready_cpu_s = await idle_start_cpu_s(code, args.capacity)
    with tempfile.TemporaryDirectory(prefix="prsm-bench-start-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp)).start()
        try:
            async with Client(server.url) as client:
                records = await client.enqueue_many(QUEUE, ({} for _ in range(args.tasks)))
                await asyncio.sleep(1.0)  # let the enqueue's writes settle before the spawn
                spawned_at = time.time()
                procs = [NodeProcess(code, server.url, args.capacity) for _ in range(nodes)]
                try:
                    started_at: list[float] = []
                    deadline = time.monotonic() + 600
                    while not await backlog_drained(client):
                        if len(started_at) < nodes:
                            started_at = await node_started_at(client)
                        exited = any(p.proc.poll() is not None for p in procs)
                        if time.monotonic() > deadline or exited:
                            raise RuntimeError("the nodes did not drain the backlog")
                        await asyncio.sleep(0.1)
                    starts, ends = await task_times(client, [r.task_id for r in records])
                    ready = [p.ready_at for p in procs if p.ready_at is not None]
                finally:
                    for proc in procs:
                        proc.stop()
        finally:
            server.stop()
    return {"ready_cpu_s": ready_cpu_s, **figures(spawned_at, started_at, ready, starts, ends)}


def figures(
    spawned_at: float,
    started_at: list[float],
    ready: list[float],
    starts: list[float],
    ends: list[float],
) -> dict[str, float]:
    count = len(ends)

    def done_at(fraction: float) -> float:
        return ends[min(count - 1, int(fraction * count))]

    done_s = ends[-1] - spawned_at
    steady = (int(0.75 * count) - int(0.25 * count)) / (done_at(0.75) - done_at(0.25))
    return {
        "imported_s": max(started_at) - spawned_at if started_at else float("nan"),
        "ready_s": max(ready) - spawned_at if ready else float("nan"),
        "first_start_s": min(starts) - spawned_at,
        "p50_done_s": done_at(0.5) - spawned_at,
        "p90_done_s": done_at(0.9) - spawned_at,
        "done_s": done_s,
        "from_spawn_per_s": count / done_s,
        "steady_per_s": steady,
        "from_spawn_vs_steady": count / done_s / steady,
        "harness_steady_per_s": (count - 1) / (ends[-1] - min(starts)),
    }


def rounded(value: float) -> float:
    return round(value, 3) if value < 100 else round(value)


async def bench(args: argparse.Namespace, codes: dict[str, Path]) -> dict[str, object]:
    runs: list[dict[str, object]] = []
    for rep in range(args.reps):
        for nodes in args.nodes:
            for label, path in codes.items():
                result = await one_run(path, nodes, args)
                run = {"code": label, "nodes": nodes, "rep": rep}
                run.update({k: rounded(v) for k, v in result.items()})
                print(json.dumps(run), file=sys.stderr, flush=True)
                runs.append(run)
    medians = []
    for nodes in args.nodes:
        for label in codes:
            mine = [run for run in runs if run["code"] == label and run["nodes"] == nodes]
            summary: dict[str, object] = {"code": label, "nodes": nodes}
            for figure in FIGURES:
                summary[figure] = rounded(statistics.median(float(r[figure]) for r in mine))  # type: ignore[arg-type]
            medians.append(summary)
    return {
        "bench": "node_start",
        "tasks": args.tasks,
        "capacity": args.capacity,
        "reps": args.reps,
        "cpu_count": os.cpu_count(),
        "codes": {label: str(path) for label, path in codes.items()},
        "medians": medians,
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--capacity", type=int, default=64)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument(
        "--code", action="append", default=[], help="LABEL=PATH of a checkout (repeatable)"
    )
    args = parser.parse_args()
    configure_logging(level="warning")  # stdout carries the one JSON line
    codes = {
        label: Path(path).resolve()
        for label, path in (code.split("=", 1) for code in args.code or [f"this={REPO}"])
    }
    print(json.dumps(run_async(bench(args, codes))), flush=True)


if __name__ == "__main__":
    main()
