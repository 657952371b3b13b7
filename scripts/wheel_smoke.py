"""Smoke test of an installed prsm-tasks: `up` starts, and one task runs to completion.

    python scripts/wheel_smoke.py [--command /path/to/venv/bin/prsm-tasks]

`.ci/run` runs it with the python of a fresh venv that has only the built wheel installed, so
a module or file missing from the package fails CI. It starts `prsm-tasks up` on free ports in
a temporary data dir, enqueues one task on ``ml_inference_queue`` over HTTP with the token
`up` prints, polls its status until it is final (with a deadline), and stops `up`.
Standard library only, so it needs nothing beyond the wheel and its dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

EDGE_LINE = re.compile(r"edge:\s+(http://\S+)")
TOKEN_LINE = re.compile(r"export TOKEN=(\S+)")
FINAL = frozenset({"completed", "failed", "cancelled", "timeout"})


def start_up(
    command: str, data_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """`prsm-tasks up` on free ports (edge and NATS) with its data in ``data_dir``."""
    args = [command, "up", "--data", str(data_dir), "--port", "0", "--nats-port", "0", *extra]
    env = {**(env if env is not None else os.environ), "PRSM_LOG_LEVEL": "warning"}
    env.pop("PRSM_JWT_SECRET", None)  # `up` makes its own and prints a token for it
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def read_edge(process: subprocess.Popen[str], *, within_s: float = 90.0) -> tuple[str, str]:
    """The edge URL and the bearer token that `up` prints once it is ready."""
    assert process.stdout is not None
    deadline = time.monotonic() + within_s
    seen: list[str] = []
    url = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if match := EDGE_LINE.search(line):
            url = match.group(1)
        if (match := TOKEN_LINE.search(line)) and url:
            return url, match.group(1)
    raise RuntimeError("prsm-tasks up did not start:\n" + "".join(seen))


def call(
    method: str, url: str, token: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def run_to_completion(
    edge: str, token: str, queue: str, task_data: dict[str, Any], *, within_s: float = 60.0
) -> dict[str, Any]:
    """Enqueue one task over HTTP and poll its status until it is final; its status body."""
    status, body = call(
        "POST", f"{edge}/enqueue", token, {"queue_name": queue, "task_data": task_data}
    )
    if status != 200:
        raise RuntimeError(f"enqueue answered {status}: {body}")
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        _, state = call("GET", f"{edge}/status/{body['task_id']}", token)
        if state.get("status") in FINAL:
            return state
        time.sleep(0.1)
    raise RuntimeError(f"task {body['task_id']} not final within {within_s} s")


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = shutil.which("prsm-tasks") or str(Path(sys.executable).parent / "prsm-tasks")
    parser.add_argument("--command", default=default, help="the prsm-tasks executable")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prsm-wheel-") as data_dir:
        up = start_up(args.command, Path(data_dir))
        try:
            edge, token = read_edge(up)
            state = run_to_completion(
                edge, token, "ml_inference_queue", {"input_text": "a great product"}
            )
        finally:
            stop(up)
    print(json.dumps({"edge": edge, "status": state["status"]}))
    return 0 if state["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
