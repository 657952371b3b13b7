"""Who owns a task: the rules peer nodes and external workers follow alike.

Pure functions over records and what a work message says about itself (its stream
sequence, how often it was delivered); no I/O. ``actors/claims.py`` (peer nodes) and
``store/external.py`` (workers over HTTP) apply them with their own compare-and-set writes:

- a work message whose record is final, waiting or scheduled is stale: drop it;
- an enqueued record is claimed once it is due (``not_before``);
- a processing record is taken over only when this very message (the one its running
  attempt came from) was delivered again: its lease lapsed. Any other message for it is a
  duplicate (a priority change, a late re-publish) and is dropped;
- an external worker's claim (``metadata.external``) also holds until its own expiry;
- an outcome (or a progress write) whose CAS lost to an edit of the metadata, or to a child
  named in ``dependents``, is rebased onto the record as it now is, if the running attempt
  is still the writer's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from prsm_tasks.errors import ClaimLostError, TaskAlreadyFinishedError
from prsm_tasks.models import Fields, TaskRecord, TaskStatus

EXTERNAL_PREFIX = "external:"
LEASE_KEY = "external"  # record.metadata[LEASE_KEY]: the claim of an external worker
# a record due this close to now is due: waiting 50 ms costs more than running it
DUE_SLACK_S = 0.05


class Verdict(enum.Enum):
    """What a delivered work message means for its task, judged from the current record."""

    STALE = "stale"  # final, waiting or scheduled: nothing to run from this message
    NOT_DUE = "not_due"  # enqueued for later (a retry's back-off): hand it back until then
    CLAIM = "claim"  # enqueued and due: claim it
    DUPLICATE = "duplicate"  # claimed from another message: this one is a duplicate
    LAPSED = "lapsed"  # this is the running attempt's own message, back: its lease lapsed


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    delay_s: float = 0.0  # NOT_DUE: how long until it is


def startable(fields: Fields, now: float) -> bool:
    """Enqueued and due: the work message's record may be claimed as it is."""
    not_before = fields["not_before"]
    return fields["status"] == TaskStatus.ENQUEUED and (not_before is None or not_before <= now)


def is_lapsed_lease(record: TaskRecord, message_seq: int, deliveries: int) -> bool:
    """Is message ``message_seq`` the one the record's running attempt came from, redelivered?

    Any other message for a claimed task is a duplicate (a priority change, a late
    re-publish), not a sign that the running node died.
    """
    last = record.attempts[-1] if record.attempts else None
    if last is not None and last.message_seq is not None:
        return last.message_seq == message_seq
    return deliveries > 1  # a record from before attempts kept their message's sequence


def judge(record: TaskRecord, *, message_seq: int, deliveries: int, now: float) -> Judgement:
    """The rule every claimer applies to a work message and its task's current record."""
    if record.is_final or record.status in (TaskStatus.WAITING, TaskStatus.SCHEDULED):
        return Judgement(Verdict.STALE)
    if record.status is TaskStatus.ENQUEUED:
        if record.not_before is not None and record.not_before > now + DUE_SLACK_S:
            return Judgement(Verdict.NOT_DUE, record.not_before - now)
        return Judgement(Verdict.CLAIM)
    if is_lapsed_lease(record, message_seq, deliveries):
        return Judgement(Verdict.LAPSED)
    return Judgement(Verdict.DUPLICATE)


def claimed_by(record: TaskRecord, owner: str, message_seq: int) -> bool:
    """Is ``record`` processing in an attempt ``owner`` started from message ``message_seq``?"""
    last = record.attempts[-1] if record.attempts else None
    return (
        record.status is TaskStatus.PROCESSING
        and last is not None
        and last.node == owner
        and last.message_seq == message_seq
    )


def rebase(outcome: Fields, current: TaskRecord, *, owner: str, message_seq: int) -> Fields | None:
    """``outcome`` on top of ``current`` when only its metadata (all the task list API may
    change on a running task) or its dependents (a child named by compare-and-set, see
    store/graph.py) changed under our attempt; None when the attempt is no longer ours."""
    if not claimed_by(current, owner, message_seq):
        return None
    rebased = {**outcome, "metadata": current.metadata}
    if current.dependents:  # only ever grows: the record as it is now names them all
        rebased["dependents"] = list(current.dependents)
    return rebased


# --- external workers ---------------------------------------------------------------------------


def worker_node(worker_id: str) -> str:
    """The ``worker_node`` an external worker's claim writes."""
    return EXTERNAL_PREFIX + worker_id


@dataclass(frozen=True, kw_only=True)
class Lease:
    """An external worker's claim, kept in the record (any edge can renew or end it)."""

    worker_id: str
    lease_s: float
    expires_at: float
    ack_subject: str | None  # None: no work message is held (no timer)

    @classmethod
    def of(cls, record: TaskRecord) -> Lease | None:
        held = record.metadata.get(LEASE_KEY)
        if record.status is not TaskStatus.PROCESSING or not isinstance(held, dict):
            return None
        if record.worker_node != worker_node(str(held.get("worker_id"))):
            return None  # a peer took the task over: the old claim is gone
        return cls(
            worker_id=str(held["worker_id"]),
            lease_s=float(held["lease_s"]),
            expires_at=float(held["expires_at"]),
            ack_subject=held.get("ack_subject"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "lease_s": self.lease_s,
            "expires_at": self.expires_at,
            "ack_subject": self.ack_subject,
        }


def with_lease(record: TaskRecord, lease: Lease | None) -> TaskRecord:
    metadata = {key: value for key, value in record.metadata.items() if key != LEASE_KEY}
    if lease is not None:
        metadata[LEASE_KEY] = lease.as_dict()
    return record.model_copy(update={"metadata": metadata})


def held_by(record: TaskRecord, worker_id: str | None) -> Lease:
    """The external claim on a running task (and that ``worker_id`` holds it, if given)."""
    if record.is_final:
        raise TaskAlreadyFinishedError(
            f"Task {record.task_id} already finished with status {record.status}",
            task_id=record.task_id,
            status=str(record.status),
        )
    lease = Lease.of(record)
    if lease is None:
        where = f"on peer node {record.worker_node}" if record.worker_node else "nowhere"
        raise ClaimLostError(
            f"task {record.task_id} is {record.status} and held {where}, not by an external worker",
            task_id=record.task_id,
        )
    if worker_id is not None and lease.worker_id != worker_id:
        raise ClaimLostError(
            f"task {record.task_id} is held by worker {lease.worker_id}, not {worker_id}",
            task_id=record.task_id,
        )
    return lease
