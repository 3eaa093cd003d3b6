"""Sparsified item-item models: keep few weights, store them as CSR.

An item-item model scores ``X[users] @ W`` with W (n_items, n_items). Three verbs, in the
spirit of ``torch.nn.utils.prune`` (a small rule that picks what to keep, then a model that
stores only what was kept):

- :func:`magnitude_prune`: keep the ``density`` share of weights with the largest |w|, over the
  whole matrix (global threshold);
- :func:`column_topk_prune`: keep the ``k`` largest |w| of every column (every item keeps the
  same number of "neighbours");
- :func:`refit_on_support`: keep the pruned *pattern* but re-solve the weights on it, by the same
  ridge regression EASE solves densely, column by column on the kept rows only.

Each returns a new :class:`SparseItemItem` that answers the recommender protocol; its
``nbytes`` counts the CSR values, column indices and row pointers actually stored.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._checks import check_fitted, check_fraction, check_non_negative, check_positive_int, describe
from ..measure import nbytes
from ..models.base import Recommender
from ..models.itemitem import EASE, ItemKNN, item_gram

__all__ = [
    "SparseItemItem",
    "column_topk_prune",
    "dense_weights",
    "magnitude_prune",
    "refit_on_support",
    "top_magnitude_mask",
]


class SparseItemItem(Recommender):
    """An item-item model whose weights are a CSR matrix: scores = X[users] @ weights_.

    Built by the verbs of this module from a fitted model, never by ``fit``.

    Args:
        method: how the weights were obtained (for ``repr``).
        density: share of the n_items^2 weights kept.

    Attributes:
        weights_: (n_items, n_items) CSR, float32 values, int32 indices.
    """

    weights_ = None

    def __init__(self, method: str = "", density: float = 1.0):
        self.method = method
        self.density = density

    def _fit(self, user_items) -> None:
        raise RuntimeError(
            "SparseItemItem is made by compressing a fitted model (magnitude_prune, column_topk_prune, "
            "refit_on_support); fit the dense model on the new data and compress it again"
        )

    @classmethod
    def _from_weights(cls, weights, user_items, method: str) -> "SparseItemItem":
        model = cls(method=method, density=round(weights.nnz / (weights.shape[0] * weights.shape[1]), 6))
        weights = sp.csr_array(weights, dtype=np.float32)
        weights.indices = weights.indices.astype(np.int32)
        weights.indptr = weights.indptr.astype(np.int32)
        weights.sort_indices()
        model.weights_ = weights
        model.user_items_ = user_items
        return model

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        # The result is dense anyway (every item gets a score), so the histories are densified
        # and multiplied by the sparse weights: cost ~ nnz(weights) per user, and measured
        # 2x faster than scipy's sparse x sparse product, which builds a sparse result first.
        histories = self.user_items_[user_ids].toarray()
        return np.asarray(histories @ self.weights_, dtype=np.float32)

    @property
    def nbytes(self) -> int:
        check_fitted(self, "weights_")
        return nbytes(self.weights_)


def dense_weights(model) -> np.ndarray:
    """The (n_items, n_items) weight matrix of a fitted item-item model, as a dense array."""
    if isinstance(model, EASE):
        check_fitted(model, "weights_")
        return model.weights_
    if isinstance(model, ItemKNN):
        check_fitted(model, "similarity_")
        return model.similarity_.toarray()
    if isinstance(model, SparseItemItem):
        check_fitted(model, "weights_")
        return model.weights_.toarray()
    raise TypeError(f"expected a fitted EASE, ItemKNN or SparseItemItem model; got {describe(model)}")


def top_magnitude_mask(weights: np.ndarray, n_keep: int) -> np.ndarray:
    """Boolean mask of exactly ``n_keep`` entries with the largest |w|; ties to the lower flat index."""
    n_keep = check_positive_int(n_keep, "n_keep", minimum=0, maximum=weights.size)
    magnitude = np.abs(weights).ravel()
    # Stable sort of -|w| ranks equal magnitudes by position: deterministic, exactly n_keep kept.
    keep = np.argsort(-magnitude, kind="stable")[:n_keep]
    mask = np.zeros(weights.size, dtype=bool)
    mask[keep] = True
    return mask.reshape(weights.shape)


def magnitude_prune(model, density: float) -> SparseItemItem:
    """Keep the ``round(density * n_items^2)`` weights of largest magnitude, matrix-wide.

    Args:
        model: a fitted EASE, ItemKNN or SparseItemItem.
        density: share of weights kept, in (0, 1].
    """
    density = check_fraction(density, "density", high_inclusive=True)
    weights = dense_weights(model)
    n_keep = int(round(density * weights.size))
    mask = top_magnitude_mask(weights, n_keep)
    rows, cols = np.nonzero(mask)
    pruned = sp.csr_array((weights[rows, cols], (rows, cols)), shape=weights.shape)
    return SparseItemItem._from_weights(pruned, model.user_items_, "magnitude")


def column_topk_prune(model, k: int) -> SparseItemItem:
    """Keep the ``k`` weights of largest magnitude in every column (ties to the lower row)."""
    weights = dense_weights(model)
    k = check_positive_int(k, "k", maximum=weights.shape[0])
    rows = np.argsort(-np.abs(weights), axis=0, kind="stable")[:k]
    cols = np.broadcast_to(np.arange(weights.shape[1]), rows.shape)
    pruned = sp.csr_array((weights[rows, cols].ravel(), (rows.ravel(), cols.ravel())), shape=weights.shape)
    return SparseItemItem._from_weights(pruned, model.user_items_, f"column top-{k}")


def refit_on_support(model: SparseItemItem, l2: float) -> SparseItemItem:
    """Re-solve the weights on a pruned model's pattern, by ridge regression column by column.

    For each item j with kept rows S (j itself excluded), the weights minimise
    ||X[:, j] - X[:, S] w||^2 + l2 ||w||^2, i.e. w = (G[S, S] + l2 I)^-1 G[S, j] with G = X^T X.
    This is EASE's objective with the extra constraint that W is zero outside the pattern:
    instead of zeroing the weights that pruning removed, the kept ones absorb their share.

    Args:
        model: a SparseItemItem (e.g. from :func:`magnitude_prune`); its training matrix is used.
        l2: the ridge weight (typically the dense EASE's).
    """
    if not isinstance(model, SparseItemItem):
        raise TypeError(f"refit_on_support needs a SparseItemItem from magnitude_prune or column_topk_prune; got {describe(model)}")
    check_fitted(model, "weights_")
    l2 = check_non_negative(l2, "l2")
    gram = item_gram(model.user_items_)
    support = model.weights_.tocsc()  # column j's kept rows are contiguous
    rows, cols, values = [], [], []
    for j in range(support.shape[1]):
        kept = support.indices[support.indptr[j] : support.indptr[j + 1]]
        kept = kept[kept != j]
        if kept.size == 0:
            continue
        system = gram[np.ix_(kept, kept)]
        system[np.diag_indices_from(system)] += l2
        values.append(np.linalg.solve(system, gram[kept, j]))
        rows.append(kept)
        cols.append(np.full(kept.size, j))
    if not values:  # nothing kept off the diagonal: an all-zero model
        return SparseItemItem._from_weights(sp.csr_array(support.shape, dtype=np.float32), model.user_items_, f"{model.method} + refit")
    refit = sp.csr_array(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=support.shape
    )
    return SparseItemItem._from_weights(refit, model.user_items_, f"{model.method} + refit")
