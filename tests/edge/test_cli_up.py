"""`prsm-tasks up` starts an edge; the curl session of docs/getting-started.md works as pasted."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.edge.conftest import read_url

DOC = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
SESSION = re.compile(r"<!-- session:start -->\s*```bash\n(.*?)```\s*<!-- session:end -->", re.S)


def session_script(edge_url: str) -> str:
    match = SESSION.search(DOC.read_text())
    assert match, "docs/getting-started.md lost its curl session block"
    script = match.group(1)
    assert "EDGE=http://127.0.0.1:8080" in script
    return script.replace("EDGE=http://127.0.0.1:8080", f"EDGE={edge_url}")


def start_up(command: Path, *, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(command), "up", "--port", "0", "--nats-port", "0"],
        cwd=cwd,
        env={**env, "PRSM_LOG_LEVEL": "warning"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_up_serves_the_documented_curl_session(tmp_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    env.pop("PRSM_JWT_SECRET", None)
    up = start_up(Path(bin_dir) / "prsm-tasks", cwd=tmp_path, env=env)
    try:
        edge_url = await asyncio.to_thread(read_url, up)
        assert edge_url != "http://127.0.0.1:8080"  # --port 0 picked a free port and said so
        assert (tmp_path / ".prsm" / "jwt_secret").exists()
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            session_script(edge_url),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(shell.communicate(), timeout=120)
        text = output.decode()
        assert shell.returncode == 0, text
        lines = text.splitlines()
        assert lines[0].startswith("enqueued task_")
        assert '"status":"completed"' in lines[1] and '"sentiment":"positive"' in lines[2]
        assert '"status":"cancelled"' in lines[3] and '"was_processing":true' in lines[3]
        assert '"error":"task_not_completed"' in lines[4]
        assert '"success":true' in lines[5] and '"total_tasks":2' in lines[5]
        assert '"queue_name":"ml_inference_queue"' in lines[6]
        assert '"status":"healthy"' in lines[7]
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
