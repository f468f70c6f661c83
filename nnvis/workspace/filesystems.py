"""Which filesystem holds a workspace: diskcache's SQLite is not safe with several writers on a
network filesystem (NFS, SMB, ...), whose locks SQLite cannot trust, so the server says so."""

from __future__ import annotations

import logging
import os
from pathlib import Path

NETWORK_TYPES = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre", "gpfs", "afs",
                 "davfs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.glusterfs", "fuse.cephfs")
LOG = logging.getLogger("nnvis")
WARNED: set[str] = set()
NETWORK_ADVICE = ("SQLite (the workspace's store) is not safe with several writers on a network filesystem: "
                  "let one machine write it (one `nnvis run` or job host) and serve it read-only elsewhere "
                  "(NNVIS_READ_ONLY=1), or keep the workspaces on a local disk")


def unescape(field: str) -> str:
    """A /proc/mounts field with its octal escapes (\\040 for a space) decoded."""
    return field.encode().decode("unicode_escape") if "\\" in field else field


def filesystem_type(path: str | Path, mounts: str | None = None) -> str | None:
    """The type of the filesystem mounted deepest above `path` (`mounts`: /proc/mounts' text)."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = unescape(fields[1])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def network_filesystem(path: str | Path, mounts: str | None = None) -> str | None:
    """The network filesystem type holding `path`, or None for a local one."""
    kind = filesystem_type(path, mounts)
    return kind if kind in NETWORK_TYPES else None


def warn_if_network(path: str | Path, mounts: str | None = None) -> str | None:
    """Log once per folder when `path` lies on a network filesystem; the warning, or None."""
    kind = network_filesystem(path, mounts)
    if kind is None:
        return None
    message = f"workspace {path} is on a network filesystem ({kind}): {NETWORK_ADVICE}"
    if str(path) not in WARNED:
        WARNED.add(str(path))
        LOG.warning(message)
    return message
