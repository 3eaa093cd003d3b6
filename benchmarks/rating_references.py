"""Explicit-rating RMSE on ML-100K's official ``ua`` split: the library against Surprise.

Run:  pip install scikit-surprise==1.1.5
      RECCOMPRESS_DATA=../shared/data python benchmarks/rating_references.py

Chapter 3 quotes "about 0.95 RMSE for a default SGD-trained SVD" on this split; this script
measures it with Surprise (not part of the book environment) beside ``models.BiasedMF`` at the
setting Chapter 3 chooses on validation, on exactly the same train/test ratings.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from reccompress import metrics, models, repro, splits


def surprise_rmse(split) -> dict[str, float]:
    """Surprise's BaselineOnly and SVD (default settings, two seeds) on ``split``."""
    from surprise import SVD, BaselineOnly, Dataset, Reader, accuracy
    from surprise.model_selection import PredefinedKFold

    with tempfile.TemporaryDirectory() as folder:
        files = []
        for name, matrix in (("train", split.train), ("test", split.test)):
            coo = matrix.tocoo()
            path = Path(folder) / name
            path.write_text("".join(f"{u}\t{i}\t{r:g}\t0\n" for u, i, r in zip(coo.row, coo.col, coo.data)))
            files.append(str(path))
        dataset = Dataset.load_from_folds([tuple(files)], Reader("ml-100k"))
        trainset, testset = next(PredefinedKFold().split(dataset))
        results = {}
        for label, algorithm in (
            ("Surprise BaselineOnly", BaselineOnly(verbose=False)),
            ("Surprise SVD (defaults, seed 0)", SVD(random_state=0)),
            ("Surprise SVD (defaults, seed 1)", SVD(random_state=1)),
        ):
            algorithm.fit(trainset)
            results[label] = accuracy.rmse(algorithm.test(testset), verbose=False)
    return results


def main() -> None:
    print(repro.set_reproducible(seed=0, threads=1))
    ua = splits.ml100k_official("ua", feedback="ratings")
    test = ua.test.tocoo()
    results = {"global mean": metrics.rmse(np.full(test.nnz, ua.train.data.mean()), test.data)}
    for label, model in (
        ("BiasedMF rank 0, l2=2 (bias only)", models.BiasedMF(rank=0, l2=2.0)),
        ("BiasedMF rank 8, l2=10", models.BiasedMF(rank=8, l2=10.0)),
    ):
        model.fit(ua.train)
        results[label] = metrics.rmse(model.predict(test.row, test.col), test.data)
    try:
        results.update(surprise_rmse(ua))
    except ImportError:
        print("Surprise is not installed: pip install scikit-surprise==1.1.5 to compare")
    for label, value in results.items():
        print(f"{label:36s} RMSE {value:.4f}")


if __name__ == "__main__":
    main()
