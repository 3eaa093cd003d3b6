"""Atomic text writes: replaced whole or not at all, nothing left behind."""

import os

import pytest

from reccompress.files import write_text_atomically


def test_writes_new_file_and_replaces_keeping_permissions(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    write_text_atomically(path, "a\r\nb\n")
    assert path.read_bytes() == b"a\r\nb\n" and (path.stat().st_mode & 0o777) == 0o644
    os.chmod(path, 0o755)
    write_text_atomically(path, "c")
    assert path.read_text() == "c" and (path.stat().st_mode & 0o777) == 0o755
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.txt"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(TypeError):
        write_text_atomically(path, None)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
