import numpy as np
import pytest
import scipy.sparse as sp

from reccompress import models
from reccompress.compress import base


@pytest.fixture
def values():
    """A 6 x 3 table with a zero row and a few zeros."""
    rng = np.random.default_rng(3)
    table = rng.normal(size=(6, 3)).astype(np.float32)
    table[2] = 0.0
    table[4, 1] = 0.0
    return table


@pytest.mark.parametrize("make", [base.DenseTable, base.CSRTable])
def test_tables_give_back_their_rows_and_products(make, values):
    table = make(values)
    assert table.shape == (6, 3)
    assert np.array_equal(table.rows([4, 0, 4]), values[[4, 0, 4]])
    assert np.array_equal(table.to_dense(), values)
    x = sp.csr_array(np.random.default_rng(0).random((2, 6)).astype(np.float32))
    assert np.allclose(table.left_multiply(x), x.toarray() @ values, atol=1e-6)
    assert np.allclose(table.left_multiply(x.toarray()), x.toarray() @ values, atol=1e-6)
    vectors = np.random.default_rng(1).random((4, 3)).astype(np.float32)
    assert np.allclose(table.score_against(vectors), vectors @ values.T, atol=1e-6)
    assert table.left_multiply(x).dtype == table.score_against(vectors).dtype == np.float32


def test_table_bytes_come_from_the_arrays_they_declare(values):
    assert base.DenseTable(values).nbytes == 6 * 3 * 4
    assert base.DenseTable(values, dtype=np.float16).nbytes == 6 * 3 * 2
    csr = base.CSRTable(values)
    nnz = int(np.count_nonzero(values))
    assert csr.nbytes == nnz * (4 + 4) + (6 + 1) * 4
    assert csr.density == pytest.approx(nnz / 18)
    assert repr(csr) == f"CSRTable(6 x 3, {csr.nbytes:,} bytes)"


def test_tables_refuse_bad_arrays_and_ids(values):
    with pytest.raises(TypeError, match="values must be a 2-D numpy array"):
        base.DenseTable(values[0])
    with pytest.raises(TypeError, match="must hold floating-point numbers; got dtype int64"):
        base.DenseTable(np.ones((2, 2), dtype=np.int64))
    bad = values.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        base.CSRTable(bad)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 6\); got values from 0 to 6"):
        base.DenseTable(values).rows([0, 6])


def test_factor_recommender_with_a_user_table_scores_p_q(user_items):
    users = np.random.default_rng(0).normal(size=(7, 2)).astype(np.float32)
    items = np.random.default_rng(1).normal(size=(5, 2)).astype(np.float32)
    model = base.FactorRecommender(base.DenseTable(items), user_items, user_table=base.DenseTable(users))
    assert np.allclose(model.score(np.arange(7)), users @ items.T, atol=1e-6)
    assert model.rank == 2 and model.nbytes == (7 + 5) * 2 * 4
    assert np.array_equal(model.user_factors_, users) and np.array_equal(model.item_factors_, items)


def test_factor_recommender_folds_in_scales_and_biases(user_items):
    rng = np.random.default_rng(2)
    fold, items = rng.normal(size=(5, 2)).astype(np.float32), rng.normal(size=(5, 2)).astype(np.float32)
    weights, scale, bias = rng.random(2).astype(np.float32), rng.random(5).astype(np.float32), rng.random(5).astype(np.float32)
    model = base.FactorRecommender(base.DenseTable(items), user_items, fold_in=base.DenseTable(fold),
                                   fold_in_weights=weights, item_scale=scale, item_bias=bias)
    x = user_items.toarray()
    expected = ((x @ fold) * weights) @ items.T * scale + bias
    assert np.allclose(model.score(np.arange(7)), expected, atol=1e-5)
    assert model.user_factors_ is None
    assert model.nbytes == (5 * 2 + 5 * 2 + 2 + 5 + 5) * 4


def test_a_table_serving_two_roles_is_stored_once(user_items):
    shared = base.DenseTable(np.ones((5, 2), dtype=np.float32))
    model = base.FactorRecommender(shared, user_items, fold_in=shared)
    assert model.nbytes == 5 * 2 * 4 and list(model.inference_arrays()) == ["fold_in_"]


def test_factor_recommender_refuses_inconsistent_tables(user_items):
    items = base.DenseTable(np.ones((5, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="give exactly one user side"):
        base.FactorRecommender(items, user_items)
    with pytest.raises(ValueError, match="give exactly one user side"):
        base.FactorRecommender(items, user_items, user_table=base.DenseTable(np.ones((7, 2), np.float32)), fold_in=items)
    with pytest.raises(ValueError, match=r"user_table must have shape \(7, 2\)"):
        base.FactorRecommender(items, user_items, user_table=base.DenseTable(np.ones((7, 3), np.float32)))
    with pytest.raises(ValueError, match=r"item_table must have shape \(5, None\)"):
        base.FactorRecommender(base.DenseTable(np.ones((4, 2), np.float32)), user_items, fold_in=items)
    with pytest.raises(ValueError, match=r"item_scale must be a numpy array of shape \(5,\)"):
        base.FactorRecommender(items, user_items, fold_in=items, item_scale=np.ones(4))
    with pytest.raises(TypeError, match="item_table must be a storage table"):
        base.FactorRecommender(np.ones((5, 2)), user_items, fold_in=items)


def test_item_item_recommender_scores_history_times_weights(user_items):
    weights = np.random.default_rng(4).normal(size=(5, 5)).astype(np.float32)
    for table in (base.DenseTable(weights), base.CSRTable(weights)):
        model = base.ItemItemRecommender(table, user_items)
        assert np.allclose(model.score(np.arange(7)), user_items.toarray() @ weights, atol=1e-5)
    assert base.ItemItemRecommender(base.DenseTable(weights), user_items).density == 1.0


def test_factor_model_reads_every_mf_model_losslessly(user_items):
    for model in (models.PureSVD(rank=3).fit(user_items), models.ImplicitALS(rank=2, iterations=2).fit(user_items)):
        tables = base.factor_model(model)
        assert np.allclose(tables.score(np.arange(7)), model.score(np.arange(7)), atol=1e-5)
        assert tables.nbytes == model.nbytes and tables.source_ is model
    biased = models.BiasedMF(rank=2, iterations=2).fit(user_items)
    scores, tables = biased.score(np.arange(7)), base.factor_model(biased).score(np.arange(7))
    # the user bias and global mean shift a whole row: same ranking, rows differ by a constant
    assert np.allclose(scores - tables, (scores - tables)[:, :1], atol=1e-5)
    with pytest.raises(TypeError, match="expected a fitted matrix-factorization model .*; got EASE"):
        base.factor_model(models.EASE().fit(user_items))


def test_compressed_models_are_built_not_fitted(user_items):
    ease = models.EASE(l2=1.0).fit(user_items)
    model = base.ItemItemRecommender(base.DenseTable(ease.weights_), user_items, source=ease,
                                     recipe={"verb": "copy", "note": "x"})
    assert repr(model) == "ItemItemRecommender(copy(note='x'))"
    assert model.get_params() == {"verb": "copy", "note": "x"} and model.source_ is ease
    with pytest.raises(RuntimeError, match=r"built by a compression verb \(copy\), not fitted"):
        model.fit(user_items)
    with pytest.raises(TypeError, match="module must be a torch module with score_users"):
        base.ModuleRecommender(object(), user_items)
