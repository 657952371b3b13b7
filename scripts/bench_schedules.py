"""The scheduler at scale: many armed schedules, a burst of them due in the same second.

    python scripts/bench_schedules.py                     # 100,000 schedules, 2,000 due
    python scripts/bench_schedules.py --schedules 20000 --due 500 --json
    python scripts/bench_schedules.py --code ../other-checkout   # that checkout's node

One nats-server (embedded, loopback, a temporary store removed at the end) and one
``prsm-tasks node`` process. This process plays the edge: it opens the same services and
schedule service an edge opens and creates every schedule through ``changes.create`` (the
path of ``POST /api/v1/tasks`` below the HTTP layer: quota, record create, timer armed), many
at once. ``--schedules`` minus ``--due`` of them are yearly crons (``0 0 1 1 *``, far ahead
but armed like any: one pending ``@at`` timer each); the ``--due`` others are ``one_time``
schedules whose due times are spread over one second a little ahead.

Figures:

- ``create_s`` / ``create_per_s``: creating and arming all the schedules;
- ``lateness_p50_s`` .. ``_max_s``: for each due schedule, its run's task ``created_at`` minus
  its due time (target p99 <= 1 s); ``runs_made``: the runs found (should be ``--due``);
- ``node_cpu_ms_per_fire`` / ``server_cpu_ms_per_fire``: CPU seconds (user + system) the node
  and the server used over the firing window (from 1 s before the first due time to 1 s after
  the last run was made), less their idle rate over the same length (measured just before,
  with everything armed), divided by the runs made;
- ``node_rss_mb`` / ``server_rss_mb`` / ``edge_rss_mb``: resident memory with everything
  armed, before the burst (the edge here is this process, holding the schedule index).

The runs go to a queue no node serves (``sched_bench``), so the node's CPU is the firing
alone, not the execution of 2,000 tasks. Benchmark, not a test: figures move with the load
of the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.services.access import Principal
from prsm_tasks.services.core import QueueRules, open_services
from prsm_tasks.services.schedules.changes import create
from prsm_tasks.services.schedules.core import ScheduleService, open_schedules
from prsm_tasks.services.schedules.runs import run_task_id
from prsm_tasks.store.opener import Connection, open_stores

REPO = Path(__file__).resolve().parents[1]
RUN_QUEUE = "sched_bench"
FAR_CRON = "0 0 1 1 *"  # yearly: armed, never due during the run
IN_FLIGHT = 256  # creates at once, as many edge requests would be
SETTLE_S = 2.0  # after the creates, before the idle baseline starts
FIRES_WITHIN_S = 120.0  # the latest a run may appear after its due time


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def rss_mb(process: psutil.Process) -> float:
    return round(process.memory_info().rss / 2**20, 1)


def start_node(url: str, log_path: Path, code: Path) -> subprocess.Popen[bytes]:
    """The node, running the package of the checkout at ``code`` (this one by default)."""
    path = f"{code}{os.pathsep}{REPO}"  # the checkout's package first, our bench handlers
    env = {**os.environ, "PYTHONPATH": path, "PRSM_LOG_FORMAT": "json"}
    argv = [sys.executable, "-m", "prsm_tasks.cli", "node", "--servers", url]
    argv += ["--queues", "bench", "--handlers", "scripts.bench_handlers", "--capacity", "64"]
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv, env=env, cwd=code, stdout=log, stderr=log, start_new_session=True
        )


def stop_node(node: subprocess.Popen[bytes]) -> None:
    node.terminate()
    try:
        node.wait(30)
    except subprocess.TimeoutExpired:
        node.kill()
        node.wait()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


async def create_all(
    schedules: ScheduleService, principal: Principal, bodies: list[dict[str, Any]]
) -> list[tuple[str, float]]:
    """Create every body, IN_FLIGHT at a time: (schedule id, first due time) of each."""
    limit = asyncio.Semaphore(IN_FLIGHT)

    done = 0

    async def one(body: dict[str, Any]) -> tuple[str, float]:
        nonlocal done
        async with limit:
            record = await create(schedules, principal, body)
        assert record.next_due_at is not None
        done += 1
        if done % 10_000 == 0:
            print(f"created {done} of {len(bodies)}", file=sys.stderr, flush=True)
        return record.schedule_id, record.next_due_at

    return await asyncio.gather(*(one(body) for body in bodies))


def far_body(index: int) -> dict[str, Any]:
    return {
        "task_name": RUN_QUEUE,
        "task_type": "cron",
        "schedule_expression": FAR_CRON,
        "timezone": "UTC",
        "payload": {"n": index},
    }


def due_body(index: int, due_at: float) -> dict[str, Any]:
    return {
        "task_name": RUN_QUEUE,
        "task_type": "one_time",
        "next_execution_time": iso(due_at),
        "timezone": "UTC",
        "payload": {"n": index},
    }


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 3)

    return {
        "lateness_p50_s": round(statistics.median(ordered), 3),
        "lateness_p95_s": at(0.95),
        "lateness_p99_s": at(0.99),
        "lateness_max_s": round(ordered[-1], 3),
    }


async def wait_runs(
    schedules: ScheduleService, expected: dict[str, float], last_due: float
) -> dict[str, float]:
    """task id -> created_at of every expected run, read from the edge's task view (its
    watch of the task bucket), until all are there or FIRES_WITHIN_S after the last due."""
    view = schedules.services.view
    while True:
        found = {t: view.entries[t].created_at for t in expected if t in view.entries}
        if len(found) == len(expected) or time.time() > last_due + FIRES_WITHIN_S:
            return found
        await asyncio.sleep(0.05)


async def bench(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    server = EmbeddedNats(store_dir=tmp / "nats").start()
    node: subprocess.Popen[bytes] | None = None
    try:
        connection = Connection(servers=server.url, name="bench-schedules")
        async with (
            open_stores(connection) as stores,
            open_services(stores, QueueRules()) as services,
            open_schedules(services, max_schedules=args.schedules + 1) as schedules,
        ):
            node = start_node(server.url, tmp / "node.log", args.code)
            principal = Principal(user="bench", tenant="bench", roles=frozenset())
            far = args.schedules - args.due
            started = time.monotonic()
            await create_all(schedules, principal, [far_body(i) for i in range(far)])
            far_s = time.monotonic() - started
            # the due ones last, far enough ahead for their creates and an idle baseline
            per_s = far_s / far if far else 0.002
            first_due = time.time() + 3 * per_s * args.due + SETTLE_S + args.idle + 2.0
            due_times = [first_due + i / args.due for i in range(args.due)]
            due_started = time.monotonic()
            made = await create_all(
                schedules, principal, [due_body(i, at) for i, at in enumerate(due_times)]
            )
            create_s = far_s + time.monotonic() - due_started
            expected = {run_task_id(sid, due): due for sid, due in made}
            return await measure(args, server, node, schedules, expected, create_s)
    finally:
        if node is not None:
            stop_node(node)
        server.stop()


async def measure(
    args: argparse.Namespace,
    server: EmbeddedNats,
    node: subprocess.Popen[bytes],
    schedules: ScheduleService,
    expected: dict[str, float],
    create_s: float,
) -> dict[str, Any]:
    procs = {"node": psutil.Process(node.pid), "server": psutil.Process(server.pid)}
    first_due, last_due = min(expected.values()), max(expected.values())
    await asyncio.sleep(SETTLE_S)
    rss = {f"{name}_rss_mb": rss_mb(proc) for name, proc in procs.items()}
    rss["edge_rss_mb"] = rss_mb(psutil.Process())
    idle_from = time.time()
    idle_cpu = {name: cpu_s(proc) for name, proc in procs.items()}
    await asyncio.sleep(max(0.5, first_due - 1.0 - time.time()))
    idle_s = time.time() - idle_from
    idle_rate = {name: (cpu_s(p) - idle_cpu[name]) / idle_s for name, p in procs.items()}
    fire_from = time.time()
    fire_cpu = {name: cpu_s(proc) for name, proc in procs.items()}
    found = await wait_runs(schedules, expected, last_due)
    await asyncio.sleep(1.0)
    fire_s = time.time() - fire_from
    used = {name: cpu_s(p) - fire_cpu[name] - idle_rate[name] * fire_s for name, p in procs.items()}
    runs = max(1, len(found))
    late = [created - expected[task] for task, created in found.items()]
    return {
        "schedules": args.schedules,
        "due": args.due,
        "create_s": round(create_s, 1),
        "create_per_s": round(args.schedules / create_s),
        "runs_made": len(found),
        **(percentiles(late) if late else {}),
        "node_cpu_ms_per_fire": round(used["node"] * 1000 / runs, 3),
        "server_cpu_ms_per_fire": round(used["server"] * 1000 / runs, 3),
        "idle_baseline_s": round(idle_s, 1),
        "firing_window_s": round(fire_s, 1),
        **rss,
    }


def table(result: dict[str, Any]) -> str:
    width = max(len(name) for name in result)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in result.items())


def interrupted(signum: int, frame: object) -> None:
    """SIGTERM as a Ctrl-C: the run unwinds and stops its node and server on the way out."""
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, interrupted)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=2_000)
    parser.add_argument("--idle", type=float, default=10.0, help="idle baseline, seconds")
    parser.add_argument("--json", action="store_true", help="one JSON line instead of a table")
    parser.add_argument(
        "--code", type=Path, default=REPO, help="run the node of another checkout (A/B)"
    )
    args = parser.parse_args()
    if not 0 < args.due <= args.schedules:
        parser.error("--due must be between 1 and --schedules")
    with tempfile.TemporaryDirectory(prefix="prsm-bench-schedules-") as tmp:
        result = asyncio.run(bench(args, Path(tmp)))
    print(json.dumps(result) if args.json else table(result))


if __name__ == "__main__":
    main()
