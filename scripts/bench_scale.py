"""How drain grows with node processes (K) and partitions (P), on one nats-server or three.

    python scripts/bench_scale.py --nodes 1,2,4 --partitions 1,3 --tasks 20000
    python scripts/bench_scale.py --cluster --nodes 1,2 --partitions 1,3 --tasks 20000

For each configuration (every K of --nodes with every P of --partitions) the script starts
fresh servers under a temporary directory (loopback only, random free ports; with --cluster
three routed servers, JetStream on each, and PRSM_REPLICAS=3), then:

1. enqueue: --producers processes each ``Client.enqueue_many`` their share of the N no-op
   tasks while no node runs; ``enqueue_per_s`` is N over the span from the first producer's
   start to the last one's end;
2. drain: K ``prsm-tasks node`` processes (capacity --capacity, the no-op handler of
   ``scripts/bench_handlers.py``) start against that backlog; the work streams are polled
   until empty, then every task's record is read back: ``drain_per_s`` is N over the span from
   the first attempt started to the last task completed (from the records; the span from the
   nodes' spawn gives ``drain_from_spawn_per_s``);
3. CPU: the server and node processes' CPU time (psutil) over the drain span, in cores.

PRSM_PARTITIONS=P (and PRSM_REPLICAS) go to every process through the environment. One JSON
line per configuration; the exit status is 1 when any task was not completed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nats.errors
from nats.js.api import StreamInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prsm_tasks import Client  # noqa: E402
from prsm_tasks.cli import run_async  # noqa: E402
from prsm_tasks.config import Settings  # noqa: E402
from prsm_tasks.logging import configure_logging  # noqa: E402
from prsm_tasks.topology import Topology  # noqa: E402
from scripts.bench_cpu import CpuSampler  # noqa: E402
from scripts.bench_processes import open_processes, read_line  # noqa: E402
from scripts.bench_servers import open_servers, wait_jetstream_ready  # noqa: E402

QUEUE = "bench"
WORK_STREAM_RE = re.compile(r"^PRSM_WORK(_\d+)?$")


@dataclass(frozen=True)
class Run:
    cluster: bool
    nodes: int
    partitions: int
    args: argparse.Namespace

    @property
    def replicas(self) -> int:
        return 3 if self.cluster else 1

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "PRSM_PARTITIONS": str(self.partitions),
            "PRSM_REPLICAS": str(self.replicas),
            "PRSM_LOG_LEVEL": "warning",
        }


def client_for(urls: list[str]) -> Client:
    """A native client whose topology (replicas, partitions) comes from the environment,
    the way every node of the run reads it."""
    return Client(urls, topology=Topology.from_settings(Settings()), name="prsm-bench-scale")


def node_command(urls: list[str], capacity: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "prsm_tasks.cli",
        "node",
        "--servers",
        ",".join(urls),
        "--queues",
        QUEUE,
        "--handlers",
        "scripts.bench_handlers",
        "--capacity",
        str(capacity),
    ]


def producer_commands(urls: list[str], run: Run, log_dir: Path) -> list[list[str]]:
    share, extra = divmod(run.args.tasks, run.args.producers)
    return [
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--producer-child",
            "--servers",
            ",".join(urls),
            "--tasks",
            str(share + (1 if index < extra else 0)),
            "--window",
            str(run.args.window),
            "--ids-file",
            str(log_dir / f"ids-{index}.txt"),
        ]
        for index in range(run.args.producers)
    ]


def enqueue_backlog(urls: list[str], run: Run, log_dir: Path) -> tuple[float, list[str]]:
    """Start the producers, wait until each is connected, let them go at once; (rate, ids)."""
    commands = producer_commands(urls, run, log_dir)
    with open_processes(
        commands,
        run.env(),
        log_dir,
        "producer",
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as producers:
        for producer in producers:
            if read_line(producer, within_s=120) != "ready":
                raise RuntimeError("a producer did not get ready")
        for producer in producers:
            assert producer.stdin is not None
            producer.stdin.write(b"go\n")
            producer.stdin.flush()
        spans = [json.loads(read_line(p, within_s=run.args.timeout)) for p in producers]
    started = min(span["started"] for span in spans)
    ended = max(span["ended"] for span in spans)
    task_ids = [
        line
        for index in range(len(commands))
        for line in (log_dir / f"ids-{index}.txt").read_text().split()
    ]
    return len(task_ids) / (ended - started), task_ids


async def work_streams(client: Client) -> list[StreamInfo]:
    """Every partition's work stream (``PRSM_WORK``, ``PRSM_WORK_<p>``)."""
    js = client._js  # the benchmark reads the server's counters
    assert js is not None
    return [s for s in await js.streams_info() if WORK_STREAM_RE.match(s.config.name)]


async def work_backlog(client: Client) -> int:
    """Messages left in the work streams (work-queue retention: a finished task's message is
    gone)."""
    return sum(stream.state.messages for stream in await work_streams(client))


async def work_layout(client: Client) -> dict[str, object]:
    """How many work streams the run had, their replicas, and on how many servers they lead:
    the check that PRSM_PARTITIONS and PRSM_REPLICAS reached the topology."""
    streams = await work_streams(client)
    leaders = {s.cluster.leader for s in streams if s.cluster is not None and s.cluster.leader}
    return {
        "work_streams": len(streams),
        "work_replicas": max((s.config.num_replicas or 1 for s in streams), default=0),
        "work_stream_leaders": len(leaders) or 1,
    }


async def wait_drained(
    client: Client,
    nodes: list[subprocess.Popen[bytes]],
    within_s: float,
) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            if await work_backlog(client) == 0:
                return
        except (TimeoutError, nats.errors.Error):
            pass  # a busy server answers late: ask again until the deadline
        if any(node.poll() is not None for node in nodes):
            raise RuntimeError("a node process exited during the drain")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the backlog was not drained within {within_s} s")
        await asyncio.sleep(0.1)


@dataclass
class Outcome:
    completed: int = 0
    not_completed: int = 0
    first_start: float = float("inf")
    last_end: float = 0.0


async def read_outcome(client: Client, task_ids: list[str]) -> Outcome:
    """Every task's record, read back: how many completed, and the span they ran in."""
    outcome = Outcome()
    for start in range(0, len(task_ids), 500):
        chunk = task_ids[start : start + 500]
        records = await asyncio.gather(*(client.status(task_id) for task_id in chunk))
        for record in records:
            if record.status != "completed" or not record.attempts:
                outcome.not_completed += 1
                continue
            outcome.completed += 1
            outcome.first_start = min(outcome.first_start, record.attempts[0].started_at)
            outcome.last_end = max(outcome.last_end, record.completed_at or 0.0)
    return outcome


async def drain(
    urls: list[str], run: Run, log_dir: Path, servers_pids: list[int], task_ids: list[str]
) -> dict[str, object]:
    """Start K nodes on the backlog, wait for it to drain, read back every record."""
    async with client_for(urls) as client:
        commands = [node_command(urls, run.args.capacity)] * run.nodes
        with (
            CpuSampler(servers_pids) as sampler,
            open_processes(commands, run.env(), log_dir, "node", cwd=REPO) as nodes,
        ):
            spawned = time.time()
            sampler.watch_nodes([node.pid for node in nodes])
            await wait_drained(client, nodes, run.args.timeout)
            outcome = await read_outcome(client, task_ids)
        layout = await work_layout(client)
        if outcome.completed == 0:
            return {"completed": 0, "not_completed": outcome.not_completed, **layout}
        span_s = max(outcome.last_end - outcome.first_start, 1e-6)
        server_cores, node_cores = sampler.cores_between(outcome.first_start, outcome.last_end)
        return {
            "drain_per_s": round(outcome.completed / span_s),
            "drain_from_spawn_per_s": round(outcome.completed / (outcome.last_end - spawned)),
            "server_cpu_cores": round(server_cores, 2),
            "node_cpu_cores": round(node_cores, 2),
            "completed": outcome.completed,
            "not_completed": outcome.not_completed,
            **layout,
        }


async def prepare(urls: list[str], run: Run) -> None:
    """JetStream ready, and the topology created once, before anything is timed."""
    await wait_jetstream_ready(urls, replicas=run.replicas)
    async with client_for(urls):
        pass


def measure(run: Run) -> dict[str, object]:
    """One configuration on fresh servers; every process it starts is stopped on the way out."""
    os.environ.update({k: v for k, v in run.env().items() if k.startswith("PRSM_")})
    result: dict[str, object] = {
        "servers": 3 if run.cluster else 1,
        "nodes": run.nodes,
        "partitions": run.partitions,
        "tasks": run.args.tasks,
        "capacity": run.args.capacity,
        "producers": run.args.producers,
    }
    with (
        tempfile.TemporaryDirectory(prefix="prsm-bench-scale-") as tmp,
        open_servers(cluster=run.cluster, root=Path(tmp)) as servers,
    ):
        urls = [server.url for server in servers]
        pids = [server.pid for server in servers if server.pid is not None]
        log_dir = Path(tmp)
        try:
            run_async(prepare(urls, run))
            enqueue_per_s, task_ids = enqueue_backlog(urls, run, log_dir)
            result["enqueue_per_s"] = round(enqueue_per_s)
            result.update(run_async(drain(urls, run, log_dir, pids, task_ids)))
        except (TimeoutError, RuntimeError, OSError, nats.errors.Error) as exc:
            result["error"] = str(exc)
            result["logs"] = tail_logs(log_dir)
    result["cpu_count"] = os.cpu_count()
    return result


def tail_logs(log_dir: Path) -> dict[str, str]:
    """The end of each node's and producer's log, for a failed configuration."""
    return {
        path.name: path.read_text(errors="replace")[-1500:]
        for path in sorted(log_dir.glob("*.log"))
        if path.stat().st_size
    }


async def producer_child(args: argparse.Namespace) -> tuple[list[str], dict[str, float]]:
    """One producer process: connect, say ready, wait for go, enqueue its share."""
    async with client_for(args.servers.split(",")) as client:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.time()
        records = await client.enqueue_many(
            QUEUE, ({} for _ in range(args.tasks)), window=args.window
        )
        ended = time.time()
    return [record.task_id for record in records], {"started": started, "ended": ended}


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int_list, default=[1, 2, 4], help="K values: 1,2,4")
    parser.add_argument("--partitions", type=int_list, default=[1, 3], help="P values: 1,3")
    topology = parser.add_mutually_exclusive_group()
    topology.add_argument("--cluster", action="store_true", help="three routed servers, R3")
    topology.add_argument("--single", dest="cluster", action="store_false", help="one server")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--capacity", type=int, default=256, help="task slots of each node")
    parser.add_argument("--producers", type=int, default=1, help="enqueueing processes")
    parser.add_argument("--window", type=int, default=512, help="enqueue_many's window")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per phase")
    parser.add_argument("--producer-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--servers", help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.producers < 1 or args.capacity < 1:
        parser.error("--tasks, --producers and --capacity must be at least 1")
    return args


def raise_on_sigterm() -> None:
    """A SIGTERM stops the bench the way Ctrl-C does: through every cleanup on the way out."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(level="warning")  # to stderr: stdout carries the JSON lines
    if args.producer_child:
        task_ids, span = run_async(producer_child(args))
        Path(args.ids_file).write_text("\n".join(task_ids))
        print(json.dumps(span), flush=True)  # the parent reads this line: the ids are written
        return 0
    raise_on_sigterm()
    all_completed = True
    for partitions in args.partitions:
        for nodes in args.nodes:
            result = measure(Run(args.cluster, nodes, partitions, args))
            all_completed &= "error" not in result and result.get("completed") == args.tasks
            print(json.dumps(result), flush=True)
    return 0 if all_completed else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
