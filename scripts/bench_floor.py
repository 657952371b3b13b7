"""The latency floor of a task's exchanges with bare nats-py (loopback only; stops by itself).

    python scripts/bench_floor.py [--samples 1000]

What one task needs on its critical path, and nothing else: the producer creates a record in
PRSM_TASKS (CAS on revision 0) and publishes a work message with the record's revision; a
"node" process with a parked pull writes the record once by CAS on that revision and acks;
the producer sees that write through one shared KV watch. No events, no task records, no
handlers. Prints a JSON line with p50/p95/p99 in ms: what `scripts/bench.py`'s e2e figures
compare against on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prsm_tasks import wire  # noqa: E402
from prsm_tasks.cli import run_async  # noqa: E402
from prsm_tasks.embedded import EmbeddedNats  # noqa: E402
from prsm_tasks.store.opener import Connection, Stores, open_stores  # noqa: E402
from prsm_tasks.topology import ensure_work_consumers  # noqa: E402

QUEUE = "floor"
RESULT = b"r" * 400  # the node's write, told apart from the producer's by its size

NODE = """
import asyncio
import sys

import nats
from prsm_tasks.bus import Requests
from prsm_tasks.cli import run_async

async def main(url, next_subject):
    nc = await nats.connect(url)
    requests = await Requests(nc).start()
    inbox = nc.new_inbox()
    park = b'{"batch":1,"expires":10000000000}'

    async def on_msg(msg):
        await nc.publish(next_subject, park, reply=inbox)  # park again at once
        if not msg.data:
            return  # the parked pull expired
        await requests.request(
            "$KV.PRSM_TASKS." + msg.headers["Nats-Msg-Id"],
            b"r" * 400,
            headers={"Nats-Expected-Last-Subject-Sequence": msg.data.decode()},
        )
        await msg.ack()

    await nc.subscribe(inbox, cb=on_msg)
    await nc.publish(next_subject, park, reply=inbox)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()  # until the benchmark kills this process

run_async(main(sys.argv[1], sys.argv[2]))
"""


async def measure(url: str, samples: int) -> list[float]:
    async with open_stores(Connection(servers=url, name="bench-floor")) as stores:
        return await measure_on(stores, url, samples)


async def measure_on(stores: Stores, url: str, samples: int) -> list[float]:
    js = stores.js
    await ensure_work_consumers(js, QUEUE, lease_s=20.0)
    consumer = wire.work_consumer(QUEUE, "normal")
    next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{wire.WORK_STREAM}.{consumer}"
    node = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        NODE,
        url,
        next_subject,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert node.stdout is not None
        await node.stdout.readline()  # "ready"
        requests = stores.tasks.requests
        written: dict[str, asyncio.Future[None]] = {}

        async def on_write(msg: nats.aio.msg.Msg) -> None:
            future = written.get(msg.subject.rsplit(".", 1)[-1])
            if future is not None and not future.done() and len(msg.data) == len(RESULT):
                future.set_result(None)

        await js.subscribe(
            f"$KV.{wire.TASKS_BUCKET}.>", cb=on_write, ordered_consumer=True, deliver_policy="new"
        )
        latencies = []
        for n in range(samples + 100):
            key = wire.new_task_id()
            started = time.perf_counter()
            done = written[key] = asyncio.get_running_loop().create_future()
            reply = await requests.request(
                f"$KV.{wire.TASKS_BUCKET}.{key}",
                b"x" * 300,
                headers={"Nats-Expected-Last-Subject-Sequence": "0"},
            )
            revision = json.loads(reply)["seq"]
            await requests.request(
                wire.work_subject(QUEUE, "normal"),
                str(revision).encode(),
                headers={"Nats-Msg-Id": key},
            )
            async with asyncio.timeout(30):
                await done
            del written[key]
            if n >= 100:  # the first hundred warm up
                latencies.append((time.perf_counter() - started) * 1000)
        return sorted(latencies)
    finally:
        node.kill()
        await node.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prsm-floor-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp)).start()
        try:
            latencies = run_async(measure(server.url, args.samples))
        finally:
            server.stop()

    def at(fraction: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(fraction * len(latencies)))], 3)

    print(json.dumps({"mode": "floor", "p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99)}))


if __name__ == "__main__":
    main()
