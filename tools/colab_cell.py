"""The install cell of every chapter notebook: what makes a chapter run on Google Colab.

    python tools/colab_cell.py --write notebooks/*.ipynb   # insert the cell, or refresh a stale copy
    python tools/colab_cell.py --check notebooks/*.ipynb   # exit 1 if a notebook lacks it or is stale

On Colab the cell clones the book's repository (the chapters read ``../benchmarks/results`` and
Chapter 8 runs ``notebooks/torchrec_sharding.py``), pip-installs the library from that clone
together with the few packages the chapters import that Colab lacks, and moves into the clone's
``notebooks/`` folder. Anywhere else it does nothing, prints nothing and takes microseconds, so
nbval runs it like any other cell. The environment variable ``RECCOMPRESS_INSTALL_FROM``, set to
a checkout of the repository, makes the cell install from that checkout on any machine (this is
how the tests exercise it).

Everything in the cell is computed, never typed: the repository's address and branch come from
``_config.yml`` (``repository: url`` and ``branch``), the extras' versions from
``constraints.txt``. The cell carries the tags ``remove-cell`` (the website never shows it) and
``colab-install`` (how this tool finds it again) and sits just before the notebook's first code
cell, below the chapter's title. Notebooks are rewritten atomically in Jupyter's own format
(one-space indent, sorted keys, UTF-8 as is, final newline), so every other cell stays
byte-identical.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

from reccompress.files import write_text_atomically

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "_config.yml"
CONSTRAINTS = ROOT / "constraints.txt"

INSTALL_FROM_VARIABLE = "RECCOMPRESS_INSTALL_FROM"
CELL_TAG = "colab-install"
CELL_TAGS = ["remove-cell", CELL_TAG]
CELL_ID = "colab-install"
COLAB_CLONE = "/content/reccompress"

# What the chapters import that a Colab runtime does not ship (numpy, scipy, matplotlib and torch
# it has; the library's own requirements come with it). Versions are read from constraints.txt.
COLAB_EXTRAS = ("implicit", "faiss-cpu", "myst-nb")  # Ch. 3; Ch. 6; `glue` in every chapter
# Assumptions the tests hold the chapters' imports to: what a Colab runtime already ships, and
# what is left out. Chapter 8's TorchRec section needs torch 2.13's CPU build with fbgemm-gpu-cpu
# (requirements-torchrec.txt), which Colab's own torch does not match: it runs locally and on Binder.
COLAB_SHIPS = ("numpy", "scipy", "matplotlib", "torch", "ipython")
NOT_ON_COLAB = ("torchrec", "fbgemm-gpu-cpu")

CELL_TEMPLATE = '''\
# Colab only: install the library and the chapters' extras, and work in a copy of the book's
# repository (the chapters read its benchmark results). Anywhere else this cell does nothing.
import os
import sys

if "google.colab" in sys.modules or os.environ.get("{variable}"):
    import subprocess

    checkout = os.environ.get("{variable}")  # a local checkout (tests)
    if not checkout:
        checkout = "{clone}"
        if not os.path.isdir(checkout):
            subprocess.run(
                ["git", "clone", "--quiet", "--depth=1", "--branch={branch}",
                 "{url}", checkout],
                check=True,
            )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", checkout,
         {requirements}],
        check=True,
    )
    os.chdir(os.path.join(checkout, "notebooks"))'''


class NotebookFormatError(ValueError):
    """A notebook whose file is not in Jupyter's own JSON layout (rewriting it would reformat it)."""


# ------------------------------------------------------------------------ what the cell says
def repository(config_path: Path = CONFIG) -> tuple[str, str]:
    """The repository's URL and branch from ``_config.yml`` (``repository: url`` and ``branch``)."""
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    section = config.get("repository") or {}
    url, branch = section.get("url"), section.get("branch", "main")
    if not isinstance(url, str) or not re.fullmatch(r"https://\S+", url):
        raise ValueError(
            f"{config_path}: expected 'repository: url:' to be an https:// address, found {url!r}; "
            "set it to the book's repository (e.g. https://github.com/OWNER/NAME)."
        )
    if not isinstance(branch, str) or not re.fullmatch(r"[\w./-]+", branch):
        raise ValueError(f"{config_path}: 'repository: branch:' should be a branch name, found {branch!r}.")
    return url.rstrip("/"), branch


def constraint_pins(constraints_path: Path = CONSTRAINTS) -> dict[str, str]:
    """``{normalized name: version}`` for every ``name==version`` line of a pip constraints file."""
    pins = {}
    for line in constraints_path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(\S+)", line)
        if match:
            pins[normalize(match.group(1))] = match.group(2)
    return pins


def normalize(name: str) -> str:
    """A distribution name in PEP 503 form: ``Faiss_CPU`` and ``faiss-cpu`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(names, constraints_path: Path = CONSTRAINTS) -> list[str]:
    """``name==version`` for each name, the version taken from the constraints file."""
    pins = constraint_pins(constraints_path)
    missing = [name for name in names if normalize(name) not in pins]
    if missing:
        raise ValueError(
            f"{constraints_path} pins no version of {', '.join(missing)}; the install cell pins the "
            "versions the book was tested with. Add the package to requirements.txt and regenerate "
            "constraints.txt (bash .ci/lock), or drop it from COLAB_EXTRAS."
        )
    return [f"{name}=={pins[normalize(name)]}" for name in names]


def cell_source(config_path: Path = CONFIG, constraints_path: Path = CONSTRAINTS) -> str:
    """The install cell's code, from ``_config.yml``'s repository and ``constraints.txt``'s pins."""
    url, branch = repository(config_path)
    requirements = ", ".join(f'"{requirement}"' for requirement in pinned(COLAB_EXTRAS, constraints_path))
    return CELL_TEMPLATE.format(
        variable=INSTALL_FROM_VARIABLE, clone=COLAB_CLONE, branch=branch, url=url, requirements=requirements
    )


def install_cell(source: str) -> dict:
    """The cell as stored in a notebook: no outputs, never run, tagged so the site hides it."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": CELL_ID,
        "metadata": {"tags": list(CELL_TAGS)},
        "outputs": [],
        "source": source.splitlines(keepends=True),
    }


# ----------------------------------------------------------------------- notebooks, in and out
def dumps(notebook: dict) -> str:
    """A notebook as Jupyter writes it: indent 1, sorted keys, non-ASCII as is, final newline."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def read_notebook(path: Path) -> dict:
    """Load a notebook, refusing one whose file is not in Jupyter's layout (see :func:`dumps`)."""
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    if dumps(notebook) != text:
        raise NotebookFormatError(
            f"{path} is not stored in Jupyter's layout (one-space indent, sorted keys, final newline), "
            "so rewriting it would reformat every cell; open and save it in Jupyter (or run "
            "`jupyter nbconvert --to notebook --inplace` on it), then run this tool again."
        )
    return notebook




# --------------------------------------------------------------------- finding and placing it
def install_cell_indices(notebook: dict) -> list[int]:
    """Indices of the cells tagged ``colab-install``."""
    return [
        index
        for index, cell in enumerate(notebook.get("cells", []))
        if CELL_TAG in (cell.get("metadata", {}).get("tags") or [])
    ]


def first_code_index(cells: list[dict]) -> int:
    """Where the install cell belongs: before the first code cell (after the title), else at the end."""
    return next((index for index, cell in enumerate(cells) if cell.get("cell_type") == "code"), len(cells))


def problems(notebook: dict, source: str) -> list[str]:
    """Why a notebook's install cell is missing, stale or misplaced (empty when it is current)."""
    indices = install_cell_indices(notebook)
    if not indices:
        return [f"no install cell (a code cell tagged {CELL_TAG!r})"]
    if len(indices) > 1:
        return [f"{len(indices)} install cells (cells {indices}); expected exactly one"]
    cells = notebook["cells"]
    index = indices[0]
    cell = cells[index]
    found = []
    if cell.get("cell_type") != "code":
        found.append(f"cell {index} is tagged {CELL_TAG!r} but is a {cell.get('cell_type')} cell")
    if "".join(cell.get("source", [])) != source:
        found.append(f"cell {index} is a stale copy of the install cell (its code differs from _config.yml and constraints.txt)")
    if list(cell.get("metadata", {}).get("tags") or []) != CELL_TAGS:
        found.append(f"cell {index} has tags {cell['metadata'].get('tags')}; expected {CELL_TAGS}")
    others = [i for i, c in enumerate(cells) if c.get("cell_type") == "code" and i != index]
    if others and others[0] < index:
        found.append(f"the install cell is cell {index}, after code cell {others[0]}; it must run first")
    return found


def with_install_cell(notebook: dict, source: str) -> dict:
    """The notebook with exactly one, current install cell before its first other code cell.

    An existing install cell keeps its id and execution count (its behaviour outside Colab never
    changes, so a notebook run stays a valid run) and loses any outputs; every other cell is kept
    as it is.
    """
    cells = list(notebook.get("cells", []))
    indices = install_cell_indices(notebook)
    cell = install_cell(source)
    if indices:
        old = cells[indices[0]]
        cell["id"] = old.get("id", CELL_ID)
        cell["execution_count"] = old.get("execution_count")
        for index in reversed(indices):
            del cells[index]
    elif any(c.get("id") == CELL_ID for c in cells):
        raise ValueError(f"a cell already has the id {CELL_ID!r} but not the tag {CELL_TAG!r}; rename that cell's id")
    cells.insert(first_code_index(cells), cell)
    return {**notebook, "cells": cells}


# ----------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="insert the install cell, or refresh a stale one")
    mode.add_argument("--check", action="store_true", help="exit 1 if a notebook lacks the cell or has a stale copy")
    parser.add_argument("notebooks", nargs="+", type=Path, help="the notebooks (.ipynb)")
    parser.add_argument("--config", type=Path, default=CONFIG, help="_config.yml holding 'repository: url'")
    parser.add_argument("--constraints", type=Path, default=CONSTRAINTS, help="the pins of the extras")
    args = parser.parse_args(argv)

    source = cell_source(args.config, args.constraints)
    failures = 0
    for path in args.notebooks:
        try:
            notebook = read_notebook(path)
        except (OSError, ValueError) as error:  # JSON and layout errors are ValueErrors
            print(f"{path}: {error}", file=sys.stderr)
            failures += 1
            continue
        found = problems(notebook, source)
        if args.check:
            for problem in found:
                print(f"{path}: {problem}", file=sys.stderr)
            failures += bool(found)
        elif found:
            write_text_atomically(path, dumps(with_install_cell(notebook, source)))
            print(f"{path}: install cell written")
    if args.check and failures:
        print(f"{failures} notebook(s) need the current install cell: run python tools/colab_cell.py --write "
              + " ".join(str(path) for path in args.notebooks), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
