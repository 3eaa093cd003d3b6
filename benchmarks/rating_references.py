"""Explicit-rating RMSE of the Surprise library on ML-100K's official ``ua`` split.

Run (Surprise must be installed: ``pip install scikit-surprise==1.1.5``):

    RECCOMPRESS_DATA=../shared/data python benchmarks/rating_references.py

Chapter 3 fits its own biased MF on the ``ua`` split and, for scale, quotes what a well-known
library reaches on exactly the same train/test ratings at its default, untuned settings. This
script measures it with Surprise's ``BaselineOnly`` and ``SVD`` (three seeds) and writes
``benchmarks/results/rating_references.json``, which the chapter reads. It also records the
global-mean RMSE, so the chapter can check that both used the same split, and the settings each
algorithm ran with, so the chapter can say what was compared:

- ``BaselineOnly`` estimates mu + b_u + b_i with Surprise's default baseline method, alternating
  least squares (``bsl_options`` method "als", 10 sweeps, reg_u 15, reg_i 10), written out here
  so the file records them;
- ``SVD`` is the biased matrix factorization fitted by stochastic gradient descent, at its
  defaults (100 factors, 20 epochs, learning rate 0.005, regularization 0.02), read back from the
  fitted object.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from _common import write_json  # benchmarks/_common.py

import numpy as np

from reccompress import metrics, repro, splits

RESULT = Path(__file__).resolve().parent / "results" / "rating_references.json"
SVD_SEEDS = (0, 1, 2)
# Surprise's defaults for BaselineOnly (its `bsl_options` fall back to these), made explicit.
BASELINE_OPTIONS = {"method": "als", "n_epochs": 10, "reg_u": 15, "reg_i": 10}
SVD_SETTINGS = ("n_factors", "n_epochs", "biased", "lr_bu", "lr_bi", "lr_pu", "lr_qi", "reg_bu", "reg_bi", "reg_pu", "reg_qi")


def surprise_rmse(split) -> dict:
    """Test RMSE of Surprise's BaselineOnly and SVD (default settings, ``SVD_SEEDS``) on ``split``, and the settings."""
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
        baseline = BaselineOnly(bsl_options=dict(BASELINE_OPTIONS), verbose=False)
        baseline.fit(trainset)
        results = {
            "baseline_only": accuracy.rmse(baseline.test(testset), verbose=False),
            "baseline_only_options": dict(baseline.bsl_options),
            "svd_by_seed": {},
        }
        for seed in SVD_SEEDS:
            algorithm = SVD(random_state=seed)
            algorithm.fit(trainset)
            results["svd_by_seed"][str(seed)] = accuracy.rmse(algorithm.test(testset), verbose=False)
        results["svd_settings"] = {name: getattr(algorithm, name) for name in SVD_SETTINGS}
        results["svd_settings"]["solver"] = "sgd"
    return results


def main() -> None:
    print(repro.set_reproducible(seed=0, threads=1))
    try:
        import surprise
    except ImportError as error:
        raise SystemExit(
            "Surprise is not installed: pip install scikit-surprise==1.1.5, then run this script again "
            f"(Chapter 3 reads {RESULT.name}, which it writes)"
        ) from error
    ua = splits.ml100k_official("ua", feedback="ratings")
    test = ua.test.tocoo()
    payload = {
        "benchmark": "benchmarks/rating_references.py",
        "split": "ml-100k ua (official)",
        "train_ratings": int(ua.train.nnz),
        "test_ratings": int(ua.test.nnz),
        "global_mean_rmse": float(metrics.rmse(np.full(test.nnz, ua.train.data.mean()), test.data)),
        "surprise_version": surprise.__version__,
        **surprise_rmse(ua),
    }
    write_json(RESULT, payload, indent=2, sort_keys=True)
    print(json.dumps(payload, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
