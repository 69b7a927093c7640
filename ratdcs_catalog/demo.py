"""`ratdcs demo`: the whole tool, end to end, against an in-process sandbox archive.

Plan (a few dozen Kepler and TESS light curves and a handful of ZTF images), sync with four
workers, report: everything a new user would do against the real archives, in well under a
minute and without the network. The configuration written for it is an ordinary config file,
so the same commands can be run by hand afterwards.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

__all__ = ["DemoRun", "run_demo"]

# Small enough to finish in seconds, big enough to show parallel transfers and every source.
DEMO_SETTINGS = {
    "kepler.max_targets": 2,     # ~34 long-cadence quarters
    "tess.max_targets": 8,       # ~20 two-minute light curves
    "ztf.max_images": 5,
    "ztf.start_date": "2024-01-01",
    "ztf.end_date": "2024-01-31",
    "catalog.rate_limit_delay": 0.05,  # the sandbox is local; the real archives keep the 1 s default
}

QUERIES_TO_TRY = (
    "SELECT source, files_planned, files_done, downloaded_gb FROM source_progress",
    "SELECT name, teff_k, radius_rsun, magnitude FROM targets WHERE source = 'tess' ORDER BY magnitude",
    "SELECT rel_path, observed_size_bytes, verify_level, nan_fraction FROM files WHERE source = 'kepler' LIMIT 5",
)


@dataclasses.dataclass
class DemoRun:
    directory: Path
    config_path: Path
    data_dir: Path
    manifest_path: Path
    plan: Any          # PlanSummary
    sync: Any          # SyncSummary
    report: dict[str, list[dict]]
    elapsed_seconds: float


def run_demo(directory: Path, *, workers: int = 4, scale: float = 0.2, seed: int = 42,
             progress: Any = None) -> DemoRun:
    """Start a sandbox, point a configuration at it, plan all, sync, report; stop the sandbox.

    ``progress`` is handed to the sync as it is (see ``ratdcs_catalog.sync.progress``).
    """
    from .config import load_config
    from .plan import plan
    from .report import SECTIONS, build_report
    from .sandbox import Sandbox, endpoint_config_yaml
    from .sync import sync
    from .manifest import open_manifest
    from .paths import ensure_data_dir

    started = time.monotonic()
    directory = ensure_data_dir(Path(directory).absolute())
    data_dir = directory / "data"
    config_path = directory / "demo-config.yaml"
    with Sandbox(seed=seed, scale=scale) as sandbox:
        config_path.write_text(endpoint_config_yaml(sandbox.endpoints(), data_dir=str(data_dir)))
        config = load_config(config_path).with_overrides(DEMO_SETTINGS, origin="ratdcs demo")
        config = config.with_overrides({"download.workers": workers}, origin="ratdcs demo")
        plan_summary = plan(config, "all")
        sync_summary = sync(config, config.manifest_path, progress=progress)
    with open_manifest(config.manifest_path) as manifest:
        report = build_report(manifest, data_dir=data_dir, sections=[s for s in SECTIONS if s != "splits"])
    return DemoRun(directory, config_path, data_dir, config.manifest_path, plan_summary, sync_summary, report,
                   time.monotonic() - started)
