import numpy as np
import pytest

from reccompress import models
from reccompress.compress import lowrank, sparse


@pytest.fixture
def ease(user_items):
    return models.EASE(l2=0.5).fit(user_items)


def test_weights_target_keeps_the_best_rank_r_weights(ease):
    compressed = lowrank.factorize(ease, rank=2, approximate="weights", solver="lapack")
    left, right = compressed.fold_in_.to_dense(), compressed.item_table_.to_dense().T  # W ~ A B
    assert left.shape == (5, 2) and right.shape == (2, 5)
    w = ease.weights_.astype(np.float64)
    spectrum = np.linalg.svd(w, compute_uv=False)
    error = np.linalg.norm(w - left @ right, "fro")
    assert np.isclose(error, np.sqrt(np.sum(spectrum[2:] ** 2)), rtol=1e-5)


def test_scores_target_keeps_the_best_rank_r_training_scores(ease, user_items):
    compressed = lowrank.factorize(ease, rank=2, approximate="scores", solver="lapack")
    scores = user_items.toarray() @ ease.weights_.astype(np.float64)
    spectrum = np.linalg.svd(scores, compute_uv=False)
    error = np.linalg.norm(scores - compressed.score(np.arange(7)), "fro")
    assert np.isclose(error, np.sqrt(np.sum(spectrum[2:] ** 2)), rtol=1e-5)
    # ... and on the training scores it beats approximating the weights.
    by_weights = lowrank.factorize(ease, rank=2, approximate="weights", solver="lapack")
    assert error <= np.linalg.norm(scores - by_weights.score(np.arange(7)), "fro") + 1e-9


def test_compressed_model_keeps_the_protocol_and_exact_nbytes(ease):
    compressed = lowrank.factorize(ease, rank=3)
    assert compressed.nbytes == 2 * 3 * 5 * 4
    items, scores = compressed.recommend([0, 6], k=2)
    assert items.shape == scores.shape == (2, 2)
    assert repr(compressed) == "FactorRecommender(factorize(rank=3, approximate='scores'))"
    assert compressed.source_ is ease and compressed.rank == 3


def test_factorize_accepts_every_item_item_model(user_items):
    for model in (models.ItemKNN(k=2).fit(user_items), sparse.magnitude_prune(models.EASE(l2=1.0).fit(user_items), 0.5)):
        assert lowrank.factorize(model, rank=2).score([1]).shape == (1, 5)


def test_bad_arguments_are_explained(ease, user_items):
    with pytest.raises(ValueError, match=r"approximate must be one of \('weights', 'scores'\); got 'users'"):
        lowrank.factorize(ease, 2, approximate="users")
    with pytest.raises(ValueError, match="rank must be at least 1 and at most 4; got 5"):
        lowrank.factorize(ease, 5)
    with pytest.raises(TypeError, match="expected a fitted item-item model .*; got PureSVD"):
        lowrank.factorize(models.PureSVD(rank=2).fit(user_items), 2)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        lowrank.factorize(models.EASE(), 2)
    with pytest.raises(RuntimeError, match=r"built by a compression verb \(factorize\), not fitted"):
        lowrank.factorize(ease, 2).fit(user_items)
    with pytest.raises(TypeError, match="seed must be a non-negative integer"):
        lowrank.factorize(ease, 2, seed=0.5)


def test_truncated_ease_equals_ease_fitted_on_the_rank_r_gram_matrix():
    rng = np.random.default_rng(2)
    from scipy import sparse as sps

    user_items = sps.csr_array((rng.random((9, 6)) < 0.4).astype(np.float32))
    ease = models.EASE(l2=2.0).fit(user_items)
    # EASE's closed form, computed densely on the best rank-5 approximation of G = X^T X.
    truncated = lowrank.truncate_ease(ease, rank=5, solver="lapack")
    x = user_items.toarray().astype(np.float64)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    gram_5 = (vt[:5].T * s[:5] ** 2) @ vt[:5]
    precision = np.linalg.inv(gram_5 + 2.0 * np.eye(6))
    weights = precision / -np.diag(precision)[None, :]
    np.fill_diagonal(weights, 0.0)
    expected = x @ weights
    unseen = x == 0
    assert np.allclose(truncated.score(np.arange(9))[unseen], expected[unseen], atol=1e-5)
    # ... and a generic low-rank product of EASE's own weights does not reproduce it.
    assert not np.allclose(lowrank.factorize(ease, 5, solver="lapack").score(np.arange(9))[unseen], expected[unseen], atol=1e-3)


def test_truncated_ease_nbytes_and_errors(ease, user_items):
    truncated = lowrank.truncate_ease(ease, rank=3)
    assert truncated.fold_in_ is truncated.item_table_  # V_r serves both roles, stored once
    assert truncated.nbytes == (5 * 3 + 3 + 5) * 4
    assert repr(truncated) == "FactorRecommender(truncate_ease(rank=3))"
    with pytest.raises(TypeError, match="truncate_ease needs a fitted EASE model .or an unfitted one with user_items.; got ItemKNN"):
        lowrank.truncate_ease(models.ItemKNN(k=2).fit(user_items), 2)
    with pytest.raises(ValueError, match="rank must be at least 1 and at most 4; got 5"):
        lowrank.truncate_ease(ease, 5)
    with pytest.raises(RuntimeError, match=r"built by a compression verb \(truncate_ease\)"):
        truncated.fit(user_items)


def test_derived_item_scales_score_alike_and_cost_no_bytes(ease, user_items):
    stored = lowrank.truncate_ease(ease, 2, solver="lapack")
    derived = lowrank.truncate_ease(ease, 2, solver="lapack", item_scale="derived")
    np.testing.assert_allclose(derived.score(np.arange(7)), stored.score(np.arange(7)), rtol=1e-5, atol=1e-6)
    assert stored.nbytes - derived.nbytes == 5 * 4  # the five float32 item scales
    np.testing.assert_allclose(derived.derived_item_scale(), stored.item_scale_, rtol=1e-5)
    with pytest.raises(ValueError, match="item_scale"):
        lowrank.truncate_ease(ease, 2, item_scale="guessed")


def test_derived_scales_follow_a_quantized_table(ease):
    from reccompress.compress import pq, quantize

    derived = lowrank.truncate_ease(ease, 2, solver="lapack", item_scale="derived")
    for coded in (quantize.quantize(derived, 4), pq.product_quantize(derived, 2, 4)):
        assert coded.item_scale_ == "derived"
        table = coded.item_table_.to_dense().astype(np.float64)
        expected = 1.0 / (1.0 - (table**2) @ coded.fold_in_weights_.astype(np.float64))
        np.testing.assert_allclose(coded.derived_item_scale(), expected, rtol=1e-5)
        assert coded.nbytes == sum(np.asarray(a).nbytes for a in coded.item_table_.arrays().values()) + 2 * 4


def test_with_user_items_serves_new_histories_without_refitting(ease, user_items):
    import scipy.sparse as sp

    model = lowrank.truncate_ease(ease, 2, solver="lapack")
    later = user_items.toarray()
    later[6, 0] = 1.0  # user 6 has interacted with item 0 since
    served = model.with_user_items(sp.csr_array(later))
    assert served.item_table_ is model.item_table_ and served.nbytes == model.nbytes
    np.testing.assert_allclose(served.score([6]), (later[[6]] @ model.item_factors_ * model.fold_in_weights_)
                               @ model.item_factors_.T * model.item_scale_, rtol=1e-5)
    np.testing.assert_array_equal(model.score([0]), served.score([0]))
    with pytest.raises(ValueError, match="shape"):
        model.with_user_items(sp.csr_array(later[:, :4]))


def test_truncated_ease_needs_no_dense_fit(ease, user_items):
    fitted = lowrank.truncate_ease(ease, 2, solver="lapack")
    unfitted = lowrank.truncate_ease(models.EASE(l2=0.5), 2, solver="lapack", user_items=user_items)
    np.testing.assert_allclose(unfitted.score(np.arange(7)), fitted.score(np.arange(7)), rtol=1e-6)
    with pytest.raises(RuntimeError, match="not fitted"):
        lowrank.truncate_ease(models.EASE(l2=0.5), 2)
