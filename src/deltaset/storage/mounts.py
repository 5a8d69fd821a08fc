"""Whether a folder is on a disk of this machine or on a network file system.

A folder storage on a local disk costs a pull no download: caching what is read from it only
doubles the writes. Read from /proc/self/mountinfo (Linux); elsewhere, or when it cannot be
read, a folder counts as remote, which keeps caching as for any other storage.
"""

from __future__ import annotations

import os
from functools import cache

NETWORK_TYPES = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre"}
    | {"beegfs", "gpfs", "ocfs2", "gfs2", "davfs", "coda", "ncpfs"}
)  # and every FUSE file system (sshfs, s3fs, gcsfuse, rclone...): most of them are remote
MOUNTINFO = "/proc/self/mountinfo"


@cache
def _mounts(mountinfo: str) -> tuple[tuple[str, str], ...]:
    """(mount point, file system type) of every mount, longest mount point first."""
    found = []
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            fields = line.split()
            if " - " not in line or len(fields) < 5:
                continue
            after = line.split(" - ", 1)[1].split()
            point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
            found.append((point, after[0] if after else ""))
    return tuple(sorted(found, key=lambda mount: len(mount[0]), reverse=True))


def on_local_disk(folder: str, mountinfo: str = MOUNTINFO) -> bool:
    """True when ``folder`` is on a file system of this machine (not a network one)."""
    path = os.path.realpath(folder)
    try:
        mounts = _mounts(mountinfo)
    except OSError:
        return False
    for point, kind in mounts:
        if path == point or path.startswith(point.rstrip("/") + "/"):
            return kind not in NETWORK_TYPES and not kind.startswith("fuse")
    return False
