"""Fixtures of the repair tests: the edge fixtures and fresh type names of the task-type tests."""

from __future__ import annotations

from tests.task_types.conftest import (  # noqa: F401 - fixtures used by these tests
    alice,
    as_user,
    edge,
    edge_config,
    session,
    type_name,
)
