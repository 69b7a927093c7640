"""The group commit (issue 15): a batch made durable, renamed, then marked done; and a kill in between."""

import os
import subprocess
import sys
import threading

from ratdcs_catalog.records import ClaimedFile
from ratdcs_catalog.sync.commit import EXIT_AFTER_DURABILITY_ENV, commit_batch
from ratdcs_catalog.verify import verify_file


def run_sync(env, extra_env=None):
    environ = dict(os.environ, **(extra_env or {}))
    return subprocess.run([sys.executable, "-m", "ratdcs_catalog", "--config", str(env.config_path), "-q", "sync",
                           "--workers", "4"], env=environ, capture_output=True, timeout=120)


def test_a_kill_between_the_durability_pass_and_the_renames_loses_nothing(sync_env):
    products = sync_env.kepler_products(12)
    sync_env.plan(products)
    killed = run_sync(sync_env, {EXIT_AFTER_DURABILITY_ENV: "137"})
    assert killed.returncode == 137, killed.stderr.decode()
    rows = sync_env.rows()
    # Killed after the first batch's flush, before any rename: no row is done, no file is under its
    # final name, and the batch's verified bytes wait, complete, in temp/ (other workers' transfers
    # were cut wherever they were).
    assert {r["state"] for r in rows.values()} == {"downloading"}
    assert sync_env.files_on_disk() == []
    sizes = {p.relative_to(sync_env.data_dir / "temp").as_posix()[:-len(".part")]: p.stat().st_size
             for p in (sync_env.data_dir / "temp").rglob("*.part")}
    complete = {rel for rel, size in sizes.items() if size == rows[rel]["expected_size_bytes"]}
    assert complete and all(size <= rows[rel]["expected_size_bytes"] for rel, size in sizes.items())
    requests_before = len(sync_env.file_requests())

    final = run_sync(sync_env)
    assert final.returncode == 0, final.stderr.decode()
    rows = sync_env.rows()
    assert {r["state"] for r in rows.values()} == {"done"}
    for rel, row in rows.items():  # every done row has its verified file
        assert (sync_env.data_dir / rel).read_bytes() == sync_env.body(rel)
        assert verify_file(sync_env.data_dir / rel, product_kind="lc_long", expected_size=row["expected_size_bytes"]).ok
    assert sorted(sync_env.files_on_disk()) == sorted(rows)
    assert not list((sync_env.data_dir / "temp").rglob("*.part"))
    # The complete .part files were finished without asking the archive again.
    fetched_again = {r.query.rsplit("/", 1)[-1] for r in sync_env.file_requests()[requests_before:]}
    assert not fetched_again & {rel.rsplit("/", 1)[-1] for rel in complete}


def test_a_batch_is_fetched_and_committed_without_a_manifest(sync_env):
    """What a Dask worker does (cluster_worker.run_batch): the pipeline on each row, then the
    group commit, with no manifest."""
    from ratdcs_catalog.sync.pipeline import FilePipeline

    products = sync_env.kepler_products(5)
    sync_env.plan(products)
    rows = [ClaimedFile.from_row(r) for r in sync_env.rows().values()]
    pipeline = FilePipeline(sync_env.config, sync_env.data_dir, threading.Event(), None)
    fetcher = pipeline.make_fetcher(lambda n: None)
    try:
        finished = commit_batch([pipeline.run(row, fetcher) for row in rows], on_error=pipeline.local_error)
    finally:
        fetcher.client.close()
    assert [f.outcome.file_id for f in finished] == [r.file_id for r in rows]
    assert {f.outcome.state for f in finished} == {"done"}
    assert all(f.staged is None and f.placed_dir is not None for f in finished)
    for row in rows:
        assert (sync_env.data_dir / row.rel_path).read_bytes() == sync_env.body(row.rel_path)
    assert {r["state"] for r in sync_env.rows().values()} == {"pending"}  # the manifest is the caller's


def test_a_full_disk_found_by_the_durability_pass_stops_the_run_with_nothing_placed(sync_env, monkeypatch):
    import errno

    sync_env.plan(sync_env.kepler_products(3))

    def no_space(fd):  # delayed allocation: the disk is found full when the data is flushed
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdatasync", no_space)
    summary = sync_env.sync(workers=1)
    assert (summary.files_done, summary.files_failed, summary.stopped_by) == (0, 0, "disk_full")
    rows = sync_env.rows().values()
    assert {r["state"] for r in rows} == {"pending"} and sync_env.files_on_disk() == []


def test_early_writeback_queues_a_staged_files_pages_and_never_fails_the_file(tmp_path):
    import sys

    from ratdcs_catalog.sync.writeback import _sync_file_range, start_writeback

    if sys.platform.startswith("linux"):
        assert _sync_file_range() is not None  # glibc and musl both have it
    path = tmp_path / "f.part"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    os.write(fd, b"SIMPLE  =" * 1000)
    start_writeback(fd)
    os.close(fd)
    start_writeback(fd)  # a closed descriptor: EBADF is only no head start, never an exception
    assert path.read_bytes() == b"SIMPLE  =" * 1000


def test_a_part_removed_after_its_check_goes_back_to_pending_and_the_next_sync_fetches_it(sync_env, monkeypatch):
    """A small file is checked in memory, so nothing reads its .part again before the rename:
    one removed by hand in between is an interruption (row pending, no attempt counted), not a
    failure, as one removed during the transfer is."""
    from ratdcs_catalog.sync import pipeline

    products = sync_env.kepler_products(3)
    sync_env.plan(products)
    victim = products[1].filename
    checked = pipeline.FilePipeline._verify_and_place

    def check_then_remove(self, row, temp, *args, **kwargs):
        finished = checked(self, row, temp, *args, **kwargs)
        if victim in row.rel_path and finished is not None and finished.outcome.state == "done":
            temp.unlink()
        return finished

    monkeypatch.setattr(pipeline.FilePipeline, "_verify_and_place", check_then_remove)
    summary = sync_env.sync(workers=1)
    assert (summary.files_done, summary.files_failed) == (2, 0)
    row = next(r for rel, r in sync_env.rows().items() if rel.endswith(victim))
    assert (row["state"], row["attempts"], row["last_error_kind"]) == ("pending", 0, None)
    monkeypatch.setattr(pipeline.FilePipeline, "_verify_and_place", checked)
    assert sync_env.sync().files_done == 1
    assert {r["state"] for r in sync_env.rows().values()} == {"done"}
