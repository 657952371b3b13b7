"""Handler declarations: signature-derived validation, registry lookup, TaskContext."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from prsm_tasks.errors import HandlerError, InvalidTaskDataError, ValidationError
from prsm_tasks.handlers import Cancelled, HandlerRegistry, TaskContext, build_spec


async def typed(ctx: TaskContext, model_id: str, count: int = 1) -> None:
    return None


async def open_ended(ctx: TaskContext, name: str, **rest: Any) -> None:
    return None


def sync_everything(ctx: TaskContext, **task_data: Any) -> None:
    return None


def test_annotations_validate_task_data() -> None:
    spec = build_spec(typed, queue="q", task_type=None)
    assert spec.is_async
    assert spec.bind({"model_id": "m", "count": "3"}) == {"model_id": "m", "count": 3}
    with pytest.raises(InvalidTaskDataError) as info:
        spec.bind({"count": 2})
    assert info.value.field == "task_data.model_id"
    with pytest.raises(InvalidTaskDataError):
        spec.bind({"model_id": "m", "unexpected": 1})
    schema = spec.parameters_schema()
    assert schema is not None and schema["required"] == ["model_id"]


def test_var_keyword_receives_the_rest() -> None:
    spec = build_spec(open_ended, queue="q", task_type=None)
    assert spec.bind({"name": "n", "extra": [1]}) == {"name": "n", "extra": [1]}
    everything = build_spec(sync_everything, queue="q", task_type=None)
    assert not everything.is_async
    assert everything.params_model is None
    assert everything.bind({"a": 1}) == {"a": 1}


def test_a_handler_must_take_the_context_first() -> None:
    def no_args() -> None:
        return None

    with pytest.raises(HandlerError):
        build_spec(no_args, queue="q", task_type=None)
    with pytest.raises(ValidationError):
        build_spec(typed, queue="Bad Queue", task_type=None)


def test_registry_prefers_the_exact_task_type() -> None:
    registry = HandlerRegistry()
    registry.register(typed, queue="q", task_type="special")
    registry.register(sync_everything, queue="q")
    assert registry.lookup("q", "special").func is typed  # type: ignore[union-attr]
    assert registry.lookup("q", "other").func is sync_everything  # type: ignore[union-attr]
    assert registry.lookup("elsewhere", None) is None
    assert registry.queues == ["q"]
    assert registry.task_types == ["special"]


async def test_context_progress_and_cancel_flag() -> None:
    seen: list[tuple[float | None, str | None]] = []
    ctx = TaskContext(
        task_id="t",
        queue="q",
        task_type=None,
        attempt=1,
        node_id="n",
        report_progress=lambda value, text: seen.append((value, text)),
        loop=asyncio.get_running_loop(),
    )
    await ctx.progress(0.5, "half")
    ctx.progress(text="plain call works too")
    await asyncio.to_thread(ctx.progress, 0.75)
    await asyncio.sleep(0)
    assert seen == [(0.5, "half"), (None, "plain call works too"), (0.75, None)]
    with pytest.raises(ValidationError):
        ctx.progress(1.5)
    ctx.raise_if_cancelled()
    ctx.mark_cancelled()
    assert ctx.is_cancelled
    with pytest.raises(Cancelled):
        ctx.raise_if_cancelled()


def test_a_task_type_must_be_a_valid_name() -> None:
    with pytest.raises(ValidationError) as info:
        build_spec(typed, queue="q", task_type="has space")
    assert info.value.field == "task_type"
    assert build_spec(typed, queue="q", task_type="video.resize:v2").task_type == "video.resize:v2"
