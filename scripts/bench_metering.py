"""What measuring one attempt costs the node, in-process, without NATS.

    python scripts/bench_metering.py --attempts 200000

Times an async no-op handler awaited plainly, then through what a node with metrics on
does around it (``Meter.begin``, ``measured``, ``Reading.finish``), alternating rounds, and
the bytes the metrics add to a record. Prints one JSON line; per-attempt figures in µs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from prsm_tasks import wire
from prsm_tasks.actors.metering import Meter, MeteringOptions, measured


async def noop() -> None:
    return None


async def plain(count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await noop()
    return (time.perf_counter() - started) / count * 1e6


async def metered(meter: Meter, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        reading = meter.begin("bench")
        await measured(noop(), reading.clock)
        reading.finish()
    return (time.perf_counter() - started) / count * 1e6


async def main(attempts: int, rounds: int) -> None:
    meter = Meter(MeteringOptions())
    plain_us, metered_us = [], []
    for _ in range(rounds):
        plain_us.append(await plain(attempts))
        metered_us.append(await metered(meter, attempts))
    metrics = meter.begin("bench").finish()
    plain_median, metered_median = statistics.median(plain_us), statistics.median(metered_us)
    print(
        json.dumps(
            {
                "attempts_per_round": attempts,
                "rounds": rounds,
                "plain_us": round(plain_median, 3),
                "metered_us": round(metered_median, 3),
                "overhead_us": round(metered_median - plain_median, 3),
                "record_bytes_added": len(wire.pack({"metrics": metrics})) - len(wire.pack({})),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.attempts, args.rounds))
