"""A peer node serving the example handlers of ``prsm_tasks.examples`` on the standard queues.

    python -m nodes.examples --servers nats://127.0.0.1:4222 [--capacity N] [--queues a,b]

The handlers live in the package (so an installed ``prsm-tasks up`` serves them); this
program is the repo's runnable node for them, the same as ``prsm-tasks node``.
"""

from __future__ import annotations

import sys

from prsm_tasks.cli import main

EXAMPLES = "prsm_tasks.examples"


def run(argv: list[str]) -> int:
    return main(["node", "--handlers", EXAMPLES, *argv])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
