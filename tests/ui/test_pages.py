"""The dashboard over real HTTP on a real edge and node: sign-in and its cookie, the pages
showing what the API shows the same token, escaping, and cross-site refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from prsm_tasks import TaskContext
from prsm_tasks.client import Client
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.surfaces.ui.state import UI
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller, token
from tests.schedules.conftest import cron_body
from tests.ui.conftest import Browser, Owners

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def test_pages_need_a_session_and_signin_sets_a_strict_cookie(browser: Browser) -> None:
    status, _, headers = await browser.get("/ui/tasks")
    assert status == 303 and headers["Location"].startswith("/ui/signin")
    status, body, _ = await browser.post("/ui/signin", {"token": "not-a-token"})
    assert status == 401 and "malformed token" in body
    status, _, headers = await browser.post("/ui/signin", {"token": token("alice", "acme")})
    assert status == 303
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    status, body, headers = await browser.get("/ui/")
    assert status == 200 and "alice @ acme" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]


async def test_root_redirects_browsers_only(browser: Browser, edge: RunningEdge) -> None:
    status, _, headers = await browser.get("/", headers={"Accept": "text/html"})
    assert status == 302 and headers["Location"] == "/ui/"
    status, _, _ = await browser.get("/", headers={"Accept": "application/json"})
    assert status == 404


async def test_static_files_come_from_the_package_with_cache_headers(browser: Browser) -> None:
    for name in ("htmx.min.js", "htmx-sse.min.js", "ui.js", "ui.css"):
        status, body, headers = await browser.get(f"/ui/static/{name}")
        assert status == 200 and body
        assert "max-age" in headers["Cache-Control"]
    status, _, _ = await browser.get("/ui/static/..%2Fsession.py")
    assert status == 404


async def test_cross_site_posts_are_refused(
    browser: Browser, owners: Owners, client: Client, queue: str
) -> None:
    await browser.sign_in(token("alice", "acme"))
    task_id = (await (await owners("alice", "acme")).enqueue(queue, {})).task_id
    cancel = f"/ui/tasks/{task_id}/cancel"
    # another site's page: its Origin
    status, _, _ = await browser.post(cancel, {"csrf": browser.csrf}, origin="https://evil.test")
    assert status == 403
    # the right origin without the CSRF token, or with a wrong one
    assert (await browser.post(cancel, {}))[0] == 403
    assert (await browser.post(cancel, {"csrf": "guess"}))[0] == 403
    # a sign-in form posted from elsewhere (login CSRF)
    status, _, _ = await browser.post(
        "/ui/signin", {"token": token("mallory", "acme")}, origin="https://evil.test"
    )
    assert status == 403
    record = await client.status(task_id)
    assert record.status == "enqueued"
    status, _, headers = await browser.post(cancel, {"csrf": browser.csrf})
    assert status == 303, headers
    assert (await client.status(task_id)).status == "cancelled"


async def fail_loudly(ctx: TaskContext, note: str) -> None:
    ctx.logger.info(HOSTILE)
    raise RuntimeError(HOSTILE)


async def test_failed_task_page_shows_traceback_escaped(
    browser: Browser, owners: Owners, client: Client, start_node: NodeFactory, queue: str
) -> None:
    async with start_node({queue: fail_loudly}, queues=[queue]):
        handle = await (await owners("alice", "acme")).enqueue(
            queue, {"note": HOSTILE}, max_retries=0
        )
        await eventually(lambda: task_final(client, handle.task_id), within_s=60)
    await browser.sign_in(token("alice", "acme"))
    status, body, _ = await browser.get(f"/ui/tasks/{handle.task_id}")
    assert status == 200
    assert "Traceback" in body and "RuntimeError" in body
    assert "<script>alert" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body
    status, body, _ = await browser.get("/ui/tasks", params={"status": "failed"})
    assert handle.task_id in body


async def task_final(client: Client, task_id: str) -> bool:
    return (await client.status(task_id)).status in ("completed", "failed", "cancelled")


async def test_a_user_sees_only_what_the_api_lets_them_see(
    browser: Browser,
    owners: Owners,
    client: Client,
    queue: str,
    browser_session: aiohttp.ClientSession,
) -> None:
    own = (await (await owners("alice", "acme")).enqueue(queue, {})).task_id
    colleague = (await (await owners("bob", "acme")).enqueue(queue, {})).task_id
    stranger = (await (await owners("alice", "other")).enqueue(queue, {})).task_id
    await browser.sign_in(token("alice", "acme"))

    async def listed() -> str:
        return (await browser.get("/ui/tasks", params={"queue": queue}))[1]

    await eventually(lambda: contains(listed, own))
    body = await listed()
    assert colleague not in body and stranger not in body
    assert (await browser.get(f"/ui/tasks/{colleague}"))[0] == 403
    assert (await browser.get(f"/ui/tasks/{stranger}"))[0] == 404
    # the tenant's admin sees the tenant, not the other tenant
    browser_session.cookie_jar.clear()
    await browser.sign_in(token("root", "acme", roles=("admin",)))
    await eventually(lambda: contains(listed, colleague))
    body = await listed()
    assert own in body and stranger not in body


async def contains(read: Any, needle: str) -> bool:
    return needle in await read()


async def test_bad_filters_are_named(browser: Browser) -> None:
    await browser.sign_in(token("alice", "acme"))
    status, body, _ = await browser.get("/ui/tasks", params={"status": "nope"})
    assert status == 400 and "status" in body
    status, body, _ = await browser.get("/ui/tasks", params={"q": "x" * 500})
    assert status == 400 and "q is longer" in body
    status, body, _ = await browser.get("/ui/tasks", params={"after": "zzz"})
    assert status == 400 and "after" in body


async def test_one_time_link_works_once(browser: Browser, edge: RunningEdge) -> None:
    code = edge.app[UI].codec.make_code(token("alice", "acme"))
    status, _, headers = await browser.get("/ui/signin/link", params={"code": code})
    assert status == 303 and "prsm_ui=" in headers["Set-Cookie"]
    status, body, _ = await browser.get("/ui/signin/link", params={"code": code})
    assert status == 401 and "used already" in body
    status, body, _ = await browser.get("/ui/signin/link", params={"code": code[:-4] + "AAAA"})
    assert status == 401


async def slow_steps(ctx: TaskContext) -> None:
    for step in range(1, 40):
        await ctx.progress(step / 40, f"step {step}")
        await asyncio.sleep(0.2)


async def test_rows_update_over_the_stream(
    browser: Browser, owners: Owners, client: Client, start_node: NodeFactory, queue: str
) -> None:
    await browser.sign_in(token("alice", "acme"))
    async with start_node({queue: slow_steps}, queues=[queue]):
        task_id = (await (await owners("alice", "acme")).enqueue(queue, {})).task_id
        url = f"{browser.url}/ui/stream?ids={task_id},01NOTMINE"
        seen: list[str] = []
        async with browser.session.get(url) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"].startswith("text/event-stream")
            async with asyncio.timeout(60):
                async for raw in answer.content:
                    line = raw.decode().rstrip("\n")
                    seen.append(line)
                    if "<progress" in line and 'value="' in line:
                        break
        assert f"event: t-{task_id}" in seen
        await client.cancel(task_id)


async def test_a_schedule_paused_and_resumed_from_the_page(browser: Browser, alice: Caller) -> None:
    created = await alice.post("/api/v1/tasks", cron_body(task_name="nightly"))
    assert created.status == 201, created.body
    schedule_id = created.body["task_id"]
    await browser.sign_in(token("alice", "acme"))

    async def page_lists_it() -> bool:
        return schedule_id in (await browser.get("/ui/schedules"))[1]

    await eventually(page_lists_it)
    body = (await browser.get("/ui/schedules"))[1]
    assert "nightly" in body and "America/New_York" in body
    pause = f"/ui/schedules/{schedule_id}/pause"
    assert (await browser.post(pause, {"csrf": "wrong"}))[0] == 403
    assert (await alice.get(f"/api/v1/tasks/{schedule_id}")).body["status"] == "scheduled"
    assert (await browser.post(pause, {"csrf": browser.csrf}))[0] == 303
    assert (await alice.get(f"/api/v1/tasks/{schedule_id}")).body["status"] == "paused"
    resume = f"/ui/schedules/{schedule_id}/resume"
    assert (await browser.post(resume, {"csrf": browser.csrf}))[0] == 303
    assert (await alice.get(f"/api/v1/tasks/{schedule_id}")).body["status"] == "scheduled"
    # another user of the tenant cannot pause it
    browser.session.cookie_jar.clear()
    await browser.sign_in(token("bob", "acme"))
    assert (await browser.post(pause, {"csrf": browser.csrf}))[0] == 403
