"""Brands: the hub's scopes inside a tenant.

A brand ``b`` of tenant ``T`` acts as the tenant scope ``T/brand-b``: the hub hands the
services a principal whose tenant is that scope, so every record it writes (tasks,
schedules and their runs) carries the scope as its tenant, and every rule that keeps
tenants apart (reads answer 404, the TaskView's scopes, the schedules' index, quotas) keeps
brands apart with no code of its own. Why not a brand field filtered by the hub: a filter
forgotten on one path (another surface's ``/status/{id}``) would show one brand's tasks to a
user of another; with the scope, there is nothing to forget.

No token's ``tenant`` claim may contain the marker ``/brand-``, so no tenant is ever equal
to a brand's scope. Inside a brand, its users share its tasks and schedules (a brand is a
team's workspace): the scoped principal is the scope's admin. Task types stay the tenant's
(``base_tenant``): a type registered by ``T`` serves all of ``T``'s brands.
"""

from __future__ import annotations

from dataclasses import dataclass

from prsm_tasks.errors import BrandForbiddenError, BrandRequiredError, ValidationError
from prsm_tasks.services.access import ADMIN_ROLE, Principal

BRAND_HEADER = "X-Brand-ID"
BRAND_MARKER = "/brand-"
MAX_BRAND_ID = 2**31 - 1
MAX_BRANDS_PER_TOKEN = 256


def scope_of(tenant: str, brand: int) -> str:
    """The tenant scope brand ``brand`` of ``tenant`` acts as."""
    return f"{tenant}{BRAND_MARKER}{brand}"


def base_tenant(scope: str) -> str:
    """The tenant of a brand scope (a plain tenant is its own)."""
    tenant, marker, _ = scope.rpartition(BRAND_MARKER)
    return tenant if marker else scope


def check_tenant_claim(tenant: str) -> None:
    if BRAND_MARKER in tenant:
        raise ValidationError(
            f"a tenant may not contain {BRAND_MARKER!r} (the hub's brand scopes)", field="tenant"
        )


def check_brand_claims(raw: object) -> frozenset[int]:
    """The token's ``brands`` claim: a list of brand ids (integers 1..2^31-1)."""
    if not isinstance(raw, list) or len(raw) > MAX_BRANDS_PER_TOKEN:
        raise ValidationError(f"a list of at most {MAX_BRANDS_PER_TOKEN} brand ids", field="brands")
    for brand in raw:
        if isinstance(brand, bool) or not isinstance(brand, int) or not 1 <= brand <= MAX_BRAND_ID:
            raise ValidationError(f"brand ids are integers 1..{MAX_BRAND_ID}", field="brands")
    return frozenset(raw)


def parse_brand_header(raw: str | None) -> int:
    """The header's brand id; 400 ``brand_required`` naming the header otherwise."""
    if raw is None or not raw.strip():
        raise BrandRequiredError(f"the {BRAND_HEADER} header is required", field=BRAND_HEADER)
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or text != str(int(text)):
        raise BrandRequiredError(
            f"{BRAND_HEADER} must be a brand id (a positive integer)", field=BRAND_HEADER
        )
    brand = int(text)
    if not 1 <= brand <= MAX_BRAND_ID:
        raise BrandRequiredError(f"{BRAND_HEADER} must be 1..{MAX_BRAND_ID}", field=BRAND_HEADER)
    return brand


@dataclass(frozen=True, slots=True)
class BrandScope:
    """One hub request's caller: the token's principal, the brand, and the principal the
    services see (tenant = the brand's scope)."""

    caller: Principal
    brand: int
    principal: Principal

    @property
    def tenant(self) -> str:
        """The caller's own tenant: whose task types the brand uses."""
        return self.caller.tenant


def brand_scope(caller: Principal, header: str | None) -> BrandScope:
    """400 without a brand, 403 for a brand the token does not list."""
    brand = parse_brand_header(header)
    if brand not in caller.brands:
        raise BrandForbiddenError(
            f"your token does not list brand {brand}", field=BRAND_HEADER, brand=brand
        )
    scoped = Principal(
        user=caller.user,
        tenant=scope_of(caller.tenant, brand),
        roles=frozenset({ADMIN_ROLE}),
        brands=frozenset({brand}),
    )
    return BrandScope(caller=caller, brand=brand, principal=scoped)
