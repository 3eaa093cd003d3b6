"""Measure every chapter notebook's run time and write the course guide's table.

    python tools/notebook_times.py            # run each chapter once, one at a time, and write
                                               # book/_generated/notebook_times.{json,md}
    python tools/notebook_times.py --save      # the same, and store each fresh run's outputs in
                                               # the notebook (the refresh before a commit)
    python tools/notebook_times.py --check     # the table matches the JSON and the toc (fast)

Each notebook listed in _toc.yml is executed top to bottom in a fresh kernel (a copy: the
committed notebook is not touched), one at a time, as a learner would run it; the wall-clock time
is measured from the kernel's start to the last cell's end. The Markdown table is generated from
the JSON, never typed; the course guide includes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

from reccompress.files import write_text_atomically

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "book" / "_generated"
JSON_PATH, TABLE_PATH = OUT / "notebook_times.json", OUT / "notebook_times.md"


def chapter_notebooks(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """The toc's notebook entries, in reading order (paths relative to the root, no suffix)."""
    toc = yaml.safe_load(toc_path.read_text())
    files = [chapter["file"] for part in toc.get("parts", []) for chapter in part.get("chapters", [])]
    return [f for f in files if (ROOT / f"{f}.ipynb").exists()]


def notebook_title(path: Path) -> str:
    """The notebook's first Markdown heading, without the leading #'s."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError(f"{path}: no '# Title' heading in any Markdown cell; add one")


def run_once(path: Path, save: bool = False, timeout: int = 1800) -> float:
    """Execute the notebook in a fresh kernel (cwd = its folder); wall-clock seconds.

    The run works on a copy in memory; with ``save`` the executed notebook replaces the file
    (atomically, only after every cell has run without error).
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if save:
        write_text_atomically(path, nbformat.writes(nb) + "\n")
    return seconds




def render_table(record: dict) -> str:
    """The Markdown table of the course guide, from the JSON record."""
    lines = [
        "| chapter | notebook | code cells | run time |",
        "|---|---|---:|---:|",
    ]
    total = 0.0
    for row in record["notebooks"]:
        seconds = row["seconds"]
        total += seconds
        lines.append(f"| {row['title']} | `{row['file']}.ipynb` | {row['code_cells']} | "
                     f"{seconds / 60:.1f} min ({seconds:.0f} s) |")
    lines.append(f"| **all chapters** | | | **{total / 60:.1f} min** |")
    machine = record["machine"]
    lines += ["", f"Measured by `python tools/notebook_times.py` on {record['date']}: "
              f"{machine['cpus']} CPU cores, {machine['python']}, torch {machine['torch']}, "
              "one notebook at a time, each in a fresh kernel, wall-clock from the kernel's start "
              "to the last cell's end.", ""]
    return "\n".join(lines)


def measure(files: list[str], save: bool = False) -> dict:
    import torch

    rows = []
    for k, file in enumerate(files, start=1):
        path = ROOT / f"{file}.ipynb"
        print(f"[{k}/{len(files)}] {file}.ipynb ...", end=" ", flush=True)
        seconds = run_once(path, save=save)
        print(f"{seconds:.0f} s", flush=True)
        nb = nbformat.read(path, as_version=4)
        rows.append({"file": file, "title": notebook_title(path), "seconds": round(seconds, 1),
                     "code_cells": sum(c.cell_type == "code" for c in nb.cells)})
    return {"date": time.strftime("%Y-%m-%d"),
            "machine": {"cpus": os.cpu_count(), "python": f"Python {platform.python_version()}",
                        "torch": torch.__version__},
            "notebooks": rows}


def check() -> list[str]:
    """Problems with the committed table: missing, stale, or not covering the toc's chapters."""
    if not JSON_PATH.exists() or not TABLE_PATH.exists():
        return [f"{JSON_PATH.relative_to(ROOT)} or {TABLE_PATH.relative_to(ROOT)} is missing: "
                "run python tools/notebook_times.py"]
    record = json.loads(JSON_PATH.read_text())
    problems = []
    measured = [row["file"] for row in record["notebooks"]]
    if measured != chapter_notebooks():
        problems.append(f"the table covers {measured}, the toc lists {chapter_notebooks()}: "
                        "run python tools/notebook_times.py")
    if TABLE_PATH.read_text() != render_table(record):
        problems.append(f"{TABLE_PATH.relative_to(ROOT)} was edited or is stale: it must be "
                        "generated from the JSON (python tools/notebook_times.py --render)")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="verify the table; run nothing")
    group.add_argument("--render", action="store_true", help="rewrite the table from the JSON")
    group.add_argument("--save", action="store_true",
                       help="also store each run's outputs in its notebook")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        print("\n".join(problems) or "notebook times: table matches the JSON and the toc")
        return 1 if problems else 0
    if args.render:
        record = json.loads(JSON_PATH.read_text())
    else:
        if not os.environ.get("RECCOMPRESS_DATA"):
            print("note: RECCOMPRESS_DATA is not set; the library downloads MovieLens first",
                  file=sys.stderr)
        record = measure(chapter_notebooks(), save=args.save)
        write_text_atomically(JSON_PATH, json.dumps(record, indent=1) + "\n")
    write_text_atomically(TABLE_PATH, render_table(record))
    print(f"wrote {TABLE_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
