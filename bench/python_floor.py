"""The "python-floor" reference of the peer benchmark: the leanest Python doing ratdcs's transfers.

    python bench/python_floor.py URL_LIST EXPECTED_SUMS OUT_DIR

Why it exists: the peer benchmark compares ``ratdcs sync --workers 4`` with aria2c, wget and
curl, and with wget + sha256 + sync. Whether a target such as "ratdcs no slower than wget +
sha256 + sync" is reachable by a Python program that keeps ratdcs's durability (each file
flushed before its rename) is a separate question; this script answers it. (With one sync at the
end instead, as wget + sha256 + sync does, the same loop is far faster: bench/README.md, seventh
stop.) It does the same work as wget + sha256 + sync, plus the fdatasync of each file before
its rename (every 16 files) that ratdcs does, in as little Python as possible: stdlib only, no ratdcs import, four
forked worker processes (no GIL shared between them), one keep-alive ``http.client`` connection
each, the body streamed through ``hashlib.sha256`` to its file. A ratio of ratdcs's wall time
to this one's shows the part of ratdcs's cost that is its own rather than the interpreter's.

It does no FITS structure or CHECKSUM/DATASUM checks and keeps no manifest (no database, no
resume, no retries), so it is cheaper than ratdcs by construction: a floor, not a competitor.
It is not one of the "best peer" references of the report.

What each worker does with its share of the list (``urls[i::4]``), per file: GET over its one
connection, the body streamed in reads of up to 1 MiB into ``OUT_DIR/.tmp/<name>.part`` (O_CREAT | O_EXCL)
and sha256, the digest compared with the expected digest for that file
name (a non-200 answer or a mismatch ends that worker with one line on stderr; the others finish
their shares and the run exits with status 1).
Every 16 files, and for the
remainder at the end of the share: ``os.fdatasync`` each pending temp file, close it, then
``os.replace`` each into ``OUT_DIR/<name>``. Last, one ``os.fsync`` of OUT_DIR. The parent waits
for the four workers, removes the (then empty) ``.tmp`` directory so only the final files are
left, and exits non-zero if any worker failed.

EXPECTED_SUMS is ``openssl dgst -sha256 -r`` output (``<hex> *<name>`` per line), the file the
benchmark already prepares for wget+sha256.
"""

import hashlib
import http.client
import os
import posixpath
import sys
from urllib.parse import unquote, urlsplit

WORKERS = 4
BATCH = 16  # files written before one round of fdatasync + rename
CHUNK = 1 << 20  # bytes per read, ratdcs's download.chunk_size


def main(argv):
    if len(argv) != 4:
        print("usage: python_floor.py URL_LIST EXPECTED_SUMS OUT_DIR", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        urls = [line.strip() for line in f if line.strip()]
    expected = read_sums(argv[2])
    out = argv[3]
    tmp = os.path.join(out, ".tmp")
    os.makedirs(tmp, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    pids = []
    for i in range(WORKERS):
        share = urls[i::WORKERS]
        if not share:
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                worker(share, expected, out, tmp)
                code = 0
            except Exception as exc:  # one line on stderr, the exit status says the rest
                print(f"python-floor worker {i}: {type(exc).__name__}: {exc}", file=sys.stderr)
            finally:
                sys.stderr.flush()
                os._exit(code)
        pids.append(pid)
    failed = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code < 0:  # killed: it printed nothing
            print(f"python-floor: worker {pid} killed by signal {-code}", file=sys.stderr)
        failed += code != 0
    if failed:
        return 1
    os.rmdir(tmp)  # empty by now; fails loudly if not
    return 0


def read_sums(path):
    """``{name: hex}`` from ``<hex> *<name>`` lines (binary mode; text mode's ``<hex>  <name>`` too)."""
    sums = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            digest, _, name = line.partition(" ")
            sums[name[1:] if name[:1] in "* " else name] = digest.lower()
    return sums


def worker(urls, expected, out, tmp):
    first = urlsplit(urls[0])
    conn = http.client.HTTPConnection(first.hostname, first.port or 80)
    pending = []  # (fd, temp path, final path) written but not yet durable
    for url in urls:
        parts = urlsplit(url)
        if (parts.hostname, parts.port) != (first.hostname, first.port):
            raise ValueError(f"{url}: not on {first.netloc}, the one host this script talks to")
        name = posixpath.basename(unquote(parts.path))
        want = expected.get(name)
        if want is None:
            raise ValueError(f"{name}: no expected sha256")
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        resp = conn.getresponse()
        if resp.status != 200:
            raise ValueError(f"{url}: HTTP {resp.status}")
        part = os.path.join(tmp, name + ".part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        pending.append((fd, part, os.path.join(out, name)))
        hasher = hashlib.sha256()
        # Streamed as ratdcs streams: a 256 MB body is never held whole, and writing starts at once.
        while chunk := resp.read(CHUNK):  # read, not read1: it ends the response at Content-Length
            hasher.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        if (got := hasher.hexdigest()) != want:
            raise ValueError(f"{name}: sha256 {got}, expected {want}")
        if len(pending) >= BATCH:
            commit(pending)
    commit(pending)
    conn.close()
    dir_fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def commit(pending):
    """Make every pending temp file durable, then rename each into place."""
    for fd, _, _ in pending:
        os.fdatasync(fd)
        os.close(fd)
    for _, part, final in pending:
        os.replace(part, final)
    pending.clear()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
