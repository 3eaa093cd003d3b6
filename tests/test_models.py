import numpy as np
import pytest
import scipy.sparse as sp

from reccompress import models

from reccompress.train import TrainSettings

ALL_MODELS = [
    lambda: models.MostPopular(),
    lambda: models.ItemKNN(k=2),
    lambda: models.PureSVD(rank=2),
    lambda: models.EASE(l2=1.0),
    lambda: models.ImplicitALS(rank=2, iterations=3),
    lambda: models.BiasedMF(rank=2, iterations=3),
    lambda: models.BPRMF(rank=3, training=TrainSettings(epochs=2)),
    lambda: models.NCF(rank=3, hidden=(4,), training=TrainSettings(epochs=2)),
]


@pytest.mark.parametrize("make", ALL_MODELS)
def test_unfitted_model_says_call_fit(make):
    with pytest.raises(RuntimeError, match=r"not fitted yet; call \.fit\(user_items\) first"):
        make().score([0])
    with pytest.raises(RuntimeError, match="not fitted yet"):
        make().nbytes


@pytest.mark.parametrize("make", ALL_MODELS)
def test_bad_training_matrices_are_explained(make, user_items):
    with pytest.raises(TypeError, match="CSR"):
        make().fit(user_items.toarray())
    negative = user_items.copy()
    negative.data[0] = -1.0
    with pytest.raises(ValueError, match=r"interaction strengths >= 0; got 1 negative value\(s\) \(smallest -1\)"):
        make().fit(negative)
    stored_zero = user_items.copy()
    stored_zero.data[2] = 0.0
    with pytest.raises(ValueError, match=r"stores 1 explicit zero\(s\).*eliminate_zeros"):
        make().fit(stored_zero)
    duplicated = sp.csr_array((np.ones(3, np.float32), np.array([0, 0, 2]), np.array([0, 3, 3, 3, 3, 3, 3, 3])), shape=(7, 5))
    with pytest.raises(ValueError, match=r"stores 1 \(user, item\) cell\(s\) more than once.*sum_duplicates"):
        make().fit(duplicated)
    with pytest.raises(ValueError, match="holds no interactions"):
        make().fit(sp.csr_array((7, 5), dtype=np.float32))


def test_nbytes_counts_the_stored_arrays(user_items):
    popular = models.MostPopular().fit(user_items)
    assert popular.nbytes == 5 * 4
    knn = models.ItemKNN(k=2).fit(user_items)
    w = knn.similarity_
    assert knn.nbytes == w.data.nbytes + w.indices.nbytes + w.indptr.nbytes
    assert models.PureSVD(rank=2).fit(user_items).nbytes == 5 * 2 * 4
    assert models.EASE(l2=1.0).fit(user_items).nbytes == 5 * 5 * 4
    assert models.BiasedMF(rank=2, iterations=1).fit(user_items).nbytes == (7 * 2 + 5 * 2 + 7 + 5 + 1) * 4


def test_most_popular_counts_interactions(user_items):
    assert models.MostPopular().fit(user_items).popularity_.tolist() == [3, 3, 3, 2, 6]


def test_itemknn_keeps_top_k_cosine_neighbours_per_column(user_items):
    model = models.ItemKNN(k=2).fit(user_items)
    dense = user_items.toarray()
    norms = np.linalg.norm(dense, axis=0)
    cosine = dense.T @ dense / np.outer(norms, norms)
    np.fill_diagonal(cosine, 0)
    w = model.similarity_.toarray()
    for j in range(5):
        kept = np.flatnonzero(w[:, j])
        assert len(kept) <= 2
        assert np.allclose(w[kept, j], cosine[kept, j])
        # nothing left out is more similar than what was kept
        assert cosine[np.setdiff1d(np.arange(5), kept), j].max(initial=0) <= w[kept, j].min() + 1e-7


def test_itemknn_rejects_k_beyond_catalogue(user_items):
    with pytest.raises(ValueError, match="k must be at least 1 and at most 4; got 5"):
        models.ItemKNN(k=5).fit(user_items)


def test_ease_solves_each_constrained_ridge_regression(user_items):
    """Column j of B minimises ||X_j - X B_j||^2 + l2 ||B_j||^2 with B_jj = 0."""
    l2 = 0.7
    b = models.EASE(l2=l2).fit(user_items).weights_
    x = user_items.toarray().astype(np.float64)
    for j in range(5):
        others = [i for i in range(5) if i != j]
        xo = x[:, others]
        direct = np.linalg.solve(xo.T @ xo + l2 * np.eye(4), xo.T @ x[:, j])
        assert b[j, j] == 0
        assert np.allclose(b[others, j], direct, atol=1e-5)


def test_ease_rejects_negative_l2(user_items):
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0; got -1"):
        models.EASE(l2=-1).fit(user_items)


def test_puresvd_scores_equal_rank_r_reconstruction(user_items):
    model = models.PureSVD(rank=3, seed=1).fit(user_items)
    x = user_items.toarray().astype(np.float64)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    reconstruction = u[:, :3] * s[:3] @ vt[:3]
    assert np.allclose(model.singular_values_, s[:3], atol=1e-5)
    assert np.allclose(model.score(np.arange(7)), reconstruction, atol=1e-5)
    v = model.item_factors_
    assert np.allclose(v.T @ v, np.eye(3), atol=1e-5)


def test_puresvd_rank_must_stay_below_min_dimension(user_items):
    with pytest.raises(ValueError, match="rank must be at least 1 and at most 4; got 5"):
        models.PureSVD(rank=5).fit(user_items)


@pytest.mark.parametrize("make", ALL_MODELS)
def test_get_params_rebuilds_an_equivalent_unfitted_model(make, user_items):
    model = make().fit(user_items)
    copy = type(model)(**model.get_params())
    assert copy.user_items_ is None
    assert np.array_equal(copy.fit(user_items).score([1, 2]), model.score([1, 2]))


def test_seeds_of_the_wrong_type_get_the_library_message(user_items):
    with pytest.raises(TypeError, match="seed must be a non-negative integer such as 0 or 42; got float 1.5"):
        models.PureSVD(rank=2, seed=1.5).fit(user_items)
    with pytest.raises(ValueError, match="seed must be a non-negative integer; got -3"):
        models.ImplicitALS(rank=2, seed=-3).fit(user_items)


def test_repr_shows_hyper_parameters():
    assert repr(models.EASE(l2=3.0)) == "EASE(l2=3.0)"
    assert repr(models.BPRMF(rank=8, training=TrainSettings(progress=True))) == (
        "BPRMF(rank=8, init_std=0.01, training=TrainSettings(epochs=80, lr=0.002, l2=0.001, progress=True))")
    assert repr(models.PureSVD(rank=8)) == "PureSVD(rank=8, seed=0)"
    assert repr(models.PureSVD(rank=8, solver="randomized")) == "PureSVD(rank=8, seed=0, solver='randomized')"
    assert "progress" not in repr(models.ImplicitALS()) and "progress=True" in repr(models.ImplicitALS(progress=True))
