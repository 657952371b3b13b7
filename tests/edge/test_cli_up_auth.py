"""The local set-up is closed to other local users: `up` keeps its data dir and secrets to
its user, its nats-server refuses connections without the credentials, and the other local
commands (`enqueue`, `node`) find those credentials by themselves."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.errors
import pytest

from scripts.wheel_smoke import read_edge, start_up, stop
from tests.edge.up_handlers import OWN_QUEUE

ROOT = Path(__file__).resolve().parents[2]
COMMAND = str(Path(sys.executable).parent / "prsm-tasks")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def user_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PRSM_LOG_LEVEL": "warning"}
    for name in ("PRSM_SERVERS", "PRSM_NATS_USER", "PRSM_NATS_PASSWORD", "PRSM_JWT_SECRET"):
        env.pop(name, None)
    return env


@pytest.fixture
async def up_dir(tmp_path: Path) -> AsyncIterator[Path]:
    """`prsm-tasks up` running with its data in ``<tmp>/.prsm`` (made 0755 beforehand, as an
    older version left it, and with a symlink planted where the NATS password goes)."""
    data_dir = tmp_path / ".prsm"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    (tmp_path / "planted").write_text("not a secret\n")
    (data_dir / "nats_password").symlink_to(tmp_path / "planted")
    up = start_up(COMMAND, data_dir, env=user_env())
    try:
        await asyncio.to_thread(read_edge, up)
        yield data_dir
    finally:
        await asyncio.to_thread(stop, up)


async def test_up_keeps_its_data_dir_and_secrets_to_its_user(up_dir: Path, tmp_path: Path) -> None:
    assert mode(up_dir) == 0o700
    for name in ("nats_password", "jwt_secret", "endpoints.json", "nats/server.conf"):
        path = up_dir / name
        assert not path.is_symlink() and path.is_file(), name
        assert mode(path) == 0o600, name
    assert (tmp_path / "planted").read_text() == "not a secret\n"  # not written through
    password = (up_dir / "nats_password").read_text().strip()
    assert len(password) >= 32


async def test_the_nats_server_of_up_refuses_a_connection_without_credentials(
    up_dir: Path,
) -> None:
    url = json.loads((up_dir / "endpoints.json").read_text())["nats"]
    assert "@" not in url  # the endpoints file names no secret
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0)
    password = (up_dir / "nats_password").read_text().strip()
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(url, user="prsm", password=password + "x", allow_reconnect=False)
    nc = await nats.connect(url, user="prsm", password=password, allow_reconnect=False)
    await nc.close()


async def run_cli(*args: str, cwd: Path, within_s: float = 120.0) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        COMMAND,
        *args,
        cwd=cwd,
        env=user_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=within_s)
    finally:
        await stop_process(process)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it does not end: a failing test leaves nothing running."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout=60)
    except TimeoutError:
        process.kill()
        await process.wait()


async def test_local_commands_find_the_credentials_of_up(up_dir: Path, tmp_path: Path) -> None:
    """`enqueue` and a `node` started in the directory of `up` connect without flags; a
    command elsewhere, without the credentials, is refused in one line."""
    code, output = await run_cli(
        "enqueue", "ml_inference_queue", '{"input_text": "great"}', "--wait", cwd=tmp_path
    )
    assert code == 0, output
    assert '"status": "completed"' in output
    assert (up_dir / "nats_password").read_text().strip() not in output  # never shown

    node = await asyncio.create_subprocess_exec(
        COMMAND,
        "node",
        "--handlers",
        "tests.edge.up_handlers",
        cwd=tmp_path,
        env=user_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        code, output = await run_cli(
            "enqueue", OWN_QUEUE, '{"n": 5}', "--wait", cwd=tmp_path
        )  # only that node serves this queue
        assert code == 0, output
        assert '"doubled": 10' in output
    finally:
        await stop_process(node)

    url = json.loads((up_dir / "endpoints.json").read_text())["nats"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, output = await run_cli(
        "enqueue", "ml_inference_queue", "{}", "--servers", url, cwd=elsewhere
    )
    assert code != 0
    assert "refused this connection's credentials" in output
    assert "Traceback" not in output
