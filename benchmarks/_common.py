"""What the benchmark scripts share: writing their JSON result atomically, and the interior check."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_json(path: Path, payload: dict, *, indent: int = 1, sort_keys: bool = False) -> None:
    """Write ``payload`` as JSON to a temporary file beside ``path``, then rename it over ``path``:
    a reader never sees a half-written file, and a failed run leaves the old one in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(payload, file, indent=indent, sort_keys=sort_keys)
            file.write("\n")
        os.chmod(temporary, 0o644)  # mkstemp creates the file private to its owner
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def interior(values, chosen) -> bool:
    """Whether ``chosen`` is neither the first nor the last of the grid ``values``."""
    values = list(values)
    return values.index(chosen) not in (0, len(values) - 1)
