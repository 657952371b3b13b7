"""CPU time of a benchmark's processes, sampled in a thread, read back over any time span.

``scripts/bench_scale.py`` learns the drain's span only afterwards (from the task records), so
a thread samples the servers' and nodes' CPU time every 50 ms and ``cores_between`` reads the
CPU spent between the samples nearest to the span's ends, in cores (CPU seconds per second).
"""

from __future__ import annotations

import bisect
import threading
import time
from types import TracebackType

import psutil

SAMPLE_EVERY_S = 0.05


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue  # it stopped; its time is no longer counted, which ends the span anyway
        total += times.user + times.system
    return total


class CpuSampler:
    """``with CpuSampler(server_pids) as sampler: sampler.watch_nodes(pids) ...``"""

    def __init__(self, server_pids: list[int]) -> None:
        self._servers = [psutil.Process(pid) for pid in server_pids]
        self._nodes: list[psutil.Process] = []
        self._samples: list[tuple[float, float, float]] = []  # (time, server s, node s)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def watch_nodes(self, pids: list[int]) -> None:
        with self._lock:
            self._nodes = [psutil.Process(pid) for pid in pids]

    def _sample_until_stopped(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                nodes = list(self._nodes)
            sample = (time.time(), cpu_seconds(self._servers), cpu_seconds(nodes))
            with self._lock:
                self._samples.append(sample)
            self._stop.wait(SAMPLE_EVERY_S)

    def cores_between(self, start: float, end: float) -> tuple[float, float]:
        """(server cores, node cores) on average between two ``time.time()`` stamps."""
        with self._lock:
            samples = list(self._samples)
        stamps = [sample[0] for sample in samples]
        first = samples[max(0, bisect.bisect_left(stamps, start) - 1)]
        last = samples[min(len(samples) - 1, bisect.bisect_left(stamps, end))]
        elapsed_s = max(last[0] - first[0], 1e-6)
        return (last[1] - first[1]) / elapsed_s, (last[2] - first[2]) / elapsed_s

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(5)
