"""Which file system a path sits on, and whether SQLite's locking can be trusted there.

SQLite's WAL mode needs shared memory between the processes that open the database, and its
rollback-journal locking relies on POSIX locks that network file systems implement badly or not
at all (https://www.sqlite.org/wal.html, "WAL does not work over a network filesystem";
https://www.sqlite.org/faq.html#q5). A manifest on NFS, Lustre, GPFS or SMB can be corrupted by
two syncs, or by a sync and a report, on different machines. The data directory may be there
(that is what `sync --cluster` needs); the manifest should not.

The mount table is read from /proc/self/mountinfo (Linux); elsewhere nothing is known and
nothing is said.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["NETWORK_FILESYSTEMS", "filesystem_of", "network_filesystem_warning", "parse_mountinfo"]

MOUNTINFO = "/proc/self/mountinfo"

# File system type (as in mountinfo) -> the name users know it by.
NETWORK_FILESYSTEMS = {
    "nfs": "NFS", "nfs4": "NFS", "lustre": "Lustre", "gpfs": "GPFS (IBM Spectrum Scale)",
    "cifs": "CIFS/SMB", "smb3": "CIFS/SMB", "smbfs": "CIFS/SMB", "ceph": "CephFS", "fuse.ceph": "CephFS",
    "glusterfs": "GlusterFS", "fuse.glusterfs": "GlusterFS", "beegfs": "BeeGFS", "afs": "AFS",
    "panfs": "PanFS", "fuse.sshfs": "SSHFS", "9p": "9P", "wekafs": "WekaFS", "fuse.s3fs": "s3fs",
    "fuse.gcsfuse": "gcsfuse", "fuse.juicefs": "JuiceFS", "fuse.cvmfs2": "CernVM-FS", "orangefs": "OrangeFS",
    "pvfs2": "OrangeFS", "quobyte": "Quobyte", "fuse.quobyte": "Quobyte",
}


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040 ...)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[tuple[str, str, str]]:
    """(mount point, file system type, source) for each line of a mountinfo table."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or not tail:
            continue
        mounts.append((_unescape(fields[4]), tail[0], _unescape(tail[1]) if len(tail) > 1 else ""))
    return mounts


def filesystem_of(path: str | os.PathLike, mountinfo: str) -> tuple[str, str, str] | None:
    """The (mount point, type, source) ``path`` lives on: the last-mounted longest matching mount point."""
    target = str(path)
    best = None
    for mount in parse_mountinfo(mountinfo):
        point = mount[0]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = mount
    return best


def network_filesystem_warning(path: str | os.PathLike, mountinfo: str | None = None) -> str | None:
    """The warning to give when the manifest at ``path`` sits on a network file system, else None.

    ``mountinfo`` is the text of a mount table (tests); by default /proc/self/mountinfo is read.
    """
    if mountinfo is None:
        try:
            mountinfo = Path(MOUNTINFO).read_text()
        except OSError:
            return None
    resolved = Path(os.path.realpath(path))
    found = filesystem_of(resolved, mountinfo)
    if found is None or found[1] not in NETWORK_FILESYSTEMS:
        return None
    point, fstype, source = found
    name = NETWORK_FILESYSTEMS[fstype]
    return (f"the manifest {resolved} is on {name} ({fstype} {source} mounted at {point}), a network file system "
            "where SQLite's locking is not safe: two processes on different machines can corrupt it - keep the "
            "manifest on a local disk (`manifest:` in the configuration or `--db`) and leave only the data "
            "directory on the shared storage (docs/scale.md)")
