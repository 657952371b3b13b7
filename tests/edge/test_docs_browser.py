"""/docs in a real browser: Debian's chromium driven by Playwright renders the operations of
/openapi.json with the edge's own files, asks no other host for anything, logs no error; and
from that page, ``new EventSource(stream_url)`` follows a task to its end.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; .ci/run installs it) and the
``playwright`` package of the dev extra. ``playwright install`` is never needed: Playwright
launches the system chromium. When either is missing the test fails and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from prsm_tasks import TaskContext
from prsm_tasks.edge.http.app import RunningEdge, package_version
from tests.conftest import NodeFactory
from tests.edge.conftest import Caller

try:
    from playwright.async_api import async_playwright, expect
except ImportError:  # pragma: no cover - reported by the test itself
    async_playwright = expect = None  # type: ignore[assignment]

CHROMIUM = "/usr/bin/chromium"
# no outside network here: without the background-networking flags chromium keeps dialing out
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# a name that is not loopback-looking, so Swagger UI behaves as on a deployed edge (it skips
# some off-site requests, like its validator badge, only for "localhost" and "127.0.0.1")
DEPLOYED_HOST = "docs.prsm-edge.test"
TITLE = "prsm-tasks Task API"
WAIT_MS = 15_000


def require_browser() -> None:
    if async_playwright is None:
        pytest.fail(
            "playwright is not installed: pip install -e '.[dev]' (the browser test of /docs "
            "needs it)",
            pytrace=False,
        )
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install -y chromium (the browser test of /docs "
            "drives Debian's chromium; do not run `playwright install`)",
            pytrace=False,
        )


class Watch:
    """Everything a page asked for and complained about."""

    def __init__(self, page: Any) -> None:
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.bad_answers: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on(
            "requestfailed",
            lambda request: self.failed.append(f"{request.url}: {request.failure}"),
        )
        page.on(
            "response",
            lambda response: (
                self.bad_answers.append(f"{response.status} {response.url}")
                if response.status >= 400
                else None
            ),
        )
        page.on(
            "console",
            lambda message: (
                self.console_errors.append(f"{message.text} ({message.location})")
                if message.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def foreign(self, host: str) -> list[str]:
        """The requests that left ``host`` (data: and blob: URLs stay in the page)."""
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname != host
        ]

    def check(self, host: str) -> None:
        assert self.foreign(host) == [], f"requests to another host than {host}"
        assert self.failed == [], "requests failed"
        assert self.bad_answers == [], "error answers"
        assert self.console_errors == [], "console errors"
        assert self.page_errors == [], "uncaught page errors"


async def test_docs_render_in_chromium_from_the_edge_alone(
    edge: RunningEdge, tmp_path: Path
) -> None:
    require_browser()
    assert edge.host == "127.0.0.1"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {DEPLOYED_HOST} 127.0.0.1"],
            timeout=WAIT_MS,
        )
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 1400})
            page = await context.new_page()
            watch = Watch(page)
            response = await page.goto(edge.url + "/docs", timeout=WAIT_MS)
            assert response is not None
            assert response.status == 200
            await expect(page).to_have_title("prsm-tasks API")
            title = page.locator(".information-container .info .title")
            await expect(title).to_contain_text(TITLE, timeout=WAIT_MS)
            await expect(title).to_contain_text(package_version())
            await expect(title).to_contain_text("OAS 3.1")
            enqueue = page.locator("#operations-tasks-enqueue")
            await expect(enqueue).to_be_visible(timeout=WAIT_MS)
            await expect(enqueue.locator(".opblock-summary-path")).to_have_text("/enqueue")
            # every operation of the document has its block
            blocks = page.locator(".opblock")
            assert await blocks.count() >= 10
            await expect(page.locator("#operations-system-health")).to_be_visible()

            # expand one operation: its parameters and its documented answers render
            status = page.locator("#operations-tasks-status")
            await status.locator(".opblock-summary-control").click()
            body = status.locator(".opblock-body")
            await expect(body).to_be_visible(timeout=WAIT_MS)
            await expect(body.locator(".parameters-container")).to_be_visible()
            await expect(body.locator("tr[data-param-name='task_id']")).to_be_visible()
            await expect(body.locator("tr[data-param-name='task_id']")).to_contain_text("path")
            responses = body.locator(".responses-wrapper")
            await expect(responses).to_be_visible()
            for code in ("200", "401", "403", "404"):
                await expect(responses.locator(f"tr.response[data-code='{code}']")).to_be_visible()
            await expect(responses.locator("tr.response[data-code='404']")).to_contain_text(
                "task_not_found"
            )
            # the request body of /enqueue renders from its schema too
            await enqueue.locator(".opblock-summary-control").click()
            await expect(enqueue.locator(".opblock-section-request-body")).to_be_visible(
                timeout=WAIT_MS
            )
            await expect(enqueue.locator(".body-param__example")).to_contain_text("queue_name")

            shot = tmp_path / "docs.png"
            await page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of /docs: {shot}")
            assert shot.stat().st_size > 20_000
            watch.check("127.0.0.1")
            assert any(url.endswith("/openapi.json") for url in watch.requests)
            assert any(url.endswith("/docs/static/swagger-ui-bundle.js") for url in watch.requests)

            # under a name a deployment would use, the page still asks no other host
            deployed = await context.new_page()
            deployed_watch = Watch(deployed)
            port = urlsplit(edge.url).port
            await deployed.goto(f"http://{DEPLOYED_HOST}:{port}/docs", timeout=WAIT_MS)
            await expect(deployed.locator("#operations-tasks-enqueue")).to_be_visible(
                timeout=WAIT_MS
            )
            await deployed.wait_for_load_state("networkidle", timeout=WAIT_MS)
            deployed_watch.check(DEPLOYED_HOST)
        finally:
            await browser.close()


async def two_steps(ctx: TaskContext) -> dict[str, int]:
    await ctx.progress(0.5, "half way")
    return {"steps": 2}


# the seed's page: EventSource on the stream_url as enqueue answered it, until the final event
FOLLOW_STREAM_JS = """
(url) => new Promise((resolve, reject) => {
  const seen = [];
  const source = new EventSource(url);
  const stop = () => { source.close(); reject(new Error('timeout: ' + JSON.stringify(seen))); };
  const timer = setTimeout(stop, TIMEOUT_MS);
  source.addEventListener('task_event', (message) => {
    const event = JSON.parse(message.data);
    seen.push([event.event_type, event.task_id]);
    if (['task_completed', 'task_failed', 'task_cancelled'].includes(event.event_type)) {
      clearTimeout(timer);
      source.close();
      resolve(seen);
    }
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      clearTimeout(timer);
      reject(new Error('stream closed after ' + JSON.stringify(seen)));
    }
  };
})
""".replace("TIMEOUT_MS", str(WAIT_MS * 2))


async def test_the_stream_url_opens_in_a_browser_eventsource(
    edge: RunningEdge, start_node: NodeFactory, alice: Caller, queue: str
) -> None:
    """A page of the edge's origin follows a task with ``new EventSource(stream_url)``: no
    header, the grant in the URL is all it has."""
    require_browser()
    async with start_node({queue: two_steps}, queues=[queue]):
        enqueued = await alice.post("/enqueue", {"queue_name": queue, "task_data": {}})
        assert enqueued.status == 200, enqueued.body
        stream_url, task_id = enqueued.body["stream_url"], enqueued.body["task_id"]
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=WAIT_MS
            )
            try:
                page = await browser.new_page()
                watch = Watch(page)
                await page.goto(edge.url + "/docs", timeout=WAIT_MS)
                seen = await page.evaluate(FOLLOW_STREAM_JS, stream_url)
            finally:
                await browser.close()
    kinds = [kind for kind, _ in seen]
    assert kinds[0] == "task_enqueued" and kinds[-1] == "task_completed", seen
    assert "progress_update" in kinds and {tid for _, tid in seen} == {task_id}
    assert watch.bad_answers == [] and watch.page_errors == []
