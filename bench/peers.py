"""Peer transfer benchmark: ratdcs sync against aria2c, wget and curl on the same nginx.

For each file set the files are planned into a ratdcs manifest through the manifest layer
(``Manifest.upsert_targets`` + ``upsert_files``, source "ztf", kind "ztf_sciimg", the archive
size and a sha256 per file), and written as a plain URL list for the peers. Each round runs
every tool once, in a fixed alternating order, each into its own fresh directory (and ratdcs
on a fresh copy of the planned manifest); the time is the whole command, from fork to exit,
Python start-up and ratdcs's verification included. Between runs the page cache is flushed
(``sync``) so one tool's writeback is not billed to the next; the planned manifest copy and
the removal of the previous run's files are not timed.

What each tool does:
- ratdcs:  ``python -m ratdcs_catalog --db M sync --workers 4`` - temp file, fsync, size +
           sha256 + FITS structure + CHECKSUM/DATASUM, atomic rename, one manifest row each.
- aria2c:  ``aria2c -j4 -i list`` - 4 parallel downloads, no verification.
- wget:    ``wget -i list`` - one file at a time over one keep-alive connection.
- curl:    ``xargs -P4 -n K curl --remote-name-all`` with K = ceil(files / 4): four curl
           processes, each reusing its connection over a quarter of the list (``-n 1``, one
           process per file, is slower for the many-small-files sets; this is curl's best case).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import sqlite3
from pathlib import Path

from _util import Run, fresh_dir, log, ratdcs_cmd, ratdcs_env, settle, timed_run, tree_bytes
from fileset import FileSet

TOOLS = ("ratdcs", "aria2c", "wget", "curl")
PEERS = TOOLS[1:]


@dataclasses.dataclass
class TransferRun:
    tool: str
    set_name: str
    round: int
    run: Run
    ok: bool
    note: str = ""


@dataclasses.dataclass
class Prepared:
    fileset: FileSet
    url_list: Path
    manifest: Path         # the planned manifest; each ratdcs run gets a copy
    import_rows_per_s: float


def prepare(fileset: FileSet, server, work: Path) -> Prepared:
    """URL list + planned manifest for one set (not timed as part of any tool's run)."""
    import time

    name = fileset.spec.name
    work.mkdir(parents=True, exist_ok=True)
    urls = [server.url(f"{name}/{f.name}") for f in fileset.files]
    url_list = work / f"{name}.list"
    url_list.write_text("\n".join(urls) + "\n")
    manifest = work / f"{name}.planned.sqlite"
    for stale in work.glob(f"{name}.planned.sqlite*"):
        stale.unlink()
    started = time.perf_counter()
    plan_manifest(manifest, fileset, urls)
    elapsed = time.perf_counter() - started
    return Prepared(fileset, url_list, manifest, len(urls) / elapsed)


def plan_manifest(path: Path, fileset: FileSet, urls: list[str]) -> None:
    """Import the set into a manifest the way a planner would: one plan, one target, N files."""
    from ratdcs_catalog.manifest import Manifest, PlannedFile

    target = f"bench-{fileset.spec.name}"
    planned = [PlannedFile(source="ztf", target_id=target, product_kind="ztf_sciimg", url=url,
                           rel_path=f"ztf/bench_{fileset.spec.name}/{f.name}",
                           expected_size_bytes=f.size_bytes, expected_checksum=f"sha256:{f.sha256}")
               for f, url in zip(fileset.files, urls)]
    with Manifest.open(path) as m, m.transaction():
        plan_id = m.begin_plan("ztf", {"bench": fileset.spec.label})
        m.upsert_targets([{"source": "ztf", "target_id": target, "name": f"bench set {fileset.spec.label}"}],
                         plan_id)
        counts = m.upsert_files(planned, plan_id)
        m.finish_plan(plan_id, 1, counts)


def run_rounds(prepared: list[Prepared], work: Path, rounds: dict[str, int],
               tools=TOOLS) -> list[TransferRun]:
    """``rounds[set_name]`` rounds per set; within a round every tool runs once, alternating."""
    results = []
    for p in prepared:
        name = p.fileset.spec.name
        for r in range(rounds[name]):
            for tool in tools:
                results.append(run_one(tool, p, work / "runs", r))
                res = results[-1]
                log(f"set {name} round {r + 1}/{rounds[name]} {tool:7s} {res.run.wall_s:7.2f} s "
                    f"rss {res.run.peak_rss_mb:6.1f} MB {'ok' if res.ok else 'FAILED: ' + res.note}")
    return results


def run_one(tool: str, p: Prepared, runs: Path, round_: int) -> TransferRun:
    out = fresh_dir(runs / tool)
    settle()
    cmd, env, stdin = _command(tool, p, out)
    run = timed_run(cmd, env=env, cwd=out.parent, stdin_path=stdin)
    ok, note = _check(tool, p, out, run)
    shutil.rmtree(out)
    return TransferRun(tool, p.fileset.spec.name, round_, run, ok, note)


def _command(tool: str, p: Prepared, out: Path):
    lst = str(p.url_list)
    if tool == "ratdcs":
        db = out / "manifest.sqlite"
        shutil.copyfile(p.manifest, db)
        return ratdcs_cmd(db, "sync", "--workers", "4"), ratdcs_env(out / "data"), None
    if tool == "aria2c":
        return ["aria2c", "-q", "-j4", "-i", lst, "-d", str(out), "--allow-overwrite=true",
                "--auto-file-renaming=false"], None, None
    if tool == "wget":
        return ["wget", "-q", "-i", lst, "-P", str(out)], None, None
    if tool == "curl":
        per_process = math.ceil(len(p.fileset.files) / 4)
        return (f"xargs -P4 -n {per_process} curl -sS --fail --remote-name-all --output-dir {out}",
                None, lst)
    raise ValueError(tool)


def _check(tool: str, p: Prepared, out: Path, run: Run) -> tuple[bool, str]:
    """Every file there with the right total size (and, for ratdcs, every row done)."""
    want_files, want_bytes = len(p.fileset.files), p.fileset.total_bytes
    files, size = tree_bytes(out)
    if run.returncode != 0:
        return False, f"exit {run.returncode}: {run.output_tail[-300:]}"
    if (files, size) != (want_files, want_bytes):
        return False, f"got {files} files / {size} bytes, want {want_files} / {want_bytes}"
    if tool == "ratdcs":
        with sqlite3.connect(out / "manifest.sqlite") as conn:
            done = conn.execute("SELECT COUNT(*) FROM files WHERE state = 'done'").fetchone()[0]
        if done != want_files:
            return False, f"{done} of {want_files} rows done"
    return True, ""
