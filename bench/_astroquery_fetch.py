"""Stock astroquery fetching light curves from the sandbox, as users do (run by astroquery_vs.py).

    python bench/_astroquery_fetch.py BASE_URL SPEC.json DOWNLOAD_DIR RESULT.json

SPEC.json holds the KIC ids (or the mission and target names) and the dataURIs to fetch. The script points astroquery's MAST
connection at the sandbox (astroquery builds its URLs as class attributes at import time, so
they are set on the connection object, as tests/test_sandbox_astroquery.py does), queries the
observations and product list (not timed), keeps the rows whose dataURI is in the spec, and
times ``Observations.download_products(products, download_dir=DIR)`` alone, with the default
``cache=True``: a HEAD then a GET per new file, a HEAD per file already on disk. It also
reports its start-up time (interpreter + ``import astroquery.mast``) and the query's time, so
the comparison can count start-up for astroquery as it does for ratdcs.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before any import, so start-up is counted like ratdcs's

import json  # noqa: E402
import sys  # noqa: E402


def point_at(base: str):
    from astroquery.mast import Observations

    api = Observations._portal_api_connection
    api.MAST_REQUEST_URL = base + "/api/v0/invoke"
    api.COLUMNS_CONFIG_URL = base + "/portal/Mashup/Mashup.asmx/columnsconfig"
    api.MAST_DOWNLOAD_URL = base + "/api/v0.1/Download/file"
    return Observations


def products_for(observations, spec: dict):
    names = spec.get("target_names") or [f"kplr{k:09d}" for k in spec["kics"]]
    obs = observations.query_criteria(obs_collection=spec.get("mission", "Kepler"), dataproduct_type="timeseries",
                                      target_name=names)
    products = observations.get_product_list(obs)
    wanted = set(spec["uris"])
    keep = [i for i, uri in enumerate(products["dataURI"]) if uri in wanted]
    return products[keep]


def main() -> None:
    base, spec_path, download_dir, result_path = sys.argv[1:5]
    spec = json.loads(open(spec_path).read())
    observations = point_at(base)
    imported = time.perf_counter()
    products = products_for(observations, spec)
    started = time.perf_counter()
    manifest = observations.download_products(products, download_dir=download_dir, verbose=False)
    elapsed = time.perf_counter() - started
    statuses = {}
    for status in manifest["Status"]:
        statuses[status] = statuses.get(status, 0) + 1
    with open(result_path, "w") as fh:
        json.dump({"download_s": elapsed, "startup_s": imported - STARTED, "query_s": started - imported, "products": len(products), "statuses": statuses}, fh)


if __name__ == "__main__":
    main()
