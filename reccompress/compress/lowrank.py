"""Low-rank item-item models: replace the (n_items, n_items) weight matrix W by two thin factors.

An item-item model scores ``X[users] @ W``. Storing W ~ A B with A (n_items, r) and B
(r, n_items) costs 2 r n numbers instead of n^2, and scoring becomes two thin products,
``(X[users] @ A) @ B``. Which rank-r product to keep depends on what is approximated:

- ``approximate="weights"``: the truncated SVD of W itself, the closest rank-r matrix to W
  (Eckart–Young): A = U_r S_r, B = V_r^T;
- ``approximate="scores"``: the truncated SVD of the training scores X W instead, so the
  error is measured where the model is used: with V_r the top right singular vectors of
  X W, A = W V_r and B = V_r^T, and X A B is the best rank-r approximation of X W.

:func:`factorize` returns a :class:`~reccompress.compress.base.FactorRecommender` that folds a
user's history into A (``fold_in``) and scores against B^T (``item_table``).

EASE also has a structure a generic factorization ignores, used by :func:`truncate_ease`.
With the Gram matrix G = X^T X = V diag(s^2) V^T, EASE's precision matrix is
P = (G + l2 I)^-1 = (I - V D V^T) / l2 with D = diag(s^2 / (s^2 + l2)), and its score for an
item j the user has not seen is (x_u V D V^T)_j / (1 - sum_k D_k V_jk^2). Keeping the top r
singular triplets of X gives EASE fitted on the best rank-r approximation of G: it stores
V_r (n x r), D_r (r) and one scale per item (n), about half the bytes of a rank-r ``A B``. As a
factor model, V_r is both the fold-in table and the item table (stored once), D_r the fold-in
weights and the scales the per-item scale.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_choice, check_fitted, check_rank, check_seed, check_user_items, describe
from ..models.itemitem import EASE
from ..svd import truncated_svd
from .base import DERIVED, DenseTable, FactorRecommender
from .sparse import dense_weights

__all__ = ["APPROXIMATIONS", "factorize", "truncate_ease"]

APPROXIMATIONS = ("weights", "scores")


def factorize(model, rank: int, approximate: str = "scores", solver: str = "arpack", seed: int = 0) -> FactorRecommender:
    """Compress a fitted item-item model (EASE, ItemKNN, or a sparse one) to rank ``rank``.

    Args:
        model: the fitted item-item model; its training matrix is kept for scoring.
        rank: inner dimension r, below n_items; bytes become 2 r n_items float32.
        approximate: ``"weights"`` (closest rank-r W) or ``"scores"`` (closest rank-r X W).
        solver: the SVD solver (``"lapack"``, ``"arpack"`` or ``"randomized"``).
        seed: the solver's seed.
    """
    check_choice(approximate, "approximate", APPROXIMATIONS)
    seed = check_seed(seed)
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
    return FactorRecommender(
        DenseTable(vt.T), model.user_items_, fold_in=DenseTable(left), source=model,
        recipe={"verb": "factorize", "rank": rank, "approximate": approximate},
    )


def truncate_ease(model, rank: int, solver: str = "arpack", seed: int = 0, item_scale: str = "stored",
                  user_items=None) -> FactorRecommender:
    """EASE at rank ``rank``: its closed form with the Gram matrix cut to its top ``rank`` eigenpairs.

    Only the training matrix and ``l2`` enter (a truncated SVD of X), never the dense n x n
    weights: with ``user_items`` given, ``model`` may be an unfitted EASE, so a catalogue too big
    for dense EASE can still have its truncated form.

    Args:
        model: a fitted EASE (its ``l2`` and training matrix are used), or an unfitted one with
            ``user_items``.
        rank: singular directions of the training matrix kept, below min(n_users, n_items).
        solver: the SVD solver (``"lapack"``, ``"arpack"`` or ``"randomized"``).
        seed: the solver's seed.
        item_scale: ``"stored"`` keeps the n per-item scales as an array (n float32 numbers);
            ``"derived"`` recomputes them from V_r and D_r when scoring (they are a function of
            the two): no bytes, and after quantizing V_r they follow the decoded table.
        user_items: (n_users, n_items) training matrix, for an unfitted ``model`` (default: the
            fitted model's own).
    """
    check_choice(item_scale, "item_scale", ("stored", DERIVED))
    if not isinstance(model, EASE):
        raise TypeError(f"truncate_ease needs a fitted EASE model (or an unfitted one with user_items); got {describe(model)}")
    if user_items is None:
        check_fitted(model, "weights_")
        user_items = model.user_items_
    else:
        check_user_items(user_items, "user_items")
    rank = check_rank(rank, user_items.shape)
    _, singular_values, vt = truncated_svd(user_items, rank, solver=solver, seed=check_seed(seed))
    squared = singular_values**2
    shrinkage = squared / (squared + model.l2) if model.l2 > 0 else np.ones_like(squared)
    kept_diagonal = 1.0 - (vt.T**2) @ shrinkage  # l2 * P_jj of the truncated model, in (0, 1]
    factors = DenseTable(vt.T)  # V_r: folds a history in, and scores against the items
    scale = 1.0 / np.maximum(kept_diagonal, np.finfo(np.float64).tiny)
    recipe = {"verb": "truncate_ease", "rank": rank} | ({} if item_scale == "stored" else {"item_scale": DERIVED})
    return FactorRecommender(
        factors, user_items, fold_in=factors, fold_in_weights=shrinkage.astype(np.float32),
        item_scale=DERIVED if item_scale == DERIVED else scale.astype(np.float32), source=model, recipe=recipe,
    )
