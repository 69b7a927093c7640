"""Planning FFI cutouts from TESScut: one file per covering sector; a target without a position and
an answer that is not TESScut's sector list are named, not crashes."""

import pytest
import responses

from ratdcs_catalog.config import load_config
from ratdcs_catalog.errors import ArchiveError
from ratdcs_catalog.net.catalog import CatalogHTTP
from ratdcs_catalog.sources.common import PlannerContext
from ratdcs_catalog.sources.tesscut import plan_cutouts

TESSCUT = "https://tesscut.test/tesscut/api/v0.1"


@pytest.fixture
def ctx():
    config = load_config(None).with_overrides({"endpoints.tesscut": TESSCUT}, origin="test")
    return PlannerContext(config, CatalogHTTP(timeout=5, max_retries=0, rate_limit_delay=0.0, sleep=lambda s: None))


STAR = {"target_id": "441420236", "ra_deg": 311.289718, "dec_deg": -31.3409}


@responses.activate
def test_one_cutout_per_covering_sector_and_a_target_without_a_position_refused(ctx):
    responses.get(f"{TESSCUT}/sector", json={"results": [
        {"sectorName": "tess-s0001-1-4", "sector": "0001", "camera": "1", "ccd": "4"},
        {"sectorName": "tess-s0027-1-4", "sector": "0027", "camera": "1", "ccd": "4"}]})
    files, refused = plan_cutouts(ctx, [STAR, {"target_id": "1", "ra_deg": None, "dec_deg": None}], size=5,
                                  sectors={27})
    (cutout,) = files["441420236"]
    assert (cutout.product_kind, cutout.sector, cutout.expected_size_bytes) == ("cutout", 27, None)
    assert cutout.rel_path == "tess/cutouts/tess-s0027-0000000441420236_5x5_astrocut.fits"
    assert cutout.url == f"{TESSCUT}/astrocut?ra=311.289718&dec=-31.340900&y=5&x=5&units=px&sector=27"
    assert refused == ["refused cutouts of TIC 1: the catalogs give no position"]
    assert len(responses.calls) == 1  # no request for the star without a position


@responses.activate
def test_an_answer_that_is_not_a_sector_list_is_an_archive_error(ctx):
    responses.get(f"{TESSCUT}/sector", json={"msg": "down for maintenance"})
    with pytest.raises(ArchiveError, match=r"TESScut sectors at ra=311\.28972 dec=-31\.34090: the answer is not "
                                           r"TESScut's sector list \(KeyError: 'results'\)"):
        plan_cutouts(ctx, [STAR], size=5)
