"""What the executors that send batches of claimed rows elsewhere share (worker processes,
``processes.py``; Dask workers, ``cluster.py``): rows given back untried, rows whose lease was lost
while they waited, and a batch's results handed to the writer with the progress they carry.

Threads of this process (``run.WorkerPool``) count bytes and learn sizes as the bytes arrive; a
batch run elsewhere reports them when it comes back, here.
"""

from __future__ import annotations

import queue
from typing import Callable, Sequence

from ..records import ClaimedFile, FileOutcome
from .pipeline import Finished

__all__ = ["WORKER_LOST", "drop_if_lost", "given_back", "hand_over"]

# The error kind of rows whose worker died mid-batch: pending again, and not claimed again by this run.
WORKER_LOST = "worker_lost"


def given_back(row: ClaimedFile, *, error_kind: str | None = None, error: str | None = None) -> Finished:
    """A row handed back to the writer untried (or lost with its worker): pending again."""
    return Finished(FileOutcome(row.file_id, "pending", error_kind=error_kind, error=error), row.rel_path)


def drop_if_lost(item, finished: queue.Queue) -> bool:
    """True (and the row given back) when our lease went to another sync while the row waited here."""
    row, lost = item
    if lost.is_set():
        finished.put(given_back(row))
        return True
    return False


def hand_over(items: Sequence, results: Sequence[Finished], finished: queue.Queue,
              count_bytes: Callable[[int], None], learn_size: Callable[[int], None]) -> None:
    """A batch's results to the writer, in order, after its bytes and any size learned (a file planned
    without one, as a thread's fetcher tells it) reach the progress feed."""
    for (row, _), result in zip(items, results):
        if row.expected_size_bytes is None and result.outcome.observed_size_bytes:
            learn_size(result.outcome.observed_size_bytes)
        count_bytes(result.bytes_received)
        finished.put(result)
