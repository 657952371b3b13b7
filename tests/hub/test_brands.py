"""Brands on every hub route: X-Brand-ID required (400), a brand the token does not list
(403), another brand's or tenant's task answered 404 exactly like a missing one."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from prsm_tasks.edge.surfaces.hub.surface import ROUTES
from tests.edge.conftest import Caller
from tests.hub.conftest import BRAND, OTHER_BRAND, HubCaller

SCHEDULE_ID = "0b0f3f0e-2c9d-4c1e-9a57-3b6f1d2a4c5e"
MISSING_TASK = "task_" + "0" * 26


def concrete(path: str) -> str:
    if "periodic-tasks/{id}" in path:
        return path.replace("{id}", SCHEDULE_ID)
    return path.replace("{id}", MISSING_TASK)


HUB_CALLS = [(route.method, concrete(route.path)) for route in ROUTES]


@pytest.mark.parametrize("brand_header", [None, "", "abc", "0", "09", "-3", "99999999999"])
async def test_every_route_needs_a_brand_id(
    hub_user: Callable[..., HubCaller], brand_header: str | None
) -> None:
    caller = hub_user().in_brand(brand_header)
    for method, path in HUB_CALLS:
        answer = await caller.call(method, path, {})
        assert answer.status == 400, (method, path, answer.body)
        assert answer.body["error_code"] == "BRAND_REQUIRED"
        assert list(answer.body["field_errors"]) == ["X-Brand-ID"], answer.body
        assert answer.body["detail"]


async def test_a_brand_the_token_does_not_list_is_forbidden(
    hub_user: Callable[..., HubCaller],
) -> None:
    caller = hub_user(brands=(BRAND,), brand=OTHER_BRAND)
    for method, path in HUB_CALLS:
        answer = await caller.call(method, path, {})
        assert answer.status == 403, (method, path, answer.body)
        assert answer.body["error_code"] == "BRAND_FORBIDDEN"
        assert "X-Brand-ID" in answer.body["field_errors"]
    no_brands = hub_user(brands=(), brand=BRAND)
    assert (await no_brands.get("/tasks/")).status == 403


async def test_without_a_token_the_hub_answers_401_in_its_body(martin: HubCaller) -> None:
    anonymous = HubCaller(martin.session, martin.url, None, str(BRAND))
    answer = await anonymous.get("/tasks/")
    assert answer.status == 401
    assert answer.body["error_code"] == "UNAUTHORIZED" and answer.body["field_errors"] == {}
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_tenant_named_like_a_brand_scope_is_refused(
    hub_user: Callable[..., HubCaller], tenant: str
) -> None:
    """No token's tenant may equal a brand's scope ("humari/brand-9")."""
    impostor = hub_user(tenant=f"{tenant}/brand-{BRAND}")
    assert (await impostor.get("/tasks/")).status == 401
    plain = Caller(impostor.session, impostor.url, impostor.bearer)
    assert (await plain.get("/tasks")).status == 401


async def test_another_brands_task_is_not_found_like_a_missing_one(
    hub_user: Callable[..., HubCaller], task_type: str
) -> None:
    martin = hub_user()
    created = await martin.post("/tasks/", {"task_type": task_type, "context_data": {"k": 1}})
    assert created.status == 201, created.body
    task_id, number = created.body["task_id"], created.body["id"]
    assert created.body["brand"] == {"id": BRAND, "name": None}

    missing = await martin.get(f"/tasks/{MISSING_TASK}/")
    assert missing.status == 404 and missing.body["error_code"] == "TASK_NOT_FOUND"
    outsiders = (
        martin.in_brand(OTHER_BRAND),  # the same user, in the other brand
        hub_user("eve", f"other-{uuid.uuid4().hex[:8]}"),  # another tenant's brand 9
    )
    for outsider in outsiders:
        for ref in (task_id, number):
            for method, path in (("GET", f"/tasks/{ref}/"), ("POST", f"/tasks/{ref}/retry/")):
                answer = await outsider.call(method, path)
                assert answer.status == 404, (path, answer.body)
                assert answer.body["error_code"] == missing.body["error_code"]
                assert answer.body["detail"] == missing.body["detail"]
                assert answer.body["field_errors"] == {}
        listed = await outsider.get("/tasks/")
        assert task_id not in {item["task_id"] for item in listed.body["results"]}
        stats = await outsider.get("/tasks/queue-stats/")
        assert stats.body["totals"]["total"] == 0

    # the tenant's own token, on the PRSM surface, does not see the brand's task either
    plain = Caller(martin.session, martin.url, martin.bearer)
    assert (await plain.get(f"/status/{task_id}")).status == 404
    # a user of the same tenant whose token lists the brand shares its tasks
    colleague = hub_user("lea", brands=(BRAND,))
    seen = await colleague.get(f"/tasks/{number}/")
    assert seen.status == 200 and seen.body["created_by"]["username"] == "martin"
