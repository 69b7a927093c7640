"""What runs on a Dask worker for `ratdcs sync --cluster`: a batch of claimed files through the
ordinary file pipeline (``pipeline.FilePipeline``: adopt, lock, fetch, verify, quarantine, stage)
and its group commit (``commit.commit_batch``: flush, rename, directory fsync).

A worker never opens the manifest (SQLite's locking does not hold across machines or on network
file systems): it gets plain ``ClaimedFile`` records and hands back ``Finished`` records (plain
dataclasses, picklable), which the coordinator writes. ``run_batch`` is the one entry point the
coordinator submits; ``write_probe`` is run once on every worker at start (``cluster.py`` checks
that each probe file appears in the coordinator's data directory).

Politeness across the cluster: the coordinator caps the batches in flight per host, and each batch
runs its files one after the other, so no more than ``download.per_host_connections`` requests
reach one host at once. A 429/503 with Retry-After seen here pauses the host in this process (the
pipeline's ``HostGate``) and is published in a Dask ``Variable``, which every worker reads before
its requests to that host (at most a tenth of a second old) and the coordinator before sending more.

One ``FilePipeline`` per sync serves all batches of a worker process, and each worker thread keeps
its fetcher (its kept-alive connections) from batch to batch.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit

from ..net.gates import HostGate, HostGates
from ..records import ClaimedFile, FileOutcome
from .pipeline import FilePipeline, Finished
from .commit import commit_batch
from .space import SpaceWatch, running_margin

__all__ = ["pause_variable_name", "run_batch", "stop_event_name", "write_probe"]

PROBE_PREFIX = ".ratdcs-cluster-probe-"
# How long a worker trusts the last pause it read from the scheduler: a tenth of a second (one
# round trip, about a millisecond, for a file transfer or several), so a pause holds for all at once.
PAUSE_READ_SECONDS = 0.1


def pause_variable_name(owner: str, host: str) -> str:
    """The Dask Variable holding the wall-clock time until which ``host`` is paused, for this sync."""
    return f"ratdcs-pause:{owner}:{host}"


def stop_event_name(owner: str) -> str:
    """The Dask Event the coordinator sets to stop this sync's batches between files."""
    return f"ratdcs-stop:{owner}"


def run_batch(config: dict, data_dir: str, owner: str, rows: Sequence[ClaimedFile], *,
              force: bool = False) -> list[Finished]:
    """Run ``rows`` (one archive host) through the file pipeline, one file after the other.

    Returns one ``Finished`` per row, in order; rows not started because the sync is stopping
    come back as pending. Nothing here writes the manifest.
    """
    pipeline = _pipeline_for(config, data_dir, owner, force)
    fetcher = _fetcher_for(pipeline)
    stopping = _StopSignal(owner)
    results = []
    for row in rows:
        if stopping.is_set() or pipeline.stop.is_set():  # the sync stops, or a batch here found the disk full
            results.append(Finished(FileOutcome(row.file_id, "pending"), row.rel_path))
            continue
        finished = pipeline.run(row, fetcher)
        if finished.stop_run:  # a full disk: the rest goes back too
            pipeline.stop.set()
        results.append(finished)
    # The group commit of this batch, here on the machine that wrote it (commit.py): one durability
    # pass, the renames, one fsync per directory; a done outcome goes back only for a placed file.
    return commit_batch(results, on_error=pipeline.local_error)


_pipelines: dict[str, tuple[str, FilePipeline]] = {}
_pipelines_lock = threading.Lock()
_this_thread = threading.local()


def _pipeline_for(config: dict, data_dir: str, owner: str, force: bool) -> FilePipeline:
    """One pipeline per sync in this worker process, shared by its batches and their threads: the
    network policy, TLS context and host gates are built once, not once a batch."""
    with _pipelines_lock:
        held = _pipelines.get("current")
        if held is None or held[0] != owner:  # a new sync: the last one's pipeline is dropped
            root = Path(data_dir)
            space = SpaceWatch(root, running_margin(config["download.free_space_margin_bytes"], force=force))
            pipeline = FilePipeline(config, root, threading.Event(), None, space)
            # Up to per_host_connections batches of one host run at once: each gets its share of the rate cap.
            rate = config["download.requests_per_second"]
            share = rate / config["download.per_host_connections"] if rate else None
            pipeline.gates = ClusterGates(config["download.per_host_connections"], share, owner=owner)
            held = _pipelines["current"] = (owner, pipeline)
        return held[1]


def _fetcher_for(pipeline: FilePipeline):
    """This worker thread's fetcher for ``pipeline``: its connections stay open from batch to batch."""
    held = getattr(_this_thread, "fetcher", None)
    if held is None or held[0] is not pipeline:
        if held is not None:
            held[1].client.close()
        # Bytes are counted by the coordinator, per file, when the batch comes back.
        _this_thread.fetcher = held = (pipeline, pipeline.make_fetcher(lambda n: None))
    return held[1]


def write_probe(data_dir: str, token: str) -> dict:
    """Write ``<data_dir>/temp/.ratdcs-cluster-probe-<token>-<worker>``; the coordinator reads it back.

    A data directory that is each machine's own disk (or a path not mounted on the workers)
    shows up as a probe the coordinator cannot find, or a write that fails here.
    """
    name = f"{PROBE_PREFIX}{token}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    text = f"{socket.gethostname()}:{os.getpid()}:{token}\n"
    path = Path(data_dir) / "temp" / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        return {"host": socket.gethostname(), "name": name, "text": text, "error": f"{type(exc).__name__}: {exc}"}
    return {"host": socket.gethostname(), "name": name, "text": text, "error": None}


class ClusterHostGate(HostGate):
    """A ``HostGate`` whose Retry-After pause is shared with every worker through a Dask Variable."""

    def __init__(self, variable_name: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._variable_name = variable_name
        self._read_at = float("-inf")

    def pause(self, seconds: float) -> None:
        super().pause(seconds)
        with contextlib.suppress(Exception):  # no scheduler reachable: the local pause still holds
            variable = _variable(self._variable_name)
            until = time.time() + seconds
            with contextlib.suppress(Exception):
                until = max(until, float(variable.get(timeout=1)))
            variable.set(until)

    def _wait_for_pause(self, stop) -> bool:
        now = self._clock()
        if now - self._read_at >= PAUSE_READ_SECONDS:
            self._read_at = now
            with contextlib.suppress(Exception):
                remaining = float(_variable(self._variable_name).get(timeout=1)) - time.time()
                if remaining > 0:
                    super().pause(remaining)
        return super()._wait_for_pause(stop)


class ClusterGates(HostGates):
    """One ``ClusterHostGate`` per host, for one batch."""

    def __init__(self, max_concurrent: int, requests_per_second: float | None, *, owner: str):
        super().__init__(max_concurrent, requests_per_second)
        self._make_for = lambda host: ClusterHostGate(pause_variable_name(owner, host), max_concurrent,
                                                      requests_per_second)

    def for_url(self, url: str) -> HostGate:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            if host not in self._gates:
                self._gates[host] = self._make_for(host)
            return self._gates[host]


def _variable(name: str):
    from distributed import Variable, get_client

    return Variable(name, client=get_client())


class _StopSignal:
    """The coordinator's stop Event, read at most every half second (one scheduler round trip)."""

    def __init__(self, owner: str):
        self.name, self.read_at, self.value = stop_event_name(owner), -1.0, False

    def is_set(self) -> bool:
        now = time.monotonic()
        if not self.value and now - self.read_at >= 0.5:
            self.read_at = now
            with contextlib.suppress(Exception):
                from distributed import Event, get_client

                self.value = Event(self.name, client=get_client()).is_set()
        return self.value
