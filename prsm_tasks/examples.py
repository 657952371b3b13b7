"""Example handlers served by `prsm-tasks up` on the twelve standard queues.

Every handler honours the optional ``simulate_*`` fields so anyone can exercise the system
by hand:

- ``simulate_seconds`` (float): take this long, sleeping in steps;
- ``simulate_steps`` (int): report this many progress steps;
- ``simulate_fail_attempts`` (int): raise on the first N attempts (then succeed);
- ``simulate_error`` (str): always fail with this message (retried, then ``failed``).

``ml_inference_queue`` also runs a small deterministic sentiment model over ``input_text``.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import prsm_tasks
from prsm_tasks.errors import InvalidTaskDataError
from prsm_tasks.handlers import TaskContext
from prsm_tasks.wire import STANDARD_QUEUES


class Simulation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    simulate_seconds: float = Field(default=0.0, ge=0, le=86_400)
    simulate_steps: int = Field(default=0, ge=0, le=100_000)
    simulate_fail_attempts: int = Field(default=0, ge=0)
    simulate_error: str | None = None


def read_simulation(task_data: dict[str, Any]) -> Simulation:
    try:
        return Simulation.model_validate(task_data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise InvalidTaskDataError(
            f"task_data.{field}: {first['msg']}", field=f"task_data.{field}"
        ) from exc


async def simulate(ctx: TaskContext, task_data: dict[str, Any]) -> None:
    plan = read_simulation(task_data)
    if plan.simulate_error:
        raise RuntimeError(plan.simulate_error)
    if ctx.attempt <= plan.simulate_fail_attempts:
        raise RuntimeError(f"simulated failure on attempt {ctx.attempt}")
    steps = plan.simulate_steps or (1 if plan.simulate_seconds else 0)
    for step in range(1, steps + 1):
        if plan.simulate_seconds:
            await asyncio.sleep(plan.simulate_seconds / steps)
        ctx.raise_if_cancelled()
        if plan.simulate_steps:
            ctx.progress(step / steps, f"step {step}/{steps}")


async def echo(ctx: TaskContext, **task_data: Any) -> dict[str, Any]:
    """The generic example: does what ``simulate_*`` asks, then echoes its input."""
    await simulate(ctx, task_data)
    return {"echo": task_data, "attempt": ctx.attempt, "node": ctx.node_id}


for _queue in STANDARD_QUEUES:
    if _queue != "ml_inference_queue":
        prsm_tasks.handler(_queue)(echo)


POSITIVE_WORDS = frozenset(
    [
        "good",
        "great",
        "excellent",
        "amazing",
        "wonderful",
        "love",
        "loved",
        "like",
        "liked",
        "happy",
        "pleased",
        "fantastic",
        "positive",
        "best",
        "brilliant",
        "superb",
        "enjoy",
        "enjoyed",
        "nice",
        "perfect",
        "recommend",
        "success",
    ]
)
NEGATIVE_WORDS = frozenset(
    [
        "bad",
        "terrible",
        "awful",
        "horrible",
        "hate",
        "hated",
        "dislike",
        "poor",
        "sad",
        "angry",
        "worst",
        "negative",
        "broken",
        "fail",
        "failed",
        "failure",
        "disappointing",
        "disappointed",
        "slow",
        "bug",
        "useless",
        "problem",
    ]
)
MODEL_VERSION = "lexicon-v1"
WORD_RE = re.compile(r"[a-z']+")


def score_sentiment(text: str) -> tuple[str, float]:
    """Word-list sentiment: (label, confidence in 0.5..0.99)."""
    words = WORD_RE.findall(text.lower())
    positive = sum(word in POSITIVE_WORDS for word in words)
    negative = sum(word in NEGATIVE_WORDS for word in words)
    matched = positive + negative
    if matched == 0:
        return "neutral", 0.5
    balance = (positive - negative) / matched
    if balance == 0:
        return "neutral", 0.5
    coverage = matched / max(len(words), 1)
    confidence = min(0.99, 0.5 + 0.5 * abs(balance) * min(1.0, 0.5 + coverage))
    return ("positive" if balance > 0 else "negative"), round(confidence, 4)


@prsm_tasks.handler("ml_inference_queue")
async def sentiment(
    ctx: TaskContext,
    input_text: str,
    model_id: str = MODEL_VERSION,
    parameters: dict[str, Any] | None = None,
    **task_data: Any,
) -> dict[str, Any]:
    started = time.perf_counter()
    await simulate(ctx, task_data)
    label, confidence = score_sentiment(input_text)
    result: dict[str, Any] = {"sentiment": label, "model_version": MODEL_VERSION}
    if (parameters or {}).get("return_confidence", True):
        result["confidence"] = confidence
    result["processing_time_seconds"] = round(time.perf_counter() - started, 6)
    result["model_id"] = model_id
    return result
