"""A workspace on a network filesystem is said once in the log, from the deepest mount above it."""

import logging

from nnvis.workspace.filesystems import filesystem_type, network_filesystem, warn_if_network

MOUNTS = """/dev/sda1 / ext4 rw,relatime 0 0
server:/export /data nfs4 rw,vers=4.2 0 0
/dev/sdb1 /data/local ext4 rw 0 0
//nas/share /mnt/my\\040share cifs rw 0 0
tmpfs /tmp tmpfs rw 0 0
"""


def test_the_deepest_mount_above_a_folder_decides():
    assert filesystem_type("/data/team/ws", MOUNTS) == "nfs4"
    assert filesystem_type("/data/local/ws", MOUNTS) == "ext4"
    assert filesystem_type("/database", MOUNTS) == "ext4"  # not under /data: a prefix of the name is not a mount
    assert network_filesystem("/mnt/my share/ws", MOUNTS) == "cifs"
    assert network_filesystem("/tmp/ws", MOUNTS) is None


def test_a_network_workspace_is_warned_about_once(caplog):
    with caplog.at_level(logging.WARNING, logger="nnvis"):
        first = warn_if_network("/data/team/once", MOUNTS)
        warn_if_network("/data/team/once", MOUNTS)
        assert warn_if_network("/data/local/ws", MOUNTS) is None
    assert "network filesystem (nfs4)" in first and "NNVIS_READ_ONLY=1" in first
    assert [r.getMessage() for r in caplog.records].count(first) == 1


def test_this_machines_temporary_folder_is_read_from_proc_mounts(tmp_path):
    assert filesystem_type(tmp_path) is not None
