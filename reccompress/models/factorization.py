"""Factorization models: a user x item matrix explained by a few latent dimensions.

- :class:`PureSVD`: truncated SVD of the 0/1 interaction matrix (Cremonesi et al., 2010);
- :class:`ImplicitALS`: confidence-weighted matrix factorization by alternating least squares
  (Hu, Koren and Volinsky, 2008), with an exact or a conjugate-gradient inner solver
  (Takács, Pilászy and Tikk, 2011);
- :class:`BiasedMF`: explicit-rating factorization with global, user and item biases
  (Koren, Bell and Volinsky, 2009), fitted by alternating least squares.

A rank-r model of m users and n items stores r numbers per item (and per user, when user
factors are kept): ``nbytes`` counts exactly the float32 arrays each model keeps.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from .._checks import check_fitted, check_ids, check_non_negative, check_positive_int, check_rank, check_seed
from ..svd import truncated_svd
from .base import Recommender

__all__ = ["BiasedMF", "ImplicitALS", "PureSVD", "als_half_step_exact", "implicit_als_loss"]


class PureSVD(Recommender):
    """PureSVD (Cremonesi, Koren and Turrin, 2010): truncated SVD of the interaction matrix.

    X ~ U S V^T at rank r; a user's scores are their history projected on the item factors,
    x_u V V^T (which equals the rank-r reconstruction u_u S V^T for a training user, and also
    works for a user whose history changed since fitting).

    Args:
        rank: number of singular triplets kept, below min(n_users, n_items).
        seed: seed of the solver's random start, for reproducible factors.
        solver: ``"lapack"``, ``"arpack"`` (scipy's svds) or ``"randomized"`` (see :mod:`reccompress.svd`).

    Attributes:
        item_factors_: (n_items, rank) float32, the right singular vectors V.
        user_factors_: None: a user's vector is their history folded in, x_u V.
        singular_values_: (rank,) float64, in decreasing order (not needed to score).
    """

    item_factors_ = None
    user_factors_ = None
    singular_values_ = None

    def __init__(self, rank: int = 16, seed: int = 0, solver: str = "arpack"):
        self.rank = rank
        self.seed = seed
        self.solver = solver

    def _fit(self, user_items) -> None:
        rank = check_rank(self.rank, user_items.shape)
        _, singular_values, vt = truncated_svd(user_items, rank, solver=self.solver, seed=check_seed(self.seed))
        self.singular_values_ = singular_values
        self.item_factors_ = np.ascontiguousarray(vt.T, dtype=np.float32)

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        user_vectors = self.user_items_[user_ids] @ self.item_factors_
        return np.asarray(user_vectors @ self.item_factors_.T, dtype=np.float32)

    def _inference_arrays(self) -> dict:
        return {"item_factors_": self.item_factors_}


# --------------------------------------------------------------------------------------------
# Implicit ALS
# --------------------------------------------------------------------------------------------
def implicit_als_loss(user_items, user_factors, item_factors, alpha: float, l2: float) -> float:
    """The weighted least-squares objective that implicit ALS minimises.

        L = sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + l2 (||X||^2 + ||Y||^2),
        p_ui = 1 if x[u, i] > 0 else 0,   c_ui = 1 + alpha * x[u, i].

    Computed without forming the (n_users, n_items) prediction matrix: the sum of squared
    predictions over all cells is trace((X^T X)(Y^T Y)); only observed cells are visited.

    Args:
        user_items: (n_users, n_items) CSR of non-negative interaction strengths.
        user_factors: (n_users, rank) X.   item_factors: (n_items, rank) Y.
    """
    coo = user_items.tocoo()
    # Dots in the factors' own precision (the gather is the costly part), sums in float64.
    predicted = np.einsum("ij,ij->i", user_factors[coo.row], item_factors[coo.col]).astype(np.float64)
    x = np.asarray(user_factors, dtype=np.float64)
    y = np.asarray(item_factors, dtype=np.float64)
    confidence = 1.0 + alpha * coo.data
    every_cell = float(np.sum((x.T @ x) * (y.T @ y)))  # sum over all cells of (x_u . y_i)^2
    observed = float(np.sum(confidence * (1.0 - predicted) ** 2 - predicted**2))
    return every_cell + observed + l2 * (float(np.sum(x * x)) + float(np.sum(y * y)))


def als_half_step_exact(matrix, factors, fixed, alpha: float, l2: float) -> None:
    """Solve every row's ridge system exactly, in place: one (rank x rank) solve per row.

    Row u minimises sum_i c_ui (p_ui - x_u . y_i)^2 + l2 ||x_u||^2, whose normal equations are
    (Y^T Y + Y_u^T (C_u - I) Y_u + l2 I) x_u = Y_u^T C_u p_u, Y_u the rows of Y seen by u.
    """
    base = fixed.T @ fixed + l2 * np.eye(fixed.shape[1])
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        seen = fixed[matrix.indices[start:end]]  # (n_seen, rank)
        extra = alpha * matrix.data[start:end]  # c_ui - 1
        system = base + (seen.T * extra) @ seen
        factors[row] = np.linalg.solve(system, seen.T @ (1.0 + extra))


def _als_half_step_cg(matrix, factors, fixed, alpha: float, l2: float, steps: int) -> None:
    """A few conjugate-gradient steps on every row's system at once, warm-started, in place.

    The same normal equations as the exact step, never formed: CG only needs products
    A_u p = (Y^T Y + l2 I) p + Y_u^T ((C_u - I) (Y_u p)), computed for all rows together with
    one gather over the observed cells and one sparse-dense product.
    """
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))  # row of each observed cell
    extra = alpha * matrix.data
    seen = fixed[matrix.indices]  # (nnz, rank): y_i for every observed cell, gathered once
    base = (fixed.T @ fixed + l2 * np.eye(fixed.shape[1])).astype(fixed.dtype)

    def weighted(values):  # a matrix with the pattern of `matrix` and new values, no re-sorting
        return sp.csr_array((values, matrix.indices, matrix.indptr), shape=matrix.shape)

    def apply(p):  # (n_rows, rank) -> A_u p_u for every row u
        return p @ base + weighted(extra * np.einsum("ij,ij->i", p[rows], seen)) @ fixed

    target = weighted(1.0 + extra) @ fixed  # Y_u^T C_u p_u
    residual = target - apply(factors)
    direction = residual.copy()
    residual_norm = np.sum(residual * residual, axis=1)
    for _ in range(steps):
        product = apply(direction)
        curvature = np.sum(direction * product, axis=1)
        active = curvature > 0  # rows already solved exactly have nothing left to do
        step = np.where(active, residual_norm / np.where(active, curvature, 1.0), 0.0)
        factors += step[:, None] * direction
        residual -= step[:, None] * product
        new_norm = np.sum(residual * residual, axis=1)
        ratio = np.where(residual_norm > 0, new_norm / np.where(residual_norm > 0, residual_norm, 1.0), 0.0)
        direction = residual + ratio[:, None] * direction
        residual_norm = new_norm


class ImplicitALS(Recommender):
    """Implicit-feedback matrix factorization by alternating least squares (Hu et al., 2008).

    Every cell of the user x item matrix is a training example: p_ui = 1 for an observed
    interaction, 0 otherwise, weighted by the confidence c_ui = 1 + alpha * x[u, i]. ALS fixes
    the item factors and solves one ridge regression per user, then the reverse; each half
    step can only lower :func:`implicit_als_loss`, recorded in ``loss_history_``.

    Args:
        rank: latent dimensions, below min(n_users, n_items).
        l2: L2 regularization weight (lambda), >= 0.
        alpha: confidence weight of observed interactions, >= 0.
        iterations: ALS sweeps (users, then items).
        cg_steps: conjugate-gradient steps per half step (fast, approximate, warm-started);
            ``None`` solves every row's system exactly.
        seed: seed of the initial factors.
        progress: show a progress bar over iterations.

    Attributes:
        user_factors_: (n_users, rank) float32.   item_factors_: (n_items, rank) float32.
        loss_history_: (iterations,) float64, the objective after each sweep.
    """

    user_factors_ = None
    item_factors_ = None
    loss_history_ = None

    def __init__(
        self,
        rank: int = 64,
        l2: float = 10.0,
        alpha: float = 10.0,
        iterations: int = 15,
        cg_steps: int | None = 3,
        seed: int = 0,
        progress: bool = False,
    ):
        self.rank = rank
        self.l2 = l2
        self.alpha = alpha
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.seed = seed
        self.progress = progress

    def _fit(self, user_items) -> None:
        rank = check_rank(self.rank, user_items.shape)
        l2 = check_non_negative(self.l2, "l2")
        alpha = check_non_negative(self.alpha, "alpha")
        iterations = check_positive_int(self.iterations, "iterations")
        cg_steps = None if self.cg_steps is None else check_positive_int(self.cg_steps, "cg_steps")
        # float32 throughout, like the C++ implementations: half the memory traffic of float64.
        users = user_items.astype(np.float32)
        items = users.T.tocsr()
        rng = np.random.default_rng(check_seed(self.seed))
        user_factors = rng.normal(0.0, 0.01, (users.shape[0], rank)).astype(np.float32)
        item_factors = rng.normal(0.0, 0.01, (users.shape[1], rank)).astype(np.float32)
        history = []
        for _ in tqdm(range(iterations), desc="implicit ALS", disable=not self.progress, leave=False):
            for matrix, factors, fixed in ((users, user_factors, item_factors), (items, item_factors, user_factors)):
                if cg_steps is None:
                    als_half_step_exact(matrix, factors, fixed, alpha, l2)
                else:
                    _als_half_step_cg(matrix, factors, fixed, alpha, l2, cg_steps)
            history.append(implicit_als_loss(users, user_factors, item_factors, alpha, l2))
        self.user_factors_ = user_factors.astype(np.float32)
        self.item_factors_ = item_factors.astype(np.float32)
        self.loss_history_ = np.asarray(history)

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        return self.user_factors_[user_ids] @ self.item_factors_.T

    def _inference_arrays(self) -> dict:
        return {"user_factors_": self.user_factors_, "item_factors_": self.item_factors_}


# --------------------------------------------------------------------------------------------
# Biased MF for explicit ratings
# --------------------------------------------------------------------------------------------
class BiasedMF(Recommender):
    """Rating prediction r_ui ~ mu + b_u + b_i + p_u . q_i, fitted by alternating least squares.

    Only observed ratings are fitted (unlike implicit ALS, a missing cell says nothing). With the
    item side fixed, each user's (p_u, b_u) is a ridge regression of r_ui - mu - b_i on the
    features (q_i, 1) over the items they rated; then the roles swap. ``rank=0`` is the
    bias-only baseline mu + b_u + b_i.

    Args:
        rank: latent dimensions, 0 (biases only) up to min(n_users, n_items) - 1.
        l2: L2 weight on factors and biases, >= 0.
        iterations: ALS sweeps.
        seed: seed of the initial factors.
        progress: show a progress bar over iterations.

    Attributes:
        global_mean_: float32 scalar, mu.
        user_bias_: (n_users,) float32.   item_bias_: (n_items,) float32.
        user_factors_: (n_users, rank) float32.   item_factors_: (n_items, rank) float32.
        rmse_history_: (iterations,) training RMSE after each sweep.
    """

    global_mean_ = None
    user_bias_ = None
    item_bias_ = None
    user_factors_ = None
    item_factors_ = None
    rmse_history_ = None

    def __init__(self, rank: int = 16, l2: float = 10.0, iterations: int = 15, seed: int = 0, progress: bool = False):
        self.rank = rank
        self.l2 = l2
        self.iterations = iterations
        self.seed = seed
        self.progress = progress

    def _fit(self, user_items) -> None:
        rank = check_rank(self.rank, user_items.shape, minimum=0)
        l2 = check_non_negative(self.l2, "l2")
        iterations = check_positive_int(self.iterations, "iterations")
        users = user_items.astype(np.float64)
        items = users.T.tocsr()
        mean = float(users.data.mean())
        rng = np.random.default_rng(check_seed(self.seed))
        # Each side's parameters as one array: factors in the first `rank` columns, the bias last.
        user_params = np.hstack([rng.normal(0.0, 0.1, (users.shape[0], rank)), np.zeros((users.shape[0], 1))])
        item_params = np.hstack([rng.normal(0.0, 0.1, (users.shape[1], rank)), np.zeros((users.shape[1], 1))])
        coo = users.tocoo()
        history = []
        for _ in tqdm(range(iterations), desc="biased MF (ALS)", disable=not self.progress, leave=False):
            _biased_half_step(users, user_params, item_params, mean, l2)
            _biased_half_step(items, item_params, user_params, mean, l2)
            predicted = mean + _biased_dot(user_params[coo.row], item_params[coo.col])
            history.append(float(np.sqrt(np.mean((predicted - coo.data) ** 2))))
        self.global_mean_ = np.float32(mean)  # stored, and counted in nbytes, as a float32
        self.user_factors_ = user_params[:, :rank].astype(np.float32)
        self.user_bias_ = user_params[:, rank].astype(np.float32)
        self.item_factors_ = item_params[:, :rank].astype(np.float32)
        self.item_bias_ = item_params[:, rank].astype(np.float32)
        self.rmse_history_ = np.asarray(history)

    def predict(self, user_ids, item_ids) -> np.ndarray:
        """Predicted ratings of (user, item) pairs: (n,) float32 from two (n,) id arrays."""
        check_fitted(self, "item_bias_")
        user_ids = check_ids(user_ids, "user_ids", self.user_bias_.shape[0])
        item_ids = check_ids(item_ids, "item_ids", self.item_bias_.shape[0])
        if user_ids.shape != item_ids.shape:
            raise ValueError(f"user_ids and item_ids must pair up one to one; got {user_ids.size} and {item_ids.size} ids")
        dots = np.einsum("ij,ij->i", self.user_factors_[user_ids], self.item_factors_[item_ids])
        return (float(self.global_mean_) + self.user_bias_[user_ids] + self.item_bias_[item_ids] + dots).astype(np.float32)

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        scores = self.user_factors_[user_ids] @ self.item_factors_.T
        scores += self.item_bias_[None, :] + self.user_bias_[user_ids, None] + self.global_mean_
        return scores

    def _inference_arrays(self) -> dict:
        return {name: getattr(self, name) for name in
                ("user_factors_", "item_factors_", "user_bias_", "item_bias_", "global_mean_")}


def _biased_dot(row_params, column_params) -> np.ndarray:
    """Prediction minus the global mean: p_u . q_i + b_u + b_i, row-wise."""
    return np.einsum("ij,ij->i", row_params[:, :-1], column_params[:, :-1]) + row_params[:, -1] + column_params[:, -1]


def _biased_half_step(matrix, params, fixed, mean: float, l2: float) -> None:
    """Ridge-solve each row's (factors, bias) given the other side's, in place.

    Features of column i: (q_i, 1); target r_ui - mu - b_i. Rows with no ratings get zeros.
    """
    rank = params.shape[1] - 1
    features = np.hstack([fixed[:, :rank], np.ones((fixed.shape[0], 1))])
    ridge = l2 * np.eye(rank + 1)
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        if start == end:
            params[row] = 0.0
            continue
        cols = matrix.indices[start:end]
        seen = features[cols]
        target = matrix.data[start:end] - mean - fixed[cols, rank]
        params[row] = np.linalg.solve(seen.T @ seen + ridge, seen.T @ target)
