"""Print the events of one queue as JSON lines: a third-party subscriber that knows only NATS.

    python -m nodes.print_events --servers nats://127.0.0.1:4222 --queue ml_inference_queue

``--replay-minutes N`` first replays the last N minutes from the PRSM_EVENTS stream; ``--types``
keeps only some event types (comma separated). Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import sys

from prsm_tasks import Client
from prsm_tasks.client.events import describe


async def print_events(
    servers: str, queue: str | None, types: list[str] | None, since: int
) -> None:
    start = None
    if since > 0:
        start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=since)
    async with Client(servers, name="print-events") as client:
        async for event in client.events(queue=queue, event_types=types, since=start):
            sys.stdout.write(json.dumps(describe(event)) + "\n")
            sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="nats://127.0.0.1:4222")
    parser.add_argument("--queue", help="one queue (default: every queue)")
    parser.add_argument("--types", help="event types to keep, comma separated")
    parser.add_argument("--replay-minutes", type=int, default=0)
    args = parser.parse_args()
    types = args.types.split(",") if args.types else None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(print_events(args.servers, args.queue, types, args.replay_minutes))


if __name__ == "__main__":
    main()
