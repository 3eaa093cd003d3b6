"""Chapter 1's reference models, fitted by independent code, scored by the book's evaluator.

Run (from the repository root; it takes a few seconds):
    RECCOMPRESS_DATA=../shared/data .venv/bin/python benchmarks/reference_implementations.py

Writes ``benchmarks/results/reference_implementations.json``, which Chapter 1 reads to check its
own models: the same four models at the hyper-parameters Chapter 1 chose on validation
(``reccompress.presets``), fitted WITHOUT ``reccompress.models`` and evaluated with
``reccompress.metrics.evaluate`` on the same splits. Only the models are independent:

- ItemKNN: the ``implicit`` package's ``CosineRecommender`` with ``K`` = the chosen ``k``; its
  similarity matrix is used exactly as implicit's own scorer uses it (checked below);
- PureSVD: ``scipy.sparse.linalg.svds`` of the training matrix at the chosen rank, scores
  x_u V V^T;
- EASE: the closed form of Steck (2019) written here, through a Cholesky factorisation;
- MostPopular: interactions per item column.

The splits are the book's reference split (``presets.reference_split()``) and five re-splits of
the same matrix with seeds 0-4 (Chapter 1 refits its models on them too). Everything runs at one
thread, so the file is the same from run to run; it holds no timings.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import warnings
from pathlib import Path

import numpy as np
import scipy
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import svds
from threadpoolctl import threadpool_limits

import reccompress
from reccompress import data, metrics, presets, splits

with warnings.catch_warnings():
    # implicit imports tqdm.auto, which warns in a notebook without ipywidgets; no bars are shown.
    warnings.simplefilter("ignore")
    import implicit
    from implicit.nearest_neighbours import CosineRecommender
    from implicit.utils import ParameterWarning

OUTPUT = Path(__file__).resolve().parent / "results" / "reference_implementations.json"
RESPLIT_SEEDS = (0, 1, 2, 3, 4)
KS = (10, 20)


class Scores:
    """The one method ``metrics.evaluate`` needs: ``score(user_ids) -> (n, n_items)``."""

    def __init__(self, score):
        self.score = score


def most_popular(train) -> Scores:
    counts = np.asarray((train != 0).sum(axis=0), dtype=np.float64).ravel()
    return Scores(lambda users: np.tile(counts, (len(users), 1)))


def implicit_item_knn(train, k: int) -> Scores:
    model = CosineRecommender(K=k, num_threads=1)
    with warnings.catch_warnings():
        # CosineRecommender.fit normalises the columns into a COO matrix and then warns, about its
        # own intermediate, that it expected CSR; the input we pass is CSR.
        warnings.simplefilter("ignore", ParameterWarning)
        model.fit(sp.csr_matrix(train), show_progress=False)
    similarity = model.similarity  # (n_items, n_items) CSR: row i holds i's K nearest items

    def score(users):
        return (sp.csr_matrix(train[users]) @ similarity).toarray()

    # implicit's own recommend must agree with scoring through its similarity matrix.
    users = np.arange(0, train.shape[0], 97)
    ids, values = model.recommend(users, sp.csr_matrix(train[users]), N=20)
    expected = np.take_along_axis(score(users), ids, axis=1)
    if not np.allclose(values, expected, rtol=1e-5, atol=1e-6):
        raise RuntimeError("scores through implicit's similarity matrix differ from implicit.recommend")
    return Scores(score)


def scipy_pure_svd(train, rank: int) -> Scores:
    matrix = sp.csr_matrix(train, dtype=np.float64)
    start = np.random.default_rng(0).uniform(-1.0, 1.0, min(matrix.shape))  # a fixed ARPACK start
    _, _, vt = svds(matrix, k=rank, v0=start)
    item_factors = vt.T  # (n_items, rank); the sign and order of the triplets do not matter for V V^T

    def score(users):
        return (matrix[users] @ item_factors) @ item_factors.T

    return Scores(score)


def closed_form_ease(train, l2: float) -> Scores:
    x = sp.csr_matrix(train, dtype=np.float64)
    gram = (x.T @ x).toarray() + l2 * np.eye(x.shape[1])
    precision = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram), np.eye(x.shape[1]))
    weights = -precision / np.diag(precision)  # B[i, j] = -P[i, j] / P[j, j]
    np.fill_diagonal(weights, 0.0)

    def score(users):
        return x[users] @ weights

    return Scores(score)


def fit_all(train) -> dict[str, Scores]:
    return {
        "MostPopular": most_popular(train),
        "ItemKNN": implicit_item_knn(train, presets.ITEM_KNN["k"]),
        "PureSVD": scipy_pure_svd(train, presets.PURE_SVD["rank"]),
        "EASE": closed_form_ease(train, presets.EASE["l2"]),
    }


# "label" is how Chapter 1 names each run in its table (kept short: the table fits a page).
IMPLEMENTATIONS = {
    "MostPopular": {"library": "numpy", "version": np.__version__, "what": "interactions per item column",
                    "hyper_parameters": {}, "label": f"numpy {np.__version__} counts"},
    "ItemKNN": {"library": "implicit", "version": implicit.__version__,
                "what": "implicit.nearest_neighbours.CosineRecommender, scored through its similarity matrix",
                "hyper_parameters": {"K": presets.ITEM_KNN["k"]},
                "label": f"implicit {implicit.__version__} cosine, K={presets.ITEM_KNN['k']}"},
    "PureSVD": {"library": "scipy", "version": scipy.__version__,
                "what": "scipy.sparse.linalg.svds of the training matrix, scores x_u V V^T",
                "hyper_parameters": {"rank": presets.PURE_SVD["rank"]},
                "label": f"scipy {scipy.__version__} svds, rank {presets.PURE_SVD['rank']}"},
    "EASE": {"library": "scipy", "version": scipy.__version__,
             "what": "EASE closed form written in this script (Cholesky solve)",
             "hyper_parameters": {"l2": presets.EASE["l2"]},
             "label": f"script's closed form, l2={presets.EASE['l2']:g}"},
}


def evaluate_on(split) -> dict[str, dict[str, float]]:
    return {name: metrics.evaluate(model, split, ks=KS) for name, model in fit_all(split.train).items()}


def write_atomically(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(payload, file, indent=2)
            file.write("\n")
        os.chmod(temporary, 0o644)  # mkstemp creates the file private to its owner
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main() -> None:
    with threadpool_limits(limits=1):
        reference = presets.reference_split()
        matrix = data.load_movielens(presets.REFERENCE_SPLIT["dataset"]).matrix(presets.REFERENCE_SPLIT["feedback"])
        results = {"reference split": evaluate_on(reference)}
        for seed in RESPLIT_SEEDS:
            resplit = splits.random_holdout(matrix, test_fraction=presets.REFERENCE_SPLIT["test_fraction"], seed=seed)
            results[f"seed {seed}"] = evaluate_on(resplit)
    payload = {
        "description": "Chapter 1's reference models fitted by independent code at the chapter's validated "
                       "hyper-parameters, evaluated with reccompress.metrics.evaluate (full ranking)",
        "script": "benchmarks/reference_implementations.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                     "implicit": implicit.__version__, "reccompress": reccompress.__version__},
        "threads": 1,
        "hyper_parameters": {"ItemKNN": dict(presets.ITEM_KNN), "PureSVD": dict(presets.PURE_SVD),
                             "EASE": dict(presets.EASE)},
        "implementations": IMPLEMENTATIONS,
        "splits": {"reference split": dict(presets.REFERENCE_SPLIT),
                   **{f"seed {seed}": {**presets.REFERENCE_SPLIT, "seed": seed} for seed in RESPLIT_SEEDS}},
        "ks": list(KS),
        "results": results,
    }
    write_atomically(OUTPUT, payload)
    for split_name, by_model in results.items():
        line = ", ".join(f"{name} {values['ndcg@10']:.4f}" for name, values in by_model.items())
        print(f"{split_name:16s} NDCG@10: {line}")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
