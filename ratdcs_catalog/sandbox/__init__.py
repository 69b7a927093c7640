"""The sandbox archive: fake MAST (TESScut included), NASA Exoplanet Archive TAP and IRSA IBE on loopback.

Tests and hand runs point ratdcs (or stock astroquery) at it and get the real request and
response shapes, real FITS files, reproducible faults and a request log::

    from ratdcs_catalog.sandbox import Sandbox, Fault

    with Sandbox(seed=42, scale=0.05,
                 faults=[Fault("503", pattern=r"_llc\\.fits", count=2, retry_after=1)]) as sb:
        sb.endpoints()   # {"mast": ..., "mast_download": ..., "exoplanet_tap": ..., "irsa_ibe": ...,
                         #  "tesscut": ...}
        ...
        sb.requests      # [RequestRecord(method, path, query, status, bytes_sent, range_header,
                         #                fault, service, if_range, started_at, ended_at), ...]

Endpoints (paths under ``sb.base_url``)
    ``POST /api/v0/invoke`` (Mast.Caom.Filtered[.Position], Mast.Caom.Products,
    Mast.Catalogs.Filtered.Tic[.Position].Rows, Mast.Catalogs.All.Tic),
    ``POST /portal/Mashup/Mashup.asmx/columnsconfig``,
    ``GET|HEAD /api/v0.1/Download/file?uri=mast:...`` (Range, 206, optional 302 to
    ``/stpubdata/...``), ``GET /api/v0.1/path_lookup/?uri=...`` and ``GET|HEAD /stpubdata/...``
    (MAST's cloud copy, S3-shaped: see ``s3``), ``/missions/...`` static copies,
    ``GET|POST /TAP/sync`` (and ``/TAP//sync``), ``GET /ibe/search/ztf/products/sci``,
    ``GET|HEAD /ibe/data/ztf/products/sci/...``, ``GET|POST /tesscut/api/v0.1/sector`` and
    ``/tesscut/api/v0.1/astrocut`` (see ``tesscut``). Any other path is a 404.

The universe (``sb.universe``, a ``Universe``; same seed and scale, same everything)
    ``kois``                        list of `cumulative` rows (dicts) in the table's default
                                    order (by ``kepoi_name``): kepid, kepoi_name, kepler_name,
                                    koi_disposition, koi_period, ra, dec, koi_steff, ...
    ``kepler_stars``                {kic: {kepid, ra, dec, teff, logg, radius, kepmag,
                                    quarters, slc_quarters, slc_months, module3_q4}}
    ``confirmed_kepler_hosts()``    KIC ids with a CONFIRMED KOI, in `cumulative` order, unique
    ``kepler_quarters(kic)``        long-cadence quarters (subset of 0..17)
    ``kepler_slc_quarters(kic)``    quarters with short-cadence files (one per month)
    ``kepler_quarter_files(kic)``   {quarter: long-cadence file name}
    ``kepler_odd_stamp_stars()``    KICs whose Q4 file has another stamp (module 3), in order
    ``k2_planets``                  `k2pandc` rows (several per planet, one default_flag=1)
    ``k2_hosts``                    {epic: {epic, ra, dec, teff, radius, campaigns, slc_campaigns}}
    ``confirmed_k2_hosts()``        EPIC ids of CONFIRMED default rows, in table order
    ``k2_campaigns(epic)``          campaigns of a K2 host
    ``k2_campaign_files(epic, cadence="long")``  {campaign: [light-curve file names]} (two for
                                    C9 and C11, -c102 only for C10)
    ``k2_split_hosts()``            EPICs observed in C9, C10 or C11, in order
    ``tois``                        `toi` rows: tid, toi, toipfx, tfopwg_disp, pl_orbper, ...
    ``toi_hosts(dispositions)``     TIC ids with a TOI of those dispositions, in table order
    ``tic``                         {tid: TIC row (ID, ra, dec, Tmag, Teff, logg, rad, mass,
                                    d, MH, ...)}; ``tic_params(tid)`` is one row
    ``tess_sectors(tid)``           sectors with a 120-s light curve
    ``tess_fast_sectors(tid)``      sectors with a 20-s light curve
    ``tess_sector_files(tid, cadence="120s")``  {sector: light-curve file name}
    ``ztf_exposures``               exposure-level dicts (field, filtercode, fid, expid, obsjd,
                                    obsdate, filefracday, ...), sorted by obsjd
    ``ztf_rows(fields, jd_min, jd_max, filtercodes, ccdids, qids)``  quadrant rows as IBE
                                    answers them
    ``kepler_products(kic, cadence="long"|"short")``, ``k2_products(epic, cadence="long"|"short")``,
    ``tess_products(tid, cadence="120s"|"20s")``, ``ztf_product(row)``
                                    light curves (and ZTF images) as
                                    ``Product(filename, data_uri, size, path, kind, target_id,
                                    period, nrows, subgroup, obs_id, description)``; ``size`` is
                                    the exact byte count the download endpoint serves at this scale
    ``observations()``, ``observations_of(mission, target_id)``
                                    ``Observation(obs_id, mission, target_id, cadence,
                                    sequence_number, exptime, light_curves, part)``: what
                                    Mast.Caom.Filtered lists
    ``observation_files(obs)``      every file Mast.Caom.Products lists for it (light curves,
                                    target pixel files, DV files, previews, tarballs), in order
    ``product_by_uri(uri)``, ``product_by_path(path)``, ``ztf_product_by_path(path)``,
    ``size_of(uri_or_path)``
    ``files_of_kind(mission, target_id, *kinds)``  listed files of these kinds (kepler_lpd,
                                    kepler_spd, k2_lpd, k2_spd, tess_tp, tess_fast_tp, kepler_dvt,
                                    tess_dvt, ...), ``extra`` holding a pixel file's ``shape``
                                    (rows, cols) and ``rows``, a DV file's ``n_tces`` and ``rows``
    ``kepler_tpf_files(kic, cadence="long")``  {quarter: [pixel file names]} (short: one a month)
    ``k2_tpf_files(epic, cadence="long")``  {campaign: [names]} (C10: -c101 and -c102)
    ``tess_tpf_files(tid, cadence="120s")``  {sector: _tp.fits name} ("20s": _fast-tp.fits)
    ``tess_dvt_files(tid)``, ``kepler_dvt_file(kic)``  {sector: _dvt.fits name}; the star's one
    ``stamp(mission, target_id)``   (rows, cols) of the star's pixel files
    ``tess_cutout_sectors(tid)``    sectors TESScut has cutouts of at a TESS star (its sectors)
    ``tesscut_sectors(ra, dec, radius_deg=0)``  TESScut's ``results`` rows at a position
    ``tesscut_rows(sector)``        a cutout's rows at this scale (one per FFI)
    ``sb.file_bytes(product, version=0)``, ``sb.validators(product, version=0)``  the bytes and
                                    the ETag/Last-Modified served (version 1: after ``replace``)
    ``sb.tesscut_cutout(sector=, size=(rows, cols), tid= or ra=, dec=)``  ``Cutout(zip_name,
                                    member, body, fits, path)``: what ``astrocut`` answers

Faults: see ``ratdcs_catalog.sandbox.faults`` (kinds, parameters, CLI syntax).
"""

from .faults import KINDS as FAULT_KINDS
from .faults import Fault, FaultSpecError, parse_fault
from .network import NetworkProfile
from .requestlog import RequestRecord
from .sandbox import Sandbox
from .universe import Observation, Product, Universe

__all__ = ["FAULT_KINDS", "Fault", "FaultSpecError", "NetworkProfile", "Observation", "Product", "RequestRecord",
           "Sandbox", "Universe", "endpoint_config_yaml", "parse_fault"]


def endpoint_config_yaml(endpoints: dict, data_dir: str | None = None) -> str:
    """The YAML configuration that points every archive endpoint at a sandbox."""
    lines = ["# ratdcs configuration pointing every archive endpoint at a local sandbox"]
    if data_dir:
        lines.append(f'data_dir: "{data_dir}"')
    lines.append("endpoints:")
    for key in ("mast", "mast_download", "tesscut", "exoplanet_tap", "irsa_ibe", "mast_path_lookup", "cloud_mirror"):
        lines.append(f'  {key}: "{endpoints[key]}"')
    return "\n".join(lines) + "\n"
