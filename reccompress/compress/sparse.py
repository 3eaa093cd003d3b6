"""Sparsified item-item models: keep few weights, store them as CSR.

An item-item model scores ``X[users] @ W`` with W (n_items, n_items). Three verbs, in the
spirit of ``torch.nn.utils.prune`` (a small rule that picks what to keep, then a model that
stores only what was kept):

- :func:`magnitude_prune`: remove the ``amount`` share of weights with the smallest |w|, over
  the whole matrix (one global threshold);
- :func:`column_topk_prune`: keep the ``k`` largest |w| of every column (every item keeps the
  same number of "neighbours");
- :func:`refit_on_support`: keep the pruned *pattern* but re-solve the weights on it, by the same
  ridge regression EASE solves densely, column by column on the kept rows only.

Each returns a new :class:`~reccompress.compress.base.ItemItemRecommender` whose weights are a
:class:`~reccompress.compress.base.CSRTable`: its ``nbytes`` counts the CSR values, column
indices and row pointers actually stored, and its ``density`` (a result) the share kept.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._checks import check_fitted, check_fraction, check_non_negative, check_positive_int, describe
from ..models.itemitem import EASE, ItemKNN, item_gram
from .base import CSRTable, ItemItemRecommender

__all__ = [
    "column_topk_prune",
    "dense_weights",
    "magnitude_prune",
    "refit_on_support",
    "top_magnitude_mask",
]


def dense_weights(model) -> np.ndarray:
    """The (n_items, n_items) weight matrix of a fitted item-item model, as a dense array."""
    if isinstance(model, EASE):
        check_fitted(model, "weights_")
        return model.weights_
    if isinstance(model, ItemKNN):
        check_fitted(model, "similarity_")
        return model.similarity_.toarray()
    if isinstance(model, ItemItemRecommender):
        return model.weights_.to_dense()
    raise TypeError(f"expected a fitted item-item model (EASE, ItemKNN, or one compressed from them); got {describe(model)}")


def _sparse_model(weights, model, recipe: dict) -> ItemItemRecommender:
    return ItemItemRecommender(CSRTable(weights), model.user_items_, source=model, recipe=recipe)


def top_magnitude_mask(weights: np.ndarray, n_keep: int) -> np.ndarray:
    """Boolean mask of exactly ``n_keep`` entries with the largest |w|; ties to the lower flat index."""
    n_keep = check_positive_int(n_keep, "n_keep", minimum=0, maximum=weights.size)
    magnitude = np.abs(weights).ravel()
    # Stable sort of -|w| ranks equal magnitudes by position: deterministic, exactly n_keep kept.
    keep = np.argsort(-magnitude, kind="stable")[:n_keep]
    mask = np.zeros(weights.size, dtype=bool)
    mask[keep] = True
    return mask.reshape(weights.shape)


def magnitude_prune(model, amount: float) -> ItemItemRecommender:
    """Remove the ``round(amount * n_items^2)`` weights of smallest magnitude, matrix-wide.

    Args:
        model: a fitted item-item model (EASE, ItemKNN, or one compressed from them).
        amount: share of the weights removed, in [0, 1) (as in ``torch.nn.utils.prune``);
            the result's ``density`` is the share kept.
    """
    amount = check_fraction(amount, "amount", low_inclusive=True)
    weights = dense_weights(model)
    n_keep = weights.size - int(round(amount * weights.size))
    mask = top_magnitude_mask(weights, n_keep)
    rows, cols = np.nonzero(mask)
    pruned = sp.csr_array((weights[rows, cols], (rows, cols)), shape=weights.shape)
    return _sparse_model(pruned, model, {"verb": "magnitude_prune", "amount": amount})


def column_topk_prune(model, k: int) -> ItemItemRecommender:
    """Keep the ``k`` weights of largest magnitude in every column (ties to the lower row)."""
    weights = dense_weights(model)
    k = check_positive_int(k, "k", maximum=weights.shape[0])
    rows = np.argsort(-np.abs(weights), axis=0, kind="stable")[:k]
    cols = np.broadcast_to(np.arange(weights.shape[1]), rows.shape)
    pruned = sp.csr_array((weights[rows, cols].ravel(), (rows.ravel(), cols.ravel())), shape=weights.shape)
    return _sparse_model(pruned, model, {"verb": "column_topk_prune", "k": k})


def refit_on_support(model: ItemItemRecommender, l2: float) -> ItemItemRecommender:
    """Re-solve the weights on a pruned model's pattern, by ridge regression column by column.

    For each item j with kept rows S (j itself excluded), the weights minimise
    ||X[:, j] - X[:, S] w||^2 + l2 ||w||^2, i.e. w = (G[S, S] + l2 I)^-1 G[S, j] with G = X^T X.
    This is EASE's objective with the extra constraint that W is zero outside the pattern:
    instead of zeroing the weights that pruning removed, the kept ones absorb their share.

    Args:
        model: a sparse item-item model (from :func:`magnitude_prune` or :func:`column_topk_prune`);
            its training matrix is used.
        l2: the ridge weight (typically the dense EASE's).
    """
    if not isinstance(model, ItemItemRecommender) or not isinstance(model.weights_, CSRTable):
        raise TypeError(
            f"refit_on_support needs a sparse item-item model from magnitude_prune or column_topk_prune; got {describe(model)}"
        )
    l2 = check_non_negative(l2, "l2")
    gram = item_gram(model.user_items_)
    support = model.weights_.matrix.tocsc()  # column j's kept rows are contiguous
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
    recipe = {"verb": "refit_on_support", "l2": l2}
    if not values:  # nothing kept off the diagonal: an all-zero model
        return _sparse_model(sp.csr_array(support.shape, dtype=np.float32), model, recipe)
    refit = sp.csr_array(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=support.shape
    )
    return _sparse_model(refit, model, recipe)
