"""`prsm-tasks up` prints a one-time dashboard link: it signs a browser in once, as the
local tenant's admin, and a second use is refused."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.edge.conftest import read_url
from tests.edge.test_cli_up import start_up

LINK_RE = re.compile(r"dashboard \(one-time link, 5 min\): (http://\S+)")


def read_link(process: subprocess.Popen[str], *, within_s: float = 60.0) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = LINK_RE.search(line)
        if found:
            return found.group(1)
    raise AssertionError("prsm-tasks up printed no dashboard link")


async def test_the_link_up_prints_signs_in_once(tmp_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    env.pop("PRSM_JWT_SECRET", None)
    up = start_up(Path(bin_dir) / "prsm-tasks", cwd=tmp_path, env=env)
    try:
        edge_url = await asyncio.to_thread(read_url, up)
        link = await asyncio.to_thread(read_link, up)
        assert link.startswith(edge_url + "/ui/signin/link?code=")
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as browser:
            async with browser.get(link, allow_redirects=False) as first:
                assert first.status == 303
            async with browser.get(edge_url + "/ui/tasks") as page:
                assert page.status == 200
                body = await page.text()
                assert "local-user @ local (admin)" in body
            async with (
                aiohttp.ClientSession() as other,
                other.get(link, allow_redirects=False) as second,
            ):
                assert second.status == 401
                assert "used already" in await second.text()
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
