"""Writing files atomically: a reader never sees a half-written file, a failed write leaves the
old file in place, and no temporary file is left behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomically(path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to a temporary file beside ``path``, then rename
    it over ``path``. The file keeps the permissions of the one it replaces (0o644 if new)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
