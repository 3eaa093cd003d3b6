"""Every chapter's exercises are sphinx-exercise objects with hidden, executed solutions.

Each chapter notebook holds at least three ``{exercise}`` directives labelled ``ex-ch{N}-{k}``
(k = 1, 2, ... in order), each followed by a ``{solution-start} ... :class: dropdown`` /
``{solution-end}`` pair enclosing at least one executed code cell, and at least one exercise is a
"write it yourself" one. nbval runs those cells with the rest of the notebook, so every solution
is checked whenever the tests run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

EXERCISE = re.compile(r"^(`{3,}|:{3,})\{exercise\}\s*(?P<title>[^\n]*)\n:label:\s*(?P<label>\S+)", re.M)
SOLUTION_START = re.compile(r"^`{3,}\{solution-start\}\s*(?P<label>\S+)\s*\n(?P<options>(?::[^\n]*\n)*)", re.M)
SOLUTION_END = re.compile(r"^`{3,}\{solution-end\}", re.M)


def exercise_structure(cells: list[dict]) -> list[dict]:
    """The exercises of a notebook's cells, in order: label, title, solution cells, class.

    Raises ValueError, naming the cell, when a solution is unclosed, nested, or belongs to no
    exercise.
    """
    exercises, open_solution = [], None
    for index, cell in enumerate(cells):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            for match in EXERCISE.finditer(source):
                exercises.append({"label": match["label"], "title": match["title"].strip(),
                                  "solution": None})
            start = SOLUTION_START.search(source)
            if start:
                if open_solution is not None:
                    raise ValueError(f"cell {index}: a solution starts inside the solution of "
                                     f"{open_solution['label']}; close it with solution-end first")
                owner = next((e for e in exercises if e["label"] == start["label"]), None)
                if owner is None:
                    raise ValueError(f"cell {index}: solution-start {start['label']} names no "
                                     "exercise above it")
                owner["solution"] = open_solution = {"label": start["label"],
                                                     "options": start["options"], "cells": []}
                continue
            if SOLUTION_END.search(source):
                if open_solution is None:
                    raise ValueError(f"cell {index}: solution-end without a solution-start")
                open_solution = None
                continue
        if open_solution is not None:
            open_solution["cells"].append(cell)
    if open_solution is not None:
        raise ValueError(f"the solution of {open_solution['label']} is never closed: add a "
                         "markdown cell with a solution-end directive")
    return exercises


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_exercises_are_numbered_hidden_and_executed(path):
    chapter = int(path.name[:2])
    exercises = exercise_structure(json.loads(path.read_text())["cells"])
    assert len(exercises) >= 3, f"{path.name}: {len(exercises)} exercises, at least 3 expected"
    assert [e["label"] for e in exercises] == [
        f"ex-ch{chapter}-{k}" for k in range(1, len(exercises) + 1)]
    assert any("yourself" in e["title"].lower() for e in exercises), (
        f"{path.name}: no 'write it yourself' exercise")
    for exercise in exercises:
        solution = exercise["solution"]
        assert solution is not None, f"{exercise['label']} has no solution"
        assert ":class: dropdown" in solution["options"], f"{exercise['label']}: solution not hidden"
        code = [c for c in solution["cells"] if c["cell_type"] == "code"]
        assert code, f"{exercise['label']}: the solution runs no code"
        assert all(c["execution_count"] for c in code), f"{exercise['label']}: unexecuted solution"


def md(text):
    return {"cell_type": "markdown", "source": [text]}


def code():
    return {"cell_type": "code", "source": ["assert True"], "execution_count": 1}


def test_structure_reads_a_well_formed_exercise():
    cells = [md("```{exercise} Write it yourself\n:label: ex-ch1-1\n\nDo it.\n```"),
             md("```{solution-start} ex-ch1-1\n:class: dropdown\n```"), code(),
             md("```{solution-end}\n```")]
    (exercise,) = exercise_structure(cells)
    assert exercise["title"] == "Write it yourself" and len(exercise["solution"]["cells"]) == 1


@pytest.mark.parametrize("cells, message", [
    ([md("```{exercise} A\n:label: ex-ch1-1\n\nx\n```"),
      md("```{solution-start} ex-ch1-1\n:class: dropdown\n```"), code()], "never closed"),
    ([md("```{solution-start} ex-ch1-9\n:class: dropdown\n```"), md("```{solution-end}\n```")],
     "names no exercise"),
    ([md("```{solution-end}\n```")], "without a solution-start"),
])
def test_structure_refuses_broken_solutions(cells, message):
    with pytest.raises(ValueError, match=message):
        exercise_structure(cells)
