"""No byte past the expected size: an endless body, a lying Content-Length, a gzip bomb and a FITS
file followed by zeros each end failed, with the .part never larger than the file should be."""

import random

import pytest

from hostile_answers import HostileServer
from shared_data import sandbox_light_curve

from ratdcs_catalog.net.gates import HostGates
from ratdcs_catalog.net.policy import NetworkPolicy
from ratdcs_catalog.transfer import Fetcher, TransferOptions


@pytest.fixture(scope="module")
def fits_body(tmp_path_factory):
    return sandbox_light_curve(tmp_path_factory.mktemp("lc") / "kplr011904151-2009350155506_llc.fits",
                               rows=200).read_bytes()


@pytest.fixture
def hostile(fits_body):
    server = HostileServer(fits_body)
    yield server
    server.close()


def fetch(url, temp, **kwargs):
    client = NetworkPolicy(backoff_base_seconds=0.0).file_client()
    fetcher = Fetcher(client, HostGates(4), TransferOptions(chunk_size=64 * 1024, max_retries=1, timeout_seconds=5),
                      sleep=lambda s: None, rng=random.Random(1))
    try:
        return fetcher.fetch(url, temp, **kwargs)
    finally:
        client.close()


def test_an_endless_body_stops_at_the_planned_size(hostile, tmp_path):
    temp = tmp_path / "f.part"
    result = fetch(hostile.url("/endless"), temp, expected_size=60_480)
    assert (result.outcome, result.error_kind) == ("failed", "size_mismatch")
    assert result.error.startswith("the server sent more than 60480 bytes (the planned size); stopped at the first "
                                   "byte too many")
    assert result.bytes_received == 60_480 and temp.stat().st_size == 0  # discarded, never larger


def test_a_50_gb_content_length_fails_before_the_body_when_the_size_is_planned(hostile, tmp_path):
    result = fetch(hostile.url("/huge-length"), tmp_path / "f.part", expected_size=60_480)
    assert (result.outcome, result.error_kind, result.bytes_received) == ("failed", "changed_upstream", 0)


def test_a_50_gb_content_length_on_a_fits_file_stops_where_its_headers_say(hostile, tmp_path, fits_body):
    # No planned size (ZTF without probing): the Content-Length is all the server says, and it lies.
    temp = tmp_path / "ztf_20240101123456_000600_zg_c05_o_q2_sciimg.fits.part"
    result = fetch(hostile.url("/huge-length/x.fits"), temp)
    assert (result.outcome, result.error_kind) == ("failed", "size_mismatch")


def test_fits_followed_by_zeros_without_a_length_is_cut_where_the_file_ends(hostile, tmp_path, fits_body):
    temp = tmp_path / "x.fits.part"
    result = fetch(hostile.url("/fits-then-zeros/x.fits"), temp)
    assert (result.outcome, result.error_kind) == ("failed", "size_mismatch")
    assert f"more than {len(fits_body)} bytes (the size its FITS headers imply)" in result.error
    assert result.bytes_received == len(fits_body)


def test_an_endless_fits_body_is_cut_too(hostile, tmp_path, fits_body):
    result = fetch(hostile.url("/endless-fits/x.fits"), tmp_path / "x.fits.part")
    assert (result.outcome, result.error_kind, result.bytes_received) == ("failed", "size_mismatch", len(fits_body))


def test_a_gzip_bomb_is_refused_not_inflated(hostile, tmp_path):
    temp = tmp_path / "f.part"
    result = fetch(hostile.url("/gzip-bomb"), temp)
    assert (result.outcome, result.error_kind, result.bytes_received) == ("failed", "content_encoding", 0)
    assert "Content-Encoding: gzip although the file was asked for as stored" in result.error
    assert not temp.exists() or temp.stat().st_size == 0


def test_a_fits_file_with_trailing_zeros_fails_verification(tmp_path, fits_body):
    from ratdcs_catalog.verify import verify_file

    path = tmp_path / "x.fits"
    path.write_bytes(fits_body + b"\x00" * 544_320)
    result = verify_file(path, product_kind="ztf_sciimg")
    assert (result.ok, result.error_kind) == (False, "fits_invalid")
    path.write_bytes(fits_body + b"\x00" * 100)  # less than a block: a writer's padding slip, taken
    assert verify_file(path, product_kind="lc_long").ok


def test_the_space_check_counts_ratdcs_own_partial_files_as_room(tmp_path, monkeypatch):
    from ratdcs_catalog.errors import DiskSpaceError
    from ratdcs_catalog.sync import space

    (tmp_path / "temp" / "kepler").mkdir(parents=True)
    (tmp_path / "temp" / "kepler" / "a.fits.part").write_bytes(b"x" * 5000)
    monkeypatch.setattr(space, "free_bytes", lambda path: 1000)
    space.check_free_space(tmp_path, needed_bytes=5500, margin_bytes=0)  # 1000 free + 5000 resumable
    with pytest.raises(DiskSpaceError, match=r"and 1.00 KB are free \(plus 5.00 KB in ratdcs's own partial files "
                                             r"in temp/\)"):
        space.check_free_space(tmp_path, needed_bytes=7000, margin_bytes=0)


@pytest.mark.parametrize("path", ["/many-headers", "/long-header"])
def test_absurd_headers_are_named_as_such_not_a_reset(hostile, tmp_path, path):
    result = fetch(hostile.url(path), tmp_path / "f.part")
    assert (result.outcome, result.error_kind) == ("failed", "bad_headers")
    assert "more headers, or longer header lines, than HTTP clients take" in result.error


def test_sync_of_an_endless_body_fails_the_row_and_exits_1(hostile, tmp_path):
    from click.testing import CliRunner

    from ratdcs_catalog.cli import cli
    from ratdcs_catalog.manifest import open_manifest
    from ratdcs_catalog.records import PlannedFile

    data = tmp_path / "data"
    config = tmp_path / "c.yaml"
    config.write_text(f"data_dir: {data}\ndownload:\n  max_retries: 0\n")
    with open_manifest(data / "manifest.sqlite") as m, m.transaction():
        m.upsert_targets([{"source": "kepler", "target_id": "1"}], None)
        m.upsert_files([PlannedFile("kepler", "1", "lc_long", hostile.url("/endless"), "kepler/a_llc.fits",
                                    expected_size_bytes=60_480)], None)
    result = CliRunner().invoke(cli, ["--config", str(config), "sync"])
    assert result.exit_code == 1
    with open_manifest(data / "manifest.sqlite", readonly=True) as m:
        (row,) = m.query("SELECT state, last_error_kind FROM files")
        (received,) = m.query("SELECT bytes_received FROM transfers")
    assert tuple(row) == ("failed", "size_mismatch") and received[0] == 60_480
    assert all(p.stat().st_size <= 60_480 for p in data.rglob("*.part"))
