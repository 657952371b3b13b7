"""`prsm-tasks up --handlers M` serves the queues of M's handlers, not only the standard ones."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from prsm_tasks import Client
from scripts.wheel_smoke import read_edge, run_to_completion, start_up, stop
from tests.edge.up_handlers import OWN_QUEUE

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.edge.up_handlers"


def run_up(tmp_path: Path, *extra: str, env: dict[str, str]) -> list[dict[str, object]]:
    """Start `up` with ``extra`` flags, run one task on the own queue and one standard task."""
    command = str(Path(sys.executable).parent / "prsm-tasks")
    up = start_up(command, tmp_path / "data", *extra, env=env)
    try:
        edge, token = read_edge(up)
        return [
            run_to_completion(edge, token, OWN_QUEUE, {"n": 21}),
            run_to_completion(edge, token, "ml_inference_queue", {"input_text": "great"}),
        ]
    finally:
        stop(up)


def user_env() -> dict[str, str]:
    # the handler module lives in this repo, as a user's would live on their PYTHONPATH
    return {**os.environ, "PYTHONPATH": str(ROOT)}


async def test_up_serves_the_queue_of_a_handlers_module(tmp_path: Path) -> None:
    own, standard = await asyncio.to_thread(run_up, tmp_path, "--handlers", MODULE, env=user_env())
    assert own["status"] == "completed" and own["result"] == {"doubled": 42}
    assert standard["status"] == "completed"  # the examples are still served


async def test_up_serves_prsm_handlers_with_the_queues_given(tmp_path: Path) -> None:
    env = {**user_env(), "PRSM_HANDLERS": MODULE}
    own, standard = await asyncio.to_thread(
        run_up, tmp_path, "--queues", "ml_inference_queue", env=env
    )
    assert own["status"] == "completed" and own["result"] == {"doubled": 42}
    assert standard["status"] == "completed"


async def test_node_with_handlers_serves_their_queues(nats_url: str, client: Client) -> None:
    """`prsm-tasks node --handlers M` without --queues serves M's queues (not the standard)."""
    command = str(Path(sys.executable).parent / "prsm-tasks")
    node = await asyncio.create_subprocess_exec(
        command,
        "node",
        "--servers",
        nats_url,
        "--handlers",
        MODULE,
        "--capacity",
        "2",
        env=user_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        task = await client.enqueue(OWN_QUEUE, {"n": 4})
        final = await client.wait(task.task_id, timeout=60)
        assert str(final.status) == "completed" and final.result == {"doubled": 8}
    finally:
        node.send_signal(signal.SIGTERM)
        await asyncio.wait_for(node.wait(), timeout=30)
