"""Item-item models: a user's score for item j is a weighted sum over the items they have seen,

    score(u, j) = sum_i x[u, i] * W[i, j],   i.e. scores = X[users] @ W,

with W (n_items, n_items). They differ in how W is learned: ItemKNN takes cosine similarities
and keeps each item's k nearest neighbours; EASE solves a ridge regression in closed form.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._checks import check_non_negative, check_positive_int
from .base import Recommender

__all__ = ["EASE", "ItemKNN", "item_gram"]


def item_gram(user_items) -> np.ndarray:
    """The (n_items, n_items) float64 dense Gram matrix X^T X of a CSR interaction matrix."""
    x = user_items.astype(np.float64)
    return (x.T @ x).toarray()


class ItemKNN(Recommender):
    """Item-based k-nearest neighbours with cosine similarity.

    W[i, j] is the cosine similarity of item columns i and j, kept only for the ``k`` items i
    most similar to j (an item is not its own neighbour). Stored as a CSR matrix.

    Args:
        k: neighbours kept per item.

    Attributes:
        similarity_: (n_items, n_items) CSR float32 with at most ``k`` entries per column.
    """

    similarity_ = None

    def __init__(self, k: int = 100):
        self.k = k

    def _fit(self, user_items) -> None:
        n_items = user_items.shape[1]
        k = check_positive_int(self.k, "k", maximum=max(n_items - 1, 1))
        gram = item_gram(user_items)
        norms = np.sqrt(np.diag(gram))
        norms[norms == 0] = 1.0  # items nobody saw: similarity 0 to everything
        cosine = gram / norms[:, None] / norms[None, :]
        np.fill_diagonal(cosine, 0.0)
        # The k largest of each column; a partition, not a sort (order within the k is irrelevant).
        rows = np.argpartition(-cosine, k - 1, axis=0)[:k]  # (k, n_items)
        cols = np.broadcast_to(np.arange(n_items), rows.shape)
        values = cosine[rows, cols]
        keep = values > 0  # zero similarities are not neighbours: do not store them
        similarity = sp.csr_array(
            (values[keep].astype(np.float32), (rows[keep], cols[keep])), shape=(n_items, n_items)
        )
        similarity.sort_indices()
        # int32 indices and row pointers (scipy builds int64 ones from int64 coordinates): the
        # smallest index type that holds them, as Chapter 2's byte formulas assume.
        similarity.indices = similarity.indices.astype(np.int32)
        similarity.indptr = similarity.indptr.astype(np.int32)
        self.similarity_ = similarity

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        return (self.user_items_[user_ids] @ self.similarity_).toarray().astype(np.float32)

    def _inference_arrays(self) -> dict:
        return {"similarity_": self.similarity_}


class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder (Steck, 2019): a dense item-item ridge regression.

    Minimises ||X - X B||^2 + l2 ||B||^2 subject to diag(B) = 0, whose closed form is
    P = (X^T X + l2 I)^-1 and B = I - P diag(1 / diag(P)), i.e. B[i, j] = -P[i, j] / P[j, j]
    off the diagonal.

    Args:
        l2: L2 regularization weight (lambda); larger means smoother weights.

    Attributes:
        weights_: (n_items, n_items) float32 dense, zero diagonal.
    """

    weights_ = None

    def __init__(self, l2: float = 500.0):
        self.l2 = l2

    def _fit(self, user_items) -> None:
        l2 = check_non_negative(self.l2, "l2")
        gram = item_gram(user_items)
        gram[np.diag_indices_from(gram)] += l2
        precision = np.linalg.inv(gram)
        weights = precision / -np.diag(precision)[None, :]
        np.fill_diagonal(weights, 0.0)
        self.weights_ = weights.astype(np.float32)

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        return np.asarray(self.user_items_[user_ids] @ self.weights_, dtype=np.float32)

    def _inference_arrays(self) -> dict:
        return {"weights_": self.weights_}
