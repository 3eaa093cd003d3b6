"""Low-rank item-item models: replace the (n_items, n_items) weight matrix W by two thin factors.

An item-item model scores ``X[users] @ W``. Storing W ~ A B with A (n_items, r) and B
(r, n_items) costs 2 r n numbers instead of n^2, and scoring becomes two thin products,
``(X[users] @ A) @ B``. Which rank-r product to keep depends on what is approximated:

- ``approximate="weights"``: the truncated SVD of W itself, the closest rank-r matrix to W
  (Eckart–Young): A = U_r S_r, B = V_r^T;
- ``approximate="scores"``: the truncated SVD of the training scores X W instead, so the
  error is measured where the model is used: with V_r the top right singular vectors of
  X W, A = W V_r and B = V_r^T, and X A B is the best rank-r approximation of X W.

:func:`factorize` returns a :class:`LowRankItemItem` that keeps the recommender protocol.

EASE also has a structure a generic factorization ignores, used by :func:`truncate_ease`.
With the Gram matrix G = X^T X = V diag(s^2) V^T, EASE's precision matrix is
P = (G + l2 I)^-1 = (I - V D V^T) / l2 with D = diag(s^2 / (s^2 + l2)), and its score for an
item j the user has not seen is (x_u V D V^T)_j / (1 - sum_k D_k V_jk^2). Keeping the top r
singular triplets of X gives EASE fitted on the best rank-r approximation of G: it stores
V_r (n x r), D_r (r) and one scale per item (n), about half the bytes of a rank-r ``A B``.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_fitted, check_rank, describe
from ..measure import nbytes
from ..models.base import Recommender
from ..models.itemitem import EASE
from ..svd import truncated_svd
from .sparse import dense_weights

__all__ = ["APPROXIMATIONS", "LowRankItemItem", "TruncatedEASE", "factorize", "truncate_ease"]

APPROXIMATIONS = ("weights", "scores")


class LowRankItemItem(Recommender):
    """An item-item model with weights W = left_ @ right_: scores = (X[users] @ left_) @ right_.

    Built by :func:`factorize` from a fitted item-item model, never by ``fit``.

    Args:
        rank: r, the inner dimension.
        approximate: ``"weights"`` or ``"scores"`` (see the module docstring).

    Attributes:
        left_: (n_items, rank) float32.   right_: (rank, n_items) float32.
    """

    left_ = None
    right_ = None

    def __init__(self, rank: int = 16, approximate: str = "scores"):
        self.rank = rank
        self.approximate = approximate

    def _fit(self, user_items) -> None:
        raise RuntimeError(
            "LowRankItemItem is made by compressing a fitted item-item model with "
            "reccompress.compress.lowrank.factorize; fit the dense model on the new data and factorize it again"
        )

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        # Thin first: (batch, n) @ (n, r) is cheap, then (batch, r) @ (r, n).
        return np.asarray((self.user_items_[user_ids] @ self.left_) @ self.right_, dtype=np.float32)

    @property
    def nbytes(self) -> int:
        check_fitted(self, "left_")
        return nbytes(self.left_, self.right_)


def factorize(model, rank: int, approximate: str = "scores", solver: str = "arpack", seed: int = 0) -> LowRankItemItem:
    """Compress a fitted item-item model (EASE, ItemKNN, SparseItemItem) to rank ``rank``.

    Args:
        model: the fitted item-item model; its training matrix is kept for scoring.
        rank: inner dimension r, below n_items; bytes become 2 r n_items float32.
        approximate: ``"weights"`` (closest rank-r W) or ``"scores"`` (closest rank-r X W).
        solver: the SVD solver (``"lapack"``, ``"arpack"`` or ``"randomized"``).
        seed: the solver's seed.
    """
    if approximate not in APPROXIMATIONS:
        raise ValueError(f"approximate must be one of {APPROXIMATIONS}; got {approximate!r}")
    weights = np.asarray(dense_weights(model), dtype=np.float64)
    rank = check_rank(rank, weights.shape)
    if approximate == "weights":
        u, s, vt = truncated_svd(weights, rank, solver=solver, seed=seed)
        left = u * s
    else:
        scores = np.asarray(model.user_items_ @ weights)  # (n_users, n_items) training scores
        rank = check_rank(rank, scores.shape)
        _, _, vt = truncated_svd(scores, rank, solver=solver, seed=seed)
        left = weights @ vt.T
    compressed = LowRankItemItem(rank=rank, approximate=approximate)
    compressed.left_ = np.ascontiguousarray(left, dtype=np.float32)
    compressed.right_ = np.ascontiguousarray(vt, dtype=np.float32)
    compressed.user_items_ = model.user_items_
    return compressed


class TruncatedEASE(Recommender):
    """EASE solved on the rank-r approximation of its Gram matrix (see the module docstring).

    Scores of unseen items: ``((x_u @ item_factors_) * shrinkage_) @ item_factors_.T * item_scale_``.
    Items already in the history get different scores than EASE's, but they are never
    recommended (the protocol masks them). Built by :func:`truncate_ease`, never by ``fit``.

    Args:
        rank: r, the number of singular directions of X kept.
        l2: EASE's regularization weight.

    Attributes:
        item_factors_: (n_items, rank) float32, V_r.
        shrinkage_: (rank,) float32, s^2 / (s^2 + l2).
        item_scale_: (n_items,) float32, 1 / (1 - sum_k shrinkage_k V_jk^2).
    """

    item_factors_ = None
    shrinkage_ = None
    item_scale_ = None

    def __init__(self, rank: int = 32, l2: float = 500.0):
        self.rank = rank
        self.l2 = l2

    def _fit(self, user_items) -> None:
        raise RuntimeError(
            "TruncatedEASE is made from a fitted EASE by reccompress.compress.lowrank.truncate_ease; "
            "fit EASE on the new data and truncate it again"
        )

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        projected = (self.user_items_[user_ids] @ self.item_factors_) * self.shrinkage_  # (batch, r)
        return np.asarray((projected @ self.item_factors_.T) * self.item_scale_, dtype=np.float32)

    @property
    def nbytes(self) -> int:
        check_fitted(self, "item_factors_")
        return nbytes(self.item_factors_, self.shrinkage_, self.item_scale_)


def truncate_ease(model, rank: int, solver: str = "arpack", seed: int = 0) -> TruncatedEASE:
    """EASE at rank ``rank``: its closed form with the Gram matrix cut to its top ``rank`` eigenpairs.

    Args:
        model: a fitted EASE (its ``l2`` and training matrix are used).
        rank: singular directions of the training matrix kept, below min(n_users, n_items).
        solver: the SVD solver (``"lapack"``, ``"arpack"`` or ``"randomized"``).
        seed: the solver's seed.
    """
    if not isinstance(model, EASE):
        raise TypeError(f"truncate_ease needs a fitted EASE model; got {describe(model)}")
    check_fitted(model, "weights_")
    user_items = model.user_items_
    rank = check_rank(rank, user_items.shape)
    _, singular_values, vt = truncated_svd(user_items, rank, solver=solver, seed=seed)
    squared = singular_values**2
    shrinkage = squared / (squared + model.l2) if model.l2 > 0 else np.ones_like(squared)
    kept_diagonal = 1.0 - (vt.T**2) @ shrinkage  # l2 * P_jj of the truncated model, in (0, 1]
    compressed = TruncatedEASE(rank=rank, l2=model.l2)
    compressed.item_factors_ = np.ascontiguousarray(vt.T, dtype=np.float32)
    compressed.shrinkage_ = shrinkage.astype(np.float32)
    compressed.item_scale_ = (1.0 / np.maximum(kept_diagonal, np.finfo(np.float64).tiny)).astype(np.float32)
    compressed.user_items_ = user_items
    return compressed
