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

The same peers doing the part of ratdcs's work that a careful user of them would add:
- aria2c+sha256: the list with ``checksum=sha-256=...`` under every URL (aria2c checks each
           file when it completes and exits non-zero on a mismatch), then ``sync -f`` once.
- wget+sha256: wget as above, then ``openssl dgst -sha256`` over the files (SHA-NI, the
           fastest sha256 here; coreutils' sha256sum is 4x slower) compared with the expected
           list, then ``sync -f`` once.
Both still skip the FITS checks and flush once at the end instead of fsyncing each file before
it is renamed, so they remain cheaper than ratdcs's verification; they show how much of the gap
to the plain peers is the verification itself.

And one reference that is not a peer:
- python-floor: ``python bench/python_floor.py list sums out`` - the same work as wget+sha256+sync
           plus ratdcs's fdatasync of each temp file before its rename (every 16 files), in the
           leanest stdlib Python: 4 forked processes, one keep-alive http.client connection each,
           each body streamed through sha256 to its file, checked against the expected list.
           No FITS checks, no manifest, so cheaper than ratdcs by construction; ratdcs's wall over
           its wall shows how far ratdcs is from a minimal Python loop that flushes each file
           before its rename (one that syncs once at the end, as wget+sha256+sync does, is far
           faster: bench/README.md, seventh stop). Never counted as a best peer.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
import shutil
import sqlite3
from pathlib import Path

from _util import PYTHON, Run, fresh_dir, log, ratdcs_cmd, ratdcs_env, settle, timed_run, tree_bytes
from fileset import FileSet

PLAIN_PEERS = ("aria2c", "wget", "curl")            # what the issue's speed targets name
VERIFYING_PEERS = ("aria2c+sha256", "wget+sha256")  # the same peers, hashing and flushing too
FLOOR_PEERS = ("python-floor",)                     # the leanest Python doing the same checked, durable work
TOOLS = ("ratdcs", *PLAIN_PEERS, *VERIFYING_PEERS, *FLOOR_PEERS)
FLOOR_SCRIPT = Path(__file__).resolve().parent / "python_floor.py"


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
    aria2c_checksums: Path  # the URL list with a checksum=sha-256=... option under each URL
    expected_sums: Path     # ``openssl dgst -sha256 -r`` output expected for the set, by name
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
    aria2c_checksums = work / f"{name}.aria2c-sha256.list"
    aria2c_checksums.write_text("".join(f"{u}\n  checksum=sha-256={f.sha256}\n" for u, f in zip(urls, fileset.files)))
    expected_sums = work / f"{name}.sha256"
    expected_sums.write_text("".join(f"{f.sha256} *{f.name}\n" for f in sorted(fileset.files, key=lambda f: f.name)))
    manifest = work / f"{name}.planned.sqlite"
    for stale in work.glob(f"{name}.planned.sqlite*"):
        stale.unlink()
    started = time.perf_counter()
    plan_manifest(manifest, fileset, urls)
    elapsed = time.perf_counter() - started
    return Prepared(fileset, url_list, aria2c_checksums, expected_sums, manifest, len(urls) / elapsed)


def plan_manifest(path: Path, fileset: FileSet, urls: list[str]) -> None:
    """Import the set into a manifest the way a planner would: one plan, one target, N files."""
    from ratdcs_catalog.manifest import Manifest
    from ratdcs_catalog.records import PlannedFile

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
        return _aria2c(lst, out), None, None
    if tool == "wget":
        return _wget(lst, out), None, None
    if tool == "aria2c+sha256":
        return f"{shlex.join(_aria2c(str(p.aria2c_checksums), out))} && sync -f {shlex.quote(str(out))}", None, None
    if tool == "wget+sha256":
        # LC_ALL=C: the glob sorts by byte, as the expected list does.
        return (f"export LC_ALL=C && {shlex.join(_wget(lst, out))} && cd {shlex.quote(str(out))} && "
                f"openssl dgst -sha256 -r *.fits | cmp - {shlex.quote(str(p.expected_sums))} && sync -f ."), None, None
    if tool == "python-floor":
        return [PYTHON, str(FLOOR_SCRIPT), lst, str(p.expected_sums), str(out)], None, None
    if tool == "curl":
        per_process = math.ceil(len(p.fileset.files) / 4)
        return (f"xargs -P4 -n {per_process} curl -sS --fail --remote-name-all --output-dir {out}",
                None, lst)
    raise ValueError(tool)


def _aria2c(url_list: str, out: Path) -> list[str]:
    return ["aria2c", "-q", "-j4", "-i", url_list, "-d", str(out), "--allow-overwrite=true",
            "--auto-file-renaming=false"]


def _wget(url_list: str, out: Path) -> list[str]:
    return ["wget", "-q", "-i", url_list, "-P", str(out)]


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
