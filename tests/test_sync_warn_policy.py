"""verify.fits_checksum = warn keeps a file only when the same bytes come twice."""

import hashlib

from ratdcs_catalog.sandbox import Fault


def rel_of(product):
    return f"kepler/{product.target_id}/{product.filename}"


def test_warn_fails_a_file_whose_two_copies_are_damaged_differently(sync_env):
    sync_env.configure(**{"verify.fits_checksum": "warn"})
    products = sync_env.kepler_products(3)
    sync_env.plan(products)
    damaged = products[0].filename
    sync_env.sandbox.add_fault(Fault("flip_bytes", pattern=damaged, count=1, n_bytes=4))
    sync_env.sandbox.add_fault(Fault("flip_bytes", pattern=damaged, n_bytes=2))  # the second copy: other bytes
    summary = sync_env.sync(workers=1)
    assert (summary.files_done, summary.files_failed) == (2, 1)
    rows = sync_env.rows()
    row = rows[rel_of(products[0])]
    assert (row["state"], row["last_error_kind"]) == ("failed", "fits_checksum")
    assert "a second download gave different bytes, so neither copy is known to be the archive's" in row["last_error"]
    assert not (sync_env.data_dir / rel_of(products[0])).exists()
    assert (sync_env.data_dir / "quarantine" / rel_of(products[0])).exists()
    assert (sync_env.data_dir / "quarantine" / (rel_of(products[0]) + ".1")).exists()
    # No done row holds bytes other than the archive's.
    for rel, r in rows.items():
        if r["state"] == "done":
            assert (sync_env.data_dir / rel).read_bytes() == sync_env.body(rel)
            assert r["observed_sha256"] == hashlib.sha256(sync_env.body(rel)).hexdigest()


def test_deep_verify_lists_files_kept_with_a_warning_apart(sync_env):
    import ratdcs_catalog as rc

    sync_env.configure(**{"verify.fits_checksum": "warn"})
    products = sync_env.kepler_products(2)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("flip_bytes", pattern=products[0].filename))  # the archive's own stale cards
    assert sync_env.sync().files_done == 2
    summary = rc.verify(config=sync_env.config, deep=True)
    assert summary.intact and summary.checked == 2
    assert [(w.rel_path, w.error_kind) for w in summary.warnings] == [(rel_of(products[0]), "fits_checksum_warning")]
    assert "do not verify" in summary.warnings[0].error
    assert summary.as_dict()["accepted_with_warning"][0]["rel_path"] == rel_of(products[0])
