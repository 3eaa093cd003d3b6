"""The compression frontier: many compressed models on one size / accuracy / latency table.

A practitioner with a byte budget asks which model keeps the most accuracy within it. Put every
model on one table against one reference (dense EASE in the book), then keep the models no
other beats on both counts: the **Pareto frontier** (smaller or equal bytes AND higher or equal
accuracy, strictly better in one, means "dominated").

- :func:`frontier_rows` evaluates ``{name: Entry(family, model, seconds)}`` on a split against a
  reference: bytes, bytes ratio, NDCG@20 and its share of the reference's, recall@20, optionally
  latency for all test users and for one user (interleaved rounds, ratio to the reference with
  its 10-90% spread), and how long the compression took; every row has every column.
- :func:`pareto_front` marks the non-dominated points; :func:`rank_correlation` compares the
  order of methods between two tables (Spearman's rho over the methods they share).
- :func:`write_csv` writes rows atomically.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import measure, metrics
from ._checks import check_positive_int, describe
from .files import write_text_atomically

__all__ = ["COLUMNS", "Entry", "frontier_rows", "pareto_front", "rank_correlation", "write_csv"]

COLUMNS = (
    "method", "family", "bytes", "bytes ratio", "ndcg@20", "share", "recall@20",
    "ms (all users)", "speed-up (all users)", "speed-up low (all users)", "speed-up high (all users)",
    "ms (one user)", "speed-up (one user)", "speed-up low (one user)", "speed-up high (one user)",
    "compression s", "on frontier",
)


@dataclass(frozen=True)
class Entry:
    """One model for the table.

    Attributes:
        family: the chapter's family (e.g. ``"sparse"``, ``"factorization"``, ``"stacked"``).
        model: a fitted or compressed recommender (``score``, ``recommend``, ``nbytes``).
        seconds: how long building it took from data or from its reference (training included).
    """

    family: str
    model: object
    seconds: float


def pareto_front(sizes, qualities) -> np.ndarray:
    """(n,) bool: True where no other point has ``size <=`` and ``quality >=`` with one strict.

    Args:
        sizes: (n,) bytes (smaller is better).
        qualities: (n,) accuracy (larger is better).
    """
    sizes, qualities = np.asarray(sizes, dtype=np.float64), np.asarray(qualities, dtype=np.float64)
    if sizes.ndim != 1 or sizes.shape != qualities.shape:
        raise ValueError(f"sizes and qualities must be 1-D arrays of one length; got {sizes.shape} and "
                         f"{qualities.shape}")
    if not (np.all(np.isfinite(sizes)) and np.all(np.isfinite(qualities))):
        raise ValueError("sizes and qualities must be finite")
    no_larger = sizes[None, :] <= sizes[:, None]  # [i, j]: j is no larger than i
    no_worse = qualities[None, :] >= qualities[:, None]
    strictly = (sizes[None, :] < sizes[:, None]) | (qualities[None, :] > qualities[:, None])
    return ~np.any(no_larger & no_worse & strictly, axis=1)


def frontier_rows(reference, entries: Mapping[str, Entry], split, *, reference_name: str = "dense EASE",
                  reference_seconds: float = 0.0, reference_family: str = "reference", latency: bool = False,
                  k: int = 20, min_repeats: int = 30, min_seconds: float = 1.0, threads: int = 1) -> list[dict]:
    """One row per model (the reference first), every column of :data:`COLUMNS`.

    Args:
        reference: the fitted reference model (its bytes and NDCG@20 are the denominators).
        entries: ``{name: Entry}`` of the other models, fitted on ``split.train``.
        split: the split they are all evaluated on (full ranking).
        reference_name, reference_seconds, reference_family: the reference's row.
        latency: also time ``recommend(k)`` for all test users and for one user, every model
            interleaved (:func:`reccompress.measure.latencies`); without it those columns are NaN.
        k, min_repeats, min_seconds, threads: the latency measurement's settings.

    Returns:
        Rows (dicts) in the order given, ``"on frontier"`` from :func:`pareto_front` over them all.
    """
    if not isinstance(entries, Mapping) or not entries:
        raise TypeError(f"entries must be a non-empty mapping {{name: Entry}}; got {describe(entries)}")
    for name, entry in entries.items():
        if not isinstance(entry, Entry):
            raise TypeError(f"entries[{name!r}] must be an Entry(family, model, seconds); got {describe(entry)}")
    if reference_name in entries:
        raise ValueError(f"{reference_name!r} names the reference; give the entry another name")
    every = {reference_name: Entry(reference_family, reference, float(reference_seconds)), **entries}
    rows = []
    for name, entry in every.items():
        result = metrics.evaluate(entry.model, split, ks=(20,))
        rows.append({"method": name, "family": entry.family, "bytes": int(entry.model.nbytes),
                     "ndcg@20": result["ndcg@20"], "recall@20": result["recall@20"],
                     "compression s": float(entry.seconds)})
    base = rows[0]
    if base["bytes"] <= 0 or base["ndcg@20"] <= 0:
        raise ValueError(f"the reference needs positive bytes and NDCG@20; got {base['bytes']} and {base['ndcg@20']}")
    for row in rows:
        row["bytes ratio"] = base["bytes"] / row["bytes"] if row["bytes"] else float("inf")
        row["share"] = row["ndcg@20"] / base["ndcg@20"]
    for label, users in (("all users", split.test_users()), ("one user", split.test_users()[:1])):
        if latency:
            k = check_positive_int(k, "k", maximum=split.train.shape[1])
            timings = measure.latencies(
                {name: (lambda m=entry.model, u=users: m.recommend(u, k=k)) for name, entry in every.items()},
                min_repeats=min_repeats, min_seconds=min_seconds, threads=threads)
        for row in rows:
            if latency:
                ratio = measure.speedup(timings[reference_name], timings[row["method"]])
                values = (1e3 * timings[row["method"]].median, ratio.median, ratio.low, ratio.high)
            else:
                values = (float("nan"),) * 4
            for column, value in zip(("ms", "speed-up", "speed-up low", "speed-up high"), values):
                row[f"{column} ({label})"] = float(value)
    front = pareto_front([row["bytes"] for row in rows], [row["ndcg@20"] for row in rows])
    for row, on in zip(rows, front):
        row["on frontier"] = bool(on)
    return [{column: row[column] for column in COLUMNS} for row in rows]


def rank_correlation(first: Mapping[str, float], second: Mapping[str, float]) -> float:
    """Spearman's rho between two ``{method: value}`` maps over the methods both have (at least 3)."""
    from scipy.stats import spearmanr

    shared = [name for name in first if name in second]
    if len(shared) < 3:
        raise ValueError(f"need at least 3 methods in both maps to correlate their order; got {len(shared)}")
    rho = spearmanr([first[name] for name in shared], [second[name] for name in shared]).statistic
    return float(rho)


def write_csv(rows, path) -> None:
    """Write ``rows`` (dicts with the same keys) to ``path`` as CSV, atomically (a temporary file
    beside it, then renamed: a failed run leaves the old file in place)."""
    rows = list(rows)
    if not rows:
        raise ValueError("no rows to write")
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomically(path, buffer.getvalue())
