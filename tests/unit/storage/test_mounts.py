"""Telling a folder on this machine's disks from one on a network file system."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltaset.storage.mounts import on_local_disk

MOUNTINFO = """\
22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:35 / /mnt/team rw,relatime shared:20 - nfs4 server:/export rw,vers=4.2
41 22 0:36 / /mnt/team/local\\040disk rw,relatime shared:21 - xfs /dev/vdb rw
42 22 0:37 / /mnt/bucket rw,nosuid shared:22 - fuse.s3fs s3fs rw,user_id=0
43 22 0:38 / /mnt/shared rw,relatime shared:23 - cifs //host/share rw
"""


@pytest.fixture
def mountinfo(tmp_path: Path) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(MOUNTINFO)
    return str(path)


@pytest.mark.parametrize(
    ("folder", "local"),
    [
        ("/home/me/storage", True),
        ("/mnt/team/datasets", False),
        ("/mnt/team", False),
        ("/mnt/team/local disk/storage", True),  # a local disk mounted inside a share
        ("/mnt/bucket/storage", False),  # FUSE: counted as remote
        ("/mnt/shared/storage", False),
        ("/mnt/teamwork/storage", True),  # /mnt/team is a prefix of its name, not its mount
    ],
)
def test_the_innermost_mount_decides(mountinfo: str, folder: str, local: bool) -> None:
    assert on_local_disk(folder, mountinfo) is local


def test_an_unreadable_mount_table_counts_as_remote(tmp_path: Path) -> None:
    assert on_local_disk("/home/me/storage", str(tmp_path / "missing")) is False


def test_this_machines_temporary_folder_is_local(tmp_path: Path) -> None:
    assert on_local_disk(str(tmp_path)) is True
