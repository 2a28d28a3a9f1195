"""Recent throughput per queue, from the finished counts seen at each look at the stats.

There is no time series in the store, so this process keeps one: each time the console
reads the queue stats (page load or live poll) it records, at most once per `interval`,
how many tasks each queue has finished (succeeded + dead + cancelled). The differences
between samples are the sparkline. Pruning lowers the counts; a negative step reads as 0.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime

from leaseq.domain import TaskState
from leaseq.ports import QueueStats

FINISHED = (TaskState.SUCCEEDED, TaskState.DEAD, TaskState.CANCELLED)


class ThroughputSampler:
    def __init__(self, *, interval: float = 5.0, keep: int = 60) -> None:
        self.interval = interval
        self._samples: deque[tuple[datetime, dict[str, int]]] = deque(maxlen=keep + 1)

    def record(self, stats: Iterable[QueueStats], now: datetime) -> None:
        if self._samples and (now - self._samples[-1][0]).total_seconds() < self.interval:
            return
        finished = {s.queue: sum(s.counts.get(state, 0) for state in FINISHED) for s in stats}
        self._samples.append((now, finished))

    def rates(self, queue: str) -> list[float]:
        """Finished tasks per second between consecutive samples, oldest first."""
        rates: list[float] = []
        for (then, before), (now, after) in _pairs(self._samples):
            seconds = max((now - then).total_seconds(), 1e-9)
            rates.append(max(_count(after, queue) - _count(before, queue), 0) / seconds)
        return rates


def _pairs(
    samples: deque[tuple[datetime, dict[str, int]]],
) -> list[tuple[tuple[datetime, dict[str, int]], tuple[datetime, dict[str, int]]]]:
    items = list(samples)
    return list(itertools.pairwise(items))


def _count(sample: Mapping[str, int], queue: str) -> int:
    return sample.get(queue, 0)


def sparkline_points(rates: list[float], *, width: float = 120, height: float = 24) -> str:
    """SVG polyline points for `rates`, scaled to the box (flat at the bottom when idle)."""
    if not rates:
        return ""
    if len(rates) == 1:
        rates = [rates[0], rates[0]]
    top = max(rates) or 1.0
    step = width / (len(rates) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 1 - (r / top) * (height - 2):.1f}" for i, r in enumerate(rates)
    )
