"""Turn run_all's results into the printed tables and the results section of bench/README.md."""

from __future__ import annotations

import collections
import re
from pathlib import Path

from _util import MB, median
from peers import FLOOR_PEERS, PLAIN_PEERS, VERIFYING_PEERS

START, END = "<!-- results:start -->", "<!-- results:end -->"


def table(headers: list[str], rows: list[list]) -> str:
    """A GitHub-markdown table (also readable in a terminal)."""
    cells = [[_fmt(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        # Error text must not break a markdown row: one line, no pipes, bounded.
        return " ".join(value.replace("|", "/").split())[:240]
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def transfer_summary(results: dict) -> list[dict]:
    """One dict per (set, tool): medians, throughput, ratio to the best peer, limit fractions."""
    runs = collections.defaultdict(list)
    for r in results["peers"]["runs"]:
        runs[(r["set"], r["tool"])].append(r)
    limits = results.get("limits", {})
    rows = []
    for (set_name, tool), rs in runs.items():
        info = results["sets"][set_name]
        wall = median(r["wall_s"] for r in rs)
        mb_s = info["bytes"] / MB / wall
        rows.append({"set": set_name, "label": info["label"], "tool": tool, "wall_s": wall, "mb_s": mb_s,
                     "files_s": info["files"] / wall, "rss_mb": median(r["peak_rss_mb"] for r in rs),
                     "cpu_s": median(r.get("cpu_s") for r in rs),
                     "runs": len(rs), "ok": sum(r["ok"] for r in rs),
                     "of_loopback": mb_s / limits["loopback_mb_s"] if limits else None,
                     "of_sha256": mb_s / limits["sha256_mb_s"] if limits else None,
                     "of_disk": mb_s / limits["disk_fsync_mb_s"] if limits else None,
                     # per-file cost only matters for small files; for big ones the byte limits bind
                     "of_fsync_files": (info["files"] / wall / limits["fsync_files_per_s"]
                                        if limits and info["file_bytes"] < 1 << 20 else None)})
    for row in rows:
        row["vs_best_peer"] = _ratio_to_best(row, rows, PLAIN_PEERS)
        row["vs_best_verifying_peer"] = _ratio_to_best(row, rows, VERIFYING_PEERS)
        row["vs_python_floor"] = _ratio_to_best(row, rows, FLOOR_PEERS)
    return rows


def _ratio_to_best(row: dict, rows: list[dict], tools: tuple[str, ...]) -> float | None:
    """``row``'s median wall over the fastest of ``tools`` on the same set (runs that all succeeded)."""
    walls = [r["wall_s"] for r in rows if r["set"] == row["set"] and r["tool"] in tools and r["ok"] == r["runs"]]
    return row["wall_s"] / min(walls) if walls else None


def render_transfer(results: dict) -> str:
    rows = transfer_summary(results)
    out = []
    for r in rows:
        out.append([r["label"], r["tool"], r["wall_s"], r["mb_s"], r["files_s"], r["rss_mb"], r["cpu_s"],
                    f"{r['vs_best_peer']:.2f}x" if r["vs_best_peer"] else "-",
                    f"{r['vs_best_verifying_peer']:.2f}x" if r["vs_best_verifying_peer"] else "-",
                    f"{r['vs_python_floor']:.2f}x" if r["vs_python_floor"] else "-",
                    r["of_loopback"], r["of_sha256"], r["of_disk"], r["of_fsync_files"],
                    f"{r['ok']}/{r['runs']}"])
    return table(["set", "tool", "median wall s", "MB/s", "files/s", "peak RSS MB", "CPU s (user+sys)", "vs best peer",
                  "vs best peer + sha256", "vs python-floor", "of loopback", "of sha256", "of disk+fsync",
                  "of fsync'd files/s", "runs ok"], out)


def render_limits(results: dict) -> str:
    names = {"loopback_mb_s": "loopback HTTP, one curl stream, MB/s",
             "sha256_mb_s": "sha256, one core, MB/s", "md5_mb_s": "md5, one core, MB/s",
             "disk_fsync_mb_s": "disk sequential write + fsync, MB/s",
             "fsync_files_per_s": "5,760-byte files written + fsynced + renamed, files/s"}
    before, after = results["limits_before"], results.get("limits_after", {})
    return table(["limit", "before the transfers", "after", "used for the fractions (the better)"],
                 [[names[k], v, after.get(k), results["limits"][k]] for k, v in before.items()])


def render_verify(results: dict) -> str:
    walls = {(r["set"], r["tool"]): r["wall_s"] for r in transfer_summary(results)} if "peers" in results else {}
    rows = []
    for name, v in results["verify"].items():
        best_peer = min((w for (s, t), w in walls.items() if s == name and t in PLAIN_PEERS), default=None)
        rows.append([results["sets"][name]["label"], v["sha256_s"], v["fits_s"], v["fits_ms_per_file"],
                     walls.get((name, "ratdcs")), best_peer, v["not_fits_checksum_level"]])
    return table(["set", "sha256 CPU s (1 thread)", "FITS verify CPU s (1 thread)", "FITS verify ms/file",
                  "ratdcs sync wall s", "best peer wall s", "files not verified to fits_checksum"], rows)


def render_profile(results: dict) -> str:
    if not results["profile"]:
        return "ratdcs was within 10% of the best peer on every set: nothing profiled."
    parts = []
    for name, views in results["profile"].items():
        label = results["sets"][name]["label"]
        if "error" in views:
            parts.append(f"{label}: profile not taken ({views['error']})")
            continue
        active, gil = views["active"], views["gil"]
        gil_incl = {r["function"]: r["inclusive"] for r in gil["rows"]}
        rows = [[r["function"], f"{r['inclusive']:.0%}", f"{r['self']:.0%}",
                 f"{gil_incl[r['function']]:.0%}" if r["function"] in gil_incl else "-"] for r in active["rows"]]
        if "ablation" in views:
            base = views["ablation"]["as benchmarked"]
            parts.append(f"**{label}**, the same sync with one cost removed (median of {views['ablation_rounds']}):\n\n"
                         + table(["variant", "wall s", "saved vs as benchmarked"],
                                 [[k, v, f"{(base - v) / base:+.0%}" if _number(base) and _number(v) else "-"]
                                  for k, v in views["ablation"].items()]))
        parts.append(f"**{label}**: {active['seconds_sampled']:.1f} thread-seconds on CPU sampled, "
                     f"{gil['seconds_sampled']:.1f} of them holding the GIL\n\n"
                     + table(["function", "share of on-CPU samples (inclusive)", "self", "share of GIL samples"],
                             rows))
    return "\n\n".join(parts)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and x == x and x != 0


def failures(results: dict) -> list[str]:
    """Every run that did not end as it should, one line each (empty: all good)."""
    out = [f"peers: {r['tool']} on set {r['set']} round {r['round'] + 1}: {r['note']}"
           for r in results.get("peers", {}).get("runs", []) if not r["ok"]]
    aq = results.get("astroquery", {})
    if "error" in aq:
        out.append(f"astroquery: {aq['error']}")
    out += [f"astroquery: {k}: {v['note']}" for k, v in aq.get("runs", {}).items() if not v["ok"]]
    wan = results.get("wan", {})
    if "error" in wan:
        out.append(f"wan: {wan['error']}")
    out += [f"wan {m}: {k}: {v['note']}" for m, st in wan.get("sets", {}).items() for k, v in st["runs"].items()
            if not v["ok"]]
    scale = results.get("scale", {})
    out += [f"scale: {k}: {scale[k]['note']}" for k in ("report", "noop_sync") if k in scale and not scale[k]["ok"]]
    for name, views in results.get("profile", {}).items():
        if "error" in views:
            out.append(f"profile of set {name}: {views['error']}")
        out += [f"ablation on set {name}: {k} failed" for k, v in views.get("ablation", {}).items() if not _number(v)]
    return [" ".join(x.split())[:300] for x in out]


def render_per_file(results: dict) -> str:
    costs = results["per_file_costs"]
    label = results["sets"][costs["set"]]["label"]
    return (f"One thread, in-process, {label} files, milliseconds per file (first call not counted):\n\n"
            + table(["step", "ms per file"], [[k, v] for k, v in costs["ms"].items()]))


def render_astroquery(aq: dict) -> str:
    if "error" in aq:
        return f"astroquery comparison did not run: {aq['error']}"
    rows = []
    for phase in ("cold", "rerun"):
        a, r = aq["runs"][f"astroquery_{phase}"], aq["runs"][f"ratdcs_{phase}"]
        rows.append([phase, a["wall_s"], a["call_s"], _requests(a["requests"]), a["peak_rss_mb"],
                     r["wall_s"], _requests(r["requests"]), r["peak_rss_mb"],
                     f"{r['wall_s'] / a['wall_s']:.2f}x" if a["wall_s"] else "-",
                     "ok" if a["ok"] and r["ok"] else "FAILED (see below)"])
    profile = ""
    if "profile" in aq:
        p = aq["profile"]
        profile = ("\n\nratdcs cold is > 10% behind astroquery cold; one more cold ratdcs sync under py-spy "
                   + (f"failed: {p['error']}" if "error" in p else
                      f"({p['seconds_sampled']:.1f} thread-seconds on CPU sampled):\n\n"
                      + table(["function", "share of on-CPU samples (inclusive)", "self"],
                              [[r["function"], f"{r['inclusive']:.0%}", f"{r['self']:.0%}"] for r in p["rows"]])))
    head = (f"{aq['files']} Kepler long-cadence light curves, {aq['bytes'] / MB:.1f} MB, "
            f"median of {aq['rounds']} round(s)\n\n")
    return head + table(["run", "astroquery s (start-up + download_products)", "download_products call s",
                         "astroquery requests", "astroquery peak RSS MB", "ratdcs sync s", "ratdcs requests",
                         "ratdcs peak RSS MB", "ratdcs / astroquery", "status"], rows) + profile


def render_wan(wan: dict) -> str:
    """One table per set: each tool's median wall time, requests, and its ratio to ratdcs -w4 and to astroquery."""
    if "error" in wan:
        return f"WAN comparison did not run: {wan['error']}"
    parts = [f"Sandbox network profile: {wan['profile']['latency']} to first byte (one round trip; two on a new "
             f"connection), {wan['profile']['bandwidth']} per connection; median of {wan['rounds']} round(s)."]
    for st in wan["sets"].values():
        runs = st["runs"]
        base, aq = runs["ratdcs -w4 cold"]["wall_s"], runs["astroquery cold"]["wall_s"]
        rows = [[name.rsplit(" ", 1)[0], name.rsplit(" ", 1)[1], r["wall_s"], _requests(r["requests"]),
                 r["peak_rss_mb"], _ratio(r["wall_s"], base), _ratio(aq, r["wall_s"]),
                 "ok" if r["ok"] else "FAILED (see below)"] for name, r in runs.items()]
        parts += ["", f"**{st['label']}** ({st['files']} files, {st['bytes'] / MB:.1f} MB)", "",
                  table(["tool", "run", "median wall s", "requests (last round)", "peak RSS MB",
                         "wall / ratdcs -w4 cold", "astroquery cold / wall (speed-up)", "status"], rows)]
    return "\n".join(parts)


def _ratio(a, b) -> str:
    return f"{a / b:.2f}x" if _number(a) and _number(b) and b else "-"


def _requests(counts: dict) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none"


def render_scale(s: dict) -> str:
    rows = [["rows", s["rows"]], ["import through Manifest.upsert_files, rows/s", s["import_rows_per_s"]],
            ["`ratdcs report` wall s (fresh process)", _cmd(s["report"])],
            ["`ratdcs report` peak RSS MB", s["report"]["peak_rss_mb"]],
            ["claim_batch(100) ms, all pending: median / worst", "%.2f / %.2f" % tuple(s["claim_ms_all_pending"])],
            ["claim_batch(100) ms, all but 10,000 done: median / worst", "%.2f / %.2f" % tuple(s["claim_ms_mostly_done"])],
            ["no-op `ratdcs sync --workers 4` wall s", _cmd(s["noop_sync"])],
            ["database on disk after import, MB", s["db_mb_after_import"]],
            ["database on disk at the end, MB", s["db_mb"]]]
    return table(["scale metric", "value"], rows)


def _cmd(entry: dict) -> str:
    return _fmt(entry["wall_s"]) + ("" if entry["ok"] else f" (FAILED: {entry['note'][-120:]})")


def render_machine(m: dict) -> str:
    return (f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['os']}, kernel {m['kernel']}, "
            f"Python {m['python']}; work directory on {m['workdir_fs']}; load average at start "
            f"{', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])}, at the end "
            f"{', '.join(f'{x:.2f}' for x in m.get('load_avg_at_end', ()))} (1/5/15 min). ratdcs {m['ratdcs_commit']}"
            f"{' (+ uncommitted changes)' if m.get('ratdcs_uncommitted') else ''}"
            f"{' measured from a copy taken at the start' if m.get('ratdcs_snapshot') else ''}; {m['nginx']}; {m['aria2c']}; "
            f"{m['wget'].split(' built')[0]}; {' '.join(m['curl'].split()[:2])}; astroquery {m['astroquery']}, "
            f"astropy {m['astropy']}.")


def render(results: dict) -> str:
    parts = [f"Command: `{results['command']}` ({results['mode']} mode), started {results['started_at']}, "
             f"took {results.get('elapsed_s', 0):.0f} s.", "", "Machine: " + render_machine(results["machine"])]
    if "sets" in results:
        parts += ["", "File sets: " + "; ".join(
            f"({k}) {v['label']} = {v['files']:,} FITS files of {v['file_bytes']:,} bytes, {v['bytes'] / MB:,.1f} MB"
            for k, v in results["sets"].items())]
    sections = (("limits", "Machine limits (median of 3 each)", lambda: render_limits(results)),
                ("peers", "Transfer: ratdcs sync --workers 4 vs peers (medians; ratio = median wall / best peer's; "
                          "peer + sha256 = aria2c or wget that also checks each file's sha256 and flushes to disk; "
                          "python-floor = the leanest stdlib Python doing those checked, durable transfers, "
                          "not a peer)",
                 lambda: render_transfer(results)),
                ("profile", "Profile of ratdcs sync where it is > 10% behind the best peer (py-spy, all threads)",
                 lambda: render_profile(results)),
                ("verify", "Where ratdcs's time goes: its verification alone, same files", lambda: render_verify(results)),
                ("per_file_costs", "Per-file costs of ratdcs's steps on small files",
                 lambda: render_per_file(results)),
                ("astroquery", "astroquery comparison (sandbox)", lambda: render_astroquery(results["astroquery"])),
                ("wan", "WAN: the sandbox at 80 ms and 20 MB/s per connection", lambda: render_wan(results["wan"])),
                ("scale", "Scale: 1,000,000-row manifest" if results.get("scale", {}).get("rows") == 1_000_000
                 else "Scale", lambda: render_scale(results["scale"])))
    for key, title, fn in sections:
        if key in results:
            parts += ["", f"### {title}", "", fn()]
    problems = failures(results)
    if problems:
        parts += ["", "### Runs that failed", ""] + [f"- {p}" for p in problems]
    return "\n".join(parts)


def write_readme(path: Path, results: dict, text: str) -> None:
    """Replace the text between the results markers of bench/README.md (add them if missing)."""
    readme = path.read_text() if path.exists() else f"# ratdcs benchmarks\n\n{START}\n{END}\n"
    if START not in readme:
        readme += f"\n## Latest results\n\n{START}\n{END}\n"
    block = f"{START}\n{text}\n{END}"
    path.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, readme, flags=re.S))
