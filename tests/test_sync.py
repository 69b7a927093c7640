"""The sync engine against the sandbox: rows, bytes on disk and the sandbox's request log."""

import errno
import hashlib
import os
import signal
import threading
import time

import pytest
from click.testing import CliRunner

from ratdcs_catalog import transfer
from ratdcs_catalog.errors import DiskSpaceError
from ratdcs_catalog.manifest import Manifest, open_manifest
from ratdcs_catalog.sandbox import Fault
from ratdcs_catalog.sync import pipeline, space
from ratdcs_catalog.verify import verify_file


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
        ("ignore_range", {}, "range_ignored"), ("no_content_length", {}, None), ("slow", {"bytes_per_second": 400000}, None),
        ("stall", {"stall_seconds": 1.0}, "stall"), ("html_200", {}, "html_body"),
        ("redirect_loop", {}, "redirect_loop")]


@pytest.mark.parametrize("kind,params,named", ONCE, ids=[k for k, _, _ in ONCE])
def test_fault_once_ends_done_and_verified(sync_env, kind, params, named):
    if kind == "stall":
        sync_env.configure(**{"download.timeout_seconds": 0.4})
    products = sync_env.kepler_products(4)
    sync_env.plan(products)
    if kind == "ignore_range":  # only a resumed request carries a Range to ignore: cut the first body
        sync_env.sandbox.add_fault(Fault("reset", pattern=products[1].filename, count=1, cut_at=0.5))
    sync_env.sandbox.add_fault(Fault(kind, pattern=products[1].filename, count=1, **params))
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed) == (4, 0)
    assert_all_verified(sync_env, sync_env.rows())
    kinds = [t["error_kind"] for t in sync_env.transfers() if t["rel_path"].endswith(products[1].filename)]
    if named:
        assert named in kinds
    if kind == "ignore_range":  # the resume asked for a Range, got 200 with the whole file, started over
        sent = [(r.status, r.range_header) for r in sync_env.file_requests() if r.query.endswith(products[1].filename)]
        assert sent[0][1] is None and sent[1][0] == 200 and sent[1][1] is not None and len(sent) == 2
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
    monkeypatch.setattr(space, "free_bytes", lambda path: 1000)
    with pytest.raises(DiskSpaceError, match=r"not enough free space in .*: the selected files need .* plus a "
                                             r"margin of .*, and 1.00 KB are free; nothing was downloaded") as info:
        sync_env.sync()
    assert "--force" in info.value.hint
    assert sync_env.file_requests() == []
    assert {r["state"] for r in sync_env.rows().values()} == {"pending"}
    # --force starts anyway, but still keeps a few MB so the manifest can record a stop.
    monkeypatch.setattr(space, "free_bytes", lambda path: 10_000_000)
    with pytest.raises(DiskSpaceError):
        sync_env.sync()
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
    assert next(iter(sync_env.rows().values()))["last_error"].endswith(
        "row marked failed, any partial file is kept in temp/ for resuming - run `ratdcs sync --retry-failed` "
        "to try again")
    assert sync_env.sync(retry_failed=True).files_failed == 1
    assert sync_env.sync(retry_failed=True).selected_files == 0
    row = next(iter(sync_env.rows().values()))
    assert row["attempts"] == 2
    # What the last failure says to do must work: --retry-failed no longer takes this row.
    assert row["last_error"].endswith("it has used its 2 attempts (download.max_attempts): `ratdcs retry` gives "
                                      "them back, then run `ratdcs sync`")


def test_noop_sync_over_10000_done_rows_is_one_count(sync_env):
    from ratdcs_catalog.records import PlannedFile

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
    assert "1 failed: 1 html_body; `ratdcs report failed` lists them." in result.output
    assert f"  html_body: 1, e.g. kepler/{products[0].target_id}/{products[0].filename}: " in result.output
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
    monkeypatch.setattr(space, "free_bytes", lambda path: 10)
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


# ---- review findings: adoption, warn policy, full disk, leases, attempts --------------------------


def rel_of(product, source="kepler"):
    return f"{source}/{product.target_id}/{product.filename}"


def flip_byte(path, at):
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_changed_file_is_not_adopted_back_when_fits_checksums_are_off(sync_env):
    # fits_checksum off: only the sha256 recorded at download can tell the flipped byte.
    sync_env.configure(**{"verify.fits_checksum": "off"})
    products = sync_env.kepler_products(2)
    sync_env.plan(products)
    assert sync_env.sync().files_done == 2
    rel = rel_of(products[0])
    path = sync_env.data_dir / rel
    flip_byte(path, path.stat().st_size - 100)  # inside the data: the file still opens
    damaged = path.read_bytes()
    with open_manifest(sync_env.db) as m:  # what `ratdcs verify --deep` does with it
        fid = m.query("SELECT file_id FROM files WHERE rel_path = ?", (rel,))[0][0]
        m.requeue_files({fid: ("sha256_changed_on_disk", f"{rel} changed on disk")})
    sync_env.sandbox.clear_requests()
    summary = sync_env.sync()
    assert (summary.files_adopted, summary.files_done) == (0, 1)
    row = sync_env.rows()[rel]
    assert path.read_bytes() == sync_env.body(rel)
    assert row["observed_sha256"] == hashlib.sha256(sync_env.body(rel)).hexdigest()
    assert (sync_env.data_dir / row["quarantine_path"]).read_bytes() == damaged
    assert row["quarantine_path"] == f"quarantine/{rel}"
    log = [(t["outcome"], t["error_kind"]) for t in sync_env.transfers() if t["rel_path"] == rel]
    assert log[-2:] == [("retry", "sha256_changed_on_disk"), ("done", None)]
    assert len(sync_env.file_requests()) == 1


def test_warn_policy_downloads_a_damaged_copy_once_more(sync_env):
    sync_env.configure(**{"verify.fits_checksum": "warn"})
    products = sync_env.kepler_products(2)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("flip_bytes", pattern=products[0].filename, count=1))
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed) == (2, 0)
    rows = sync_env.rows()
    assert_all_verified(sync_env, rows)  # the second, intact copy is the one in place
    row = rows[rel_of(products[0])]
    assert row["last_error_kind"] is None
    assert len([r for r in sync_env.file_requests() if r.query.endswith(products[0].filename)]) == 2
    assert (sync_env.data_dir / "quarantine" / rel_of(products[0])).exists()  # the damaged first copy
    kinds = [t["error_kind"] for t in sync_env.transfers() if t["rel_path"] == rel_of(products[0])]
    assert kinds == ["fits_checksum_warning", None]


def test_warn_policy_keeps_a_file_whose_cards_are_stale_at_the_archive_and_records_it(sync_env, caplog):
    # The same flipped bytes on every request: the archive's own copy does not match its cards.
    sync_env.configure(**{"verify.fits_checksum": "warn"})
    products = sync_env.kepler_products(2)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("flip_bytes", pattern=products[0].filename))
    with caplog.at_level("WARNING", logger="ratdcs.sync"):
        summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed, summary.exit_code) == (2, 0, 0)
    rel = rel_of(products[0])
    row = sync_env.rows()[rel]
    assert (row["state"], row["verify_level"], row["last_error_kind"]) == ("done", "fits", "fits_checksum_warning")
    assert "do not verify" in row["last_error"] and "a second download gave the same bytes" in row["last_error"]
    assert row["observed_sha256"] == hashlib.sha256((sync_env.data_dir / rel).read_bytes()).hexdigest()
    assert len([r for r in sync_env.file_requests() if r.query.endswith(products[0].filename)]) == 2
    assert not (sync_env.data_dir / "quarantine" / rel).exists()  # identical to the placed file: not kept twice
    assert any("stale cards" in r.getMessage() for r in caplog.records)


def test_manifest_full_stops_the_run_and_releases_the_rows(sync_env, monkeypatch):
    import sqlite3

    from ratdcs_catalog.manifest import Manifest

    products = sync_env.kepler_products(6)
    sync_env.plan(products)

    def full(self, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Manifest, "record_outcomes", full)
    summary = sync_env.sync(workers=2)
    assert (summary.stopped_by, summary.exit_code) == ("disk_full", 1)
    rows = sync_env.rows()
    assert {r["state"] for r in rows.values()} == {"pending"}
    assert all(r["lease_owner"] is None and r["attempts"] == 0 for r in rows.values())
    with open_manifest(sync_env.db) as m:
        s = m.query("SELECT * FROM syncs")[0]
    assert s["finished_at"] is not None and s["stopped_by"] == "disk_full"
    placed = sync_env.files_on_disk()
    assert placed  # verified and renamed before the manifest refused the batch
    monkeypatch.undo()
    sync_env.sandbox.clear_requests()
    again = sync_env.sync()
    assert (again.files_adopted, again.files_done, again.exit_code) == (len(placed), 6 - len(placed), 0)
    assert len(sync_env.file_requests()) == 6 - len(placed)
    assert_all_verified(sync_env, sync_env.rows())


def test_run_stops_when_free_space_falls_below_the_margin(sync_env, monkeypatch):
    products = sync_env.kepler_products(8)
    sync_env.plan(products)
    free = [10**12]
    monkeypatch.setattr(space, "free_bytes", lambda path: free[0])
    monkeypatch.setattr(space.SpaceWatch, "INTERVAL_SECONDS", 0.0)
    real_write = transfer._write_chunk

    def write(fh, chunk):  # another program fills the disk while the second file arrives
        if products[1].filename in fh.name:
            free[0] = 1000
        real_write(fh, chunk)

    monkeypatch.setattr(transfer, "_write_chunk", write)
    summary = sync_env.sync(workers=1)
    assert (summary.stopped_by, summary.exit_code) == ("disk_full", 1)
    rows = sync_env.rows()
    assert summary.files_done <= 2 and sum(r["state"] == "pending" for r in rows.values()) >= 6
    assert all(r["lease_owner"] is None for r in rows.values())
    assert len(sync_env.file_requests()) <= 2
    assert_no_bad_file_outside_quarantine(sync_env)


def test_nothing_to_do_says_when_another_sync_holds_the_rows(sync_env):
    from ratdcs_catalog.cli import cli

    products = sync_env.kepler_products(4)
    sync_env.plan(products)
    with open_manifest(sync_env.db) as m:
        m.claim_batch("otherhost:4242:abcdef", 3, 600)  # a live sync (or one killed a moment ago)
        m.claim_batch("otherhost:4343:fedcba", 1, -1)  # a dead sync whose lease has expired
    dry = sync_env.sync(dry_run=True)
    assert dry.selected_files == 1  # the expired lease was taken back first
    summary = sync_env.sync()
    assert (summary.files_done, summary.busy_files) == (1, 0)
    sync_env.sandbox.clear_requests()
    result = CliRunner().invoke(cli, ["--config", str(sync_env.config_path), "sync"])
    assert result.exit_code == 1, result.output
    until = next(r["lease_expires_at"] for r in sync_env.rows().values() if r["state"] == "downloading")
    assert result.output.startswith(f"3 files are being downloaded by another sync (lease until {until}).")
    assert "Nothing to do" not in result.output and sync_env.file_requests() == []


def test_rows_of_a_dead_sync_on_this_machine_come_back_at_once(sync_env):
    import socket
    import subprocess

    products = sync_env.kepler_products(4)
    sync_env.plan(products)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer exists: a sync killed with -9
    host = socket.gethostname()
    with open_manifest(sync_env.db) as m:
        m.claim_batch(f"{host}:{gone.pid}:abcdef", 2, 600)
        m.claim_batch(f"{host}:{os.getppid()}:fedcba", 1, 600)  # a live process on this machine
    summary = sync_env.sync()
    assert summary.files_done == 3  # the dead sync's two rows did not wait for their lease
    states = sorted((r["state"], r["lease_owner"]) for r in sync_env.rows().values())
    assert states == [("done", None)] * 3 + [("downloading", f"{host}:{os.getppid()}:fedcba")]


def test_a_part_file_locked_by_another_process_is_left_to_it(sync_env):
    import fcntl

    products = sync_env.kepler_products(3)
    sync_env.plan(products)
    rel = rel_of(products[1])
    part = sync_env.data_dir / "temp" / (rel + ".part")
    part.parent.mkdir(parents=True)
    with open(part, "wb") as held:  # a sync whose lease expired while it was stopped, still writing
        held.write(b"SIMPLE")
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        summary = sync_env.sync(workers=2)
    assert (summary.files_done, summary.busy_files, summary.exit_code) == (2, 1, 1)
    row = sync_env.rows()[rel]
    assert (row["state"], row["attempts"], row["lease_owner"]) == ("pending", 0, None)
    assert not any(r.query.endswith(products[1].filename) for r in sync_env.file_requests())
    assert part.read_bytes() == b"SIMPLE"  # not a byte written by us
    assert sync_env.sync().files_done == 1
    assert_all_verified(sync_env, sync_env.rows())


def test_a_lost_lease_abandons_the_transfer_without_placing_it(sync_env, monkeypatch):
    from ratdcs_catalog.manifest import Manifest

    product = max(sync_env.kepler_products(14), key=lambda p: p.size)
    sync_env.plan([product])
    sync_env.configure(**{"download.lease_seconds": 1.0})
    sync_env.sandbox.add_fault(Fault("slow", pattern=product.filename, bytes_per_second=product.size // 2))
    monkeypatch.setattr(Manifest, "renew_leases", lambda self, owner, ids, seconds: set())  # taken over
    summary = sync_env.sync(workers=1)
    rel = rel_of(product)
    assert (summary.files_done, summary.files_failed) == (0, 0)
    assert not (sync_env.data_dir / rel).exists()
    assert (sync_env.data_dir / "temp" / (rel + ".part")).stat().st_size < product.size
    assert all(t["error_kind"] != "internal_error" for t in sync_env.transfers())


def test_sync_with_a_mistyped_db_creates_nothing(sync_env, tmp_path):
    from ratdcs_catalog.cli import cli

    wrong = tmp_path / "typo" / "manifest.sqlite"
    result = CliRunner().invoke(cli, ["--config", str(sync_env.config_path), "--db", str(wrong), "sync"])
    assert result.exit_code == 2, result.output
    assert f"Error: no manifest at {wrong}" in result.output
    assert not wrong.exists() and not wrong.parent.exists()


def test_mast_token_from_dotenv_reaches_the_session_only(sync_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MAST_API_TOKEN=tok-from-dotenv-123\n")
    worker = pipeline.FilePipeline(sync_env.config, sync_env.data_dir, threading.Event(), None)
    client = worker.make_fetcher(lambda n: None).client
    mast_host, port = sync_env.sandbox.endpoints()["mast_download"].split("/")[2].split(":")
    assert worker.policy.mast_token == "tok-from-dotenv-123" and client.policy is worker.policy
    assert client.policy.sends_token_to(mast_host, "http", int(port))
    assert not client.policy.sends_token_to("cloud.example") and not client.policy.sends_token_to(mast_host, "http", 1)
    monkeypatch.setenv("MAST_API_TOKEN", "tok-from-environment")  # the environment wins, as for settings
    assert pipeline.FilePipeline(sync_env.config, sync_env.data_dir, threading.Event(), None).policy.mast_token \
        == "tok-from-environment"


@pytest.fixture
def small_filesystem(sync_env):
    """The data directory (manifest included, the default layout) on a 1 MB tmpfs."""
    import subprocess

    sync_env.data_dir.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(sync_env.data_dir)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs to fill for real (needs root): {mounted.stderr.strip()}")
    yield sync_env.data_dir
    subprocess.run(["umount", "-l", str(sync_env.data_dir)], check=False)


def test_a_really_full_disk_with_the_manifest_on_it_stops_cleanly(sync_env, small_filesystem):
    import subprocess

    products = sync_env.kepler_products(30)
    sync_env.plan(products)
    assert sum(p.size for p in products) > 1_000_000
    sync_env.configure(**{"download.lease_seconds": 1.0, "download.free_space_margin_bytes": 300_000})
    # The margin keeps headroom: the run stops before the disk is full, and says so in the manifest.
    first = sync_env.sync(force=True, workers=2)
    assert (first.stopped_by, first.exit_code) == ("disk_full", 1) and first.files_done > 0
    rows = sync_env.rows()
    assert {r["state"] for r in rows.values()} == {"done", "pending"}
    assert all(r["lease_owner"] is None for r in rows.values())
    with open_manifest(sync_env.db) as m:
        assert [(s["stopped_by"], s["finished_at"] is not None) for s in m.query("SELECT * FROM syncs")] == [
            ("disk_full", True)]
    # No margin at all: the disk really fills (ENOSPC in a .part, SQLITE_FULL in the manifest).
    sync_env.configure(**{"download.free_space_margin_bytes": 0})
    second = sync_env.sync(force=True, workers=2)  # no "internal error: OperationalError" escapes
    assert (second.stopped_by, second.exit_code) == ("disk_full", 1)
    with open_manifest(sync_env.db) as m:
        owner = m.query("SELECT owner FROM syncs ORDER BY sync_id DESC LIMIT 1")[0][0]
    leased = {r["lease_owner"] for r in sync_env.rows().values() if r["state"] == "downloading"}
    assert leased <= {owner}  # at worst this run's own leases, which the full manifest kept; they expire
    subprocess.run(["mount", "-o", "remount,size=8M", str(small_filesystem)], check=True)  # space freed
    time.sleep(1.1)  # leases the full manifest could not release run out
    last = sync_env.sync()
    assert last.exit_code == 0, last.failures
    assert_all_verified(sync_env, sync_env.rows())
    assert sorted(sync_env.files_on_disk()) == sorted(sync_env.rows())


def test_a_dangling_symlink_in_place_of_the_part_file_raises_instead_of_spinning(tmp_path):
    from ratdcs_catalog.paths import LinkRefusedError

    temp = tmp_path / "temp" / "ztf" / "f.fits.part"
    temp.parent.mkdir(parents=True)
    temp.symlink_to(tmp_path / "gone" / "elsewhere.part")
    started = time.monotonic()
    with pytest.raises(LinkRefusedError):  # refused, not followed (issue 20); it used to be FileNotFoundError
        with pipeline._part_lock(temp):
            pass
    assert time.monotonic() - started < 1
    assert not (tmp_path / "gone").exists()


def test_a_place_that_cannot_be_written_fails_that_file_with_a_plain_reason(sync_env, caplog):
    products = sync_env.kepler_products(2)
    sync_env.plan(products)
    blocked = f"kepler/{products[0].target_id}/{products[0].filename}"
    (sync_env.data_dir / blocked / "something-of-the-user").mkdir(parents=True)  # a directory in the way
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed, summary.exit_code) == (1, 1, 1)
    row = sync_env.rows()[blocked]
    assert (row["state"], row["last_error_kind"]) == ("failed", "local_error")
    assert row["last_error"] == (f"{sync_env.data_dir / blocked}: Is a directory - fix that place in the data "
                                 "directory, then run `ratdcs sync --retry-failed` to try again")
    assert (sync_env.data_dir / blocked / "something-of-the-user").is_dir()  # nothing of the user's is touched
    assert not [r for r in caplog.records if r.exc_info and r.levelname != "DEBUG"]  # no traceback shown


def test_a_ca_bundle_variable_naming_nothing_is_refused_before_any_request(sync_env, monkeypatch):
    from ratdcs_catalog.cli import cli

    sync_env.plan(sync_env.kepler_products(2))
    sync_env.sandbox.clear_requests()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/institute.pem")
    result = CliRunner().invoke(cli, ["--config", str(sync_env.config_path), "sync"])
    assert result.exit_code == 2
    assert "Error: environment $REQUESTS_CA_BUNDLE names /nonexistent/institute.pem, which does not exist" \
        in result.output
    assert sync_env.file_requests() == [] and {r["state"] for r in sync_env.rows().values()} == {"pending"}


def test_max_bytes_says_how_many_files_it_could_not_count(sync_env):
    from ratdcs_catalog.cli import cli

    u = sync_env.sandbox.universe
    rows = u.ztf_rows([600], 0, 3e6, ["zg"], [1], [1])[:2]
    sync_env.plan([u.ztf_product(r) for r in rows], source="ztf", kind="ztf_sciimg", sizes=False)
    base = ["--config", str(sync_env.config_path), "sync", "--max-bytes", "1KB"]
    note = ("Note: 2 of the selected files have no known size; --max-bytes counted them as 0 bytes "
            "(plan ZTF with --probe-sizes to learn their sizes).")
    dry = CliRunner().invoke(cli, base + ["--dry-run"])
    assert dry.exit_code == 0 and note in dry.output.splitlines(), dry.output
    assert note not in CliRunner().invoke(cli, base[:-2] + ["--dry-run"]).output  # no cap, nothing to say


def test_rows_planned_while_a_sync_runs_are_counted_in_its_total(sync_env, monkeypatch):
    products = sync_env.kepler_products(4)
    sync_env.plan(products[:2])
    real_claim = Manifest.claim_batch
    planned_more = []

    def claim_then_plan(self, *args, **kwargs):  # a `ratdcs plan` that lands between two claims
        rows = real_claim(self, *args, **kwargs)
        if not planned_more:
            planned_more.append(sync_env.plan(products[2:]))
        return rows

    monkeypatch.setattr(Manifest, "claim_batch", claim_then_plan)
    summary = sync_env.sync()
    assert (summary.files_done, summary.selected_files) == (4, 4)  # not "4 of 2 files"



def test_a_full_disk_outside_a_transfer_stops_the_run_instead_of_failing_files(sync_env, monkeypatch):
    products = sync_env.kepler_products(3)
    sync_env.plan(products)

    def no_space(temp, dest):  # the rename's directory entry is what finds the disk full
        raise OSError(errno.ENOSPC, "No space left on device", str(dest))

    monkeypatch.setattr(pipeline, "_place", no_space)
    summary = sync_env.sync(workers=1)
    assert (summary.files_done, summary.files_failed, summary.stopped_by) == (0, 0, "disk_full")
    rows = sync_env.rows().values()
    assert {r["state"] for r in rows} == {"pending"} and all(r["attempts"] == 0 for r in rows)


def test_nothing_to_do_mentions_the_failed_files_still_waiting(sync_env):
    from ratdcs_catalog.cli import cli

    products = sync_env.kepler_products(2)
    sync_env.plan(products)
    sync_env.configure(**{"download.max_retries": 0})
    sync_env.sandbox.add_fault(Fault("502", pattern=products[0].filename))
    assert sync_env.sync().files_failed == 1
    result = CliRunner().invoke(cli, ["--config", str(sync_env.config_path), "sync"])
    assert (result.exit_code, result.output.strip()) == (
        0, "Nothing to do: no pending files match; 1 failed files wait for `ratdcs sync --retry-failed` (while "
           "attempts are left) or `ratdcs retry` (`ratdcs report failed` says why they failed).")


def test_a_max_bytes_below_the_first_file_says_so(sync_env):
    from ratdcs_catalog.cli import cli

    sync_env.plan(sync_env.kepler_products(2))
    result = CliRunner().invoke(cli, ["--config", str(sync_env.config_path), "sync", "--max-bytes", "1KB"])
    assert (result.exit_code, result.output.strip()) == (
        0, "Nothing to do within --max-bytes: the next pending file alone is larger (2 pending files match "
           "without the cap).")
    assert sync_env.file_requests() == []
