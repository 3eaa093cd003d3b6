"""Factorization models: a user x item matrix explained by a few latent dimensions."""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import svds

from .._checks import check_fitted, check_positive_int
from ..measure import nbytes
from .base import Recommender

__all__ = ["PureSVD"]


class PureSVD(Recommender):
    """PureSVD (Cremonesi, Koren and Turrin, 2010): truncated SVD of the interaction matrix.

    X ~ U S V^T at rank r; a user's scores are their history projected on the item factors,
    x_u V V^T (which equals the rank-r reconstruction u_u S V^T for a training user, and also
    works for a user whose history changed since fitting).

    Args:
        rank: number of singular triplets kept, below min(n_users, n_items).
        seed: seed of the solver's starting vector (ARPACK), for reproducible factors.

    Attributes:
        item_factors_: (n_items, rank) float32, the right singular vectors V.
        singular_values_: (rank,) float64, in decreasing order (not needed to score).
    """

    item_factors_ = None
    singular_values_ = None

    def __init__(self, rank: int = 16, seed: int = 0):
        self.rank = rank
        self.seed = seed

    def _fit(self, user_items) -> None:
        limit = min(user_items.shape) - 1
        rank = check_positive_int(self.rank, "rank", maximum=limit)
        _, singular_values, vt = svds(user_items.astype(np.float64), k=rank, random_state=self.seed)
        order = np.argsort(-singular_values)
        self.singular_values_ = singular_values[order]
        self.item_factors_ = np.ascontiguousarray(vt[order].T, dtype=np.float32)

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        user_vectors = self.user_items_[user_ids] @ self.item_factors_
        return np.asarray(user_vectors @ self.item_factors_.T, dtype=np.float32)

    @property
    def nbytes(self) -> int:
        check_fitted(self, "item_factors_")
        return nbytes(self.item_factors_)
