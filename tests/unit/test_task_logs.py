"""The per-attempt capture of ctx.logger: capped, cut, safe from many threads, one wake per
batch."""

from __future__ import annotations

import threading

from prsm_tasks.task_logs import CUT_MARK, LogCapture, TaskLogger, render_message


class Log:
    """The node's own logger, as far as TaskLogger uses it."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def bind(self, **context: object) -> Log:
        return self

    def __getattr__(self, level: str) -> object:
        return lambda text, **context: self.lines.append((level, text))


def capture(max_lines: int = 10, max_line_bytes: int = 64) -> tuple[LogCapture, list[int]]:
    wakes: list[int] = []
    made = LogCapture(
        attempt=1,
        max_lines=max_lines,
        max_line_bytes=max_line_bytes,
        wake=lambda _: wakes.append(1),
    )
    return made, wakes


def test_lines_past_the_cap_are_counted_and_closed_with_one_line() -> None:
    lines, wakes = capture(max_lines=3)
    node_log = Log()
    logger = TaskLogger(node_log, lines)
    for number in range(10):
        logger.info("line %d", number)
    taken = lines.take()
    assert [message for _, _, message in taken] == ["line 0", "line 1", "line 2"]
    assert len(wakes) == 1  # one wake for the batch, not one per line
    assert len(node_log.lines) == 3  # the node's log is spared past the cap too
    last = lines.take(closing=True)
    assert [(level, message) for _, level, message in last] == [
        ("WARNING", "7 lines dropped: this attempt reached its cap of 3 lines")
    ]
    logger.error("after the outcome")
    assert lines.take() == [] and lines.closed


def test_long_lines_are_cut_and_context_is_rendered() -> None:
    lines, _ = capture(max_line_bytes=64)
    logger = TaskLogger(Log(), lines).bind(user="ada")
    logger.warning("é" * 100)
    logger.log(40, "failed", code=7)
    first, second = lines.take()
    assert first[1] == "WARNING" and first[2].endswith(CUT_MARK)
    assert len(first[2].encode()) <= 64
    assert second[1:] == ("ERROR", "failed user='ada' code=7")
    assert render_message("%s and %s", ("a",), {}) == "%s and %s a"


def test_many_threads_lose_nothing_below_the_cap() -> None:
    lines, _ = capture(max_lines=100_000)
    logger = TaskLogger(Log(), lines)

    def chatter(worker: int) -> None:
        for number in range(1000):
            logger.info(f"{worker}:{number}")

    threads = [threading.Thread(target=chatter, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = lines.take(closing=True)
    assert len({message for _, _, message in taken}) == 8000
