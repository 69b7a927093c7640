"""Issue 20: symbolic links under the data directory are never written through.

Each test plants a link where the adversarial probe found one followed, and checks what matters:
the bytes of the file outside the data directory before and after, the row, and the exact message.
The rule (paths.py): a link to a directory of the product tree is followed; a link at a file, or
at or below temp/ and quarantine/, is refused.
"""

import hashlib
import os
import subprocess

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.dataset import verify_dataset
from ratdcs_catalog.errors import DataDirError
from ratdcs_catalog.manifest import open_manifest
from ratdcs_catalog.sandbox import Fault
from ratdcs_catalog.sync import pipeline

RETRY = "then run `ratdcs sync --retry-failed` to try again"


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rel_of(product):
    return f"kepler/{product.target_id}/{product.filename}"


def refused(link, target, what):
    """The row's last_error for a link the pipeline refused."""
    return (f"{link} is a symbolic link to {target}; ratdcs never follows a link at {what}, so nothing was "
            f"written through it; row marked failed - remove the link (rm {link}; what it points to stays as "
            f"it is), {RETRY}")


@pytest.fixture
def outside(tmp_path):
    """A directory outside the data directory holding a file of the user's."""
    place = tmp_path / "outside"
    place.mkdir()
    (place / "precious.txt").write_bytes(b"the user's own file, not a FITS file\n" * 200)
    return place


def planned_one(sync_env):
    product = sync_env.kepler_products(1)[0]
    sync_env.plan([product])
    return product, rel_of(product)


def assert_failed_with(sync_env, rel, error):
    row = sync_env.rows()[rel]
    assert (row["state"], row["last_error_kind"], row["last_error"]) == ("failed", "symlink_refused", error)
    assert not os.path.lexists(sync_env.data_dir / rel)


def assert_done_after_removing(sync_env, link, rel):
    link.unlink()
    summary = sync_env.sync(retry_failed=True)
    assert (summary.files_done, summary.files_failed) == (1, 0)
    row = sync_env.rows()[rel]
    assert row["state"] == "done" and (sync_env.data_dir / rel).read_bytes() == sync_env.body(rel)
    assert row["observed_sha256"] == sha(sync_env.data_dir / rel)


# ---- temp/: the .part, its .validator, the directories below temp/ ----------------------------------


def test_a_link_at_the_part_file_is_refused_not_written_through_nor_resumed_from(sync_env, outside):
    product, rel = planned_one(sync_env)
    precious = outside / "precious.txt"
    before = sha(precious)
    part = sync_env.data_dir / "temp" / (rel + ".part")
    part.parent.mkdir(parents=True)
    part.symlink_to(precious)
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed, summary.exit_code) == (0, 1, 1)
    assert sha(precious) == before and part.is_symlink()
    assert sync_env.file_requests() == []  # no Range request resuming from the outside file's bytes
    assert_failed_with(sync_env, rel, refused(part, precious, "a partial download"))
    assert_done_after_removing(sync_env, part, rel)
    assert sha(precious) == before


def test_a_dangling_link_at_the_part_file_creates_nothing_outside(sync_env, outside):
    product, rel = planned_one(sync_env)
    target = outside / "made-by-ratdcs.fits"
    part = sync_env.data_dir / "temp" / (rel + ".part")
    part.parent.mkdir(parents=True)
    part.symlink_to(target)
    assert sync_env.sync().files_failed == 1
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert_failed_with(sync_env, rel, refused(part, target, "a partial download"))
    assert_done_after_removing(sync_env, part, rel)


def test_a_link_at_the_validator_sidecar_is_refused(sync_env, outside):
    product, rel = planned_one(sync_env)
    sync_env.configure(**{"download.chunk_size": 4096})  # a body over one chunk: its version is recorded
    precious = outside / "precious.txt"
    before = sha(precious)
    sidecar = sync_env.data_dir / "temp" / (rel + ".part.validator")
    sidecar.parent.mkdir(parents=True)
    sidecar.symlink_to(precious)
    assert sync_env.sync().files_failed == 1
    assert sha(precious) == before
    assert_failed_with(sync_env, rel, refused(sidecar, precious, "a partial download's .validator"))
    assert_done_after_removing(sync_env, sidecar, rel)


def test_a_link_made_inside_temp_is_refused(sync_env, outside):
    product, rel = planned_one(sync_env)
    linked = sync_env.data_dir / "temp" / "kepler"
    linked.parent.mkdir(parents=True)
    linked.symlink_to(outside)
    assert sync_env.sync().files_failed == 1
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert_failed_with(sync_env, rel, refused(linked, outside, "a directory of temp/ or quarantine/"))
    assert_done_after_removing(sync_env, linked, rel)


@pytest.mark.parametrize("own", ["temp", "quarantine"])
def test_temp_or_quarantine_itself_a_link_stops_the_sync_before_any_download(sync_env, outside, own):
    product, rel = planned_one(sync_env)
    link = sync_env.data_dir / own
    link.symlink_to(outside)
    with pytest.raises(DataDirError) as refusal:
        sync_env.sync()
    assert refusal.value.message == (f"{link} is a symbolic link to {outside}; ratdcs never follows a link at "
                                     f"ratdcs's own {own}/, so nothing was written through it")
    assert refusal.value.hint == (f"remove the link (rm {link}; what it points to stays as it is), then run "
                                  f"`ratdcs sync` again: ratdcs makes a new {own}/ itself. Nothing was downloaded")
    assert sync_env.file_requests() == [] and sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert sync_env.rows()[rel]["state"] == "pending"


# ---- the destination and quarantine/ ----------------------------------------------------------------


def test_a_link_at_the_destination_is_not_adopted_as_done(sync_env, outside):
    """The probe's link pointed at a good copy: adoption verified it and recorded the row done,
    its final path a link outside the data directory."""
    product, rel = planned_one(sync_env)
    copy = outside / product.filename
    copy.write_bytes(sync_env.body(rel))
    before = sha(copy)
    dest = sync_env.data_dir / rel
    dest.parent.mkdir(parents=True)
    dest.symlink_to(copy)
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_adopted, summary.files_failed) == (0, 0, 1)
    row = sync_env.rows()[rel]
    assert (row["state"], row["last_error_kind"]) == ("failed", "symlink_refused")
    assert row["last_error"] == refused(dest, copy, "a downloaded file's destination")
    assert dest.is_symlink() and sha(copy) == before and sync_env.file_requests() == []
    assert_done_after_removing(sync_env, dest, rel)
    assert sha(copy) == before


def test_the_rename_into_place_replaces_a_link_at_the_destination_never_writes_through_it(tmp_path, outside):
    precious = outside / "precious.txt"
    before = sha(precious)
    temp, dest = tmp_path / "x.fits.part", tmp_path / "x.fits"
    temp.write_bytes(b"verified bytes")
    dest.symlink_to(precious)  # planted between the adoption check and the rename
    pipeline._place(temp, dest)
    assert not dest.is_symlink() and dest.read_bytes() == b"verified bytes" and sha(precious) == before


def test_a_link_in_quarantine_does_not_take_a_bad_file_out_of_the_data_directory(sync_env, outside):
    product, rel = planned_one(sync_env)
    sync_env.sandbox.add_fault(Fault("flip_bytes", pattern=product.filename))  # every copy fails its FITS sums
    linked = sync_env.data_dir / "quarantine" / "kepler"
    linked.parent.mkdir(parents=True)
    linked.symlink_to(outside)
    assert sync_env.sync().files_failed == 1
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert_failed_with(sync_env, rel, refused(linked, outside, "a directory of temp/ or quarantine/"))
    assert (sync_env.data_dir / "temp" / (rel + ".part")).stat().st_size == product.size  # kept, inside


def test_verify_does_not_follow_a_link_that_replaced_a_done_file(sync_env, outside):
    products = sync_env.kepler_products(2)
    sync_env.plan(products)
    assert sync_env.sync().files_done == 2
    rel = rel_of(products[0])
    copy = outside / products[0].filename
    copy.write_bytes(sync_env.body(rel))  # same size and bytes: only the link gives it away
    dest = sync_env.data_dir / rel
    dest.unlink()
    dest.symlink_to(copy)
    with open_manifest(sync_env.db) as m:
        summary = verify_dataset(m, sync_env.data_dir)
    assert [(p.rel_path, p.error_kind, p.error) for p in summary.problems] == [
        (rel, "symlink_refused", f"{rel} is a symbolic link, not the file ratdcs placed (ratdcs never follows a "
                                 "link at a file): remove it; row back for download")]
    assert sync_env.rows()[rel]["state"] == "pending"


# ---- the rule's other half: a product folder the user linked is followed ---------------------------


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs (root only); yields a function mounting one at a path."""
    mounted = []

    def mount(path):
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16M", "tmpfs", str(path)],
                                capture_output=True, text=True)
        if result.returncode:
            pytest.skip(f"cannot mount a tmpfs for another file system (needs root): {result.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_product_folder_linked_to_another_file_system_is_filled_by_copy(sync_env, tmp_path, tmpfs):
    """Linking a folder to another disk was documented but failed every file after its download
    ("Invalid cross-device link"): the rename from temp/ cannot cross file systems."""
    products = sync_env.kepler_products(3)
    sync_env.plan(products)
    other_disk = tmpfs(tmp_path / "other-disk")
    (sync_env.data_dir / "kepler").mkdir(parents=True)
    (sync_env.data_dir / "kepler" / str(products[0].target_id)).symlink_to(other_disk)
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed) == (3, 0), summary.failures
    on_other_disk = [p for p in products if p.target_id == products[0].target_id]
    assert sorted(p.name for p in other_disk.iterdir()) == sorted(p.filename for p in on_other_disk)
    for rel, row in sync_env.rows().items():
        assert row["state"] == "done" and (sync_env.data_dir / rel).read_bytes() == sync_env.body(rel)
    assert [p for p in (sync_env.data_dir / "temp").rglob("*") if p.is_file()] == []


def test_temp_on_another_file_system_is_refused_before_any_download(sync_env, tmpfs):
    product, rel = planned_one(sync_env)
    temp = tmpfs(sync_env.data_dir / "temp")
    result = CliRunner().invoke(cli, ["--config", str(sync_env.config_path), "--db", str(sync_env.db), "sync"])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-2:] == [
        f"Error: {temp} is on another file system than the data directory {sync_env.data_dir} (a mount point?): "
        "files are renamed from temp/ into place, and a rename cannot cross file systems",
        "Hint: unmount it, or remove it so that ratdcs makes temp/ inside the data directory; to use another "
        "disk, point data_dir at it. Nothing was downloaded"]
    assert sync_env.file_requests() == [] and list(temp.iterdir()) == []
    assert sync_env.rows()[rel]["state"] == "pending"
