"""Plain-text tables for notebooks and benchmarks: fixed columns, fixed number formats.

Printed text (not HTML) keeps every number visible to strict nbval and readable in a diff.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["format_table"]


def _cell(value, fmt: str | None) -> str:
    if fmt is not None and value is not None:
        return format(value, fmt)
    return "" if value is None else str(value)


def format_table(rows: Sequence[Mapping], columns: Sequence[str], formats: Mapping[str, str] | None = None) -> str:
    """Lay out ``rows`` (one mapping each) as an aligned text table.

    Args:
        rows: one mapping per row, keyed by column name; a missing key prints as blank.
        columns: the columns to show, in order (also the header).
        formats: optional format spec per column, e.g. ``{"ndcg@10": ".4f", "bytes": ",d"}``.

    Returns:
        The table as one string: header, rule, rows. Text columns align left, others right.
    """
    formats = dict(formats or {})
    unknown = set(formats) - set(columns)
    if unknown:
        raise ValueError(f"formats name columns that are not shown: {sorted(unknown)}; columns are {list(columns)}")
    cells = [[_cell(row.get(column), formats.get(column)) for column in columns] for row in rows]
    numeric = [all(not isinstance(row.get(column), str) for row in rows) for column in columns]
    widths = [max([len(column)] + [len(line[i]) for line in cells]) for i, column in enumerate(columns)]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(values) for values in cells])
