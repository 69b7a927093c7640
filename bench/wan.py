"""WAN benchmark (issue 15): the sandbox with a network profile, ratdcs against astroquery and the peers.

Loopback measures CPU; a real archive answers after a round trip, over connections of tens of
MB/s. Here the sandbox (``_sandbox_server.py``, its own process, bytes built beforehand) runs
with ``--latency 80ms --bandwidth 20MB/s`` (docs/sandbox.md, "Network profile": MAST or IRSA
from a university network) and serves two sets: 200 Kepler long-cadence light curves and 40
TESS 2-min light curves, full size. After one uncounted warm-up pass (the sandbox makes each
body on its first request), each round, cold (empty directories), in this order:

- ``ratdcs sync --workers 4``; ``--workers 8`` with ``download.per_host_connections: 8``;
  ``--workers 16`` with 16 (each on a fresh copy of the planned manifest, full verification);
- astroquery ``Observations.download_products`` (stock, pointed at the sandbox; start-up + call);
- ``wget --content-disposition -i list``, ``aria2c -j4`` and ``-j16`` (an input file with
  ``out=NAME`` under each URL), ``xargs -P4 curl -K`` (four curl processes, each with a config
  file of a quarter of the ``url``/``output`` pairs, as MAST's own curl scripts name each file).

Then warm, a second run on the first run's result: ratdcs ``--workers 4`` (nothing pending: it
must send no request), astroquery (a HEAD per file), ``wget -N --content-disposition`` (a HEAD per
file). aria2c and curl have no mode that skips a finished file without asking the server, so they
are not run warm. Every tool asks ``Download/file?uri=mast:...``, as against MAST. Requests are
counted from the sandbox's log.
"""

from __future__ import annotations

import json
import math
import shlex
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

from _util import PYTHON, fresh_dir, log, median, ratdcs_cmd, ratdcs_env, settle, timed_run, tree_bytes
from astroquery_vs import SandboxProcess, plan_manifest

HERE = Path(__file__).resolve().parent
PROFILE = {"latency": "80ms", "bandwidth": "20MB/s"}
SETS = (("kepler", "200 Kepler long-cadence light curves", 200), ("tess", "40 TESS 2-min light curves", 40))
COLD = ("ratdcs -w4", "ratdcs -w8", "ratdcs -w16", "astroquery", "wget", "aria2c -j4", "aria2c -j16", "curl -P4")
WARM = ("ratdcs -w4", "astroquery", "wget")
RATDCS_WORKERS = {"ratdcs -w4": 4, "ratdcs -w8": 8, "ratdcs -w16": 16}


def run(work: Path, rounds: int, sets=SETS, profile: dict | None = None) -> dict:
    profile = profile or PROFILE
    out = {"profile": profile, "rounds": rounds, "sets": {}}
    for mission, label, n_files in sets:
        log(f"WAN benchmark: {label} at {profile['latency']}, {profile['bandwidth']} per connection")
        directory = fresh_dir(work / mission)
        sandbox = SandboxProcess(n_files, directory, "--mission", mission, "--latency", profile["latency"],
                                 "--bandwidth", profile["bandwidth"])
        try:
            out["sets"][mission] = {"label": label, **_rounds(sandbox, directory, mission, rounds)}
        finally:
            sandbox.close()
    return out


def _rounds(sandbox: SandboxProcess, work: Path, mission: str, rounds: int) -> dict:
    info = sandbox.info
    products = info["products"]
    planned = work / "planned.sqlite"
    plan_manifest(planned, info["base_url"], products, source=mission)
    spec = work / "spec.json"
    spec.write_text(json.dumps({"kics": info["kics"], "mission": info["mission"],
                                "target_names": info["target_names"], "uris": [p["uri"] for p in products]}))
    urls = _peer_inputs(work, info["base_url"], products)
    want = (len(products), sum(p["size"] for p in products))
    runs: dict[str, list] = {f"{t} cold": [] for t in COLD} | {f"{t} warm": [] for t in WARM}
    # One uncounted pass first: the sandbox makes each FITS body on its first request and keeps
    # it; without this, whichever tool runs first in round 1 (ratdcs) also pays for making them.
    warm_up = _one(sandbox, "aria2c -j16", fresh_dir(work / "runs" / "warm-up"), planned, spec, urls, work, want)
    log(f"wan {mission} warm-up (not counted): aria2c -j16 {warm_up['wall_s'] or float('nan'):.2f} s")
    for r in range(rounds):
        dirs = {}
        for tool in COLD:
            dirs[tool] = fresh_dir(work / "runs" / tool.replace(" ", "_"))
            runs[f"{tool} cold"].append(_one(sandbox, tool, dirs[tool], planned, spec, urls, work, want))
        for tool in WARM:
            runs[f"{tool} warm"].append(_one(sandbox, tool, dirs[tool], planned, spec, urls, work, want, warm=True))
        for name, values in runs.items():
            x = values[-1]
            log(f"wan {mission} round {r + 1}/{rounds} {name:18s} {x['wall_s'] or float('nan'):7.2f} s "
                f"requests {x['requests']} {'ok' if x['ok'] else 'FAILED ' + x['note'][-200:]}")
    return {"files": want[0], "bytes": want[1], "runs": {k: _summary(v) for k, v in runs.items()}}


def _one(sandbox, tool: str, directory: Path, planned: Path, spec: Path, urls: Path, work: Path,
         want: tuple[int, int], warm: bool = False) -> dict:
    if tool.startswith("ratdcs") and not warm:
        shutil.copyfile(planned, directory / "manifest.sqlite")
    settle()
    sandbox.ask("clear")
    if tool == "astroquery":
        result = _astroquery(sandbox, spec, directory, work)
    else:
        cmd, env = _command(tool, directory, urls, want[0], warm)
        run_ = timed_run(cmd, env=env, cwd=directory)
        result = {"wall_s": run_.wall_s, "peak_rss_mb": run_.peak_rss_mb, "ok": run_.returncode == 0,
                  "note": "" if run_.returncode == 0 else run_.output_tail[-400:]}
    counts = sandbox.ask("count")
    result["requests"] = {k: v for k, v in counts.items() if k in ("GET", "HEAD")}
    found = tree_bytes(directory)
    if found != want and result["ok"]:
        result["ok"], result["note"] = False, f"files on disk {found}, want {want}"
    return result


def _peer_inputs(work: Path, base_url: str, products: list[dict]) -> Path:
    """The peers' inputs, in ``work/peers/``: a URL list (wget), an aria2c input file with the
    file name under each URL, and four curl config files (quarters of the url/output pairs,
    output names relative to the directory curl runs in)."""
    inputs = fresh_dir(work / "peers")
    urls = [f"{base_url}/api/v0.1/Download/file?uri={quote(p['uri'], safe=':/')}" for p in products]
    names = [p["filename"] for p in products]
    (inputs / "urls.txt").write_text("".join(u + "\n" for u in urls))
    (inputs / "aria2c.txt").write_text("".join(f"{u}\n  out={n}\n" for u, n in zip(urls, names)))
    quarter = math.ceil(len(urls) / 4)
    for i in range(4):
        pairs = zip(urls[i * quarter:(i + 1) * quarter], names[i * quarter:(i + 1) * quarter])
        (inputs / f"curl-{i}.cfg").write_text("".join(f'url = "{u}"\noutput = "{n}"\n' for u, n in pairs))
    return inputs


def _command(tool: str, directory: Path, inputs: Path, n_files: int, warm: bool = False):
    if tool in RATDCS_WORKERS:
        workers = RATDCS_WORKERS[tool]
        env = ratdcs_env(directory / "data", RATDCS_DOWNLOAD__PER_HOST_CONNECTIONS=str(max(4, workers)))
        return ratdcs_cmd(directory / "manifest.sqlite", "sync", "--workers", str(workers)), env
    if tool == "wget":  # -N only when warm: cold, it would send a HEAD before every GET
        return ["wget", "-q", *(["-N"] if warm else []), "--content-disposition", "-i", str(inputs / "urls.txt"),
                "-P", str(directory)], None
    if tool.startswith("aria2c"):
        jobs = tool.split("-j")[1]
        return ["aria2c", "-q", f"-j{jobs}", "-i", str(inputs / "aria2c.txt"), "-d", str(directory)], None
    configs = " ".join(shlex.quote(str(inputs / f"curl-{i}.cfg")) for i in range(4))
    return f"printf '%s\\n' {configs} | xargs -P4 -n1 curl -sS --fail -K", None


def _astroquery(sandbox, spec: Path, directory: Path, work: Path) -> dict:
    result = work / "astroquery-result.json"
    run_ = timed_run([PYTHON, str(HERE / "_astroquery_fetch.py"), sandbox.info["base_url"], str(spec),
                      str(directory), str(result)], cwd=work)
    if run_.returncode != 0:
        return {"wall_s": None, "peak_rss_mb": run_.peak_rss_mb, "ok": False, "note": run_.output_tail[-400:]}
    data = json.loads(result.read_text())
    return {"wall_s": data["download_s"] + data["startup_s"], "call_s": data["download_s"],
            "peak_rss_mb": run_.peak_rss_mb, "ok": set(data["statuses"]) == {"COMPLETE"},
            "note": json.dumps(data["statuses"])}


def _summary(runs: list[dict]) -> dict:
    return {"wall_s": median(r["wall_s"] for r in runs), "peak_rss_mb": median(r["peak_rss_mb"] for r in runs),
            "ok": all(r["ok"] for r in runs), "requests": runs[-1]["requests"],
            "note": "; ".join(r["note"] for r in runs if not r["ok"])[:500]}


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    print(json.dumps(run(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1), indent=1))
