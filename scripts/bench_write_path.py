"""The write-path options of an enqueue, measured with bare nats-py on one embedded nats-server.

    python scripts/bench_write_path.py [--count 3000] [--rounds 2]

One request after another (a producer that waits for each enqueue, like a web handler), a
300-byte record and a 300-byte work message, one JSON line per option and round:
- ``create_then_publish``: record create, then the work message (two round trips in turn:
  the work message carries the create's revision);
- ``create_and_publish_pipelined``: both sent at once, both answers awaited (one round trip,
  but the work message cannot carry the revision);
- ``atomic_batch``: record and work message in one stream as an atomic batch
  (``allow_atomic``; the work message's sequence would tell the record's revision);
- ``create_only``: the record create alone (what a producer waits for when the work message
  follows without being awaited).
Each line: requests per second, client CPU per enqueue, nats-server CPU per enqueue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
import psutil
from nats.js.api import KeyValueConfig, RetentionPolicy, StorageType, StreamConfig

from prsm_tasks.embedded import EmbeddedNats

BODY = b"x" * 300
EXPECT_NEW = {"Nats-Expected-Last-Subject-Sequence": "0"}


async def measure(
    name: str,
    enqueue: Callable[[str], Awaitable[None]],
    count: int,
    server: psutil.Process,
    *,
    prefix: str,
) -> dict[str, object]:
    for n in range(50):  # warm up
        await enqueue(f"{prefix}-warm-{name}-{n}")
    server_cpu = sum(server.cpu_times()[:2])
    client_cpu = time.process_time()
    started = time.perf_counter()
    for n in range(count):
        await enqueue(f"{prefix}-{name}-{n}")
    elapsed = time.perf_counter() - started
    return {
        "option": name,
        "per_s": round(count / elapsed),
        "client_cpu_us": round((time.process_time() - client_cpu) / count * 1e6),
        "server_cpu_us": round((sum(server.cpu_times()[:2]) - server_cpu) / count * 1e6),
    }


async def run(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="prsm-write-path-") as tmp:
        server = EmbeddedNats(store_dir=Path(tmp)).start()
        try:
            assert server.pid is not None
            process = psutil.Process(server.pid)
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await js.create_key_value(
                KeyValueConfig(bucket="T", history=1, storage=StorageType.FILE, direct=True)
            )
            config = (await js.stream_info("KV_T")).config
            config.subjects = [*(config.subjects or []), "w.>"]
            config.allow_atomic = True
            await js.update_stream(config)
            await js.add_stream(
                StreamConfig(name="W", subjects=["wq.>"], retention=RetentionPolicy.WORK_QUEUE)
            )

            async def create_then_publish(key: str) -> None:
                await nc.request(f"$KV.T.{key}", BODY, headers=EXPECT_NEW)
                await nc.request("wq.q", BODY, headers={"Nats-Msg-Id": key})

            async def create_and_publish_pipelined(key: str) -> None:
                await asyncio.gather(
                    nc.request(f"$KV.T.{key}", BODY, headers=EXPECT_NEW),
                    nc.request("wq.q", BODY, headers={"Nats-Msg-Id": key}),
                )

            async def atomic_batch(key: str) -> None:
                first = {"Nats-Batch-Id": key, "Nats-Batch-Sequence": "1", **EXPECT_NEW}
                await nc.publish(f"$KV.T.{key}", BODY, headers=first)
                last = {"Nats-Batch-Id": key, "Nats-Batch-Sequence": "2", "Nats-Batch-Commit": "1"}
                answer = await nc.request(f"w.q.{key}", BODY, headers=last)
                if b'"error"' in answer.data:
                    raise RuntimeError(answer.data.decode())

            async def create_only(key: str) -> None:
                await nc.request(f"$KV.T.{key}", BODY, headers=EXPECT_NEW)

            options = [create_then_publish, create_and_publish_pipelined, atomic_batch, create_only]
            for round_no in range(rounds):
                for option in options:
                    name = option.__name__
                    line = await measure(name, option, count, process, prefix=f"r{round_no}")
                    print(json.dumps({"round": round_no + 1, **line}), flush=True)
            await nc.close()
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(run(args.count, args.rounds))


if __name__ == "__main__":
    main()
