import numpy as np
import pytest
import scipy.sparse as sp

from reccompress import measure, models
from reccompress.compress import sparse


@pytest.fixture
def ease(user_items):
    return models.EASE(l2=0.5).fit(user_items)


@pytest.mark.parametrize("density", [0.04, 0.2, 0.52, 1.0])
def test_magnitude_prune_keeps_exactly_the_requested_count_of_largest(ease, density):
    pruned = sparse.magnitude_prune(ease, density)
    n_keep = round(density * 25)
    assert pruned.weights_.nnz == n_keep
    kept = np.abs(pruned.weights_.toarray())[pruned.weights_.toarray() != 0]
    dropped_mask = np.ones((5, 5), bool)
    rows, cols = pruned.weights_.nonzero()
    dropped_mask[rows, cols] = False
    if n_keep < 25:
        assert np.abs(ease.weights_[dropped_mask]).max() <= kept.min() + 1e-7


def test_column_topk_keeps_k_per_column(ease):
    pruned = sparse.column_topk_prune(ease, 2)
    assert np.all(np.diff(pruned.weights_.tocsc().indptr) == 2)


def test_full_density_scores_identically_to_dense(ease, user_items):
    full = sparse.magnitude_prune(ease, 1.0)
    assert full.weights_.nnz == 25
    assert np.array_equal(full.score(np.arange(7)), ease.score(np.arange(7)))
    assert np.array_equal(full.recommend(np.arange(7), k=2)[0], ease.recommend(np.arange(7), k=2)[0])


def test_nbytes_is_the_sum_of_stored_arrays(ease):
    pruned = sparse.magnitude_prune(ease, 0.4)
    w = pruned.weights_
    assert w.data.dtype == np.float32 and w.indices.dtype == np.int32 and w.indptr.dtype == np.int32
    assert pruned.nbytes == w.data.nbytes + w.indices.nbytes + w.indptr.nbytes == 10 * 4 + 10 * 4 + 6 * 4


def test_refit_on_full_support_recovers_ease(ease):
    refit = sparse.refit_on_support(sparse.magnitude_prune(ease, 1.0), l2=0.5)
    assert np.allclose(refit.weights_.toarray(), ease.weights_, atol=1e-5)


def test_refit_solves_the_restricted_ridge_problem(ease, user_items):
    pruned = sparse.column_topk_prune(ease, 2)
    refit = sparse.refit_on_support(pruned, l2=0.5)
    x = user_items.toarray().astype(np.float64)
    w = refit.weights_.toarray()
    for j in range(5):
        kept = [i for i in pruned.weights_.tocsc()[:, [j]].indices if i != j]
        xs = x[:, kept]
        expected = np.linalg.solve(xs.T @ xs + 0.5 * np.eye(len(kept)), xs.T @ x[:, j])
        assert np.allclose(w[kept, j], expected, atol=1e-5)
        assert np.count_nonzero(w[:, j]) <= len(kept)
    # and it fits the training data at least as well as the pruned weights on the same pattern
    def loss(weights):
        return np.sum((x - x @ weights) ** 2) + 0.5 * np.sum(weights**2)
    assert loss(w) <= loss(pruned.weights_.toarray()) + 1e-9


def test_bad_arguments_are_explained(ease, user_items):
    with pytest.raises(ValueError, match=r"density must be in \(0, 1\]; got 0"):
        sparse.magnitude_prune(ease, 0)
    with pytest.raises(ValueError, match="k must be at least 1 and at most 5; got 6"):
        sparse.column_topk_prune(ease, 6)
    with pytest.raises(TypeError, match="expected a fitted EASE, ItemKNN or SparseItemItem"):
        sparse.magnitude_prune(models.MostPopular().fit(user_items), 0.5)
    with pytest.raises(TypeError, match="needs a SparseItemItem"):
        sparse.refit_on_support(ease, 1.0)
    with pytest.raises(RuntimeError, match="made by compressing a fitted model"):
        sparse.SparseItemItem().fit(user_items)


def test_itemknn_can_be_pruned_too(user_items):
    knn = models.ItemKNN(k=4).fit(user_items)
    pruned = sparse.magnitude_prune(knn, 0.2)
    assert pruned.weights_.nnz == 5
    assert measure.nbytes(pruned) == pruned.nbytes
