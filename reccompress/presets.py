"""The book's reference split and the settings its chapters chose on validation, in one place.

Every chapter compares against the same split (Chapter 1's per-user 80/20 holdout of
MovieLens-100K, seed 42) and the same reference models at the settings chosen there on a
validation split carved out of its training part (seed 43). A chapter that chooses a setting
asserts in a cell that its choice equals the preset here, so a drift fails CI instead of
silently changing what later chapters build on.

- :func:`reference_split`, :func:`validation_split`;
- the chosen settings as plain dicts (``EASE``, ``ITEM_KNN``, ``PURE_SVD``, ``IMPLICIT_ALS``,
  ``TEACHER``, ``NCF``) and unfitted models built from them (:func:`ease`, :func:`item_knn`,
  :func:`pure_svd`, :func:`implicit_als`, :func:`teacher`, :func:`ncf`).
"""

from __future__ import annotations

import os

from . import data, models, splits
from ._checks import check_seed
from .train import TrainSettings

__all__ = [
    "DATASETS", "EASE", "IMPLICIT_ALS", "ITEM_KNN", "NCF", "PURE_SVD", "PURE_SVD_LATEST", "REFERENCE_SPLIT", "TEACHER", "TEACHER_LATEST",
    "VALIDATION_SPLIT",
    "ease", "implicit_als", "item_knn", "ncf", "pure_svd", "reference_split", "teacher", "teacher_training",
    "validation_split",
]

# How the reference split is made (Chapter 1), and the validation split inside its training part.
# The same recipe serves the second dataset, ml-latest-small (Chapters 6, 8 and 9).
REFERENCE_SPLIT = {"dataset": "ml-100k", "feedback": "implicit", "test_fraction": 0.2, "seed": 42}
VALIDATION_SPLIT = {"test_fraction": 0.2, "seed": 43}
DATASETS = ("ml-100k", "ml-latest-small")

# Settings chosen on the validation split (the chapter that chose each is named).
ITEM_KNN = {"k": 400}  # Chapter 1
EASE = {"l2": 500.0}  # Chapter 1
PURE_SVD = {"rank": 16}  # Chapter 1
PURE_SVD_LATEST = {"rank": 64}  # Chapter 6, on ml-latest-small
IMPLICIT_ALS = {"rank": 64, "l2": 50.0, "alpha": 10.0}  # Chapter 3
# Chapter 4 (benchmarks/tune_neural.py): learning rate and L2 weight on a 3 x 3 grid, the number of
# epochs by early stopping on the validation split; the final model then trains on the whole
# training split for that many epochs (no slice held out).
TEACHER = {"rank": 64, "lr": 2e-3, "l2": 3e-3, "epochs": 43}  # the BPR-MF teacher
# The same model and grid on ml-latest-small (Chapter 6 uses it where codebooks amortise).
TEACHER_LATEST = {"rank": 64, "lr": 2e-3, "l2": 3e-3, "epochs": 32}
NCF = {"rank": 32, "hidden": (32,), "lr": 5e-4, "l2": 1e-4, "epochs": 64}


def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}; got {dataset!r}")
    return dataset


def reference_split(data_home: str | os.PathLike | None = None, dataset: str = "ml-100k") -> splits.Split:
    """The book's reference split: 20% of each user's interactions held out (seed 42), of ML-100K
    by default (or of ml-latest-small)."""
    interactions = data.load_movielens(_check_dataset(dataset), data_home)
    return splits.random_holdout(
        interactions.matrix(REFERENCE_SPLIT["feedback"]),
        test_fraction=REFERENCE_SPLIT["test_fraction"],
        seed=REFERENCE_SPLIT["seed"],
    )


def validation_split(data_home: str | os.PathLike | None = None, dataset: str = "ml-100k") -> splits.Split:
    """The validation split the chapters tune on: 20% of the reference training part (seed 43)."""
    return splits.random_holdout(reference_split(data_home, dataset).train, **VALIDATION_SPLIT)


def item_knn() -> models.ItemKNN:
    """Unfitted ItemKNN at Chapter 1's setting."""
    return models.ItemKNN(**ITEM_KNN)


def ease() -> models.EASE:
    """Unfitted EASE at Chapter 1's setting."""
    return models.EASE(**EASE)


def pure_svd(dataset: str = "ml-100k") -> models.PureSVD:
    """Unfitted PureSVD at Chapter 1's setting (or Chapter 6's for ml-latest-small)."""
    return models.PureSVD(**(PURE_SVD if _check_dataset(dataset) == "ml-100k" else PURE_SVD_LATEST))


def implicit_als() -> models.ImplicitALS:
    """Unfitted implicit ALS at Chapter 3's setting."""
    return models.ImplicitALS(**IMPLICIT_ALS)


def teacher_training(seed: int = 0, dataset: str = "ml-100k") -> TrainSettings:
    """How the teacher trains: the validated settings, all of the training data, the validated epochs."""
    chosen = TEACHER if _check_dataset(dataset) == "ml-100k" else TEACHER_LATEST
    return TrainSettings(lr=chosen["lr"], l2=chosen["l2"], epochs=chosen["epochs"], validation_fraction=0.0,
                         seed=check_seed(seed))


def teacher(seed: int = 0, dataset: str = "ml-100k"):
    """Unfitted BPR-MF teacher as Chapter 4 configured it (``seed`` varies only the randomness);
    ``dataset="ml-latest-small"`` gives the same model tuned the same way on that dataset."""
    rank = (TEACHER if _check_dataset(dataset) == "ml-100k" else TEACHER_LATEST)["rank"]
    return models.BPRMF(rank=rank, training=teacher_training(seed, dataset))


def ncf(seed: int = 0):
    """Unfitted NCF as Chapter 4 configured it (trained on all of the data for the validated epochs)."""
    training = TrainSettings(lr=NCF["lr"], l2=NCF["l2"], epochs=NCF["epochs"], validation_fraction=0.0,
                             eval_every=2, seed=check_seed(seed))
    return models.NCF(rank=NCF["rank"], hidden=NCF["hidden"], training=training)
