"""Child processes of the benchmarks: started in their own sessions, stopped together.

Each process gets its own session, so a Ctrl-C at the terminal reaches only the benchmark,
which then stops its children in order (SIGTERM, a grace period, then SIGKILL); their output
goes to log files unless the caller reads it (``read_line``).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

STOP_GRACE_S = 20.0


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to all at once (a node finishes its attempts and leaves), then wait for each;
    kill what is still there after the grace period."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def open_processes(
    commands: list[list[str]],
    env: dict[str, str],
    log_dir: Path,
    name: str,
    *,
    cwd: Path,
    stdin: int | None = None,
    stdout: int | None = None,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start one process per command (own session: a Ctrl-C reaches the bench, which then
    stops them in order); stop every one of them on the way out."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index, command in enumerate(commands):
            with open(log_dir / f"{name}-{index}.log", "ab") as log:
                processes.append(
                    subprocess.Popen(
                        command,
                        env=env,
                        cwd=cwd,
                        stdin=stdin,
                        start_new_session=True,
                        stdout=stdout if stdout is not None else log,
                        stderr=log,
                    )
                )
        yield processes
    finally:
        stop_processes(processes)


def read_line(process: subprocess.Popen[bytes], *, within_s: float) -> str:
    """One line of a producer's stdout (it writes nothing else), or an error at the deadline."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + within_s
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], 0.5)
        chunk = os.read(fd, 1) if ready else b""
        if not chunk and (process.poll() is not None or time.monotonic() > deadline):
            raise RuntimeError(f"producer {process.pid} gave no line (exit {process.poll()})")
        line += chunk
    return line.decode().strip()
