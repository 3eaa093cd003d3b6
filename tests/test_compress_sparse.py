import numpy as np
import pytest

from reccompress import measure, models
from reccompress.compress import sparse


@pytest.fixture
def ease(user_items):
    return models.EASE(l2=0.5).fit(user_items)


@pytest.mark.parametrize("amount", [0.96, 0.8, 0.48, 0.2])
def test_magnitude_prune_removes_exactly_the_amount_asked_and_keeps_the_largest(ease, amount):
    pruned = sparse.magnitude_prune(ease, amount)
    n_keep = 25 - round(amount * 25)  # the five diagonal zeros are the smallest: never kept here
    weights = pruned.weights_.matrix
    assert weights.nnz == n_keep and pruned.density == pytest.approx(n_keep / 25)
    kept = np.abs(weights.toarray())[weights.toarray() != 0]
    dropped_mask = np.ones((5, 5), bool)
    rows, cols = weights.nonzero()
    dropped_mask[rows, cols] = False
    if n_keep < 25:
        assert np.abs(ease.weights_[dropped_mask]).max() <= kept.min() + 1e-7


def test_column_topk_keeps_k_per_column(ease):
    pruned = sparse.column_topk_prune(ease, 2)
    assert np.all(np.diff(pruned.weights_.matrix.tocsc().indptr) == 2)


def test_nothing_removed_scores_identically_to_dense(ease, user_items):
    full = sparse.magnitude_prune(ease, 0.0)
    assert full.weights_.matrix.nnz == 20  # every weight but EASE's zero diagonal, which costs nothing
    assert np.array_equal(full.score(np.arange(7)), ease.score(np.arange(7)))
    assert np.array_equal(full.recommend(np.arange(7), k=2)[0], ease.recommend(np.arange(7), k=2)[0])


def test_nbytes_is_the_sum_of_stored_arrays(ease):
    pruned = sparse.magnitude_prune(ease, 0.6)
    w = pruned.weights_.matrix
    assert w.data.dtype == np.float32 and w.indices.dtype == np.int32 and w.indptr.dtype == np.int32
    assert pruned.nbytes == w.data.nbytes + w.indices.nbytes + w.indptr.nbytes == 10 * 4 + 10 * 4 + 6 * 4


def test_refit_on_full_support_recovers_ease(ease):
    refit = sparse.refit_on_support(sparse.magnitude_prune(ease, 0.0), l2=0.5)
    assert np.allclose(refit.weights_.to_dense(), ease.weights_, atol=1e-5)


def test_refit_solves_the_restricted_ridge_problem(ease, user_items):
    pruned = sparse.column_topk_prune(ease, 2)
    refit = sparse.refit_on_support(pruned, l2=0.5)
    x = user_items.toarray().astype(np.float64)
    w = refit.weights_.to_dense()
    for j in range(5):
        kept = [i for i in pruned.weights_.matrix.tocsc()[:, [j]].indices if i != j]
        xs = x[:, kept]
        expected = np.linalg.solve(xs.T @ xs + 0.5 * np.eye(len(kept)), xs.T @ x[:, j])
        assert np.allclose(w[kept, j], expected, atol=1e-5)
        assert np.count_nonzero(w[:, j]) <= len(kept)
    # and it fits the training data at least as well as the pruned weights on the same pattern
    def loss(weights):
        return np.sum((x - x @ weights) ** 2) + 0.5 * np.sum(weights**2)
    assert loss(w) <= loss(pruned.weights_.to_dense()) + 1e-9


def test_bad_arguments_are_explained(ease, user_items):
    with pytest.raises(ValueError, match=r"amount must be in \[0, 1\); got 1"):
        sparse.magnitude_prune(ease, 1)
    with pytest.raises(TypeError, match="amount must be a number between 0 and 1; got str"):
        sparse.magnitude_prune(ease, "0.5")
    with pytest.raises(ValueError, match="k must be at least 1 and at most 5; got 6"):
        sparse.column_topk_prune(ease, 6)
    with pytest.raises(TypeError, match="expected a fitted item-item model"):
        sparse.magnitude_prune(models.MostPopular().fit(user_items), 0.5)
    with pytest.raises(TypeError, match="needs a sparse item-item model"):
        sparse.refit_on_support(ease, 1.0)
    with pytest.raises(RuntimeError, match="built by a compression verb"):
        sparse.magnitude_prune(ease, 0.5).fit(user_items)


def test_itemknn_can_be_pruned_too(user_items):
    knn = models.ItemKNN(k=4).fit(user_items)
    pruned = sparse.magnitude_prune(knn, 0.8)
    assert pruned.weights_.matrix.nnz == 5 and pruned.source_ is knn
    assert measure.nbytes(pruned) == pruned.nbytes
