"""kill -9 of a node mid job: the task's next attempt resumes from its last checkpoint."""

from __future__ import annotations

import signal
from pathlib import Path

from prsm_tasks import Client, Node
from prsm_tasks.handlers import HandlerRegistry
from prsm_tasks.models import AttemptOutcome, TaskStatus
from tests.conftest import eventually
from tests.e2e.checkpoint_handlers import long_job
from tests.e2e.test_reliability import spawn_node

STEPS = 30


def steps_by_node(log: Path) -> dict[str, list[int]]:
    ran: dict[str, list[int]] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            node, step = line.split()
            ran.setdefault(node, []).append(int(step))
    return ran


async def test_a_killed_nodes_job_resumes_from_its_last_checkpoint(
    nats_url: str, queue: str, tmp_path: Path
) -> None:
    log = tmp_path / "steps.log"
    victim = spawn_node(
        nats_url,
        queue,
        name="victim",
        capacity=1,
        lease_s=2.0,
        handlers="tests.e2e.checkpoint_handlers",
    )
    try:
        async with Client(nats_url) as client:
            record = await client.enqueue(
                queue, {"steps": STEPS, "delay_s": 0.2, "log": str(log)}, max_retries=3
            )

            async def victim_went_far() -> bool:
                return len(steps_by_node(log).get("victim", [])) >= 5

            await eventually(victim_went_far, within_s=60)
            victim.send_signal(signal.SIGKILL)
            victim.wait(30)
            registry = HandlerRegistry()
            registry.register(long_job, queue=queue)
            async with Node(
                servers=nats_url, handlers=registry, capacity=1, name="survivor", lease_s=2.0
            ):
                final = await client.wait(record.task_id, timeout=120)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert final.status is TaskStatus.COMPLETED, final.error
    assert final.result == {"node": "survivor", "attempt": 2, "done": STEPS}
    assert [a.outcome for a in final.attempts] == [AttemptOutcome.LOST, AttemptOutcome.COMPLETED]
    ran = steps_by_node(log)
    before, after = ran["victim"], ran["survivor"]
    assert before == list(range(1, len(before) + 1))
    resumed_at = after[0]
    assert after == list(range(resumed_at, STEPS + 1))
    # it went on from the victim's last checkpoint: at most the one step the kill cut off
    # between its side effect and its checkpoint ran twice, none before it
    assert resumed_at > 1 and resumed_at >= len(before)
    assert final.checkpoint is not None and final.checkpoint.seq == STEPS
