"""Every formula of the book follows book/notation.md.

book/notation.md holds two tables (symbols used throughout; symbols of one chapter, with the
chapters that use them) and, in an HTML comment block, rules: regular expressions for the known
ways to break the notation (the interaction matrix named A, a rank written d, ...). These tests
read the formulas ($...$ and $$...$$) of the book's pages and of every chapter notebook's markdown
cells, and check that

- every letter a formula uses is declared in the first table, or in the second for its chapter;
- no rule matches anywhere.

The last tests feed made-up offending text through the same checks, so that they can fail.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTATION = ROOT / "book" / "notation.md"
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BOOK_PAGES = sorted((ROOT / "book").glob("*.md"))

GREEK = ("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu "
         "nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma "
         "Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega ell").split()
FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
MATH = re.compile(r"\$\$(.+?)\$\$|(?<!\\)\$((?:[^$\n]|\n(?!\s*\n))+?)(?<!\\)\$", re.S)


@dataclass(frozen=True)
class Source:
    """One piece of markdown: a book page or one markdown cell of a chapter notebook."""

    where: str            # for messages: "notebooks/05_pruning.ipynb, cell 58"
    chapter: int | None   # None for the book's own pages
    text: str


@dataclass(frozen=True)
class Rule:
    """A known way to break the notation, read from the comment block of book/notation.md."""

    name: str
    scope: str                   # "math" or "text"
    pattern: re.Pattern
    example: str
    fix: str
    chapters: frozenset | None   # None: every chapter and page


# ---------------------------------------------------------------------------------------------
# Reading markdown


def prose_and_math(text: str) -> str:
    """The markdown without what is not prose or math: HTML comments, code blocks, directive
    option lines, inline code and the contents of roles (glue keys, citations, links)."""
    text = HTML_COMMENT.sub(" ", text)
    lines, code_fence, directives = [], None, []
    for line in text.split("\n"):
        fence = FENCE.match(line)
        if code_fence:                          # inside a code block: drop until it closes
            if fence and fence.group(1) == code_fence and not fence.group(2).strip():
                code_fence = None
            lines.append("")
        elif fence and fence.group(2).strip().startswith("{"):
            directives.append(fence.group(1))   # a directive: its body is prose
            lines.append("")
        elif fence and directives and fence.group(1) == directives[-1] and not fence.group(2).strip():
            directives.pop()
            lines.append("")
        elif fence:
            code_fence = fence.group(1)
            lines.append("")
        elif directives and re.match(r"^:[\w-]+:", line):
            lines.append("")                    # a directive option (:label:, :class:)
        else:
            lines.append(line)
    return re.sub(r"`[^`\n]*`", "``", "\n".join(lines))


def math_spans(text: str) -> list[str]:
    """Every formula of a piece of markdown: $$...$$ blocks and inline $...$."""
    return [m.group(1) or m.group(2) for m in MATH.finditer(prose_and_math(text))]


def _drop_braced(formula: str, commands: list[str]) -> str:
    """The formula with every \\command{...} of the given names removed, braces balanced."""
    opening = re.compile(r"\\(?:%s)\s*\{" % "|".join(commands))
    while match := opening.search(formula):
        depth, end = 1, match.end()
        while end < len(formula) and depth:
            depth += {"{": 1, "}": -1}.get(formula[end], 0)
            end += 1
        formula = formula[:match.start()] + " " + formula[end:]
    return formula


def symbols(formula: str) -> list[str]:
    """The symbols of a formula: single Latin letters, Greek letters (``\\lambda``) and decorated
    letters (``\\hat{s}``, ``\\mathbf{p}``); words in ``\\text``, ``\\mathrm`` and
    ``\\operatorname`` (NDCG, diag) and blackboard letters (R, E) are not symbols."""
    formula = _drop_braced(formula, ["text", "textrm", "mathrm", "operatorname", "mbox",
                                     "begin", "end"])
    formula = re.sub(r"\\mathbb\s*\{?\s*\w\s*\}?", " ", formula)
    found = []

    def decorated(match):
        found.append(f"\\{match.group(1)}{{{match.group(2)}}}")
        return " "

    formula = re.sub(r"\\(hat|tilde|bar|mathbf|mathcal|boldsymbol)\s*\{?\s*(\\[A-Za-z]+|[A-Za-z])\s*\}?",
                     decorated, formula)
    formula = re.sub(r"\\(?:hat|tilde|bar|mathbf|mathcal|boldsymbol)\s*\{?\s*\d\s*\}?", " ", formula)

    def greek(match):
        found.append("\\" + match.group(1))
        return " "

    formula = re.sub(r"\\(%s)(?![A-Za-z])" % "|".join(GREEK), greek, formula)
    formula = re.sub(r"\\[A-Za-z]+|\\.", " ", formula)
    return found + re.findall(r"[A-Za-z]", formula)


def sources() -> list[Source]:
    """The book's pages, then every markdown cell of every chapter, in reading order."""
    found = [Source(f"book/{page.name}", None, page.read_text(encoding="utf-8"))
             for page in BOOK_PAGES]
    for path in CHAPTERS:
        chapter = int(path.name[:2])
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        found += [Source(f"notebooks/{path.name}, cell {index}", chapter, "".join(cell["source"]))
                  for index, cell in enumerate(cells) if cell["cell_type"] == "markdown"]
    return found


# ---------------------------------------------------------------------------------------------
# Reading book/notation.md


def _table_rows(markdown: str, heading: str | None) -> list[list[str]]:
    """The rows of the first table after the heading (or of the page's first table)."""
    if heading is not None:
        start = markdown.index(heading)
        markdown = markdown[start + len(heading):]
    lines = markdown.split("\n")
    first = next(k for k, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[first + 2:]:            # skip the header and the |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def declared_symbols(markdown: str) -> tuple[set[str], dict[int, set[str]]]:
    """(symbols used throughout, {chapter: symbols of that chapter}) from the two tables."""
    markdown = HTML_COMMENT.sub(" ", markdown)
    book_wide = {symbol for row in _table_rows(markdown, None)
                 for formula in math_spans(row[0]) for symbol in symbols(formula)}
    per_chapter: dict[int, set[str]] = {}
    for row in _table_rows(markdown, "## Symbols of one chapter"):
        letters = {symbol for formula in math_spans(row[0]) for symbol in symbols(formula)}
        for chapter in re.findall(r"\d+", row[2]):
            per_chapter.setdefault(int(chapter), set()).update(letters)
    return book_wide, per_chapter


def notation_rules(markdown: str) -> list[Rule]:
    """The rules of the ``<!-- notation-rules ... -->`` block, one per blank-line-separated
    record of ``key: value`` lines."""
    block = re.search(r"<!-- notation-rules\n(.*?)-->", markdown, re.S)
    if block is None:
        raise ValueError("book/notation.md has no <!-- notation-rules ... --> block")
    rules = []
    for record in re.split(r"\n\s*\n", block.group(1)):
        fields = dict(re.findall(r"^(\w+): (.*)$", record, re.M))
        if "rule" not in fields:
            continue                          # the block's introduction
        missing = {"in", "pattern", "example", "fix"} - set(fields)
        if missing:
            raise ValueError(f"notation rule {fields['rule']!r} lacks {sorted(missing)}")
        chapters = fields.get("chapters")
        rules.append(Rule(fields["rule"], fields["in"], re.compile(fields["pattern"]),
                          fields["example"], fields["fix"],
                          frozenset(int(c) for c in re.findall(r"\d+", chapters)) if chapters else None))
    return rules


# ---------------------------------------------------------------------------------------------
# The two checks


def undeclared(source: Source, book_wide: set[str], per_chapter: dict[int, set[str]]) -> list[str]:
    """One message per formula of the source that uses a letter the notation page lacks.

    A chapter may use the book-wide symbols and its own; a book page (glossary, FAQ) any of
    them."""
    allowed = set(book_wide)
    if source.chapter is None:
        allowed.update(*per_chapter.values())
    else:
        allowed.update(per_chapter.get(source.chapter, set()))
    messages = []
    for formula in math_spans(source.text):
        unknown = sorted(set(symbols(formula)) - allowed)
        if unknown:
            where = "the first table" if source.chapter is None else \
                f"the table 'Symbols of one chapter' (chapter {source.chapter})"
            messages.append(f"{source.where}: ${' '.join(formula.split())}$ uses "
                            f"{', '.join(unknown)}, which book/notation.md does not declare. Use "
                            f"the book's symbol for the same thing, or add a row to {where}.")
    return messages


def violations(source: Source, rules: list[Rule]) -> list[str]:
    """One message per rule that matches in the source's formulas (or prose)."""
    messages = []
    for rule in rules:
        if rule.chapters is not None and source.chapter not in rule.chapters:
            continue
        places = math_spans(source.text) if rule.scope == "math" else [prose_and_math(source.text)]
        for place in places:
            match = rule.pattern.search(place)
            if match:
                context = " ".join(place[max(0, match.start() - 40):match.end() + 40].split())
                messages.append(f"{source.where}: breaks the notation rule {rule.name!r} at "
                                f"{match.group(0)!r} (in: {context}). Fix: {rule.fix}.")
    return messages


# ---------------------------------------------------------------------------------------------
# Tests of the book


@pytest.fixture(scope="module")
def notation():
    markdown = NOTATION.read_text(encoding="utf-8")
    return declared_symbols(markdown), notation_rules(markdown)


def test_notation_page_declares_the_core_symbols(notation):
    (book_wide, per_chapter), rules = notation
    assert {"X", "W", "P", "Q", "r", "m", "n", "a", "d", "k", "K", "\\lambda"} <= book_wide, (
        f"book/notation.md's first table should declare the core symbols; it has {sorted(book_wide)}")
    assert set(per_chapter) <= set(range(1, len(CHAPTERS) + 1)), (
        f"the chapters column names chapters {sorted(per_chapter)}; the book has {len(CHAPTERS)}")
    assert len(rules) >= 10, f"expected the rule block of book/notation.md, found {len(rules)} rules"


def test_every_symbol_is_declared(notation):
    (book_wide, per_chapter), _ = notation
    problems = [message for source in sources()
                for message in undeclared(source, book_wide, per_chapter)]
    assert not problems, "\n".join(problems)


def test_no_formula_breaks_a_notation_rule(notation):
    _, rules = notation
    problems = [message for source in sources() for message in violations(source, rules)]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# The checks can fail


def test_every_rule_catches_its_own_example(notation):
    _, rules = notation
    for rule in rules:
        text = f"${rule.example}$" if rule.scope == "math" else rule.example
        chapter = min(rule.chapters) if rule.chapters else 1
        found = violations(Source("example", chapter, text), [rule])
        assert found, f"rule {rule.name!r} does not match its own example {rule.example!r}"


@pytest.mark.parametrize("text, rule", [
    (r"Let $A \in \{0,1\}^{m \times n}$ hold the interactions.", "interaction-matrix-is-X"),
    (r"Store $P \in \mathbb{R}^{m \times d}$.", "rank-is-r"),
    (r"Store $Q \in \mathbb{R}^{m \times r}$.", "factor-tables-are-P-and-Q"),
    (r"EASE solves $\min_B \|X - XB\|_F^2$.", "item-item-weights-are-W"),
    ("A rank-$k$ approximation of $X$.", "rank-is-r-in-prose"),
])
def test_made_up_conflicts_are_reported(notation, text, rule):
    _, rules = notation
    found = violations(Source("made-up text", 3, text), rules)
    assert any(repr(rule) in message for message in found), (
        f"expected rule {rule!r} to report {text!r}; got {found}")


def test_an_undeclared_letter_is_reported(notation):
    (book_wide, per_chapter), _ = notation
    found = undeclared(Source("made-up cell", 1, r"The weights $\zeta_u$ and $Z$."),
                       book_wide, per_chapter)
    assert len(found) == 2 and "\\zeta" in found[0] and "Z" in found[1], found


def test_a_chapter_letter_is_not_declared_for_other_chapters(notation):
    (book_wide, per_chapter), _ = notation
    assert not undeclared(Source("ch7", 7, "temperature $T$"), book_wide, per_chapter)
    assert not undeclared(Source("faq", None, "temperature $T$"), book_wide, per_chapter)
    assert undeclared(Source("ch2", 2, r"the entropy $H(p)$"), book_wide, per_chapter)


def test_only_formulas_are_read():
    text = ("Price: `$5`, then {glue:text}`key:.1f`, and $x_u W$.\n\n"
            "```python\nprint('$not math$')\n```\n"
            "```{exercise} Title with $T$\n:label: ex-ch1-1\n\nInside: $a$, and a formula\n"
            "over two lines, $P\n Q^\\top$.\n```\n"
            "<!-- $hidden$ -->\n$$\nX \\approx U_r \\Sigma_r V_r^\\top\n$$\n")
    assert math_spans(text) == ["x_u W", "a", "P\n Q^\\top", "\nX \\approx U_r \\Sigma_r V_r^\\top\n"]


def test_symbols_of_a_formula():
    assert symbols(r"\hat{s}_{ui} = \mathbf{p}_u^\top \mathbf{q}_i") == \
        ["\\hat{s}", "\\mathbf{p}", "\\mathbf{q}", "u", "i", "u", "i"]
    assert symbols(r"\mathrm{NDCG@K} = \frac{1}{\log_2(p+1)} \in \mathbb{R}") == ["p"]
    assert symbols(r"\lambda \lVert W \rVert_F^2 + \operatorname{diag}(W)") == ["\\lambda", "W", "F", "W"]
