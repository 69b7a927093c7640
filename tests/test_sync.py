"""The sync engine against the sandbox: rows, bytes on disk and the sandbox's request log."""

import errno
import importlib
import hashlib
import os
import signal
import threading
import time

import pytest
from click.testing import CliRunner

from ratdcs_catalog import transfer
from ratdcs_catalog.errors import DiskSpaceError
from ratdcs_catalog.manifest import open_manifest
from ratdcs_catalog.sandbox import Fault
from ratdcs_catalog.verify import verify_file

sync_module = importlib.import_module("ratdcs_catalog.sync")


def assert_all_verified(env, rows):
    for rel, row in rows.items():
        assert row["state"] == "done", (rel, row["last_error"])
        path = env.data_dir / rel
        assert path.read_bytes() == env.body(rel)
        assert row["observed_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert row["verify_level"] == "fits_checksum"
        assert verify_file(path, product_kind=row["product_kind"], expected_size=row["expected_size_bytes"]).ok


def assert_no_bad_file_outside_quarantine(env):
    rows = env.rows()
    for rel in env.files_on_disk():
        row = rows[rel]
        assert row["state"] == "done", f"{rel} is on disk under its final name but its row is {row['state']}"


def test_clean_run_then_a_second_run_sends_nothing(sync_env):
    planned = sync_env.plan(sync_env.kepler_products(24))
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed, summary.stopped_by, summary.exit_code) == (24, 0, None, 0)
    assert summary.bytes_received == sum(f.expected_size_bytes for f in planned) == summary.selected_bytes
    rows = sync_env.rows()
    assert_all_verified(sync_env, rows)
    assert sorted(sync_env.files_on_disk()) == sorted(rows)
    assert len(sync_env.file_requests()) == 24
    assert not list((sync_env.data_dir / "temp").rglob("*.part"))
    sync_env.sandbox.clear_requests()
    again = sync_env.sync()
    assert (again.selected_files, again.files_done, again.exit_code) == (0, 0, 0)
    assert sync_env.file_requests() == []


def test_every_attempt_is_in_the_transfer_log_and_the_syncs_table(sync_env):
    sync_env.plan(sync_env.kepler_products(3))
    sync_env.sandbox.add_fault(Fault("500", pattern=r"_llc\.fits", count=1))
    summary = sync_env.sync(workers=1)
    transfers = sync_env.transfers()
    assert [t["outcome"] for t in transfers] == ["retry", "done", "done", "done"]
    assert transfers[0]["error_kind"] == "http_5xx" and transfers[0]["http_status"] == 500
    assert {t["sync_id"] for t in transfers} == {summary.sync_id}
    with open_manifest(sync_env.db) as m:
        s = m.query("SELECT * FROM syncs")[0]
    assert (s["files_done"], s["files_failed"], s["bytes_received"]) == (3, 0, summary.bytes_received)


# One file gets the fault once: it must end done and verified. The fault's name shows in the log.
ONCE = [("429", {"retry_after": 0.2}, "http_429"), ("503", {"retry_after": 0.2}, "http_503"),
        ("500", {}, "http_5xx"), ("502", {}, "http_5xx"), ("reset", {}, "connection_reset"),
        ("short_body", {}, "short_body"), ("flip_bytes", {}, "fits_checksum"),
        ("ignore_range", {}, None), ("no_content_length", {}, None), ("slow", {"bytes_per_second": 400000}, None),
        ("stall", {"stall_seconds": 1.0}, "stall"), ("html_200", {}, "html_body"),
        ("redirect_loop", {}, "redirect_loop")]


@pytest.mark.parametrize("kind,params,named", ONCE, ids=[k for k, _, _ in ONCE])
def test_fault_once_ends_done_and_verified(sync_env, kind, params, named):
    if kind == "stall":
        sync_env.configure(**{"download.timeout_seconds": 0.4})
    products = sync_env.kepler_products(4)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault(kind, pattern=products[1].filename, count=1, **params))
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed) == (4, 0)
    assert_all_verified(sync_env, sync_env.rows())
    kinds = [t["error_kind"] for t in sync_env.transfers() if t["rel_path"].endswith(products[1].filename)]
    if named:
        assert named in kinds
    if kind == "flip_bytes":  # the damaged copy is kept, in quarantine only
        assert (sync_env.data_dir / "quarantine" / f"kepler/{products[1].target_id}/{products[1].filename}").exists()
    assert_no_bad_file_outside_quarantine(sync_env)


# The fault on every request: the file ends failed with a reason naming the fault; the others are done.
ALWAYS = [("429", {"retry_after": 0.05}, "http_429"), ("503", {}, "http_503"), ("502", {}, "http_5xx"),
          ("reset", {}, "connection_reset"), ("short_body", {}, "short_body"),
          ("flip_bytes", {}, "fits_checksum"), ("html_200", {}, "html_body"),
          ("redirect_loop", {}, "redirect_loop"), ("stall", {"stall_seconds": 1.0}, "stall")]


@pytest.mark.parametrize("kind,params,named", ALWAYS, ids=[k for k, _, _ in ALWAYS])
def test_fault_every_time_ends_failed_with_its_name(sync_env, kind, params, named):
    sync_env.configure(**{"download.max_retries": 2, "download.timeout_seconds": 0.4 if kind == "stall" else 5})
    products = sync_env.kepler_products(3)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault(kind, pattern=products[0].filename, **params))
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed, summary.exit_code) == (2, 1, 1)
    row = sync_env.rows()[f"kepler/{products[0].target_id}/{products[0].filename}"]
    assert (row["state"], row["last_error_kind"]) == ("failed", named)
    assert row["last_error"] and summary.failures[0][1] == named
    assert_no_bad_file_outside_quarantine(sync_env)
    if kind == "flip_bytes":
        assert row["quarantine_path"] and (sync_env.data_dir / row["quarantine_path"]).exists()
        assert "moved to quarantine/" in row["last_error"]


def test_missing_light_curve_column_is_quarantined_without_a_refetch(sync_env):
    # A ZTF image planned as a light curve: structure is wrong every time, so one download only.
    u = sync_env.sandbox.universe
    product = u.ztf_product(u.ztf_rows([600], 0, 3e6, ["zg"], [1], [1])[0])
    sync_env.plan([product], source="ztf", kind="lc")
    summary = sync_env.sync()
    row = next(iter(sync_env.rows().values()))
    assert (summary.files_failed, row["last_error_kind"]) == (1, "fits_missing_hdu")
    assert len(sync_env.file_requests()) == 2  # fits_missing_hdu may be damage: one fresh copy, then give up
    assert (sync_env.data_dir / row["quarantine_path"]).exists() and sync_env.files_on_disk() == []


def test_ztf_image_without_a_planned_size_uses_content_length(sync_env):
    u = sync_env.sandbox.universe
    rows = u.ztf_rows([600], 0, 3e6, ["zg"], [1], [1])[:2]
    sync_env.plan([u.ztf_product(r) for r in rows], source="ztf", kind="ztf_sciimg", sizes=False)
    summary = sync_env.sync()
    assert (summary.files_done, summary.unknown_size_files) == (2, 2)
    assert {r["verify_level"] for r in sync_env.rows().values()} == {"fits_checksum"}


def test_interrupted_file_resumes_and_only_the_missing_bytes_are_sent(sync_env):
    product = max(sync_env.kepler_products(30), key=lambda p: p.size)
    sync_env.plan([product])
    rel = f"kepler/{product.target_id}/{product.filename}"
    sync_env.sandbox.add_fault(Fault("slow", pattern=product.filename, count=1, bytes_per_second=product.size))
    timer = threading.Timer(0.4, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    first = sync_env.sync(workers=1)
    timer.join()
    assert (first.stopped_by, first.files_released, first.exit_code) == ("signal", 1, 1)
    row = sync_env.rows()[rel]
    assert (row["state"], row["lease_owner"], row["attempts"]) == ("pending", None, 0)
    partial = sync_env.data_dir / "temp" / (rel + ".part")
    kept = partial.stat().st_size
    assert 0 < kept < product.size and not (sync_env.data_dir / rel).exists()
    sync_env.sandbox.clear_requests()
    second = sync_env.sync(workers=1)
    assert second.files_done == 1 and second.bytes_received == product.size - kept
    assert [(r.status, r.range_header, r.bytes_sent) for r in sync_env.file_requests()] == [
        (206, f"bytes={kept}-", product.size - kept)]
    assert_all_verified(sync_env, sync_env.rows())


def test_not_enough_disk_space_is_refused_before_any_transfer(sync_env, monkeypatch):
    sync_env.plan(sync_env.kepler_products(5))
    monkeypatch.setattr(sync_module, "free_bytes", lambda path: 1000)
    with pytest.raises(DiskSpaceError, match=r"not enough free space in .*: the selected files need .* plus a "
                                             r"margin of .*, and 1.00 KB are free; nothing was downloaded") as info:
        sync_env.sync()
    assert "--force" in info.value.hint
    assert sync_env.file_requests() == []
    assert {r["state"] for r in sync_env.rows().values()} == {"pending"}
    assert sync_env.sync(force=True).files_done == 5


def test_full_disk_mid_file_stops_cleanly(sync_env, monkeypatch):
    products = sync_env.kepler_products(6)
    sync_env.plan(products)
    victim = products[2].filename
    real_write = transfer._write_chunk

    def write(fh, chunk):
        if victim in fh.name and fh.tell() >= 4096:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fh, chunk)

    monkeypatch.setattr(transfer, "_write_chunk", write)
    sync_env.configure(**{"download.chunk_size": 4096})
    summary = sync_env.sync(workers=1)
    assert (summary.stopped_by, summary.files_failed, summary.exit_code) == ("disk_full", 0, 1)
    rows = sync_env.rows()
    assert {r["state"] for r in rows.values()} <= {"done", "pending"}
    assert all(r["lease_owner"] is None for r in rows.values())
    victim_row = next(r for rel, r in rows.items() if rel.endswith(victim))
    assert (victim_row["state"], victim_row["last_error_kind"]) == ("pending", "disk_full")
    assert (sync_env.data_dir / "temp" / (victim_row["rel_path"] + ".part")).stat().st_size == 4096
    assert_no_bad_file_outside_quarantine(sync_env)
    monkeypatch.setattr(transfer, "_write_chunk", real_write)
    assert sync_env.sync().exit_code == 0
    assert_all_verified(sync_env, sync_env.rows())


def test_a_file_already_in_place_is_adopted_without_a_request(sync_env):
    products = sync_env.kepler_products(3)
    sync_env.plan(products)
    rel = f"kepler/{products[0].target_id}/{products[0].filename}"
    (sync_env.data_dir / rel).parent.mkdir(parents=True)
    (sync_env.data_dir / rel).write_bytes(sync_env.body(rel))
    bad = f"kepler/{products[1].target_id}/{products[1].filename}"
    (sync_env.data_dir / bad).write_bytes(b"SIMPLE  = T  truncated leftover of another tool")
    sync_env.sandbox.clear_requests()
    summary = sync_env.sync()
    assert (summary.files_adopted, summary.files_done) == (1, 2)
    assert all(not r.query.endswith(products[0].filename) for r in sync_env.file_requests())
    assert len(sync_env.file_requests()) == 2
    assert (sync_env.data_dir / "quarantine" / bad).read_bytes().endswith(b"leftover of another tool")
    assert_all_verified(sync_env, sync_env.rows())
    assert [t["outcome"] for t in sync_env.transfers() if t["rel_path"] == rel] == ["adopted"]


def test_selection_by_source_target_limit_and_max_bytes(sync_env):
    products = sync_env.kepler_products(20)  # two stars
    assert len({p.target_id for p in products}) == 2
    sync_env.plan(products)
    u = sync_env.sandbox.universe
    tess = u.tess_products(u.toi_hosts(["PC", "CP", "KP"])[0])[:2]
    sync_env.plan(tess, source="tess", kind="lc")
    assert sync_env.sync(sources=["tess"]).files_done == 2
    target = str(products[0].target_id)
    in_target = sum(str(p.target_id) == target for p in products)
    assert sync_env.sync(target_ids=[target]).files_done == in_target
    assert sync_env.sync(limit=2).files_done == 2
    pending = sorted((r["file_id"], r["expected_size_bytes"]) for r in sync_env.rows().values()
                     if r["state"] == "pending")
    budget = pending[0][1] + pending[1][1] + 1
    summary = sync_env.sync(max_bytes=budget)
    assert summary.files_done == 2 and summary.bytes_received <= budget


def test_dry_run_lists_files_and_bytes_and_sends_nothing(sync_env):
    planned = sync_env.plan(sync_env.kepler_products(5))
    summary = sync_env.sync(dry_run=True, limit=3)
    assert (summary.dry_run, summary.selected_files) == (True, 3)
    assert summary.selected_bytes == sum(f.expected_size_bytes for f in planned[:3])
    assert [p["rel_path"] for p in summary.planned] == [f.rel_path for f in planned[:3]]
    assert sync_env.file_requests() == [] and {r["state"] for r in sync_env.rows().values()} == {"pending"}


def test_retry_failed_takes_failed_rows_with_attempts_left(sync_env):
    products = sync_env.kepler_products(2)
    sync_env.plan(products)
    sync_env.configure(**{"download.max_retries": 0})
    sync_env.sandbox.add_fault(Fault("502", pattern=products[0].filename))
    assert sync_env.sync().files_failed == 1
    sync_env.sandbox.clear_faults()
    assert sync_env.sync().selected_files == 0  # failed rows wait for --retry-failed
    assert sync_env.sync(retry_failed=True).files_done == 1
    assert {r["state"] for r in sync_env.rows().values()} == {"done"}


def test_retry_failed_respects_max_attempts(sync_env):
    products = sync_env.kepler_products(1)
    sync_env.plan(products)
    sync_env.configure(**{"download.max_retries": 0, "download.max_attempts": 2})
    sync_env.sandbox.add_fault(Fault("502", pattern=products[0].filename))
    assert sync_env.sync().files_failed == 1
    assert sync_env.sync(retry_failed=True).files_failed == 1
    assert sync_env.sync(retry_failed=True).selected_files == 0
    assert next(iter(sync_env.rows().values()))["attempts"] == 2


def test_noop_sync_over_10000_done_rows_is_one_count(sync_env):
    from ratdcs_catalog.manifest import PlannedFile

    files = [PlannedFile("kepler", str(i % 50), "lc_long", f"http://x.invalid/{i}.fits", f"kepler/{i}.fits",
                         expected_size_bytes=100) for i in range(10_000)]
    with open_manifest(sync_env.db) as m, m.transaction():
        m.upsert_targets([{"source": "kepler", "target_id": str(i)} for i in range(50)], None)
        m.upsert_files(files, None)
        m.conn.execute("UPDATE files SET state = 'done'")
    started = time.perf_counter()
    summary = sync_env.sync()
    elapsed = time.perf_counter() - started
    assert (summary.selected_files, summary.exit_code) == (0, 0)
    assert sync_env.file_requests() == []
    assert elapsed < 1.0, f"a no-op sync took {elapsed:.2f} s"


def test_cli_sync_prints_the_summary_and_exits_by_outcome(sync_env):
    from ratdcs_catalog.cli import cli

    products = sync_env.kepler_products(3)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("html_200", pattern=products[0].filename))
    args = ["--config", str(sync_env.config_path), "sync", "--workers", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "Downloaded 2, adopted 0, failed 1 of 3 files" in result.output
    assert f"failed: kepler/{products[0].target_id}/{products[0].filename}: html_body: " in result.output
    log_text = (sync_env.data_dir / "data_download.log").read_text()
    assert "html_body" in log_text and products[1].filename in log_text
    sync_env.sandbox.clear_faults()
    retried = CliRunner().invoke(cli, args + ["--retry-failed"])
    assert retried.exit_code == 0 and "Downloaded 1, adopted 0, failed 0 of 1 files" in retried.output
    again = CliRunner().invoke(cli, args)
    assert (again.exit_code, again.output.strip()) == (
        0, "Nothing to do: no pending files match (run `ratdcs report` to see the manifest).")


def test_cli_dry_run_and_disk_refusal(sync_env, monkeypatch):
    from ratdcs_catalog.cli import cli

    sync_env.plan(sync_env.kepler_products(2))
    base = ["--config", str(sync_env.config_path), "sync"]
    dry = CliRunner().invoke(cli, base + ["--dry-run"])
    assert dry.exit_code == 0 and dry.output.startswith("Dry run: would fetch 2 files, ")
    monkeypatch.setattr(sync_module, "free_bytes", lambda path: 10)
    refused = CliRunner().invoke(cli, base)
    assert refused.exit_code == 1
    assert "Error: not enough free space" in refused.output and "--force" in refused.output


def test_a_long_transfer_keeps_its_lease_renewed(sync_env):
    product = max(sync_env.kepler_products(14), key=lambda p: p.size)
    sync_env.plan([product])
    sync_env.configure(**{"download.lease_seconds": 1.0})
    sync_env.sandbox.add_fault(Fault("slow", pattern=product.filename, bytes_per_second=product.size // 3))
    first = {}
    worker = threading.Thread(target=lambda: first.update(summary=sync_env.sync(workers=1)))
    worker.start()
    time.sleep(2.0)  # twice the lease: only renewal keeps the row from looking abandoned
    second = sync_env.sync(workers=1)
    worker.join()
    assert second.selected_files == 0
    assert first["summary"].files_done == 1
    assert len(sync_env.file_requests()) == 1


def test_redirected_downloads_and_repeated_quarantine(sync_env):
    products = sync_env.kepler_products(3)
    sync_env.plan(products)
    sync_env.sandbox.redirect_downloads = True  # MAST answers 302 to the cloud copy
    sync_env.configure(**{"download.max_retries": 0})
    sync_env.sandbox.add_fault(Fault("flip_bytes", pattern="/stpubdata/.*" + products[0].filename, count=4))
    first = sync_env.sync()
    assert (first.files_done, first.files_failed) == (2, 1)
    assert sync_env.sync(retry_failed=True).files_failed == 1
    rel = f"kepler/{products[0].target_id}/{products[0].filename}"
    kept = sorted(p.name for p in (sync_env.data_dir / "quarantine" / rel).parent.iterdir())
    assert kept == [products[0].filename, products[0].filename + ".1", products[0].filename + ".2",
                    products[0].filename + ".3"]  # every bad copy is kept, none overwritten
    assert sync_env.sync(retry_failed=True).files_done == 1
    assert any(r.status == 302 for r in sync_env.sandbox.requests)
    assert_all_verified(sync_env, sync_env.rows())


def test_a_symlinked_subdirectory_of_the_data_dir_is_followed(sync_env, tmp_path):
    """Users spread big datasets over disks by linking a subdirectory; files land behind the link."""
    every = sync_env.kepler_products(20)
    products = [every[0], every[-1]]
    assert products[0].target_id != products[1].target_id
    sync_env.plan(products)
    other_disk = tmp_path / "other-disk"
    other_disk.mkdir()
    (sync_env.data_dir / "kepler").mkdir(parents=True)
    (sync_env.data_dir / "kepler" / str(products[0].target_id)).symlink_to(other_disk)
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed) == (2, 0)
    assert [p.name for p in other_disk.iterdir()] == [products[0].filename]
    assert_all_verified(sync_env, sync_env.rows())
