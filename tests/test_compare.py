import numpy as np
import pytest
import scipy.sparse as sp

from reccompress import compare, measure, metrics, models, splits
from reccompress.compress import lowrank, sparse


@pytest.fixture
def setting():
    rng = np.random.default_rng(11)
    matrix = sp.csr_array((rng.random((30, 26)) < 0.35).astype(np.float32))
    split = splits.random_holdout(matrix, 0.3, seed=1)
    ease = models.EASE(l2=2.0).fit(split.train)
    return split, ease, {"sparse 50%": sparse.magnitude_prune(ease, 0.5), "rank 3": lowrank.truncate_ease(ease, 3)}


def test_rows_hold_bytes_ratio_accuracy_and_share_kept(setting):
    split, ease, candidates = setting
    result = compare.compare(ease, candidates, split, reference_name="EASE")
    assert [row["model"] for row in result.rows] == ["EASE", "sparse 50%", "rank 3"]
    reference = metrics.evaluate(ease, split)
    for row, model in zip(result.rows, [ease, *candidates.values()]):
        expected = metrics.evaluate(model, split)
        assert row["bytes"] == model.nbytes
        assert row["bytes ratio"] == pytest.approx(ease.nbytes / model.nbytes)
        assert row["ndcg@10"] == expected["ndcg@10"] and row["ndcg@20"] == expected["ndcg@20"]
        assert row["kept"] == pytest.approx(expected["ndcg@20"] / reference["ndcg@20"])
    assert result.rows[0]["kept"] == 1.0 and result.rows[0]["bytes ratio"] == 1.0
    assert result.metric == "ndcg@20" and "bytes ratio" in repr(result) and "<table" in result._repr_html_()
    assert result.row("rank 3")["model"] == "rank 3"


def test_latency_is_measured_interleaved_with_a_speed_ratio(setting):
    split, ease, candidates = setting
    result = compare.compare(ease, candidates, split, latency=True, min_repeats=3, min_seconds=0.0)
    for row in result.rows:
        assert isinstance(row["speed-up (all users)"], measure.SpeedRatio)
        assert len(row["time (one user)"].times) == len(result.rows[0]["time (one user)"].times)
    assert result.rows[0]["speed-up (all users)"].median == 1.0
    assert result.latency_table().columns[0] == "model"
    with pytest.raises(ValueError, match="latency was not measured"):
        compare.compare(ease, candidates, split).latency_table()


def test_bad_arguments_are_explained(setting):
    split, ease, candidates = setting
    with pytest.raises(TypeError, match="candidates must be a non-empty mapping"):
        compare.compare(ease, list(candidates.values()), split)
    with pytest.raises(ValueError, match="'reference' names the reference"):
        compare.compare(ease, {"reference": ease}, split)
    with pytest.raises(TypeError, match="'x' must be a fitted recommender"):
        compare.compare(ease, {"x": 3}, split)
