"""A nats-server frozen for real (SIGSTOP): connections stay open, nothing is answered."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from prsm_tasks.embedded import EmbeddedNats


def wait_until_stopped(pid: int, *, within_s: float = 30.0) -> None:
    """SIGSTOP is delivered asynchronously: the server may answer a little longer."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        states = [
            stat.read_text().rsplit(")", 1)[1].split()[0]
            for stat in Path(f"/proc/{pid}/task").glob("*/stat")
        ]
        if states and all(state in ("T", "t") for state in states):  # every thread stopped
            return
        time.sleep(0.01)
    raise AssertionError(f"nats-server {pid} did not stop")


@contextlib.contextmanager
def stalled(server: EmbeddedNats) -> Iterator[None]:
    """The server frozen (SIGSTOP) while the block runs, then resumed."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)
    try:
        wait_until_stopped(server.pid)
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)
