import math

import numpy as np
import pytest
import scipy.sparse as sp

from reccompress import metrics, models, splits


# ---------------------------------------------------------------- hand-computed tiny cases
def test_hand_computed_list_of_four():
    # One user, relevant items {1, 3, 5}; list (best first) = 3, 0, 1, 4: hits at ranks 1 and 3.
    ranked = np.array([[3, 0, 1, 4]])
    truth = sp.csr_array(np.array([[0, 1, 0, 1, 0, 1]], dtype=np.float32))
    hits = metrics.hits_at_k(ranked, truth)
    assert hits.tolist() == [[True, False, True, False]]
    n_rel = np.array([3])
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics.ndcg_at_k(hits, n_rel)[0] == pytest.approx(dcg / idcg)
    assert metrics.recall_at_k(hits, n_rel)[0] == pytest.approx(2 / 3)
    assert metrics.precision_at_k(hits)[0] == pytest.approx(2 / 4)
    assert metrics.hit_rate_at_k(hits)[0] == 1.0
    assert metrics.ndcg_at_k(hits[:, :2], n_rel)[0] == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_reciprocal_rank_over_full_ranking_with_ties():
    scores = np.array([[0.9, 0.5, 0.5, 0.1, 0.7], [0.2, 0.2, 0.2, 0.2, 0.2]])
    truth = sp.csr_array(np.array([[0, 0, 1, 0, 0], [0, 0, 0, 1, 1]], dtype=np.float32))
    # Row 0: order 0, 4, 1, 2 (tie with 1 goes to the lower index), 3 -> item 2 at position 4.
    # Row 1: all tied, order 0..4 -> first relevant (item 3) at position 4.
    assert metrics.reciprocal_rank(scores, truth).tolist() == [0.25, 0.25]


def test_coverage_and_rating_errors():
    assert metrics.item_coverage_at_k(np.array([[0, 1], [1, 2]]), n_items=8) == 3 / 8
    assert metrics.rmse([3, 4, 5], [3, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert metrics.mae([3, 4, 5], [3, 2, 5]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="one shape"):
        metrics.rmse([1, 2], [1, 2, 3])


# ---------------------------------------------------------------- ranking and ties
def test_top_k_breaks_ties_by_lower_index():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0, -np.inf], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    assert metrics.top_k(scores, 4).tolist() == [[1, 2, 4, 3], [0, 1, 2, 3]]


def test_top_k_equals_full_stable_sort_on_random_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(31, 17)).astype(np.float64)  # many ties
    for k in (1, 5, 17):
        expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        assert np.array_equal(metrics.top_k(scores, k), expected)


def test_top_k_rejects_nan_and_oversized_k():
    with pytest.raises(ValueError, match="NaN in 1 row"):
        metrics.top_k(np.array([[0.0, np.nan]]), 1)
    with pytest.raises(ValueError, match="k must be at least 1 and at most 2; got 3"):
        metrics.top_k(np.zeros((1, 2)), 3)


def test_metrics_refuse_users_without_relevant_items():
    with pytest.raises(ValueError, match=r"1 user\(s\) have no relevant item.*test_users"):
        metrics.ndcg_at_k(np.zeros((2, 3), dtype=bool), np.array([1, 0]))


# ---------------------------------------------------------------- vectorised == slow and obvious
class FixedScores:
    """A 'model' whose scores are a given matrix."""

    def __init__(self, scores):
        self.scores = scores

    def score(self, user_ids):
        return self.scores[user_ids]


def slow_evaluate(scores, train, test, ks):
    """One user at a time, straight from the definitions, with Python sorting."""
    n_items = scores.shape[1]
    per = {}
    recommended = {k: set() for k in ks}
    users = [u for u in range(test.shape[0]) if test[[u]].nnz]
    for u in users:
        seen = set(train[[u]].indices.tolist())
        relevant = set(test[[u]].indices.tolist())
        order = sorted((i for i in range(n_items) if i not in seen), key=lambda i: (-scores[u, i], i))
        for k in ks:
            top = order[:k]
            recommended[k].update(top)
            gains = [1.0 if i in relevant else 0.0 for i in top]
            dcg = sum(g / math.log2(p + 2) for p, g in enumerate(gains))
            idcg = sum(1 / math.log2(p + 2) for p in range(min(len(relevant), k)))
            for name, value in (
                (f"ndcg@{k}", dcg / idcg),
                (f"recall@{k}", sum(gains) / len(relevant)),
                (f"precision@{k}", sum(gains) / k),
                (f"hit_rate@{k}", float(any(gains))),
            ):
                per.setdefault(name, []).append(value)
        first = next(p for p, i in enumerate(order) if i in relevant)
        per.setdefault("mrr", []).append(1 / (first + 1))
    result = {name: float(np.mean(values)) for name, values in per.items()}
    for k in ks:
        result[f"coverage@{k}"] = len(recommended[k]) / n_items
    return result


def random_split(seed, n_users=37, n_items=29, density=0.3):
    rng = np.random.default_rng(seed)
    matrix = sp.random_array((n_users, n_items), density=density, format="csr", rng=rng)
    matrix.data[:] = 1.0
    return splits.random_holdout(matrix.astype(np.float32), 0.3, seed=seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evaluate_matches_slow_loop_on_random_data_with_ties(seed):
    split = random_split(seed)
    rng = np.random.default_rng(100 + seed)
    scores = rng.integers(0, 4, size=split.train.shape).astype(np.float32)  # heavy ties
    fast = metrics.evaluate(FixedScores(scores), split, ks=(3, 7))
    slow = slow_evaluate(scores, split.train, split.test, ks=(3, 7))
    assert fast.keys() == slow.keys()
    for name in fast:
        assert fast[name] == pytest.approx(slow[name], abs=1e-12), name


def test_evaluate_in_small_batches_matches_one_batch(monkeypatch):
    split = random_split(4)
    scores = np.random.default_rng(4).random(split.train.shape)
    whole = metrics.evaluate(FixedScores(scores), split)
    monkeypatch.setattr(metrics, "_CELLS_PER_BATCH", 29 * 5)  # five users per batch
    assert metrics.evaluate(FixedScores(scores), split) == pytest.approx(whole)


# ---------------------------------------------------------------- properties
def test_perfect_ranking_scores_one():
    split = random_split(5)
    oracle = FixedScores(split.test.toarray() + 0.0)
    result = metrics.evaluate(oracle, split, ks=(1, 3))
    for name in ("ndcg@1", "ndcg@3", "precision@1", "hit_rate@3", "mrr"):
        assert result[name] == pytest.approx(1.0), name


def test_metrics_are_invariant_to_permuting_users():
    split = random_split(6)
    scores = np.random.default_rng(6).random(split.train.shape)
    permutation = np.random.default_rng(7).permutation(split.train.shape[0])
    permuted = splits.Split(split.train[permutation], split.test[permutation])
    assert metrics.evaluate(FixedScores(scores[permutation]), permuted) == pytest.approx(
        metrics.evaluate(FixedScores(scores), split)
    )


def test_evaluate_rejects_wrong_score_shape():
    split = random_split(8)
    with pytest.raises(ValueError, match=r"score returned shape \(37, 28\); expected \(37, 29\)"):
        metrics.evaluate(FixedScores(np.zeros((37, 28))), split)


# ---------------------------------------------------------------- the sampled protocol
def test_sampled_without_sampling_equals_brute_force():
    split = random_split(9)
    scores = np.random.default_rng(9).random(split.train.shape)
    result = metrics.sampled_evaluate(FixedScores(scores), split, k=3, n_negatives=None)
    hr, ndcg = [], []
    for u in split.test_users():
        seen = set(split.train[[u]].indices) | set(split.test[[u]].indices)
        negatives = [i for i in range(scores.shape[1]) if i not in seen]
        ranks = [sum(scores[u, j] >= scores[u, i] for j in negatives) for i in split.test[[u]].indices]
        hr.append(np.mean([r < 3 for r in ranks]))
        ndcg.append(np.mean([1 / math.log2(r + 2) if r < 3 else 0 for r in ranks]))
    assert result["sampled_hit_rate@3"] == pytest.approx(np.mean(hr))
    assert result["sampled_ndcg@3"] == pytest.approx(np.mean(ndcg))


def test_sampled_is_seeded_and_never_worse_than_full():
    split = random_split(10, n_users=30, n_items=60, density=0.1)
    model = FixedScores(np.random.default_rng(10).random(split.train.shape))
    a = metrics.sampled_evaluate(model, split, k=5, n_negatives=20, seed=1)
    assert a == metrics.sampled_evaluate(model, split, k=5, n_negatives=20, seed=1)
    full = metrics.sampled_evaluate(model, split, k=5, n_negatives=None)
    assert a["sampled_hit_rate@5"] >= full["sampled_hit_rate@5"]


def test_rating_metrics_refuse_nan():
    with pytest.raises(ValueError, match=r"predicted contains 1 NaN or infinite value\(s\) \(first at position 1\)"):
        metrics.rmse([3.0, np.nan, 4.0], [3.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="actual contains 1 NaN"):
        metrics.mae([3.0, 2.0], [np.inf, 1.0])
    with pytest.raises(TypeError, match="predicted must hold real numbers"):
        metrics.rmse(["3", "4"], [3.0, 4.0])


def test_evaluate_explains_bad_ks_split_and_model(user_items):
    split = splits.random_holdout(user_items, 0.4, seed=0)
    model = models.MostPopular().fit(split.train)
    with pytest.raises(TypeError, match=r"ks must be a sequence of integers such as \(10, 20\); got int 10"):
        metrics.evaluate(model, split, ks=10)
    with pytest.raises(ValueError, match="ks must hold at least one integer"):
        metrics.evaluate(model, split, ks=())
    with pytest.raises(TypeError, match="split must be a reccompress.splits.Split"):
        metrics.evaluate(model, (split.train, split.test))
    with pytest.raises(TypeError, match="model must have a score"):
        metrics.evaluate(split.train, split)


def test_array_metrics_explain_wrong_arrays():
    truth = sp.csr_array(np.eye(2, 4, dtype=np.float32))
    with pytest.raises(TypeError, match="ranked must be a 2-D integer array"):
        metrics.hits_at_k(np.array([[0.5, 1.0]]), truth)
    with pytest.raises(ValueError, match=r"ranked item ids must lie in \[0, 4\); got values from 0 to 4"):
        metrics.hits_at_k(np.array([[0, 4], [1, 2]]), truth)
    with pytest.raises(TypeError, match="hits must be a 2-D boolean array"):
        metrics.precision_at_k([[1, 0]])
    with pytest.raises(TypeError, match="hits must be a 2-D boolean array"):
        metrics.ndcg_at_k(np.array([[1, 0]]), [1])
    with pytest.raises(TypeError, match="n_items must be an integer"):
        metrics.item_coverage_at_k(np.array([[0, 1]]), 4.0)


def test_head_share_counts_slots_of_the_most_popular_items():
    counts = np.array([5, 9, 1, 9, 0, 2, 3, 4, 1, 0])  # head 0.2 -> items 1 and 3 (ties: lower id first)
    ranked = np.array([[1, 0, 3], [2, 4, 5]])
    assert metrics.head_share_at_k(ranked, counts, head=0.2) == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="head must be a share"):
        metrics.head_share_at_k(ranked, counts, head=1.5)
