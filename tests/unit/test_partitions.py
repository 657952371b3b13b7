"""Partitions: their names, the hash that places a task, the setting's bounds."""

from __future__ import annotations

import zlib
from collections import Counter

import pydantic
import pytest

from prsm_tasks import wire
from prsm_tasks.config import Settings
from prsm_tasks.models import BANDS_HIGH_TO_LOW
from prsm_tasks.topology import Topology


def test_partition_zero_keeps_the_names_of_one_partition() -> None:
    assert wire.work_stream(0) == wire.WORK_STREAM == "PRSM_WORK"
    assert wire.tasks_bucket(0) == wire.TASKS_BUCKET == "PRSM_TASKS"
    assert wire.tasks_stream(0) == "KV_PRSM_TASKS"
    assert wire.work_prefix(0) == "prsm.work"
    assert wire.work_subject("q", "normal", 0) == wire.work_subject("q", "normal")
    assert wire.work_subject("q", "normal") == "prsm.work.q.normal"
    assert wire.task_key_subject("task_x", 0) == "$KV.PRSM_TASKS.task_x"
    assert wire.repair_lease(0) == wire.REPAIR_LEASE


def test_other_partitions_have_their_own_names() -> None:
    assert wire.work_stream(2) == "PRSM_WORK_2"
    assert wire.tasks_bucket(2) == "PRSM_TASKS_2"
    assert wire.tasks_stream(2) == "KV_PRSM_TASKS_2"
    assert wire.work_subject("q", "high", 2) == "prsm.work_2.q.high"
    assert wire.task_key_subject("task_x", 2) == "$KV.PRSM_TASKS_2.task_x"
    assert wire.repair_lease(2) == "repair_2"


def test_the_streams_subjects_never_overlap() -> None:
    """Each stream takes ``<prefix>.>``: no prefix may be a token-prefix of another's."""
    prefixes = [wire.work_prefix(p).split(".") for p in range(wire.MAX_PARTITIONS)]
    for at, one in enumerate(prefixes):
        for other in prefixes[at + 1 :]:
            assert one[: len(other)] != other and other[: len(one)] != one
    # and no work subject of one partition falls under another's filter
    subject = wire.work_subject("q", "low", 1)
    assert not subject.startswith(wire.work_prefix(0) + ".")


def test_a_task_partition_is_a_stable_hash_of_its_id() -> None:
    task_id = "task_01hzyq3k8v9d2m4n6p8r0s2t4w"
    assert wire.partition_of(task_id, 1) == 0
    # the same in every process and version: crc32 of the id's bytes, not Python's hash()
    assert wire.partition_of(task_id, 3) == zlib.crc32(task_id.encode()) % 3
    assert wire.partition_of(task_id, 7) == zlib.crc32(task_id.encode()) % 7


def test_ids_spread_over_every_partition() -> None:
    counts = Counter(wire.partition_of(wire.new_task_id(), 4) for _ in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert min(counts.values()) > 700  # about 1000 each


def test_task_numbers_are_unique_across_partitions() -> None:
    """Each bucket numbers its revisions from 1: the same revision in two partitions must not
    give two tasks one number."""
    ids = [wire.new_task_id() for _ in range(60)]
    one_per_partition = {wire.partition_of(task_id, 3): task_id for task_id in ids}
    assert set(one_per_partition) == {0, 1, 2}
    numbers = [
        wire.deployment_task_number(revision, task_id, 3)
        for task_id in one_per_partition.values()
        for revision in range(1, 200)
    ]
    assert len(set(numbers)) == len(numbers)
    assert wire.deployment_task_number(42, ids[0], 1) == 42  # one partition: the revision


def test_partitions_setting_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().partitions == 1
    monkeypatch.setenv("PRSM_PARTITIONS", str(wire.MAX_PARTITIONS))
    assert Topology.from_settings(Settings()).partitions == wire.MAX_PARTITIONS == 64
    for wrong in ("0", str(wire.MAX_PARTITIONS + 1), "-1"):
        monkeypatch.setenv("PRSM_PARTITIONS", wrong)
        with pytest.raises(pydantic.ValidationError):
            Settings()


def test_consumer_names_are_the_same_in_every_partition() -> None:
    """Each partition's stream has its own consumers, named as partition 0's."""
    for band in BANDS_HIGH_TO_LOW:
        assert "." not in wire.work_consumer("q", band)
