"""One comparison of compressed models against their reference, on one split.

``compare(reference, {"name": model, ...}, split)`` evaluates every model, counts its bytes,
and (optionally) times top-k recommendation for all test users and for one user, interleaved
in one run. Each row holds:

- ``bytes`` and ``bytes ratio``: the reference's bytes / the model's (how many times smaller);
- ``ndcg@10``, ``ndcg@20`` (or the ``ks`` asked) and ``kept``: the model's NDCG at the largest
  k divided by the reference's (the share of the reference's accuracy kept);
- with ``latency=True``: ``speed-up (all users)`` and ``speed-up (one user)``, the
  reference's time / the model's, each a :class:`~reccompress.measure.SpeedRatio` whose verdict
  says "no measurable difference" when its spread straddles 1.

The accuracy columns are exact and reproducible; the latency ones vary from run to run, so
:meth:`Comparison.table` and :meth:`Comparison.latency_table` render them separately.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import measure, metrics, report
from ._checks import check_int_sequence, check_positive_int, describe

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True)
class Comparison:
    """Rows of :func:`compare`, the reference first.

    Attributes:
        rows: one dict per model with the columns named in the module docstring.
        metric: the metric ``kept`` is a share of (e.g. ``"ndcg@20"``).
        ks: the list lengths evaluated.
        threads: thread count of the latency measurement (None if not measured).
    """

    rows: tuple[dict, ...]
    metric: str
    ks: tuple[int, ...]
    threads: int | None

    def table(self, caption: str | None = None) -> report.Table:
        """Bytes and accuracy (exact, reproducible)."""
        columns = ["model", "bytes", "bytes ratio", *(f"ndcg@{k}" for k in self.ks), "kept"]
        formats = {"bytes": ",d", "bytes ratio": ".1f", "kept": ".3f", **{f"ndcg@{k}": ".4f" for k in self.ks}}
        return report.Table(self.rows, columns, formats, caption)

    def latency_table(self, caption: str | None = None) -> report.Table:
        """Median times and speed-ups (vary from run to run: keep out of compared outputs)."""
        if self.threads is None:
            raise ValueError("latency was not measured: call compare(..., latency=True)")
        rows = [
            {
                "model": row["model"],
                "all users (ms)": 1e3 * row["time (all users)"].median,
                "speed-up": "reference" if index == 0 else row["speed-up (all users)"].short,
                "one user (ms)": 1e3 * row["time (one user)"].median,
                "speed-up, one user": "reference" if index == 0 else row["speed-up (one user)"].short,
            }
            for index, row in enumerate(self.rows)
        ]
        formats = {"all users (ms)": ".2f", "one user (ms)": ".3f"}
        caption = caption or (f"medians of interleaved runs, {self.threads} thread(s); speed-up = reference time / "
                              "time, median (10-90% of rounds); ~1: no measurable difference")
        return report.Table(rows, list(rows[0]), formats, caption)

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def row(self, name: str) -> dict:
        """The row of one model, by the name it was given."""
        for row in self.rows:
            if row["model"] == name:
                return row
        raise KeyError(f"no model named {name!r}; models are {[row['model'] for row in self.rows]}")


def compare(reference, candidates: Mapping[str, object], split, *, reference_name: str = "reference",
            ks=(10, 20), latency: bool = False, k: int = 20, min_repeats: int = 30, min_seconds: float = 1.0,
            threads: int = 1) -> Comparison:
    """Compare fitted ``candidates`` with a fitted ``reference`` on ``split``.

    Args:
        reference: the uncompressed model (fitted on ``split.train``).
        candidates: ``{name: fitted or compressed model}``.
        split: the split every model is evaluated on.
        reference_name: the reference's row name.
        ks: list lengths evaluated; ``kept`` is the share of NDCG at the largest one.
        latency: also time ``recommend`` (top ``k``) for all test users and for one user,
            all models interleaved (see :func:`reccompress.measure.latencies`).
        k, min_repeats, min_seconds, threads: the latency measurement's settings.

    Returns:
        A :class:`Comparison` whose first row is the reference.
    """
    if not isinstance(candidates, Mapping) or not candidates:
        raise TypeError(f"candidates must be a non-empty mapping {{name: model}}; got {describe(candidates)}")
    if reference_name in candidates:
        raise ValueError(f"{reference_name!r} names the reference; give the candidate another name")
    ks = check_int_sequence(ks, "ks", "(10, 20)")
    models = {reference_name: reference, **candidates}
    for name, model in models.items():
        if not callable(getattr(model, "score", None)) or not callable(getattr(model, "recommend", None)):
            raise TypeError(f"{name!r} must be a fitted recommender (score, recommend, nbytes); got {describe(model)}")
    metric = f"ndcg@{max(ks)}"
    rows = []
    for name, model in models.items():
        result = metrics.evaluate(model, split, ks=ks)
        rows.append({"model": name, "bytes": int(model.nbytes), **{f"ndcg@{k}": result[f"ndcg@{k}"] for k in ks}})
    base = rows[0]
    for row in rows:
        row["bytes ratio"] = base["bytes"] / row["bytes"] if row["bytes"] else float("inf")
        row["kept"] = row[metric] / base[metric]
    measured_threads = None
    if latency:
        k = check_positive_int(k, "k", maximum=split.train.shape[1])
        users = split.test_users()
        one = np.asarray(users[:1])
        for label, chosen in (("all users", users), ("one user", one)):
            # One interleaved measurement per request size: a one-user call is ~100x shorter and
            # would otherwise need thousands of rounds of the long calls to reach min_seconds.
            timings = measure.latencies(
                {name: (lambda m=model: m.recommend(chosen, k=k)) for name, model in models.items()},
                min_repeats=min_repeats, min_seconds=min_seconds, threads=threads,
            )
            for row in rows:
                row[f"time ({label})"] = timings[row["model"]]
                row[f"speed-up ({label})"] = measure.speedup(timings[reference_name], timings[row["model"]])
        measured_threads = threads
    return Comparison(rows=tuple(rows), metric=metric, ks=ks, threads=measured_threads)
