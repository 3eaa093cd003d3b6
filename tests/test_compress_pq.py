import numpy as np
import pytest
import scipy.sparse as sp

from reccompress import models, repro
from reccompress.compress import base, pq
from reccompress.train import TrainSettings


@pytest.fixture
def interactions():
    rng = np.random.default_rng(6)
    return sp.csr_array((rng.random((40, 30)) < 0.3).astype(np.float32))


def test_kmeans_finds_well_separated_clusters_and_never_worsens():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = np.concatenate([c + rng.normal(scale=0.1, size=(20, 2)) for c in centres])
    found, assignment = pq.kmeans(points, 3, seed=1)
    assert sorted(np.round(found).tolist()) == sorted(centres.tolist())
    assert len(set(assignment[:20])) == len(set(assignment[20:40])) == len(set(assignment[40:])) == 1
    loose, _ = pq.kmeans(points, 3, iterations=1, seed=1)
    def inertia(c):
        return ((points[:, None] - c[None]) ** 2).sum(-1).min(1).sum()
    assert inertia(found) <= inertia(loose) + 1e-9


def test_a_table_with_at_most_k_distinct_subrows_is_stored_exactly():
    rng = np.random.default_rng(2)
    parts = [rng.normal(size=(4, 3)) for _ in range(2)]  # 4 distinct sub-rows per sub-space
    rows = np.concatenate([parts[0][rng.integers(0, 4, 50)], parts[1][rng.integers(0, 4, 50)]], axis=1)
    table = pq.pq_table(rows.astype(np.float32), subspaces=2, centroids=4, seed=0)
    assert np.allclose(table.to_dense(), rows, atol=1e-6)
    vectors = rng.normal(size=(3, 6)).astype(np.float32)
    assert np.allclose(table.score_against(vectors), vectors @ rows.T, atol=1e-4)  # the lookup tables


def test_pq_bytes_are_codes_plus_codebooks(interactions):
    repro.set_reproducible(seed=0, threads=1)
    mf = models.BPRMF(rank=8, init_std=0.1, training=TrainSettings(epochs=2, validation_fraction=0.0)).fit(interactions)
    model = pq.product_quantize(mf, subspaces=4, centroids=16, codebook_dtype=np.float16)  # metric="euclidean"
    items = model.item_table_
    assert isinstance(items, pq.PQTable) and isinstance(model.user_table_, base.DenseTable)
    assert items.nbytes == -(-30 * 4 * 4 // 8) + 4 * 16 * 2 * 2  # 4-bit codes, float16 codebooks
    assert model.nbytes == items.nbytes + 40 * 8 * 4
    weighted = pq.product_quantize(mf, subspaces=4, centroids=16, metric="scores", codebook_dtype=np.float16)
    assert weighted.item_table_.nbytes == items.nbytes + 8  # + the column order, one uint8 per column
    every = pq.product_quantize(mf, subspaces=2, centroids=4, tables="all")
    assert isinstance(every.user_table_, pq.PQTable)
    svd = pq.product_quantize(models.PureSVD(rank=4).fit(interactions), 2, 4)
    assert svd.fold_in_ is svd.item_table_  # the shared table stays shared


def test_weights_deal_columns_to_subspaces_by_weight_and_rows_come_back_in_order():
    rng = np.random.default_rng(3)
    weights = np.array([1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 4.0, 5.0])
    parts = [rng.normal(size=(4, 4)) for _ in range(2)]
    codes = rng.integers(0, 4, size=(50, 2))
    # Columns by weight: 1, 3, 5, 7, 6, 4, 2, 0 -> sub-space 0 holds 1, 5, 6, 2; sub-space 1 holds 3, 7, 4, 0.
    expected = [np.array([1, 5, 6, 2]), np.array([3, 7, 4, 0])]
    rows = np.empty((50, 8))
    for j, columns in enumerate(expected):
        rows[:, columns] = parts[j][codes[:, j]]
    table = pq.pq_table(rows.astype(np.float32), subspaces=2, centroids=4, seed=0, weights=weights)
    assert table.dims.tolist() == [1, 5, 6, 2, 3, 7, 4, 0]
    assert np.allclose(table.to_dense(), rows, atol=1e-6) and np.allclose(table.rows([4, 2]), rows[[4, 2]], atol=1e-6)
    vectors = rng.normal(size=(3, 8)).astype(np.float32)
    assert np.allclose(table.score_against(vectors), vectors @ rows.T, atol=1e-4)


def test_the_scores_metric_lowers_the_score_error_when_user_columns_differ_in_scale(interactions):
    rng = np.random.default_rng(4)
    users = (rng.normal(size=(40, 8)) * np.array([10.0, 0.1, 0.1, 0.1, 5.0, 0.1, 0.1, 0.1])).astype(np.float32)
    items = rng.normal(size=(30, 8)).astype(np.float32)
    model = base.FactorRecommender(base.DenseTable(items), interactions, user_table=base.DenseTable(users))

    def score_error(metric):
        quantized = pq.product_quantize(model, subspaces=2, centroids=4, metric=metric)
        return ((quantized.item_table_.to_dense() - items) @ users.T).var()

    assert score_error("scores") < 0.5 * score_error("euclidean")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: pq.product_quantize(m, 3), "subspaces must divide the table's 8 columns"),
        (lambda m: pq.product_quantize(m, 4, centroids=8), "centroids must be 2, 4, 16 or 256"),
        (lambda m: pq.product_quantize(m, 4, centroids=256), "a table of 30 rows cannot fill 256 centroids"),
        (lambda m: pq.product_quantize(m, 4, tables="users"), "tables must be one of"),
        (lambda m: pq.product_quantize(m, 4, metric="cosine"), "metric must be one of"),
        (lambda m: pq.pq_table(np.ones((30, 8)), 4, 4, weights=np.zeros(8)), "weights must be 8 positive"),
        (lambda m: pq.PQTable(np.zeros((3, 2), int), np.ones((2, 4, 2)), dims=[0, 0, 1, 2]), "dims must be a permutation"),
    ],
)
def test_bad_arguments_are_explained(interactions, call, message):
    repro.set_reproducible(seed=0, threads=1)
    mf = models.BPRMF(rank=8, training=TrainSettings(epochs=1, validation_fraction=0.0)).fit(interactions)
    with pytest.raises(ValueError, match=message):
        call(mf)
