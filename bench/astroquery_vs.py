"""astroquery comparison: the same light curves from the sandbox, cold and re-run.

The sandbox runs in its own process (``_sandbox_server.py``) with the files' bytes built
beforehand. Each round, alternating:

1. astroquery cold: ``Observations.download_products`` into an empty directory;
2. ratdcs cold: ``ratdcs sync --workers 4`` on a fresh copy of a manifest holding the same
   files (imported through the manifest layer with the archive's sizes, as ``plan kepler``
   would write them), full verification on;
3. astroquery re-run: the same call again on the same directory (cache=True: a HEAD per file);
4. ratdcs re-run: the same sync again (nothing pending: no request).

astroquery's time is its start-up (interpreter and ``import astroquery.mast``) plus the
``download_products`` call, i.e. the process without its catalog query, which ratdcs did at plan
time; the call alone is reported too. ratdcs's time is the whole ``sync`` process. The sandbox's request log gives the requests each
run sent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from _util import PYTHON, fresh_dir, log, median, ratdcs_cmd, ratdcs_env, settle, timed_run, tree_bytes

HERE = Path(__file__).resolve().parent


class SandboxProcess:
    def __init__(self, n_files: int, cwd: Path, *extra: str):
        self.proc = subprocess.Popen([PYTHON, str(HERE / "_sandbox_server.py"), str(n_files), *extra], cwd=cwd,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox process exited before it was ready")
        self.info = json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)


def plan_manifest(path: Path, base_url: str, products: list[dict], source: str = "kepler") -> None:
    """The products as ``ratdcs plan kepler`` (or ``plan tess``) would write them, archive sizes included."""
    from ratdcs_catalog.manifest import Manifest
    from ratdcs_catalog.records import PlannedFile

    download = base_url + "/api/v0.1/Download/file"
    kind, folder = ("lc", "tess/fits") if source == "tess" else ("lc_long", "kepler")
    planned = [PlannedFile(source=source, target_id=str(p["kic"]), product_kind=kind,
                           archive_uri=p["uri"], url=f"{download}?uri={quote(p['uri'], safe=':/')}",
                           rel_path=f"{folder}/{p['kic']}/{p['filename']}", expected_size_bytes=p["size"])
               for p in products]
    kics = sorted({p["kic"] for p in products})
    with Manifest.open(path) as m, m.transaction():
        plan_id = m.begin_plan(source, {"bench": "astroquery comparison"})
        m.upsert_targets([{"source": source, "target_id": str(k), "name": f"{source} {k}"} for k in kics], plan_id)
        counts = m.upsert_files(planned, plan_id)
        m.finish_plan(plan_id, len(kics), counts)


def run(work: Path, n_files: int, rounds: int) -> dict:
    work = fresh_dir(work)
    sandbox = SandboxProcess(n_files, work)
    try:
        return _rounds(sandbox, work, n_files, rounds)
    finally:
        sandbox.close()


def _rounds(sandbox: SandboxProcess, work: Path, n_files: int, rounds: int) -> dict:
    info = sandbox.info
    products = info["products"]
    spec = work / "spec.json"
    spec.write_text(json.dumps({"kics": info["kics"], "uris": [p["uri"] for p in products]}))
    planned = work / "planned.sqlite"
    plan_manifest(planned, info["base_url"], products)
    total = sum(p["size"] for p in products)
    runs = {k: [] for k in ("astroquery_cold", "ratdcs_cold", "astroquery_rerun", "ratdcs_rerun")}
    for r in range(rounds):
        aq_dir, rd_dir = fresh_dir(work / "astroquery"), fresh_dir(work / "ratdcs")
        shutil.copyfile(planned, rd_dir / "manifest.sqlite")
        for phase in ("cold", "rerun"):
            runs[f"astroquery_{phase}"].append(_astroquery(sandbox, spec, aq_dir, work))
            runs[f"ratdcs_{phase}"].append(_ratdcs(sandbox, rd_dir))
            for tool in ("astroquery", "ratdcs"):
                x = runs[f"{tool}_{phase}"][-1]
                log(f"astroquery-vs round {r + 1}/{rounds} {tool:10s} {phase:5s} {x['wall_s']:6.2f} s "
                    f"requests {x['requests']} {'ok' if x['ok'] else 'FAILED ' + x['note']}")
        _check_files(runs, aq_dir, rd_dir, n_files, total)
    summary = {k: _summary(v) for k, v in runs.items()}
    result = {"files": len(products), "bytes": total, "rounds": rounds, "runs": summary}
    if (summary["ratdcs_cold"]["wall_s"] or 0) > 1.10 * (summary["astroquery_cold"]["wall_s"] or float("inf")):
        result["profile"] = _profile_ratdcs_cold(planned, work)
    return result


def _profile_ratdcs_cold(planned: Path, work: Path) -> dict:
    """One more cold ratdcs sync under py-spy (threads on CPU): where its time goes here."""
    import profile_sync

    log("profiling a cold ratdcs sync against the sandbox with py-spy")
    directory = fresh_dir(work / "ratdcs-profile")
    shutil.copyfile(planned, directory / "manifest.sqlite")
    raw = work / "profile-astroquery-ratdcs.txt"
    try:
        subprocess.run([profile_sync.py_spy(work), "record", "--format", "raw", "--rate", "250", "--output", str(raw),
                        "--", *ratdcs_cmd(directory / "manifest.sqlite", "sync", "--workers", "4")],
                       check=True, env=ratdcs_env(directory / "data"), cwd=directory, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return profile_sync.hot_functions(raw)


def _astroquery(sandbox, spec: Path, directory: Path, work: Path) -> dict:
    result = work / "astroquery-result.json"
    settle()
    sandbox.ask("clear")
    run = timed_run([PYTHON, str(HERE / "_astroquery_fetch.py"), sandbox.info["base_url"], str(spec),
                     str(directory), str(result)], cwd=work)
    counts = sandbox.ask("count")
    if run.returncode != 0:
        return {"wall_s": None, "call_s": None, "process_s": run.wall_s, "peak_rss_mb": run.peak_rss_mb, "ok": False,
                "requests": counts, "note": run.output_tail[-400:]}
    data = json.loads(result.read_text())
    # Requests while the query ran (POSTs) are not part of the timed download.
    download_requests = {k: v for k, v in counts.items() if k in ("GET", "HEAD")}
    return {"wall_s": data["download_s"] + data["startup_s"], "call_s": data["download_s"],
            "process_s": run.wall_s, "peak_rss_mb": run.peak_rss_mb,
            "ok": set(data["statuses"]) == {"COMPLETE"}, "requests": download_requests,
            "note": json.dumps(data["statuses"])}


def _ratdcs(sandbox, directory: Path) -> dict:
    settle()
    sandbox.ask("clear")
    run = timed_run(ratdcs_cmd(directory / "manifest.sqlite", "sync", "--workers", "4"),
                    env=ratdcs_env(directory / "data"), cwd=directory)
    counts = sandbox.ask("count")
    return {"wall_s": run.wall_s, "process_s": run.wall_s, "peak_rss_mb": run.peak_rss_mb,
            "ok": run.returncode == 0, "requests": {k: v for k, v in counts.items() if k != "bytes"},
            "note": "" if run.returncode == 0 else run.output_tail[-400:]}


def _check_files(runs: dict, aq_dir: Path, rd_dir: Path, n_files: int, total: int) -> None:
    for tool, directory in (("astroquery", aq_dir), ("ratdcs", rd_dir / "data")):
        found = tree_bytes(directory)
        if found != (n_files, total):
            last = runs[f"{tool}_rerun"][-1]
            last["ok"] = False
            last["note"] += f" files on disk {found}, want {(n_files, total)}"


def _summary(runs: list[dict]) -> dict:
    return {"wall_s": median(r["wall_s"] for r in runs), "call_s": median(r.get("call_s") for r in runs),
            "process_s": median(r["process_s"] for r in runs),
            "peak_rss_mb": median(r["peak_rss_mb"] for r in runs), "ok": all(r["ok"] for r in runs),
            "requests": runs[-1]["requests"], "note": "; ".join(r["note"] for r in runs if r["note"])[:500]}


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    print(json.dumps(run(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])), indent=1))
