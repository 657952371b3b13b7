"""Fixtures of the dependency tests: the edge fixtures, for the HTTP surface."""

from __future__ import annotations

from tests.edge.conftest import (  # noqa: F401 - fixtures used by these tests
    alice,
    as_user,
    edge,
    edge_config,
    session,
)
