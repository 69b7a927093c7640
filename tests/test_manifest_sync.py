"""Manifest operations added for the sync engine: selection totals/rows and requeueing failed rows."""

from ratdcs_catalog.manifest import FileOutcome, PlannedFile, open_manifest


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
        assert [r["file_id"] for r in rows] == [r["file_id"] for r in claimed] == [1, 2]
        assert m.selection_totals() == (7, 500, 2)


def test_requeue_retryable_failed_keeps_attempts_and_respects_the_limit(tmp_path):
    with open_manifest(tmp_path / "m.sqlite") as m:
        fill(m, n=3)
        rows = m.claim_batch("me", 3, 60)
        m.record_outcomes("me", None, [FileOutcome(r["file_id"], "failed", error_kind="http_5xx", error="x")
                                       for r in rows])
        m.conn.execute("UPDATE files SET attempts = 5 WHERE file_id = 3")
        assert m.selection_totals(include_failed=True, max_attempts=5) == (2, 200, 0)
        assert m.requeue_retryable_failed(max_attempts=5, sources=["kepler"]) == 2
        states = {r["file_id"]: (r["state"], r["attempts"]) for r in m.query("SELECT * FROM files")}
        assert states == {1: ("pending", 1), 2: ("pending", 1), 3: ("failed", 5)}
