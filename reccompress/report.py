"""Tables for notebooks and benchmarks: fixed columns, fixed number formats.

:func:`format_table` lays rows out as aligned plain text (readable in a terminal and in a
diff). :class:`Table` is the same table as a display object: a notebook shows it as an HTML
table, and its plain-text form (what strict nbval compares alongside the HTML) is
:func:`format_table`'s. Both are deterministic, so they can be compared output by output.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from ._checks import describe

__all__ = ["Table", "format_table", "table"]


def _cell(value, fmt: str | None) -> str:
    if fmt is not None and value is not None:
        return format(value, fmt)
    return "" if value is None else str(value)


def _check(rows, columns, formats) -> dict:
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise TypeError(f"rows must be a sequence of mappings (one per row); got {describe(rows)}")
    for position, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(f"rows[{position}] must be a mapping {{column: value}}; got {describe(row)}")
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence) or not columns:
        raise TypeError(f"columns must be a non-empty sequence of column names; got {describe(columns)}")
    formats = dict(formats or {})
    unknown = set(formats) - set(columns)
    if unknown:
        raise ValueError(f"formats name columns that are not shown: {sorted(unknown)}; columns are {list(columns)}")
    return formats


def format_table(rows: Sequence[Mapping], columns: Sequence[str], formats: Mapping[str, str] | None = None) -> str:
    """Lay out ``rows`` (one mapping each) as an aligned text table.

    Args:
        rows: one mapping per row, keyed by column name; a missing key prints as blank.
        columns: the columns to show, in order (also the header).
        formats: optional format spec per column, e.g. ``{"ndcg@10": ".4f", "bytes": ",d"}``.

    Returns:
        The table as one string: header, rule, rows. Text columns align left, others right.
    """
    formats = _check(rows, columns, formats)
    cells = [[_cell(row.get(column), formats.get(column)) for column in columns] for row in rows]
    numeric = _numeric_columns(rows, columns)
    widths = [max([len(column)] + [len(line[i]) for line in cells]) for i, column in enumerate(columns)]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(values) for values in cells])


def _numeric_columns(rows, columns) -> list[bool]:
    return [all(not isinstance(row.get(column), str) for row in rows) for column in columns]


class Table:
    """A table that a notebook displays as HTML and prints as aligned text.

    Args:
        rows: one mapping per row, keyed by column name.
        columns: the columns to show, in order.
        formats: format spec per column (as :func:`format_table`).
        caption: an optional line shown above the table.

    Attributes:
        rows: the rows as given (values unformatted, for further computation).
    """

    def __init__(self, rows: Sequence[Mapping], columns: Sequence[str], formats: Mapping[str, str] | None = None,
                 caption: str | None = None):
        self.formats = _check(rows, columns, formats)
        self.rows = list(rows)
        self.columns = list(columns)
        self.caption = caption

    def __repr__(self) -> str:
        text = format_table(self.rows, self.columns, self.formats)
        return text if self.caption is None else f"{self.caption}\n{text}"

    __str__ = __repr__

    def _repr_html_(self) -> str:
        numeric = _numeric_columns(self.rows, self.columns)
        align = ['style="text-align: right"' if num else 'style="text-align: left"' for num in numeric]
        head = "".join(f"<th {a}>{html.escape(str(c))}</th>" for c, a in zip(self.columns, align))
        body = "".join(
            "<tr>" + "".join(
                f"<td {a}>{html.escape(_cell(row.get(c), self.formats.get(c)))}</td>" for c, a in zip(self.columns, align)
            ) + "</tr>"
            for row in self.rows
        )
        caption = "" if self.caption is None else f"<caption>{html.escape(self.caption)}</caption>"
        return f'<table class="reccompress-table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def column(self, name: str) -> list:
        """The unformatted values of one column, row by row."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; columns are {self.columns}")
        return [row.get(name) for row in self.rows]


def table(rows: Sequence[Mapping], columns: Sequence[str] | None = None, formats: Mapping[str, str] | None = None,
          caption: str | None = None) -> Table:
    """A :class:`Table`; ``columns`` default to the first row's keys."""
    if columns is None:
        if not rows:
            raise ValueError("an empty table needs its columns named: pass columns=[...]")
        columns = list(rows[0])
    return Table(rows, columns, formats, caption)
