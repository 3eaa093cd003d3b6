"""Chapter 1's reference models, fitted by independent code, scored by the book's evaluator.

Run (from the repository root; it takes a few seconds):
    RECCOMPRESS_DATA=../shared/data .venv/bin/python benchmarks/reference_implementations.py

Writes ``benchmarks/results/reference_implementations.json``, which Chapter 1 reads to check its
own models: the same four models at the hyper-parameters Chapter 1 chose on validation
(``reccompress.presets``), fitted WITHOUT ``reccompress.models`` and evaluated with
``reccompress.metrics.evaluate`` on the same splits. Only the models are independent:

- ItemKNN: the ``implicit`` package's ``CosineRecommender`` with ``K`` = the chosen ``k`` + 1
  (implicit counts each item among its own ``K`` nearest items, so ``k`` + 1 leaves ``k`` other
  neighbours); its similarity matrix is used exactly as implicit's own scorer uses it (checked
  below);
- PureSVD: the dense LAPACK SVD of the training matrix (``numpy.linalg.svd``; the library uses
  ARPACK, so the two share no solver code), cut to the chosen rank, scores x_u V V^T;
- EASE: the closed form of Steck (2019) written here, through a Cholesky factorisation;
- MostPopular: interactions per item column.

The splits are the book's reference split (``presets.reference_split()``) and five re-splits of
the same matrix with seeds 0-4 (Chapter 1 refits its models on them too). For the reference split the
file also keeps every model's top-10 list per test user (seen items excluded, ties to the lower item
index, as the evaluator ranks), so the chapter can compare lists, not only averages. Everything runs
at one thread, so the file is the same from run to run; it holds no timings.
"""

from __future__ import annotations

import platform
import warnings
from pathlib import Path

from _common import write_json  # benchmarks/_common.py

import numpy as np
import scipy
import scipy.linalg
import scipy.sparse as sp
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
LIST_LENGTH = 10  # the top-k lists kept for the reference split


class Scores:
    """The one method ``metrics.evaluate`` needs: ``score(user_ids) -> (n, n_items)``."""

    def __init__(self, score):
        self.score = score


def most_popular(train) -> Scores:
    counts = np.asarray((train != 0).sum(axis=0), dtype=np.float64).ravel()
    return Scores(lambda users: np.tile(counts, (len(users), 1)))


def implicit_item_knn(train, k: int) -> Scores:
    # implicit keeps each item's K most similar items INCLUDING the item itself (similarity 1 on
    # the diagonal of its matrix), so K = k + 1 leaves k other neighbours, as ItemKNN(k) keeps.
    model = CosineRecommender(K=k + 1, num_threads=1)
    with warnings.catch_warnings():
        # CosineRecommender.fit normalises the columns into a COO matrix and then warns, about its
        # own intermediate, that it expected CSR; the input we pass is CSR.
        warnings.simplefilter("ignore", ParameterWarning)
        model.fit(sp.csr_matrix(train), show_progress=False)
    similarity = model.similarity  # (n_items, n_items) CSR: row i holds i's K nearest items
    seen_items = np.flatnonzero(np.diff(sp.csc_matrix(train).indptr))
    if not np.allclose(similarity.diagonal()[seen_items], 1.0, atol=1e-5):
        raise RuntimeError("implicit no longer keeps an item among its own neighbours: revisit K = k + 1")

    def score(users):
        return (sp.csr_matrix(train[users]) @ similarity).toarray()

    # implicit's own recommend must agree with scoring through its similarity matrix.
    users = np.arange(0, train.shape[0], 97)
    ids, values = model.recommend(users, sp.csr_matrix(train[users]), N=20)
    expected = np.take_along_axis(score(users), ids, axis=1)
    if not np.allclose(values, expected, rtol=1e-5, atol=1e-6):
        raise RuntimeError("scores through implicit's similarity matrix differ from implicit.recommend")
    scores = Scores(score)
    scores.similarity = similarity
    return scores


def neighbour_check(train, similarity, k: int) -> dict[str, int]:
    """How many rows of implicit's matrix hold exactly the similarities of the item's k nearest items.

    The cosines are recomputed here with numpy; a row agrees when its off-diagonal values, sorted,
    equal the k largest positive cosines of that item with the other items, sorted. Rows can agree
    while naming different items: when several items tie for the last places, any of them fits.
    """
    x = sp.csc_matrix(train, dtype=np.float64)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    cosine = (x.T @ x).toarray() / norms[:, None] / norms[None, :]
    np.fill_diagonal(cosine, 0.0)
    similarity = sp.csr_matrix(similarity)
    agree = 0
    for item in range(cosine.shape[0]):
        start, end = similarity.indptr[item], similarity.indptr[item + 1]
        kept = similarity.data[start:end][similarity.indices[start:end] != item]
        best = np.sort(cosine[item])[::-1][:k]
        best = best[best > 0]
        agree += kept.size == best.size and np.allclose(np.sort(kept), np.sort(best), atol=1e-6)
    return {"items": int(cosine.shape[0]), "rows with the k largest similarities": int(agree)}


def dense_pure_svd(train, rank: int) -> Scores:
    matrix = sp.csr_matrix(train, dtype=np.float64)
    # Every singular triplet of the dense matrix by LAPACK (943 x 1682 is small), then the leading
    # ``rank``: a different algorithm from the library's ARPACK (Lanczos) path.
    _, _, vt = np.linalg.svd(matrix.toarray(), full_matrices=False)
    item_factors = vt[:rank].T  # (n_items, rank); the signs of the triplets do not matter for V V^T

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
        "PureSVD": dense_pure_svd(train, presets.PURE_SVD["rank"]),
        "EASE": closed_form_ease(train, presets.EASE["l2"]),
    }


# "label" is how Chapter 1 names each run in its table (kept short: the table fits a page).
IMPLEMENTATIONS = {
    "MostPopular": {"library": "numpy", "version": np.__version__, "what": "interactions per item column",
                    "hyper_parameters": {}, "label": f"numpy {np.__version__} counts"},
    "ItemKNN": {"library": "implicit", "version": implicit.__version__,
                "what": "implicit.nearest_neighbours.CosineRecommender, scored through its similarity matrix; "
                        "K = k + 1 because implicit counts an item among its own K nearest items",
                "hyper_parameters": {"K": presets.ITEM_KNN["k"] + 1},
                "label": f"implicit {implicit.__version__} cosine, K={presets.ITEM_KNN['k'] + 1}"},
    "PureSVD": {"library": "numpy", "version": np.__version__,
                "what": "numpy.linalg.svd (dense LAPACK) of the training matrix, cut to the rank, scores x_u V V^T",
                "hyper_parameters": {"rank": presets.PURE_SVD["rank"]},
                "label": f"numpy {np.__version__} dense SVD, rank {presets.PURE_SVD['rank']}"},
    "EASE": {"library": "scipy", "version": scipy.__version__,
             "what": "EASE closed form written in this script (Cholesky solve)",
             "hyper_parameters": {"l2": presets.EASE["l2"]},
             "label": f"script's closed form, l2={presets.EASE['l2']:g}"},
}


def evaluate_on(split, lists: dict | None = None, checks: dict | None = None) -> dict[str, dict[str, float]]:
    """Metrics of every model on ``split``; with ``lists`` and ``checks``, also fill them with the
    models' top-10 lists and the neighbour check of implicit's matrix."""
    fitted = fit_all(split.train)
    if checks is not None:
        checks["ItemKNN neighbours"] = neighbour_check(split.train, fitted["ItemKNN"].similarity,
                                                       presets.ITEM_KNN["k"])
    if lists is not None:
        users = split.test_users()
        for name, model in fitted.items():
            scores = metrics.mask_seen(np.asarray(model.score(users), dtype=np.float64), split.train[users])
            # One string of item ids per test user: compact in the JSON file.
            lists[name] = [" ".join(map(str, row)) for row in metrics.top_k(scores, LIST_LENGTH)]
    return {name: metrics.evaluate(model, split, ks=KS) for name, model in fitted.items()}


def main() -> None:
    with threadpool_limits(limits=1):
        reference = presets.reference_split()
        matrix = data.load_movielens(presets.REFERENCE_SPLIT["dataset"]).matrix(presets.REFERENCE_SPLIT["feedback"])
        top_lists, checks = {}, {}
        results = {"reference split": evaluate_on(reference, top_lists, checks)}
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
        "checks": {"split": "reference split", **checks},
        "top_lists": {"split": "reference split", "k": LIST_LENGTH,
                      "users": "Split.test_users() of the reference split, in order",
                      "lists": top_lists},
    }
    write_json(OUTPUT, payload, indent=2)
    for split_name, by_model in results.items():
        line = ", ".join(f"{name} {values['ndcg@10']:.4f}" for name, values in by_model.items())
        print(f"{split_name:16s} NDCG@10: {line}")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
