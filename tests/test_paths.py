"""Archive-provided names never escape the data directory."""

import os

import pytest

from ratdcs_catalog.errors import DataDirError, UnsafeProductError
from ratdcs_catalog.paths import check_relative_path, check_url, destination, ensure_data_dir, safe_filename


@pytest.mark.parametrize("name", ["../x.fits", "a/b.fits", "/etc/passwd", "x\x00.fits", "..", ".hidden", "", "a\\b",
                                  "x.fits\n  dir=..", "x\r.fits", "x\x7f.fits", "x\x85.fits", "x\u2028.fits",
                                  "x" * 236 + ".fits", "\u00e9" * 121, "x\u202egol.fits", "a\u2066b.fits"])
def test_unsafe_file_names_are_refused(name):
    with pytest.raises(UnsafeProductError, match="refused archive file name"):
        safe_filename(name)


@pytest.mark.parametrize("rel", ["../x.fits", "kepler/../../x", "/abs/x.fits", "kepler//x", "kepler/./x",
                                 "x\x00y", "temp/x.fits", "quarantine/x.fits", "kepler/x\ny.fits",
                                 "kepler/" + "x" * 256])
def test_unsafe_relative_paths_are_refused(rel):
    with pytest.raises(UnsafeProductError, match="refused destination"):
        check_relative_path(rel)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://host/x", "javascript:alert(1)", "http://", "http://h/a b"])
def test_non_http_urls_are_refused(url):
    with pytest.raises(UnsafeProductError, match="only http"):
        check_url(url)


def test_destination_is_under_the_data_dir_and_follows_user_symlinks(tmp_path):
    data = tmp_path / "data"
    (data / "kepler").mkdir(parents=True)
    assert destination(data, "kepler/a.fits") == data / "kepler" / "a.fits"
    other_disk = tmp_path / "other-disk"
    other_disk.mkdir()
    os.symlink(other_disk, data / "tess")  # the user spreads the dataset over two disks
    assert destination(data, "tess/x.fits").resolve() == other_disk / "x.fits"
    with pytest.raises(UnsafeProductError, match="would escape the data directory"):
        destination(data, "tess/../../x.fits")


def test_data_dir_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataDirError, match=f"cannot create the data directory {blocker / 'data'}"):
        ensure_data_dir(blocker / "data")


def test_data_dir_that_cannot_be_written():
    # /proc/self is a directory nobody can create files in, root included (tests run as root in CI).
    with pytest.raises(DataDirError, match="cannot write in the data directory /proc/self"):
        ensure_data_dir(__import__("pathlib").Path("/proc/self"))


def test_the_longest_name_taken_still_fits_with_the_suffixes_ratdcs_adds(tmp_path):
    name = safe_filename("x" * 235 + ".fits")  # 240 bytes
    for suffix in (".part", ".99"):  # temp/<name>.part, quarantine/<name>.99
        (tmp_path / (name + suffix)).write_bytes(b"")
