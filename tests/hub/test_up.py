"""Every path of the hub document answers against `prsm-tasks up`, the way a user runs it:
a token with brands from `prsm-tasks token --brand`, a task type, the SEO task to its end."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.conftest import eventually
from tests.edge.conftest import read_url
from tests.edge.test_cli_up import start_up

DOCUMENT_PATHS = (
    ("GET", "/tasks/", 200),
    ("GET", "/tasks/queue-stats/", 200),
    ("GET", "/tasks/scheduled/periodic-tasks/ready-for-execution/", 200),
    ("GET", "/tasks/scheduled/cron-jobs/", 200),
    ("GET", "/tasks/scheduled/calendar/", 200),
    ("GET", "/tasks/monitoring/metrics/", 200),
    ("GET", "/tasks/monitoring/metrics/dashboard/", 200),
    ("GET", "/tasks/monitoring/workers/overview/", 200),
    ("GET", "/tasks/monitoring/alerts/", 200),
    ("GET", "/tasks/monitoring/alert-rules/", 200),
    ("GET", "/tasks/persistent-jobs/persistent-jobs/resumable/", 200),
    ("POST", "/tasks/persistent-jobs/persistent-jobs/999999999/resume/", 404),  # no such task
    ("GET", "/tasks/persistent-jobs/checkpoints/", 200),
)


async def test_up_serves_every_path_of_the_hub(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    env.pop("PRSM_JWT_SECRET", None)
    up = start_up(bin_dir / "prsm-tasks", cwd=tmp_path, env=env)
    try:
        edge_url = await asyncio.to_thread(read_url, up)
        command = [str(bin_dir / "prsm-tasks"), "token", "--user", "martin"]
        command += ["--tenant", "humari", "--brand", "9", "--brand", "12"]
        printed = await asyncio.to_thread(
            subprocess.run, command, cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert printed.returncode == 0, printed.stderr
        token = printed.stdout.strip()
        await walk_the_document(edge_url, token)
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()


async def walk_the_document(edge_url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-Brand-ID": "9"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(edge_url, headers=headers, timeout=timeout) as http:
        registered = await http.post(
            "/api/task-types",
            json={"name": "seo_keyword_analysis", "metadata": {"queue_name": "training_queue"}},
        )
        assert registered.status == 201, await registered.text()
        body = {"task_type": "seo_keyword_analysis", "context_data": {"keyword_ids": [1, 2]}}
        async with http.post("/tasks/", json=body) as created:
            assert created.status == 201, await created.text()
            task = await created.json()

        async def completed() -> bool:
            async with http.get(f"/tasks/{task['id']}/") as answer:
                return (await answer.json())["status"] == "completed"

        await eventually(completed, within_s=60)
        async with http.post(f"/tasks/{task['id']}/retry/") as retried:
            assert retried.status == 409
        periodic = {"cron_expression": "0 9 * * 1-5", "task_type": "seo_keyword_analysis"}
        async with http.post("/tasks/scheduled/periodic-tasks/", json=periodic) as scheduled:
            assert scheduled.status == 201, await scheduled.text()
        cron = {"cron_expression": "0 9 * * 1-5"}
        async with http.post("/tasks/scheduled/periodic-tasks/validate-cron/", json=cron) as valid:
            assert (await valid.json())["valid"] is True
        for method, path, status in DOCUMENT_PATHS:
            async with http.request(method, path) as answer:
                assert answer.status == status, (path, await answer.text())
