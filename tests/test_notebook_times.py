"""The course guide's run-time table is generated from measured times and covers every chapter."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("notebook_times", ROOT / "tools" / "notebook_times.py")
notebook_times = importlib.util.module_from_spec(spec)
spec.loader.exec_module(notebook_times)

RECORD = {
    "date": "2026-01-01",
    "machine": {"cpus": 2, "python": "Python 3.11.0", "torch": "2.13.0"},
    "notebooks": [
        {"file": "notebooks/01_a", "title": "1. A", "seconds": 90.0, "code_cells": 3},
        {"file": "notebooks/02_b", "title": "2. B", "seconds": 30.0, "code_cells": 5},
    ],
}


def test_committed_table_is_generated_and_covers_the_toc():
    assert notebook_times.check() == []
    record = json.loads(notebook_times.JSON_PATH.read_text())
    assert all(row["seconds"] > 0 for row in record["notebooks"])


def test_table_rows_and_total_follow_the_record():
    table = notebook_times.render_table(RECORD)
    assert "| 1. A | `notebooks/01_a.ipynb` | 3 | 1.5 min (90 s) |" in table
    assert "**2.0 min**" in table and "2 CPU cores" in table


def test_check_flags_an_edited_table_and_a_missing_chapter(tmp_path, monkeypatch):
    json_path, table_path = tmp_path / "times.json", tmp_path / "times.md"
    monkeypatch.setattr(notebook_times, "ROOT", tmp_path)
    monkeypatch.setattr(notebook_times, "JSON_PATH", json_path)
    monkeypatch.setattr(notebook_times, "TABLE_PATH", table_path)
    monkeypatch.setattr(notebook_times, "chapter_notebooks",
                        lambda: ["notebooks/01_a", "notebooks/02_b"])
    assert "missing" in notebook_times.check()[0]
    json_path.write_text(json.dumps(RECORD))
    table_path.write_text(notebook_times.render_table(RECORD))
    assert notebook_times.check() == []
    table_path.write_text(notebook_times.render_table(RECORD).replace("90 s", "60 s"))
    assert "edited or is stale" in notebook_times.check()[0]
    monkeypatch.setattr(notebook_times, "chapter_notebooks",
                        lambda: ["notebooks/01_a", "notebooks/02_b", "notebooks/03_c"])
    table_path.write_text(notebook_times.render_table(RECORD))
    assert "the toc lists" in notebook_times.check()[0]
