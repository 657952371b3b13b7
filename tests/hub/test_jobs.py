"""The hub's persistent-jobs app over real HTTP: a job that checkpoints and fails is listed
resumable, resumed from the hub, and finishes from its checkpoint without redoing the steps
before it; brands stay apart. (A node killed mid-job: tests/e2e/test_checkpoint_kill.py.)"""

from __future__ import annotations

from typing import Any

from prsm_tasks import Fail, TaskContext
from tests.conftest import NodeFactory
from tests.hub.conftest import OTHER_BRAND, HubCaller, register_type
from tests.hub.test_core import final

PAGES = 5
FAILS_AFTER = 3  # the first attempt loses its session after saving page 3


async def test_a_failed_job_resumes_from_its_checkpoint_through_the_hub(
    martin: HubCaller, start_node: NodeFactory, queue: str
) -> None:
    crawled: list[int] = []

    async def crawl(ctx: TaskContext, pages: int) -> dict[str, Any]:
        start = (ctx.checkpoint_state or {}).get("done", 0)
        for page in range(start, pages):
            crawled.append(page)
            await ctx.checkpoint({"done": page + 1}, summary=f"{page + 1}/{pages} pages")
            if page + 1 == FAILS_AFTER and ctx.attempt == 1:
                raise Fail("the crawler lost its session")
        return {"pages": pages, "resumed_at": start}

    task_type = await register_type(martin, "site_crawl", queue)
    created = await martin.post("/tasks/", {"task_type": task_type, "context_data": {"pages": 5}})
    assert created.status == 201, created.body
    number, task_id = created.body["id"], created.body["task_id"]

    async with start_node({queue: crawl}):
        failed = await final(martin, number)
        assert failed["status"] == "failed" and failed["is_resumable"] is True

        resumable = await martin.get("/tasks/persistent-jobs/persistent-jobs/resumable/")
        assert resumable.status == 200, resumable.body
        (job,) = [item for item in resumable.body["results"] if item["task_id"] == task_id]
        assert job["resumable"] is True and job["summary"] == f"{FAILS_AFTER}/{PAGES} pages"
        checkpoints = await martin.get("/tasks/persistent-jobs/checkpoints/")
        (mark,) = [item for item in checkpoints.body["results"] if item["task_id"] == task_id]
        assert mark["seq"] == FAILS_AFTER and mark["attempt"] == 1 and mark["size_bytes"] > 0

        # another brand of the same user sees nothing of it and cannot resume it
        elsewhere = martin.in_brand(OTHER_BRAND)
        assert (await elsewhere.get("/tasks/persistent-jobs/checkpoints/")).body["count"] == 0
        refused = await elsewhere.post(f"/tasks/persistent-jobs/persistent-jobs/{number}/resume/")
        assert refused.status == 404 and refused.body["error_code"] == "TASK_NOT_FOUND"

        resumed = await martin.post(f"/tasks/persistent-jobs/persistent-jobs/{number}/resume/")
        assert resumed.status == 200, resumed.body
        assert resumed.body["status"] == "pending"
        done = await final(martin, task_id)
    assert done["status"] == "completed", done
    assert done["result_data"] == {"pages": PAGES, "resumed_at": FAILS_AFTER}
    assert crawled == list(range(PAGES))  # no page crawled twice
    again = await martin.post(f"/tasks/persistent-jobs/persistent-jobs/{task_id}/resume/")
    assert again.status == 409 and again.body["error_code"] == "TASK_NOT_RESUMABLE"


async def test_a_job_without_a_checkpoint_is_not_resumable(
    martin: HubCaller, start_node: NodeFactory, queue: str
) -> None:
    async def breaks(ctx: TaskContext, **_: Any) -> None:
        raise Fail("broken before any checkpoint")

    task_type = await register_type(martin, "breaks_early", queue)
    created = await martin.post("/tasks/", {"task_type": task_type, "context_data": {}})
    async with start_node({queue: breaks}):
        failed = await final(martin, created.body["id"])
    assert failed["status"] == "failed" and failed["is_resumable"] is False
    answer = await martin.post(
        f"/tasks/persistent-jobs/persistent-jobs/{created.body['id']}/resume/"
    )
    assert answer.status == 409 and answer.body["error_code"] == "NO_CHECKPOINT"
    bad = await martin.get("/tasks/persistent-jobs/checkpoints/", page_size=0)
    assert bad.status == 400 and "page_size" in bad.body["field_errors"]
