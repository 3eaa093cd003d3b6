"""How long full-ranking evaluation of every ML-100K test user takes.

Run:  RECCOMPRESS_DATA=../shared/data python benchmarks/evaluator_speed.py

Prints the median of repeated runs (one thread) of
  1. the metrics alone, on precomputed scores (top-k, hits, NDCG/recall/precision/hit rate/
     coverage at 10 and 20, and full-ranking MRR);
  2. metrics.evaluate with EASE scoring included (what a chapter pays per evaluation).
"""

from __future__ import annotations

import numpy as np

from reccompress import data, measure, metrics, models, repro, splits


class PrecomputedScores:
    """Serves rows of a fixed score matrix, so that only the metrics are timed."""

    def __init__(self, scores: np.ndarray):
        self.scores = scores

    def score(self, user_ids):
        return self.scores[user_ids]


def main() -> None:
    print(repro.set_reproducible(seed=0, threads=1))
    split = splits.random_holdout(data.load_movielens("ml-100k").matrix(), 0.2, seed=42)
    ease = models.EASE(l2=500.0).fit(split.train)
    scores = PrecomputedScores(ease.score(np.arange(split.train.shape[0])))
    n_users = split.test_users().size
    metrics_only = measure.latency(lambda: metrics.evaluate(scores, split), repeats=15, warmup=2)
    with_scoring = measure.latency(lambda: metrics.evaluate(ease, split), repeats=15, warmup=2)
    print(f"ML-100K, {n_users} test users x {split.train.shape[1]} items, ks=(10, 20):")
    print(f"  metrics on precomputed scores: {metrics_only}")
    print(f"  evaluate(EASE), scoring incl.: {with_scoring}")


if __name__ == "__main__":
    main()
