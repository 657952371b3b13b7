"""Brands as tenant scopes (services/hub/brands.py) and the token's ``brands`` claim."""

from __future__ import annotations

import os
import subprocess
import sys

import jwt
import pytest

from prsm_tasks.edge.http.auth import mint_token, principal_of
from prsm_tasks.errors import BrandForbiddenError, BrandRequiredError, UnauthorizedError
from prsm_tasks.services.access import Principal
from prsm_tasks.services.hub.brands import base_tenant, brand_scope, scope_of

SECRET = "unit-secret-0123456789abcdef0123"


def claims(**extra: object) -> dict[str, object]:
    return {"sub": "martin", "tenant": "humari", "exp": 2**31, **extra}


def test_a_brand_is_a_scope_of_its_tenant() -> None:
    caller = Principal(user="martin", tenant="humari", roles=frozenset(), brands=frozenset({9}))
    scope = brand_scope(caller, " 9 ")
    assert scope.principal.tenant == scope_of("humari", 9) == "humari/brand-9"
    assert base_tenant(scope.principal.tenant) == "humari" == scope.tenant
    assert scope.principal.is_admin  # a brand's users share its tasks
    assert base_tenant("plain") == "plain"
    with pytest.raises(BrandForbiddenError):
        brand_scope(caller, "12")
    for bad in (None, "", "x", "0", "007", "1e3", "²", "2147483648"):
        with pytest.raises(BrandRequiredError):
            brand_scope(caller, bad)


def test_the_brands_claim_is_checked() -> None:
    assert principal_of(claims(brands=[9, 12])).brands == frozenset({9, 12})
    assert principal_of(claims()).brands == frozenset()
    for bad in ("9", [True], ["9"], [0], [2**31], list(range(1, 300)), [{"id": 9}]):
        with pytest.raises(UnauthorizedError):
            principal_of(claims(brands=bad))
    with pytest.raises(UnauthorizedError):
        principal_of(claims(tenant="humari/brand-9"))


def test_the_token_command_lists_brands() -> None:
    env = {**os.environ, "PRSM_JWT_SECRET": SECRET}
    command = [sys.executable, "-m", "prsm_tasks.cli", "token", "--user", "martin"]
    command += ["--tenant", "humari", "--brand", "9", "--brand", "12"]
    printed = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    decoded = jwt.decode(printed.stdout.strip(), SECRET, algorithms=["HS256"])
    assert decoded["brands"] == [9, 12]
    assert "brands" not in jwt.decode(
        mint_token(SECRET, user="u", tenant="t"), SECRET, algorithms=["HS256"]
    )
