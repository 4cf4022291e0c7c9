"""The hash a worker checks its copy of a pipeline file against is read again when the file changes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lockgate.executors.sources import file_hash


def test_a_changed_file_is_hashed_again_even_with_its_size_and_mtime_put_back(tmp_path: Path) -> None:
    path = tmp_path / "p.py"
    path.write_text("x = 1\n")
    assert file_hash(path) == hashlib.sha256(b"x = 1\n").hexdigest()
    before = path.stat()
    path.write_text("x = 2\n")  # the same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same mtime, as `cp -p` leaves it
    assert file_hash(path) == hashlib.sha256(b"x = 2\n").hexdigest()


def test_an_unchanged_file_is_not_read_again(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "p.py"
    path.write_text("y = 1\n")
    first = file_hash(path)
    reads: list[Path] = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or original(self))
    assert file_hash(path) == first
    assert reads == []
