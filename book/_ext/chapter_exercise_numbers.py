"""Number each chapter's exercises "Exercise 4.1, 4.2, ..." instead of 1..N across the book.

Sphinx numbers enumerable nodes (sphinx-exercise's exercises among them) with one counter for
the whole book when the table of contents is not numbered, and the chapters number their own
headings ("4.1 ..."). After Sphinx has assigned its numbers, this extension renumbers the
exercises of every chapter notebook (``notebooks/NN_name``) as (NN, k), k = 1, 2, ... in page
order. Exercise titles, ``{numref}`` references and "Solution to Exercise 4.1" all read these
numbers.
"""

import re

CHAPTER = re.compile(r"(?:^|/)(\d+)_[^/]*$")


def renumber_exercises(app, env):
    """Replace the book-wide exercise numbers by chapter-wise ones; returns no docs to reread."""
    for docname, numbers in env.toc_fignumbers.items():
        match = CHAPTER.search(docname)
        exercises = numbers.get("exercise")
        if match is None or not exercises:
            continue
        chapter = int(match.group(1))
        in_page_order = sorted(exercises, key=lambda node_id: exercises[node_id])
        for k, node_id in enumerate(in_page_order, start=1):
            exercises[node_id] = (chapter, k)
    return []


def setup(app):
    # priority 900: after Sphinx's own numbering (the toctree collector, priority 500)
    app.connect("env-get-updated", renumber_exercises, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
