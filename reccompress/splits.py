"""Train/test splits: seeded functions that return a :class:`Split` of two CSR matrices.

Every split keeps the full user x item shape in both halves, so that item and user indices
mean the same thing in train and test, and a model fitted on ``train`` scores the items of
``test`` directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import data
from ._checks import check_fraction, check_positive_int, check_seed, check_user_items

__all__ = ["Split", "leave_last_out", "ml100k_official", "random_holdout"]


@dataclass(frozen=True, eq=False)
class Split:
    """Two (n_users, n_items) CSR matrices with no (user, item) cell in common.

    Attributes:
        train: what a model may see.
        test: what it is judged on.
    """

    train: sp.csr_array
    test: sp.csr_array

    def __post_init__(self):
        check_user_items(self.train, "train")
        check_user_items(self.test, "test", shape=self.train.shape)
        shared = self.train.multiply(self.test)  # non-zero exactly on the cells both store
        if shared.nnz:
            rows, cols = shared.nonzero()
            raise ValueError(
                f"train and test share {shared.nnz} (user, item) cell(s), e.g. user {rows[0]}, item {cols[0]}: a model "
                "would be judged on what it was trained on; remove those cells from one of the two matrices"
            )

    def __repr__(self) -> str:
        n_users, n_items = self.train.shape
        return (
            f"Split({n_users:,} x {n_items:,}: {self.train.nnz:,} train / {self.test.nnz:,} test, "
            f"{self.test_users().size:,} users tested)"
        )

    def test_users(self) -> np.ndarray:
        """(n,) int64 indices of the users with at least one test interaction."""
        return np.flatnonzero(np.diff(self.test.indptr)).astype(np.int64)


def _csr_from_rows(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape) -> sp.csr_array:
    matrix = sp.csr_array((values, (rows, cols)), shape=shape)
    matrix.sort_indices()
    return matrix


def random_holdout(user_items, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Hold out a random ``test_fraction`` of each user's interactions.

    Each user with ``n`` interactions keeps ``n - floor(test_fraction * n)`` of them in train;
    the rest, drawn uniformly at random, go to test. Users with too few interactions to hold
    any out stay entirely in train. Applied to ``split.train`` it gives a validation split.

    Args:
        user_items: (n_users, n_items) CSR matrix; its values (ones or ratings) are kept.
        test_fraction: share of each user's interactions to hold out, in (0, 1).
        seed: seed of the random draw.
    """
    check_user_items(user_items)
    test_fraction = check_fraction(test_fraction, "test_fraction")
    seed = check_seed(seed)
    coo = user_items.tocoo()
    order = np.lexsort((coo.col, coo.row))  # canonical order, whatever the input's storage
    rows, cols, values = coo.row[order], coo.col[order], coo.data[order]
    row_lengths = np.bincount(rows, minlength=user_items.shape[0])
    keys = np.random.default_rng(seed).random(len(rows))
    shuffled = np.lexsort((keys, rows))  # a random permutation within each user's row
    row_starts = np.concatenate([[0], np.cumsum(row_lengths)[:-1]])
    position = np.empty(len(rows), dtype=np.int64)
    position[shuffled] = np.arange(len(rows)) - row_starts[rows[shuffled]]
    n_test = np.floor(test_fraction * row_lengths).astype(np.int64)
    is_test = position < n_test[rows]
    shape = user_items.shape
    return Split(
        train=_csr_from_rows(rows[~is_test], cols[~is_test], values[~is_test], shape),
        test=_csr_from_rows(rows[is_test], cols[is_test], values[is_test], shape),
    )


def leave_last_out(interactions: data.Interactions, n_last: int = 1, feedback: str = "implicit", seed: int = 0) -> Split:
    """Hold out each user's ``n_last`` most recent interactions.

    MovieLens users often rate many movies within the same second, so timestamps tie; ties
    are broken by a seeded random draw rather than by item id, which would leak id order.
    Users with no more than ``n_last`` interactions stay entirely in train.

    Args:
        interactions: the log, with timestamps.
        n_last: interactions per user to hold out.
        feedback: ``"implicit"`` (values 1.0) or ``"ratings"``, as in :meth:`Interactions.matrix`.
        seed: seed of the tie-breaking draw.
    """
    if not isinstance(interactions, data.Interactions):
        raise TypeError(f"leave_last_out needs an Interactions log with timestamps; got {type(interactions).__name__}")
    n_last = check_positive_int(n_last, "n_last")
    seed = check_seed(seed)
    ties = np.random.default_rng(seed).random(len(interactions))
    order = np.lexsort((ties, interactions.timestamps, interactions.users))  # by user, then time
    users = interactions.users[order]
    counts = np.bincount(users, minlength=interactions.n_users)
    row_ends = np.cumsum(counts)
    from_end = row_ends[users] - np.arange(len(users))  # 1 for the latest interaction of a user
    is_test_sorted = (from_end <= n_last) & (counts[users] > n_last)
    is_test = np.empty(len(interactions), dtype=bool)
    is_test[order] = is_test_sorted
    return Split(
        train=interactions.subset(~is_test).matrix(feedback),
        test=interactions.subset(is_test).matrix(feedback),
    )


def ml100k_official(which: str = "ua", feedback: str = "ratings", data_home: str | os.PathLike | None = None) -> Split:
    """The official ML-100K split ``ua``/``ub`` (10 test ratings per user) or fold ``u1``..``u5``.

    Args:
        which: the split's name.
        feedback: ``"ratings"`` (the usual use: rating prediction) or ``"implicit"``.
        data_home: as in :func:`reccompress.data.load_movielens`.
    """
    train, test = data.load_ml100k_split_files(which, data_home)
    return Split(train=train.matrix(feedback), test=test.matrix(feedback))
