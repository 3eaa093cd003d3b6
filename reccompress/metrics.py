"""Ranking and rating metrics, computed on arrays; ``evaluate`` ties them to a model and a split.

The protocol is full ranking: for each test user, every item NOT seen in training is a
candidate, and the model's top-k list over all of them is compared with the held-out items.
Ties in score are broken by item index (the lower index ranks first), so results never
depend on sort stability or on the order of a partition.

The per-metric functions take arrays and return one value per user; :func:`evaluate` returns
means. Relevance is binary (an item is relevant if it is in the user's test row).
"""

from __future__ import annotations

import numpy as np

from ._checks import check_ids, check_int_sequence, check_positive_int, check_seed, check_user_items, describe

__all__ = [
    "evaluate",
    "head_share_at_k",
    "hit_rate_at_k",
    "hits_at_k",
    "item_coverage_at_k",
    "mae",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "rmse",
    "sampled_evaluate",
    "top_k",
]

# Rows of dense scores held at once: bounds memory at about 64 MB of float64 per batch.
_CELLS_PER_BATCH = 1 << 23


# --------------------------------------------------------------------------------------------
# Ranking
# --------------------------------------------------------------------------------------------
def _check_scores(scores) -> np.ndarray:
    if not isinstance(scores, np.ndarray) or scores.ndim != 2:
        raise TypeError(f"scores must be a 2-D numpy array (n_users, n_items); got {describe(scores)}")
    if np.isnan(scores).any():
        rows = np.flatnonzero(np.isnan(scores).any(axis=1))
        raise ValueError(f"scores contain NaN in {rows.size} row(s) (first: row {rows[0]}); a model returned NaN")
    return scores


def mask_seen(scores: np.ndarray, seen) -> np.ndarray:
    """Set ``scores[u, i] = -inf`` wherever ``seen[u, i]`` is stored; returns ``scores`` (modified).

    Args:
        scores: (n, n_items) float array, modified in place.
        seen: (n, n_items) CSR matrix aligned row for row with ``scores``.
    """
    check_user_items(seen, "seen", shape=scores.shape)
    scores[_row_indices(seen), seen.indices] = -np.inf
    return scores


def _row_indices(matrix) -> np.ndarray:
    """Row index of every stored entry of a CSR matrix, (nnz,)."""
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


def _relevance_mask(truth) -> np.ndarray:
    """Dense (n, n_items) bool mask of the entries stored in a CSR matrix."""
    relevant = np.zeros(truth.shape, dtype=bool)
    relevant[_row_indices(truth), truth.indices] = True
    return relevant


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores of each row, best first; ties go to the lower index.

    Args:
        scores: (n, n_items) float array (use -inf for items that must come last).
        k: list length, at most n_items.

    Returns:
        (n, k) int64 item indices.
    """
    scores = _check_scores(scores)
    n_rows, n_items = scores.shape
    k = check_positive_int(k, "k", maximum=n_items)
    # k-th largest value of each row: everything above it is in, ties at it fill the rest
    # in increasing item order. Linear time per row, unlike a full sort.
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
    above = scores > kth
    tied = scores == kth
    needed = k - above.sum(axis=1)
    chosen = above | tied
    # Only rows with more ties at the k-th value than places left need the (costly) cumsum.
    crowded = np.flatnonzero(tied.sum(axis=1) > needed)
    if crowded.size:
        first_ties = np.cumsum(tied[crowded], axis=1) <= needed[crowded, None]
        chosen[crowded] = above[crowded] | (tied[crowded] & first_ties)
    items = np.nonzero(chosen)[1].reshape(n_rows, k)  # increasing item index within a row
    order = np.argsort(-np.take_along_axis(scores, items, axis=1), axis=1, kind="stable")
    return np.take_along_axis(items, order, axis=1).astype(np.int64)


def hits_at_k(ranked: np.ndarray, truth) -> np.ndarray:
    """Which recommended items are relevant.

    Args:
        ranked: (n, k) int item indices, best first.
        truth: (n, n_items) CSR matrix of relevant items, aligned row for row with ``ranked``.

    Returns:
        (n, k) bool.
    """
    check_user_items(truth, "truth")
    _check_ranked(ranked, truth.shape[1])
    if ranked.shape[0] != truth.shape[0]:
        raise ValueError(f"ranked must have shape ({truth.shape[0]}, k) to match truth; got {ranked.shape}")
    return np.take_along_axis(_relevance_mask(truth), ranked, axis=1)


def _check_ranked(ranked, n_items: int) -> None:
    if not isinstance(ranked, np.ndarray) or ranked.ndim != 2 or not np.issubdtype(ranked.dtype, np.integer):
        raise TypeError(f"ranked must be a 2-D integer array (n, k) of item ids, e.g. from top_k; got {describe(ranked)}")
    if ranked.size and (ranked.min() < 0 or ranked.max() >= n_items):
        raise ValueError(f"ranked item ids must lie in [0, {n_items}); got values from {ranked.min()} to {ranked.max()}")


def _check_hits(hits) -> np.ndarray:
    if not isinstance(hits, np.ndarray) or hits.ndim != 2 or hits.dtype != bool:
        raise TypeError(f"hits must be a 2-D boolean array (n, k), e.g. from hits_at_k; got {describe(hits)}")
    return hits


def _check_relevant(hits: np.ndarray, n_relevant) -> np.ndarray:
    hits = _check_hits(hits)
    n_relevant = np.asarray(n_relevant)
    if n_relevant.shape != (hits.shape[0],):
        raise ValueError(f"n_relevant must have shape ({hits.shape[0]},), one count per row of hits; got {n_relevant.shape}")
    if (n_relevant < 1).any():
        raise ValueError(
            f"n_relevant must be >= 1 for every user; {(n_relevant < 1).sum()} user(s) have no relevant item. "
            "Evaluate only users with test items (Split.test_users())."
        )
    return n_relevant


def recall_at_k(hits: np.ndarray, n_relevant) -> np.ndarray:
    """Share of each user's relevant items found in the top k: ``hits / n_relevant``. (n,) float64."""
    n_relevant = _check_relevant(hits, n_relevant)
    return hits.sum(axis=1) / n_relevant


def precision_at_k(hits: np.ndarray) -> np.ndarray:
    """Share of the k recommended items that are relevant. (n,) float64."""
    return _check_hits(hits).mean(axis=1)


def hit_rate_at_k(hits: np.ndarray) -> np.ndarray:
    """1.0 if at least one of the k recommended items is relevant, else 0.0. (n,) float64."""
    return _check_hits(hits).any(axis=1).astype(np.float64)


def ndcg_at_k(hits: np.ndarray, n_relevant) -> np.ndarray:
    """Normalised discounted cumulative gain with binary relevance. (n,) float64.

    DCG = sum over positions p = 1..k of hit_p / log2(p + 1); it is divided by the DCG of a
    perfect list, which places min(n_relevant, k) relevant items first.
    """
    n_relevant = _check_relevant(hits, n_relevant)
    k = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return (hits * discounts).sum(axis=1) / ideal


def reciprocal_rank(scores: np.ndarray, truth) -> np.ndarray:
    """1 / (full-ranking position of the best-ranked relevant item). (n,) float64.

    Positions follow the same order as :func:`top_k` (ties to the lower item index) over all
    items; mask seen items to -inf first. Rows without relevant items are an error.
    """
    scores = _check_scores(scores)
    check_user_items(truth, "truth", shape=scores.shape)
    relevant = _relevance_mask(truth)
    _check_relevant(relevant, relevant.sum(axis=1))
    relevant_scores = np.where(relevant, scores, -np.inf)
    best = relevant_scores.max(axis=1, keepdims=True)
    first = np.argmax(relevant & (scores == best), axis=1)[:, None]  # lowest index among ties
    ahead = (scores > best) | ((scores == best) & (np.arange(scores.shape[1]) < first))
    return 1.0 / (ahead.sum(axis=1) + 1)


def item_coverage_at_k(ranked: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's top-k list."""
    n_items = check_positive_int(n_items, "n_items")
    _check_ranked(ranked, n_items)
    return np.unique(ranked).size / n_items


def head_share_at_k(ranked: np.ndarray, item_counts, head: float = 0.1) -> float:
    """Share of all top-k slots taken by the ``head`` most popular items (by ``item_counts``,
    e.g. training interactions per item; ties broken towards the lower item index).

    Args:
        ranked: (n_users, k) item ids.
        item_counts: (n_items,) popularity of every item.
        head: share of the catalogue counted as the head, in (0, 1).
    """
    counts = np.asarray(item_counts)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"item_counts must be a non-empty (n_items,) array; got shape {counts.shape}")
    _check_ranked(ranked, counts.size)
    if not 0 < head < 1:
        raise ValueError(f"head must be a share of the catalogue in (0, 1), e.g. 0.1; got {head!r}")
    n_head = max(1, round(head * counts.size))
    in_head = np.zeros(counts.size, dtype=bool)
    in_head[np.argsort(-counts, kind="stable")[:n_head]] = True
    return float(in_head[np.asarray(ranked)].mean())


# --------------------------------------------------------------------------------------------
# Rating prediction
# --------------------------------------------------------------------------------------------
def _check_pair(predicted, actual) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, values in (("predicted", predicted), ("actual", actual)):
        array = np.asarray(values)
        if not (np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)):
            raise TypeError(f"{name} must hold real numbers (ratings); got {describe(values)}")
        array = array.astype(np.float64)
        if array.ndim == 1 and not np.all(np.isfinite(array)):
            bad = np.flatnonzero(~np.isfinite(array))
            raise ValueError(
                f"{name} contains {bad.size} NaN or infinite value(s) (first at position {bad[0]}); "
                "a model predicted NaN, or a rating is missing: drop or fill those pairs first"
            )
        arrays.append(array)
    predicted, actual = arrays
    if predicted.shape != actual.shape or predicted.ndim != 1 or predicted.size == 0:
        raise ValueError(f"predicted and actual must be non-empty 1-D arrays of one shape; got {predicted.shape} and {actual.shape}")
    return predicted, actual


def rmse(predicted, actual) -> float:
    """Root mean squared error between two (n,) arrays of ratings."""
    predicted, actual = _check_pair(predicted, actual)
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def mae(predicted, actual) -> float:
    """Mean absolute error between two (n,) arrays of ratings."""
    predicted, actual = _check_pair(predicted, actual)
    return float(np.mean(np.abs(predicted - actual)))


# --------------------------------------------------------------------------------------------
# Models on splits
# --------------------------------------------------------------------------------------------
def _check_split(split) -> None:
    if not (hasattr(split, "train") and hasattr(split, "test") and callable(getattr(split, "test_users", None))):
        raise TypeError(f"split must be a reccompress.splits.Split (train and test matrices); got {describe(split)}")


def _check_scorer(model) -> None:
    if not callable(getattr(model, "score", None)):
        raise TypeError(f"model must have a score(user_ids) method (a fitted recommender); got {describe(model)}")


def _batches(user_ids: np.ndarray, n_items: int):
    size = max(1, _CELLS_PER_BATCH // max(n_items, 1))
    for start in range(0, len(user_ids), size):
        yield user_ids[start : start + size]


def _masked_scores(model, users: np.ndarray, train) -> np.ndarray:
    scores = np.asarray(model.score(users), dtype=np.float64)
    expected = (len(users), train.shape[1])
    if scores.shape != expected:
        raise ValueError(f"{type(model).__name__}.score returned shape {scores.shape}; expected {expected} (users, items)")
    return mask_seen(scores, train[users])


def evaluate(model, split, ks=(10, 20), users=None) -> dict[str, float]:
    """Full-ranking evaluation of a fitted model on a split.

    Every test user's items not in ``split.train`` are ranked by ``model.score``; metrics are
    averaged over the users with at least one test item.

    Args:
        model: anything with ``score(user_ids) -> (n, n_items)`` scores.
        split: a :class:`reccompress.splits.Split`; ``model`` must have been fitted on its train.
        ks: list lengths to report.
        users: evaluate only these user indices (default: every user with test items).

    Returns:
        ``{"ndcg@10": ..., "recall@10": ..., "precision@10": ..., "hit_rate@10": ...,
        "coverage@10": ..., ..., "mrr": ...}``, plain floats.
    """
    _check_split(split)
    _check_scorer(model)
    train, test = split.train, split.test
    n_items = train.shape[1]
    ks = check_int_sequence(ks, "ks", "(10, 20)")
    ks = tuple(check_positive_int(k, "k", maximum=n_items) for k in ks)
    if users is None:
        users = split.test_users()
    else:
        users = check_ids(users, "users", train.shape[0])
    n_relevant_all = np.diff(test.indptr)
    if users.size == 0 or (n_relevant_all[users] == 0).any():
        raise ValueError("every evaluated user needs at least one test item; use Split.test_users()")
    sums: dict[str, float] = {}
    recommended: dict[int, list[np.ndarray]] = {k: [] for k in ks}
    for batch in _batches(users, n_items):
        scores = _masked_scores(model, batch, train)
        truth = test[batch]
        n_relevant = n_relevant_all[batch]
        ranked = top_k(scores, max(ks))
        hits = hits_at_k(ranked, truth)
        for k in ks:
            per_user = {
                f"ndcg@{k}": ndcg_at_k(hits[:, :k], n_relevant),
                f"recall@{k}": recall_at_k(hits[:, :k], n_relevant),
                f"precision@{k}": precision_at_k(hits[:, :k]),
                f"hit_rate@{k}": hit_rate_at_k(hits[:, :k]),
            }
            for name, values in per_user.items():
                sums[name] = sums.get(name, 0.0) + float(values.sum())
            recommended[k].append(ranked[:, :k])
        sums["mrr"] = sums.get("mrr", 0.0) + float(reciprocal_rank(scores, truth).sum())
    result = {name: total / users.size for name, total in sums.items()}
    for k in ks:
        result[f"coverage@{k}"] = item_coverage_at_k(np.concatenate(recommended[k]), n_items)
    order = [f"{m}@{k}" for k in ks for m in ("ndcg", "recall", "precision", "hit_rate", "coverage")] + ["mrr"]
    return {name: result[name] for name in order}


def sampled_evaluate(model, split, k: int = 10, n_negatives: int | None = 100, seed: int = 0) -> dict[str, float]:
    """The sampled-negative protocol, shown in the book only to explain why it misleads.

    Each held-out item is ranked against ``n_negatives`` items drawn uniformly, without
    replacement, from the items the user has in neither train nor test; a tie with a negative
    counts against the held-out item. ``n_negatives=None`` ranks it against all of them (the
    same per-item protocol without sampling). HR@k and NDCG@k are averaged over a user's
    held-out items, then over users (the user weighting of :func:`evaluate`).

    Returns:
        ``{"sampled_hit_rate@k": ..., "sampled_ndcg@k": ...}``.
    """
    k = check_positive_int(k, "k")
    if n_negatives is not None:
        n_negatives = check_positive_int(n_negatives, "n_negatives")
    _check_split(split)
    _check_scorer(model)
    train, test = split.train, split.test
    rng = np.random.default_rng(check_seed(seed))
    users = split.test_users()
    per_user_hr, per_user_ndcg = [], []
    for batch in _batches(users, train.shape[1]):
        scores = np.asarray(model.score(batch), dtype=np.float64)
        seen = (train[batch] + test[batch]).toarray() > 0
        test_rows = test[batch]
        for row, user_scores in enumerate(scores):
            positives = test_rows.indices[test_rows.indptr[row] : test_rows.indptr[row + 1]]
            candidates = np.flatnonzero(~seen[row])
            if n_negatives is None:
                negatives = np.broadcast_to(candidates, (positives.size, candidates.size))
            elif candidates.size < n_negatives:
                raise ValueError(f"user {batch[row]} has only {candidates.size} unseen items; need n_negatives={n_negatives}")
            else:
                # The n_negatives smallest of uniform keys: a random subset, without replacement.
                keys = rng.random((positives.size, candidates.size))
                negatives = candidates[np.argpartition(keys, n_negatives - 1, axis=1)[:, :n_negatives]]
            rank = (user_scores[negatives] >= user_scores[positives][:, None]).sum(axis=1)  # 0 = top
            hit = rank < k
            per_user_hr.append(hit.mean())
            per_user_ndcg.append(np.where(hit, 1.0 / np.log2(rank + 2), 0.0).mean())
    return {f"sampled_hit_rate@{k}": float(np.mean(per_user_hr)), f"sampled_ndcg@{k}": float(np.mean(per_user_ndcg))}
