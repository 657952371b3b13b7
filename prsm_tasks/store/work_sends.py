"""Work messages to PRSM_WORK: sent and awaited, or sent and followed up off the caller's path.

A new task is accepted once its record is stored: that create is the one durable round trip a
producer waits for. Its work message (carrying the create's revision, so a node claims without
a read) goes out at once after it, and ``WorkSender.send_followed`` checks the stream's answer
when it comes instead of making the caller wait for it. A work message refused or unanswered
is sent again here, with the same ``Nats-Msg-Id``, for ``FOLLOW_UP_FOR_S``; if this process
dies first, the repair (store/repair.py) queues the recorded task. Either way the task runs:
the record is the truth, the message only its index.

While the stream refuses (full, or not answering), ``trouble`` says why and producers go back
to waiting for both writes (``send``): then a refusal is answered exactly (507
``work_stream_full`` with nothing kept, 503 ``enqueue_incomplete`` naming the task) instead of
being discovered after the caller was told the task was queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING

import structlog

from prsm_tasks import wire
from prsm_tasks.bus import Backoff
from prsm_tasks.errors import PrsmError, ServiceUnavailableError, WorkStreamFullError
from prsm_tasks.models import TaskRecord

if TYPE_CHECKING:
    from prsm_tasks.store.tasks import TaskStore

log = structlog.get_logger("prsm.work")

PUBLISH_TIMEOUT_S = 10.0
# how long a followed-up message is sent again before it is left to the repair, which
# queues a recorded task whose message is missing after PRSM_REPAIR_AFTER_SECONDS (longer)
FOLLOW_UP_FOR_S = 60.0
ERR_STREAM_STORE_FAILED = 10077  # with "maximum messages/bytes exceeded": the stream is full


def work_stream_full(description: str) -> WorkStreamFullError:
    """507 for a publish PRSM_WORK refused because it holds all it may."""
    by_bytes = "bytes" in description
    return WorkStreamFullError(
        f"the work stream is full ({description}): no task can be queued until nodes take "
        "some; try again later",
        limit="PRSM_WORK_MAX_BYTES" if by_bytes else "PRSM_WORK_MAX_MESSAGES",
    )


def check_work_answer(task_id: str, reply: bytes) -> None:
    """Raise what the stream's answer to a work publish says went wrong, if anything."""
    if b'"error"' not in reply:
        return
    error = json.loads(reply)["error"]
    if error.get("err_code") == ERR_STREAM_STORE_FAILED and "maximum" in str(
        error.get("description")
    ):
        raise work_stream_full(str(error.get("description")))
    raise ServiceUnavailableError(f"work stream refused task {task_id}: {error}", task_id=task_id)


class WorkSender:
    """Publishes work messages; follows up the ones whose caller does not wait."""

    def __init__(self, store: TaskStore) -> None:
        self._store = store  # its requests carry the messages (one reply subscription)
        # why the last followed-up message failed; None once one is stored again
        self.trouble: str | None = None
        self._unanswered = 0
        self._retries: set[asyncio.Task[None]] = set()
        self._settled = asyncio.Event()
        self._settled.set()
        self.left_to_repair = 0  # messages given up on here (the repair queues their tasks)

    @property
    def outstanding(self) -> int:
        return self._unanswered + len(self._retries)

    async def send(
        self,
        record: TaskRecord,
        rev: int,
        payload: bytes,
        *,
        first: bool,
        msg_id: str | None = None,
    ) -> None:
        """Publish and wait for the stream's answer; raises what it refused. ``msg_id``: the
        deduplication id, the task id unless a later life of the task needs its own."""
        reply = await self._store.requests.request(
            self._store.work_subject(record),
            wire.encode_work(rev, payload, first=first),
            headers={"Nats-Msg-Id": msg_id or record.task_id},
            timeout_s=PUBLISH_TIMEOUT_S,
        )
        check_work_answer(record.task_id, reply)

    async def send_followed(self, record: TaskRecord, rev: int, payload: bytes) -> None:
        """Publish the first message of a record just created; return without its answer.

        Raises ServiceUnavailableError only when it could not even be sent (no connection).
        """
        answer = await self._store.requests.send(
            self._store.work_subject(record),
            wire.encode_work(rev, payload, first=True),
            headers={"Nats-Msg-Id": record.task_id},
            timeout_s=PUBLISH_TIMEOUT_S,
        )
        self._unanswered += 1
        self._settled.clear()
        answer.add_done_callback(lambda done: self._on_answer(done, record, rev, payload))

    def _on_answer(
        self, answer: asyncio.Future[bytes], record: TaskRecord, rev: int, payload: bytes
    ) -> None:
        self._unanswered -= 1
        try:
            check_work_answer(record.task_id, answer.result())
            self.trouble = None
        except (asyncio.CancelledError, Exception) as exc:  # any failure: send it again
            reason = exc.message if isinstance(exc, PrsmError) else repr(exc)
            self.trouble = reason
            log.warning("work_send_failed", task_id=record.task_id, error=reason)
            retry = asyncio.get_running_loop().create_task(
                self._send_again(record, rev, payload), name=f"work-again-{record.task_id}"
            )
            self._retries.add(retry)
            retry.add_done_callback(self._retry_done)
        self._check_settled()

    def _retry_done(self, retry: asyncio.Task[None]) -> None:
        self._retries.discard(retry)
        self._check_settled()

    def _check_settled(self) -> None:
        if not self._unanswered and not self._retries:
            self._settled.set()

    async def _send_again(self, record: TaskRecord, rev: int, payload: bytes) -> None:
        backoff = Backoff(patience_s=FOLLOW_UP_FOR_S, max_s=5.0)
        while True:
            await backoff.pause()
            try:
                await self.send(record, rev, payload, first=True)
            except (WorkStreamFullError, ServiceUnavailableError) as exc:
                self.trouble = exc.message
                if backoff.exhausted:
                    self.left_to_repair += 1
                    log.warning("work_left_to_repair", task_id=record.task_id, error=exc.message)
                    return
                continue
            self.trouble = None
            log.info("work_sent_again", task_id=record.task_id)
            return

    async def close(self, *, timeout_s: float = 10.0) -> None:
        """Wait for the answers still due; what is left after ``timeout_s`` the repair queues."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._settled.wait()
        except TimeoutError:
            log.warning("work_unconfirmed_at_close", count=self.outstanding)
        for retry in list(self._retries):
            retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retry
