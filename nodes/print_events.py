"""Print the events of one queue as JSON lines: a third-party subscriber that knows only NATS.

    python -m nodes.print_events --servers nats://127.0.0.1:4222 --queue ml_inference_queue

Without ``--servers`` it reads ``PRSM_SERVERS``, else it follows the local ``prsm-tasks up`` of
the data dir (``PRSM_DATA_DIR``, ``./.prsm``) with its credentials; ``PRSM_NATS_USER`` and
``PRSM_NATS_PASSWORD`` (or ``_FILE``) give credentials for another server.
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
from prsm_tasks.config import Settings
from prsm_tasks.local import with_local_nats
from prsm_tasks.nats_auth import NatsAuth


async def print_events(
    settings: Settings, queue: str | None, types: list[str] | None, since: int
) -> None:
    start = None
    if since > 0:
        start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=since)
    auth = NatsAuth.from_settings(settings)
    async with Client(settings.servers, name="print-events", auth=auth) as client:
        async for event in client.events(queue=queue, event_types=types, since=start):
            sys.stdout.write(json.dumps(describe(event)) + "\n")
            sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", help="NATS URLs, comma separated")
    parser.add_argument("--queue", help="one queue (default: every queue)")
    parser.add_argument("--types", help="event types to keep, comma separated")
    parser.add_argument("--replay-minutes", type=int, default=0)
    args = parser.parse_args()
    types = args.types.split(",") if args.types else None
    settings = with_local_nats(Settings(**({"servers": args.servers} if args.servers else {})))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(print_events(settings, args.queue, types, args.replay_minutes))


if __name__ == "__main__":
    main()
