"""Manifest operations added for the sync engine: selection totals/rows and requeueing failed rows."""

from ratdcs_catalog.manifest import open_manifest
from ratdcs_catalog.records import FileOutcome, PlannedFile


def fill(m, n=6, size=100, source="kepler"):
    files = [PlannedFile(source, str(i % 2), "lc_long", f"http://a.test/{source}/{i}", f"{source}/{i}.fits",
                         expected_size_bytes=None if i == n - 1 else size) for i in range(n)]
    with m.transaction():
        m.upsert_targets([{"source": source, "target_id": t} for t in ("0", "1")], None)
        m.upsert_files(files, None)


def test_selection_totals_match_what_claim_batch_takes(tmp_path):
    with open_manifest(tmp_path / "m.sqlite") as m:
        fill(m)
        fill(m, n=3, source="tess")
        assert m.selection_totals() == (9, 700, 2)
        assert m.selection_totals(sources=["tess"]) == (3, 200, 1)
        assert m.selection_totals(target_ids=["1"], sources=["kepler"]) == (3, 200, 1)
        assert m.selection_totals(limit=2) == (2, 200, 0)
        assert m.selection_totals(max_bytes=250) == (2, 200, 0)
        rows = m.selection_rows(max_bytes=250, limit=5)
        claimed = m.claim_batch("me", 5, 60, max_bytes=250)
        assert [r["file_id"] for r in rows] == [c.file_id for c in claimed] == [1, 2]
        assert m.selection_totals() == (7, 500, 2)


def test_requeue_retryable_failed_keeps_attempts_and_respects_the_limit(tmp_path):
    with open_manifest(tmp_path / "m.sqlite") as m:
        fill(m, n=3)
        rows = m.claim_batch("me", 3, 60)
        m.record_outcomes("me", None, [FileOutcome(r.file_id, "failed", error_kind="http_5xx", error="x")
                                       for r in rows])
        m.conn.execute("UPDATE files SET attempts = 5 WHERE file_id = 3")
        assert m.selection_totals(include_failed=True, max_attempts=5) == (2, 200, 0)
        assert m.requeue_retryable_failed(max_attempts=5, sources=["kepler"]) == 2
        states = {r["file_id"]: (r["state"], r["attempts"]) for r in m.query("SELECT * FROM files")}
        assert states == {1: ("pending", 1), 2: ("pending", 1), 3: ("failed", 5)}


def test_claims_ahead_that_never_start_cost_no_attempt(tmp_path):
    # kill -9 loops: rows claimed ahead and never started must not creep towards max_attempts.
    with open_manifest(tmp_path / "m.sqlite") as m:
        fill(m, n=4)
        rows = m.claim_batch("dead", 4, -1)  # claimed, then the process died (lease already expired)
        m.record_outcomes("dead", None, [FileOutcome(rows[0].file_id, "failed", error_kind="http_5xx", error="x")])
        assert m.reclaim_expired_leases() == 3
        rows = m.claim_batch("me", 4, 60)
        m.record_outcomes("me", None, [FileOutcome(rows[0].file_id, "done")])
        assert m.release_leases("me") == 2
        attempts = {r["file_id"]: (r["state"], r["attempts"]) for r in m.query("SELECT * FROM files")}
        assert attempts == {1: ("failed", 1), 2: ("done", 1), 3: ("pending", 0), 4: ("pending", 0)}


def test_an_interrupted_or_untried_row_is_no_attempt_but_a_full_disk_mid_transfer_is(tmp_path):
    from ratdcs_catalog.records import TransferRecord

    started = TransferRecord("2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "interrupted", error_kind="disk_full")
    with open_manifest(tmp_path / "m.sqlite") as m:
        fill(m, n=3)
        a, b, c = (r.file_id for r in m.claim_batch("me", 3, 60))
        m.record_outcomes("me", None, [FileOutcome(a, "pending"),  # handed back untried / stopped
                                       FileOutcome(b, "pending", error_kind="disk_full", error="x",
                                                   transfers=(started,)),
                                       FileOutcome(c, "pending", error_kind="disk_full", error="x")])  # not started
        assert [r["attempts"] for r in m.query("SELECT attempts FROM files ORDER BY file_id")] == [0, 1, 0]


def test_renew_leases_returns_the_rows_still_ours_and_claims_can_skip_rows(tmp_path):
    with open_manifest(tmp_path / "m.sqlite") as m:
        fill(m, n=4)
        ids = [r.file_id for r in m.claim_batch("me", 2, -1)]  # our lease ran out while we slept
        assert m.reclaim_expired_leases() == 2
        assert [r.file_id for r in m.claim_batch("other", 1, 60)] == ids[:1]
        assert m.renew_leases("me", ids, 60) == set()
        assert [r.file_id for r in m.claim_batch("me", 1, 60, exclude_ids=[ids[1]])] == [3]
        assert m.renew_leases("me", [3], 60) == {3}
        count, until = m.leased_rows()
        assert count == 2 and until > "2026"
        assert m.leased_rows(target_ids=["1"])[0] == 0  # file 1 (other) and 3 (me) are target "0"
