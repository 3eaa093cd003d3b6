import numpy as np
import pytest
import scipy.sparse as sp

from reccompress import models
from reccompress.models.factorization import implicit_als_loss


@pytest.fixture
def counts() -> sp.csr_array:
    """12 users x 9 items of play counts (non-square, some rows sparse, one empty column)."""
    rng = np.random.default_rng(7)
    dense = rng.poisson(0.6, (12, 9)) * (rng.random((12, 9)) < 0.5)
    dense[:, 8] = 0
    return sp.csr_array(dense.astype(np.float32))


@pytest.fixture
def ratings() -> sp.csr_array:
    """10 users x 8 items, ratings 1-5 on about half the cells."""
    rng = np.random.default_rng(3)
    dense = rng.integers(1, 6, (10, 8)) * (rng.random((10, 8)) < 0.5)
    return sp.csr_array(dense.astype(np.float32))


def test_implicit_als_loss_matches_the_cell_by_cell_sum(counts):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 3)), rng.standard_normal((9, 3))
    r = counts.toarray()
    preference, confidence = (r > 0).astype(float), 1.0 + 2.5 * r
    expected = np.sum(confidence * (preference - x @ y.T) ** 2) + 0.7 * (np.sum(x**2) + np.sum(y**2))
    assert np.isclose(implicit_als_loss(counts, x, y, alpha=2.5, l2=0.7), expected)


@pytest.mark.parametrize("cg_steps", [None, 1, 3])
def test_als_lowers_its_objective_every_iteration(counts, cg_steps):
    model = models.ImplicitALS(rank=3, l2=0.5, alpha=4.0, iterations=8, cg_steps=cg_steps, seed=1).fit(counts)
    assert model.loss_history_.shape == (8,)
    assert np.all(np.diff(model.loss_history_) < 0)


def test_exact_half_step_solves_the_normal_equations(counts):
    model = models.ImplicitALS(rank=2, l2=0.3, alpha=2.0, iterations=1, cg_steps=None).fit(counts)
    x, y = model.user_factors_.astype(np.float64), model.item_factors_.astype(np.float64)
    # Items were solved last: the objective's gradient with respect to Y is zero.
    r = counts.toarray()
    weights, preference = 1.0 + 2.0 * r, (r > 0).astype(float)
    gradient = -2 * (weights * (preference - x @ y.T)).T @ x + 2 * 0.3 * y
    assert np.allclose(gradient, 0.0, atol=1e-4)


def test_cg_approaches_the_exact_solution(counts):
    exact = models.ImplicitALS(rank=3, l2=0.5, alpha=4.0, iterations=20, cg_steps=None).fit(counts)
    cg = models.ImplicitALS(rank=3, l2=0.5, alpha=4.0, iterations=20, cg_steps=3).fit(counts)
    assert np.isclose(cg.loss_history_[-1], exact.loss_history_[-1], rtol=1e-2)


def test_als_is_reproducible_by_seed(counts):
    first, again = (models.ImplicitALS(rank=3, iterations=2, seed=5).fit(counts) for _ in range(2))
    assert np.array_equal(first.user_factors_, again.user_factors_)


def test_als_nbytes_counts_both_factor_tables(counts):
    model = models.ImplicitALS(rank=4, iterations=1).fit(counts)
    assert model.nbytes == (12 + 9) * 4 * 4
    assert model.user_factors_.dtype == model.item_factors_.dtype == np.float32


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"rank": 9}, ValueError, "rank must be at least 1 and at most 8; got 9"),
        ({"rank": 0}, ValueError, "rank must be at least 1 and at most 8; got 0"),
        ({"rank": 2, "l2": -0.1}, ValueError, "l2 must be a finite number >= 0; got -0.1"),
        ({"rank": 2, "alpha": -1}, ValueError, "alpha must be a finite number >= 0; got -1"),
        ({"rank": 2, "iterations": 0}, ValueError, "iterations must be at least 1"),
        ({"rank": 2, "cg_steps": 0}, ValueError, "cg_steps must be at least 1"),
        ({"rank": 2.5}, TypeError, "rank must be an integer"),
    ],
)
def test_als_bad_hyper_parameters_are_explained(counts, params, error, message):
    with pytest.raises(error, match=message):
        models.ImplicitALS(**params).fit(counts)


def test_als_rejects_negative_strengths(counts):
    negative = counts.copy()
    negative.data[0] = -1.0
    with pytest.raises(ValueError, match="interaction strengths >= 0"):
        models.ImplicitALS(rank=2).fit(negative)


def test_biased_mf_beats_the_global_mean_on_its_training_ratings(ratings):
    model = models.BiasedMF(rank=2, l2=0.1, iterations=10).fit(ratings)
    coo = ratings.tocoo()
    mean_rmse = np.sqrt(np.mean((coo.data - coo.data.mean()) ** 2))
    assert model.global_mean_ == pytest.approx(coo.data.mean())
    assert model.rmse_history_[-1] < 0.5 * mean_rmse
    assert np.allclose(model.predict(coo.row, coo.col), model.score(np.arange(10))[coo.row, coo.col], atol=1e-5)


def test_biased_mf_rank_zero_is_the_bias_only_baseline(ratings):
    model = models.BiasedMF(rank=0, l2=0.0, iterations=30).fit(ratings)
    assert model.user_factors_.shape == (10, 0)
    # Unregularized biases: every user's and item's residuals average to zero.
    coo = ratings.tocoo()
    residual = coo.data - model.predict(coo.row, coo.col)
    assert np.allclose(np.bincount(coo.col, residual, minlength=8), 0.0, atol=1e-3)


def test_biased_mf_nbytes_is_exact(ratings):
    model = models.BiasedMF(rank=3).fit(ratings)
    assert model.nbytes == (10 + 8) * 3 * 4 + (10 + 8) * 4 + 4


def test_biased_mf_bad_inputs_are_explained(ratings):
    with pytest.raises(ValueError, match="rank must be at least 0 and at most 7; got 8"):
        models.BiasedMF(rank=8).fit(ratings)
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
        models.BiasedMF(rank=2, l2=-2).fit(ratings)
    with pytest.raises(ValueError, match="holds no interactions"):
        models.BiasedMF(rank=1).fit(sp.csr_array((10, 8), dtype=np.float32))
    model = models.BiasedMF(rank=1).fit(ratings)
    with pytest.raises(ValueError, match="must pair up one to one; got 2 and 1 ids"):
        model.predict([0, 1], [2])
    with pytest.raises(RuntimeError, match="not fitted yet"):
        models.BiasedMF().predict([0], [0])


def test_puresvd_solvers_agree(user_items):
    arpack = models.PureSVD(rank=2).fit(user_items)
    randomized = models.PureSVD(rank=2, solver="randomized").fit(user_items)
    assert np.allclose(arpack.singular_values_, randomized.singular_values_, rtol=1e-6)
    assert np.allclose(arpack.score([0, 3]), randomized.score([0, 3]), atol=1e-3)
