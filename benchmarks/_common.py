"""What the benchmark scripts share: writing their JSON result atomically, and the interior check."""

from __future__ import annotations

import json
from pathlib import Path

from reccompress.files import write_text_atomically


def write_json(path: Path, payload: dict, *, indent: int = 1, sort_keys: bool = False) -> None:
    """Write ``payload`` as JSON to a temporary file beside ``path``, then rename it over ``path``:
    a reader never sees a half-written file, and a failed run leaves the old one in place."""
    write_text_atomically(path, json.dumps(payload, indent=indent, sort_keys=sort_keys) + "\n")


def interior(values, chosen) -> bool:
    """Whether ``chosen`` is neither the first nor the last of the grid ``values``."""
    values = list(values)
    return values.index(chosen) not in (0, len(values) - 1)
