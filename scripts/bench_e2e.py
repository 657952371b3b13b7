"""Where a task's e2e latency goes, step by step (loopback only; stops by itself).

    python scripts/bench_e2e.py [--samples 2000] [--nodes 2] [--repo CHECKOUT ...]

Like the peer harness's latency row: N node processes (capacity 64) on an embedded
nats-server, one client enqueuing one task and waiting for it (``Client.wait``) before the
next, on plain asyncio (the harness does not use uvloop). The handler returns its start time,
so each sample splits into enqueue (until ``enqueue`` returns), start (handler started, from
the enqueue's start) and e2e (``wait`` returned); the CPU each process used per task (client,
nodes, server; user and system time) is steadier than wall times on a busy machine. With
several ``--repo`` checkouts the samples are interleaved in rounds, each checkout with its own
server and nodes, so a busy machine weighs on all of them alike. Prints one JSON line per
checkout: p50/p99 in ms, CPU in microseconds per task.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUEUE = "bench_lat"

CHILD = """
import asyncio, json, os, subprocess, sys, tempfile, time
from pathlib import Path
from prsm_tasks import Client
from prsm_tasks.embedded import EmbeddedNats

def cpu_of(pid, field):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[field]) / os.sysconf("SC_CLK_TCK")

def cpu_seconds(pids):
    # user (11) and system (12) time: a loopback send's kernel work is charged to the sender
    used = {}
    for kind, field in (("user", 11), ("sys", 12)):
        used["client_" + kind] = cpu_of(pids["client"], field)
        used["nodes_" + kind] = sum(cpu_of(p, field) for p in pids["nodes"])
        used["server_" + kind] = cpu_of(pids["server"], field)
    return used

async def main(nodes, rounds, per_round):
    with tempfile.TemporaryDirectory(prefix="prsm-e2e-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp)).start()
        procs = []
        try:
            env = {**os.environ, "PRSM_LOG_LEVEL": "warning"}
            for _ in range(nodes):
                procs.append(subprocess.Popen([sys.executable, "-m", "prsm_tasks.cli", "node",
                    "--servers", server.url, "--queues", "QUEUE", "--handlers",
                    "bench_e2e_handlers", "--capacity", "64"], env=env))
            async with Client(server.url) as client:
                async def one():
                    t0 = time.time()
                    record = await client.enqueue("QUEUE", {})
                    t1 = time.time()
                    final = await client.wait(record.task_id, timeout=30)
                    t2 = time.time()
                    return (t1 - t0, final.result - t0, t2 - t0)
                for _ in range(100):  # warm up (and wait for the nodes)
                    await one()
                print("@ready", flush=True)
                pids = {"client": os.getpid(), "nodes": [p.pid for p in procs],
                        "server": server._process.pid}
                for _ in range(rounds):
                    sys.stdin.readline()
                    before = cpu_seconds(pids)
                    samples = [await one() for _ in range(per_round)]
                    used = {k: v - before[k] for k, v in cpu_seconds(pids).items()}
                    print("@" + json.dumps({"samples": samples, "cpu": used}), flush=True)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
            server.stop()

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
""".replace("QUEUE", QUEUE)

HANDLERS = """
import time
import prsm_tasks

@prsm_tasks.handler("QUEUE")
async def lat(ctx, **task_data):
    return time.time()
""".replace("QUEUE", QUEUE)


def read_marked(child: subprocess.Popen[str]) -> str:
    """The child's next line marked with ``@`` (its log lines also go to stdout)."""
    assert child.stdout is not None
    while line := child.stdout.readline():
        if line.startswith("@"):
            return line[1:].strip()
    raise RuntimeError("the benchmark's child ended early")


def pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--repo", action="append", default=[])
    args = parser.parse_args()
    repos = [Path(r).resolve() for r in args.repo] or [HERE.parent]
    per_round = max(1, args.samples // args.rounds)
    with tempfile.TemporaryDirectory(prefix="prsm-e2e-h-") as handlers_dir:
        (Path(handlers_dir) / "bench_e2e_handlers.py").write_text(HANDLERS)
        children = []
        for repo in repos:
            env = {**os.environ, "PYTHONPATH": f"{repo}:{handlers_dir}"}
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        CHILD,
                        str(args.nodes),
                        str(args.rounds),
                        str(per_round),
                    ],
                    env=env,
                    cwd=handlers_dir,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        try:
            for child in children:
                assert read_marked(child) == "ready"
            results: list[list[list[float]]] = [[] for _ in repos]
            cpu: list[dict[str, float]] = [{} for _ in repos]
            for _ in range(args.rounds):
                for i, child in enumerate(children):
                    child.stdin.write("go\n")
                    child.stdin.flush()
                    got = json.loads(read_marked(child))
                    results[i].extend(got["samples"])
                    for part, seconds in got["cpu"].items():
                        cpu[i][part] = cpu[i].get(part, 0.0) + seconds
        finally:
            for child in children:
                child.stdin.close()
                child.wait(60)
    for repo, samples, used in zip(repos, results, cpu, strict=True):
        row = {"repo": str(repo), "samples": len(samples)}
        for part, seconds in used.items():
            row[f"{part}_cpu_us_per_task"] = round(seconds / len(samples) * 1e6)
        for step, index in (("enqueue", 0), ("start", 1), ("e2e", 2)):
            values = [s[index] for s in samples]
            row[f"{step}_p50_ms"] = round(statistics.median(values) * 1000, 3)
            row[f"{step}_p99_ms"] = pct(values, 0.99)
        print(json.dumps(row))


if __name__ == "__main__":
    main()
