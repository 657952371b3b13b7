"""Metering: what one attempt cost the node (time, CPU, memory) and its price.

Measured around the handler call only (not the claim or the outcome's write), so the figures
are the handler's. What each one means, in a node that runs many attempts at once:

- ``execution_time_ms``: wall time of the handler, one ``perf_counter`` pair.
- ``cpu_time_ms``: a sync handler runs in a worker thread of its own for the call: its
  ``time.thread_time`` difference, exact. An async handler shares the loop's thread with
  every other attempt: its coroutine is driven through ``measured``, which adds up the loop
  thread's CPU time during each step of this coroutine only (time the loop spends on other
  tasks, or waiting, is not counted). CPU used on its behalf elsewhere (a thread it starts,
  a process it calls) is not seen either way.
- ``memory_usage_mb``: by default the process's RSS at the end less at the start, never
  below 0, flagged approximate: attempts running beside it add to it or hide what it freed,
  and memory allocated and freed within the attempt does not show. The RSS is read at most
  once a millisecond (``RSS_MAX_AGE_S``): attempts that start or end within the same
  millisecond share a read, so an attempt shorter than that usually shows 0. For task
  types listed in ``PRSM_ATTEMPT_METRICS_TRACEMALLOC_TASK_TYPES``, the peak of Python
  allocations traced during the attempt above the traced level at its start
  (``tracemalloc``, started while such an attempt runs and stopped after the last): exact
  when it ran alone, flagged approximate when another traced attempt overlapped it (the
  peak is the process's).
- ``cost_usd``: the rate card's price of the attempt (``RateCard.cost_usd``).

Off (``PRSM_ATTEMPT_METRICS_ENABLED=false``) nothing is measured or stored: an attempt keeps only
its start and end times, which the services turn into an execution time.
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
import types
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prsm_tasks.errors import ValidationError as SettingsError
from prsm_tasks.models import Fields

MB = 1024 * 1024
RSS_MAX_AGE_S = 0.001


class Rates(BaseModel):
    """One line of the rate card, in US dollars."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_run_usd: float = Field(default=0.0, ge=0)
    per_cpu_second_usd: float = Field(default=0.0, ge=0)
    per_gb_second_usd: float = Field(default=0.0, ge=0)


class RateCardFile(BaseModel):
    """``PRSM_COST_RATE_CARD_FILE``: ``{"default": {...}, "task_types": {"name": {...}}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Rates | None = None
    task_types: dict[str, Rates] = Field(default_factory=dict, max_length=10_000)


@dataclass(frozen=True, kw_only=True)
class RateCard:
    """The price of an attempt: per run + CPU seconds x rate + GB-seconds x rate, the rates
    of its task type when the card names it, else the default ones.

    CPU seconds are the measured CPU time (the wall time where CPU was not measured); GB
    seconds are the measured memory (0 where not measured) times the wall time.
    """

    default: Rates = field(default_factory=Rates)
    task_types: dict[str, Rates] = field(default_factory=dict)

    @classmethod
    def load(cls, default: Rates, path: Path | None) -> RateCard:
        if path is None:
            return cls(default=default)
        try:
            card = RateCardFile.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError, ValidationError) as exc:
            raise SettingsError(
                f"cannot read the rate card {path}: {exc}", field="cost_rate_card_file"
            ) from exc
        return cls(default=card.default or default, task_types=dict(card.task_types))

    def cost_usd(
        self, task_type: str | None, *, wall_s: float, cpu_s: float | None, memory_mb: float | None
    ) -> float:
        rates = self.task_types.get(task_type or "", self.default)
        cpu = wall_s if cpu_s is None else cpu_s
        gb_s = (memory_mb or 0.0) / 1024 * wall_s
        return rates.per_run_usd + cpu * rates.per_cpu_second_usd + gb_s * rates.per_gb_second_usd


@dataclass(frozen=True, kw_only=True)
class MeteringOptions:
    """The node's metering settings (a slice of NodeOptions)."""

    enabled: bool = True
    tracemalloc_task_types: frozenset[str] = frozenset()
    rate_card: RateCard = field(default_factory=RateCard)


class ProcessMemory:
    """The process's resident set size, read cheaply: ``/proc/self/statm`` through one
    file descriptor kept open (a ``pread``, a few µs), psutil where there is no /proc."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        try:
            self._fd: int | None = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._fd = None
            self._process = psutil.Process()

        self._rss = 0
        self._read_at = -1.0

    def rss_bytes(self) -> int:
        if self._fd is None:
            return int(self._process.memory_info().rss)
        return int(os.pread(self._fd, 128, 0).split()[1]) * self._page

    def rss_at(self, clock: float) -> int:
        """The RSS read at most ``RSS_MAX_AGE_S`` before ``clock`` (a ``perf_counter``):
        at thousands of attempts a second they share reads, and one read costs more than
        a short task's whole metering."""
        if clock - self._read_at > RSS_MAX_AGE_S:
            self._rss = self.rss_bytes()
            self._read_at = clock
        return self._rss


_process_memory: ProcessMemory | None = None


def process_memory() -> ProcessMemory:
    """One per process (its descriptor stays open for the process's life): every node of
    a program reads the same RSS."""
    global _process_memory
    if _process_memory is None:
        _process_memory = ProcessMemory()
    return _process_memory


class Tracing:
    """tracemalloc, on while at least one traced attempt runs (it slows every allocation of
    the process, so it is never left on)."""

    def __init__(self) -> None:
        self.running = 0
        self.generation = 0  # moves each time a traced attempt starts beside another

    def begin(self) -> tuple[int, int]:
        """(traced bytes at the start, the generation seen)."""
        if self.running == 0:
            tracemalloc.start()
            tracemalloc.reset_peak()
        else:
            self.generation += 1
        self.running += 1
        return tracemalloc.get_traced_memory()[0], self.generation

    def end(self, started_bytes: int, generation: int) -> tuple[float, bool]:
        """(peak MB above the start, whether another traced attempt overlapped)."""
        _, peak = tracemalloc.get_traced_memory()
        overlapped = self.running > 1 or generation != self.generation
        self.running -= 1
        if self.running == 0:
            tracemalloc.stop()
        return max(0, peak - started_bytes) / MB, overlapped


class CpuClock:
    """The CPU time a handler used, filled in from its thread or its coroutine's steps."""

    __slots__ = ("cpu_s", "known")

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self.known = False


@types.coroutine
def measured(coro: Coroutine[Any, Any, Any], clock: CpuClock) -> Generator[Any, Any, Any]:
    """Drive ``coro`` as ``await coro`` would, adding the thread CPU time of each of its
    steps to ``clock`` (two ``thread_time`` reads a step)."""
    thread_time = time.thread_time
    value: Any = None
    error: BaseException | None = None
    clock.known = True
    try:
        while True:
            began = thread_time()
            try:
                yielded = coro.send(value) if error is None else coro.throw(error)
            except StopIteration as stop:
                return stop.value
            finally:
                clock.cpu_s += thread_time() - began
            value, error = None, None
            try:
                value = yield yielded
            except GeneratorExit:
                raise
            except BaseException as exc:  # cancellation included: it goes on to the handler
                error = exc
    finally:
        coro.close()


def in_thread(func: Callable[..., Any], clock: CpuClock) -> Callable[..., Any]:
    """``func`` measuring its own thread's CPU time into ``clock`` when it returns."""

    def call(*args: Any, **kwargs: Any) -> Any:
        began = time.thread_time()
        try:
            return func(*args, **kwargs)
        finally:
            clock.cpu_s = time.thread_time() - began
            clock.known = True

    return call


class Meter:
    """The node's meter: one ``Reading`` per attempt, begun before its handler runs."""

    def __init__(self, options: MeteringOptions) -> None:
        self.options = options
        self.memory = process_memory()
        self.tracing = Tracing()

    def begin(self, task_type: str | None) -> Reading:
        return Reading(self, task_type)


class Reading:
    """One attempt's measurement, from ``Meter.begin`` to ``finish``."""

    __slots__ = ("_began", "_meter", "_rss", "_traced", "clock", "task_type")

    def __init__(self, meter: Meter, task_type: str | None) -> None:
        self._meter = meter
        self.task_type = task_type
        self.clock = CpuClock()
        self._traced: tuple[int, int] | None = None
        self._rss = 0
        self._began = began = time.perf_counter()
        if task_type in meter.options.tracemalloc_task_types:
            self._traced = meter.tracing.begin()
        else:
            self._rss = meter.memory.rss_at(began)

    def finish(self) -> Fields:
        """The attempt's metrics as stored (``models.AttemptMetrics``'s fields)."""
        ended = time.perf_counter()
        wall_s = ended - self._began
        meter = self._meter
        if self._traced is not None:
            memory_mb, approximate = meter.tracing.end(*self._traced)
            method = "tracemalloc"
        else:
            memory_mb = max(0, meter.memory.rss_at(ended) - self._rss) / MB
            approximate, method = True, "rss_delta"
        clock = self.clock
        cpu_s = clock.cpu_s if clock.known else None
        # full floats, not rounded: msgpack stores a float in 9 bytes either way
        metrics: Fields = {
            "execution_time_ms": wall_s * 1000,
            "memory_usage_mb": memory_mb,
            "memory_method": method,
            "memory_approximate": approximate,
            "cost_usd": meter.options.rate_card.cost_usd(
                self.task_type, wall_s=wall_s, cpu_s=cpu_s, memory_mb=memory_mb
            ),
        }
        if cpu_s is not None:
            metrics["cpu_time_ms"] = cpu_s * 1000
        return metrics
