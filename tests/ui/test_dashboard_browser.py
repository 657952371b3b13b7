"""The dashboard in Debian's chromium through Playwright, on a real edge and node: signing
in (a pasted token, a one-time link), a running task's bar moving, cancel from the page, a
failed task's traceback shown as text, a schedule paused, a cross-site POST refused, the
page after an edge restart; axe-core finds no serious or critical violation on any page,
and every page is saved as a screenshot (tests/edge/screenshots/, not committed) at desktop
and phone sizes.

axe-core is vendored (tests/edge/vendor/axe.min.js, 4.14.1 from the npm registry): the
tests need no network. It is injected in a context that bypasses the page's CSP (it is an
inline script there); every other check runs with the CSP in force.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from prsm_tasks import TaskContext
from prsm_tasks.edge.app import open_edge
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.http.state import EdgeConfig
from prsm_tasks.edge.surfaces.ui.state import UI
from prsm_tasks.services.core import QueueRules
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller, token
from tests.edge.test_docs_browser import CHROMIUM, CHROMIUM_ARGS, Watch, require_browser
from tests.schedules.conftest import cron_body
from tests.ui.conftest import Owners

try:
    from playwright.async_api import async_playwright, expect
except ImportError:  # pragma: no cover - reported by require_browser
    async_playwright = expect = None  # type: ignore[assignment]

SHOTS = Path(__file__).resolve().parents[1] / "edge" / "screenshots"
AXE = Path(__file__).resolve().parents[1] / "edge" / "vendor" / "axe.min.js"
EVIL_HOST = "evil.prsm-edge.test"
WAIT_MS = 20_000
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=1">'
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


async def stepping(ctx: TaskContext) -> None:
    for step in range(1, 2000):  # runs until the test cancels it
        await ctx.progress(step / 2000, f"step {step}")
        await asyncio.sleep(0.25)


async def failing(ctx: TaskContext, note: str) -> None:
    raise RuntimeError(note)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    require_browser()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {EVIL_HOST} 127.0.0.1"],
            timeout=WAIT_MS,
        )
        try:
            yield launched
        finally:
            await launched.close()


async def sign_in_by_form(page: Any, url: str, bearer: str) -> None:
    await page.goto(url + "/ui/tasks", timeout=WAIT_MS)
    await expect(page).to_have_url(f"{url}/ui/signin?next=%2Fui%2Ftasks")
    await page.get_by_label("API token").fill(bearer)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(url + "/ui/tasks", timeout=WAIT_MS)


async def axe_violations(browser: Any, storage: Any, url: str, size: dict[str, int]) -> list[str]:
    context = await browser.new_context(bypass_csp=True, storage_state=storage, viewport=size)
    try:
        page = await context.new_page()
        await page.goto(url, timeout=WAIT_MS)
        await page.add_script_tag(path=str(AXE))
        result = await page.evaluate("async () => await axe.run(document)")
    finally:
        await context.close()
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def shoot_and_check(browser: Any, page: Any, name: str, url: str) -> None:
    """Screenshots at both sizes, and axe at both sizes."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    storage = await page.context.storage_state()
    for size_name, size in SIZES.items():
        await page.set_viewport_size(size)
        await page.goto(url, timeout=WAIT_MS)
        await page.screenshot(path=str(SHOTS / f"{name}-{size_name}.png"), full_page=True)
        assert await axe_violations(browser, storage, url, size) == [], (name, size_name)
    await page.set_viewport_size(SIZES["desktop"])


async def test_the_dashboard_in_chromium(
    browser: Any,
    edge: RunningEdge,
    owners: Owners,
    alice: Caller,
    start_node: NodeFactory,
    queue: str,
) -> None:
    alice_client = await owners("alice", "acme")
    created = await alice.post("/api/v1/tasks", cron_body(task_name="nightly_report"))
    assert created.status == 201, created.body
    schedule_id = created.body["task_id"]
    async with start_node({queue: stepping, f"{queue}-f": failing}, queues=[queue, f"{queue}-f"]):
        failed = await alice_client.enqueue(f"{queue}-f", {"note": HOSTILE}, max_retries=0)
        running = await alice_client.enqueue(queue, {})
        context = await browser.new_context(viewport=SIZES["desktop"])
        page = await context.new_page()
        watch = Watch(page)
        await sign_in_by_form(page, edge.url, token("alice", "acme"))

        # the running task's bar moves while the page is open (SSE, no reload)
        cell = page.locator(f'td[sse-swap="t-{running.task_id}"]')
        await eventually(lambda: row_shown(page, edge.url, cell), within_s=60)
        bar = cell.locator("progress")
        first = await progress_value(bar)
        await eventually(lambda: moved_past(bar, first), within_s=60)
        await shoot_and_check(browser, page, "tasks", edge.url + "/ui/tasks")

        # cancel from the task's page
        await page.goto(f"{edge.url}/ui/tasks/{running.task_id}", timeout=WAIT_MS)
        await shoot_and_check(
            browser, page, "task-running", f"{edge.url}/ui/tasks/{running.task_id}"
        )
        await page.get_by_role("button", name="Cancel task").click()
        await expect(page.locator(".record .status").first).to_have_text(
            "cancelled", timeout=WAIT_MS
        )
        assert (await alice_client.status(running.task_id)).status == "cancelled"

        # the failed task: its traceback is text, nothing of it ran
        await eventually(lambda: is_final(alice_client, failed.task_id), within_s=60)
        await page.goto(f"{edge.url}/ui/tasks/{failed.task_id}", timeout=WAIT_MS)
        traceback = page.locator("pre.traceback")
        await expect(traceback).to_contain_text("RuntimeError")
        await expect(traceback).to_contain_text("<script>window.pwned=1</script>")
        assert await page.evaluate("() => window.pwned === undefined")
        await shoot_and_check(browser, page, "task-failed", f"{edge.url}/ui/tasks/{failed.task_id}")

        # the schedule, paused from its page
        await page.goto(edge.url + "/ui/schedules", timeout=WAIT_MS)
        await page.get_by_role("button", name="Pause nightly_report").click()
        await expect(page.get_by_role("button", name="Resume nightly_report")).to_be_visible(
            timeout=WAIT_MS
        )
        assert (await alice.get(f"/api/v1/tasks/{schedule_id}")).body["status"] == "paused"
        await shoot_and_check(browser, page, "schedules", edge.url + "/ui/schedules")
        for name in ("overview", "nodes", "types"):
            path = "/ui/" if name == "overview" else f"/ui/{name}"
            await shoot_and_check(browser, page, name, edge.url + path)
        assert watch.page_errors == [] and watch.console_errors == [], watch.console_errors
        await context.close()


async def test_one_time_link_and_a_cross_site_post(
    browser: Any, edge: RunningEdge, owners: Owners
) -> None:
    task = await (await owners("alice", "acme")).enqueue("ml_inference_queue", {})
    code = edge.app[UI].codec.make_code(token("alice", "acme"))
    link = f"{edge.url}/ui/signin/link?code={code}"
    context = await browser.new_context(viewport=SIZES["desktop"])
    page = await context.new_page()
    await page.goto(link, timeout=WAIT_MS)
    await expect(page).to_have_url(edge.url + "/ui/", timeout=WAIT_MS)
    await expect(page.locator(".who")).to_contain_text("alice @ acme")
    # the link again, in another browser: refused
    other = await browser.new_context()
    second = await (await other.new_page()).goto(link, timeout=WAIT_MS)
    assert second is not None and second.status == 401
    await other.close()
    # a page of another site posts to the dashboard with the signed-in browser
    port = edge.port
    evil = await context.new_page()
    await evil.goto(f"http://{EVIL_HOST}:{port}/docs", timeout=WAIT_MS)
    status = await evil.evaluate(
        """async (url) => {
            const body = new URLSearchParams({csrf: "guess"});
            const answer = await fetch(url, {method: "POST", body, credentials: "include",
                                             mode: "no-cors"});
            return answer.type;
        }""",
        f"{edge.url}/ui/tasks/{task.task_id}/cancel",
    )
    assert status == "opaque"
    assert (await (await owners("alice", "acme")).status(task.task_id)).status == "enqueued"
    await shoot_and_check(browser, page, "overview-link", edge.url + "/ui/")
    await context.close()


async def test_the_session_outlives_an_edge_restart(
    browser: Any, edge_config: Callable[..., EdgeConfig], queue: str
) -> None:
    """The session key lives in NATS (PRSM_KEYS), so a restarted edge, or any other edge of
    the deployment, reads the same cookie: the page comes back signed in."""
    rules = QueueRules(queues=(queue,))
    context = await browser.new_context(viewport=SIZES["desktop"])
    page = await context.new_page()
    async with open_edge(edge_config(rules=rules)) as first:
        port = first.port
        await sign_in_by_form(page, first.url, token("alice", "acme"))
        await page.goto(first.url + "/ui/signin", timeout=WAIT_MS)
        await shoot_and_check(browser, page, "signin", first.url + "/ui/signin")
    async with open_edge(edge_config(rules=rules, port=port)) as again:
        await page.goto(again.url + "/ui/tasks", timeout=WAIT_MS)
        await expect(page).to_have_url(again.url + "/ui/tasks")
        await expect(page.locator(".who")).to_contain_text("alice @ acme")
    await context.close()


async def row_shown(page: Any, url: str, cell: Any) -> bool:
    if await cell.count() == 0:
        await page.goto(url + "/ui/tasks", timeout=WAIT_MS)
        return False
    return await cell.locator("progress").count() > 0


async def progress_value(bar: Any) -> float:
    value = await bar.get_attribute("value")
    return float(value) if value else 0.0


async def moved_past(bar: Any, first: float) -> bool:
    return await progress_value(bar) > first


async def is_final(client: Any, task_id: str) -> bool:
    return (await client.status(task_id)).status in ("completed", "failed", "cancelled")
