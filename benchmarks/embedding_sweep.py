"""Chapter 8: every embedding-table method at 2x to 64x fewer embedding bytes, on two datasets.

One protocol for every model: BPR-MF of width 64 (both the user and the item table stored the
method's way), trained on the validation split's training part (the reference training part,
20% held out, seed 43) with the teacher's learning rate and L2 weight (Chapter 4), early-stopped
on the held-out 20% (patience 10, at most 80 epochs: the number of epochs is chosen on
validation), then evaluated once on the reference test split. The float model trained the same
way is the reference ("teacher") each share is taken against. Mixed dimensions' alpha is chosen
on validation at each budget from a 3-point grid; the other methods' own settings are fixed
(frequency-aware tables spend half the budget on the head); the chapter says so.

Beside them, at the same budgets, the earlier chapters' methods fitted on the same training part:
a smaller dense BPR-MF (trained), the teacher's principal dimensions (Chapter 5), its int8 / int4
/ 2-bit codes (Chapter 6, float16 scales), principal dimensions + codes, and PureSVD (Chapter 3)
with and without codes. The best model under each budget is chosen by validation NDCG@20 among those that fit.

Run (CI runs it before the tests):
    RECCOMPRESS_DATA=../shared/data python benchmarks/embedding_sweep.py [--workers 2]
Writes benchmarks/results/embedding_sweep.json (atomically).
"""

from __future__ import annotations

import argparse
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from _common import write_json  # benchmarks/_common.py

OUTPUT = Path(__file__).resolve().parent / "results" / "embedding_sweep.json"
DATASETS = ("ml-100k", "ml-latest-small")
RATIOS = (2, 4, 8, 16, 32, 64)
WIDTH = 64
METHODS = ("hashing", "hashing_2", "quotient_remainder", "frequency_hashing", "frequency_qr", "frequency_pruning",
           "mixed_dimension", "tensor_train", "smaller_dense")
MAX_EPOCHS, PATIENCE = 80, 10
POSTHOC_RANKS = (64, 32, 16, 12, 8, 6, 4, 3, 2, 1)
ALPHAS = (0.1, 0.3, 0.6)  # mixed dimensions: how fast width falls with popularity
CODE_BITS = (8, 4, 2)

_CACHE: dict = {}


def _splits(dataset: str):
    from reccompress import presets

    if dataset not in _CACHE:
        _CACHE[dataset] = (presets.validation_split(dataset=dataset), presets.reference_split(dataset=dataset))
    return _CACHE[dataset]


def spec(method: str, ratio: float, alpha: float | None = None):
    """The table spec of ``method`` at ``ratio`` (None: a plain table)."""
    from reccompress.compress import embeddings as E

    return {
        "hashing": lambda: E.Hashing(ratio),
        "hashing_2": lambda: E.Hashing(ratio, hashes=2),
        "quotient_remainder": lambda: E.QuotientRemainder(ratio),
        "frequency_hashing": lambda: E.FrequencyAware(ratio, head_share=0.5, tail="hash"),
        "frequency_qr": lambda: E.FrequencyAware(ratio, head_share=0.5, tail="qr"),  # the tail's ids composed
        "frequency_pruning": lambda: E.FrequencyPruning(ratio),
        "mixed_dimension": lambda: E.MixedDimension(ratio, alpha=alpha),
        "tensor_train": lambda: E.TensorTrain(ratio),
        "smaller_dense": lambda: None,
        "teacher": lambda: None,
    }[method]()


def training(seed: int = 0):
    from reccompress import presets
    from reccompress.train import TrainSettings

    return TrainSettings(lr=presets.TEACHER["lr"], l2=presets.TEACHER["l2"], epochs=MAX_EPOCHS, patience=PATIENCE,
                         validation_fraction=0.0, seed=seed)


def _scores(model, validation, test) -> dict:
    from reccompress import metrics

    return {"valid_ndcg@20": metrics.evaluate(model, validation, ks=(20,))["ndcg@20"],
            "test_ndcg@20": metrics.evaluate(model, test, ks=(20,))["ndcg@20"], "bytes": int(model.nbytes)}


def train(job: dict) -> dict:
    """One trained model of the sweep (or the teacher): validation-chosen epochs, test once."""
    import torch

    from reccompress import models, repro
    from reccompress.compress.embeddings import BudgetError

    repro.set_reproducible(0, threads=1)
    validation, test = _splits(job["dataset"])
    start = time.perf_counter()
    rank = WIDTH
    if job["method"] == "smaller_dense":
        rank = max(1, WIDTH // job["ratio"])
    try:
        model = models.BPRMF(rank=rank, training=training(),
                             embeddings=spec(job["method"], job["ratio"], job.get("alpha")))
        model.fit(validation.train, validation=validation)
    except BudgetError as error:  # the method's shape cannot fit the budget (any other error stops the run)
        return {**job, "feasible": False, "why": str(error).split(":")[-1].strip()}
    del torch
    return {**job, "feasible": True, "rank": rank, "best_epoch": model.history_.best_epoch,
            **_scores(model, validation, test), "seconds": time.perf_counter() - start}


def posthoc(dataset: str) -> list[dict]:
    """The earlier chapters' compressions of the same-protocol teacher, and PureSVD, with codes."""
    from reccompress import models, repro
    from reccompress.compress import prune, quantize

    repro.set_reproducible(0, threads=1)
    validation, test = _splits(dataset)
    teacher = models.BPRMF(rank=WIDTH, training=training()).fit(validation.train, validation=validation)
    rows = []
    def codes(model, bits):  # per-row affine codes with float16 scales (fbgemm's and TorchRec's layout)
        return quantize.quantize(model, bits, scale_dtype=np.float16, vector_dtype=np.float16)

    for bits in CODE_BITS:
        rows.append({"method": f"teacher_int{bits}", "family": "codes (Ch. 6)", "rank": WIDTH, "bits": bits,
                     **_scores(codes(teacher, bits), validation, test)})
    for rank in POSTHOC_RANKS[1:]:
        pruned = prune.prune_dimensions(teacher, rank, criterion="principal")
        rows.append({"method": "principal_dims", "family": "principal dims (Ch. 5)", "rank": rank, "bits": 32,
                     **_scores(pruned, validation, test)})
        for bits in CODE_BITS:
            rows.append({"method": f"principal_dims_int{bits}", "family": "principal dims + codes", "rank": rank,
                         "bits": bits, **_scores(codes(pruned, bits), validation, test)})
    for rank in POSTHOC_RANKS:
        svd = models.PureSVD(rank=rank).fit(validation.train)
        rows.append({"method": "pure_svd", "family": "PureSVD (Ch. 3)", "rank": rank, "bits": 32,
                     **_scores(svd, validation, test)})
        for bits in CODE_BITS:
            rows.append({"method": f"pure_svd_int{bits}", "family": "PureSVD + codes", "rank": rank, "bits": bits,
                         **_scores(codes(svd, bits), validation, test)})
    return [{"dataset": dataset, **row} for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="processes training models at once")
    args = parser.parse_args()
    import torch

    start = time.perf_counter()
    jobs = [{"dataset": d, "method": "teacher", "ratio": 1} for d in DATASETS]
    jobs += [{"dataset": d, "method": m, "ratio": r} | ({"alpha": a} if m == "mixed_dimension" else {})
             for d in DATASETS for m in METHODS for r in RATIOS
             for a in (ALPHAS if m == "mixed_dimension" else (None,))]
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
        extra = [pool.submit(posthoc, d) for d in DATASETS]
        # The slow tables (tensor-train, mixed dimensions, the teacher) first: no worker idles at the end.
        slow = {"teacher": 0, "tensor_train": 1, "mixed_dimension": 2, "smaller_dense": 3}
        order = sorted(range(len(jobs)), key=lambda i: (slow.get(jobs[i]["method"], 9), jobs[i]["ratio"]))
        futures = {i: pool.submit(train, jobs[i]) for i in order}
        runs = [futures[i].result() for i in range(len(jobs))]
        compressed = [row for future in extra for row in future.result()]
    seconds = time.perf_counter() - start
    # Mixed dimensions: at each budget, the alpha with the best validation NDCG@20.
    chosen, trials = [], {}
    for run in runs:
        if run["method"] == "mixed_dimension":
            trials.setdefault((run["dataset"], run["ratio"]), []).append(run)
        elif run["method"] != "teacher":
            chosen.append(run)
    for (dataset, ratio), group in trials.items():
        feasible = [r for r in group if r["feasible"]]
        best = max(feasible, key=lambda r: r["valid_ndcg@20"]) if feasible else group[0]
        chosen.append({**best, "alpha_trials": [{k: r.get(k) for k in ("alpha", "feasible", "valid_ndcg@20")}
                                                for r in group]})
    report = {
        "about": __doc__.split("\n\n")[1].replace("\n", " "),
        "protocol": {"width": WIDTH, "max_epochs": MAX_EPOCHS, "patience": PATIENCE, "ratios": list(RATIOS),
                     "frequency_head_share": 0.5, "mixed_dimension_blocks": 4,
                     "train": "presets.validation_split(dataset).train",
                     "validation": "presets.validation_split(dataset).test",
                     "test": "presets.reference_split(dataset).test", "metric": "ndcg@20", "seed": 0},
        "provenance": {"seconds": seconds, "workers": args.workers, "python": platform.python_version(),
                       "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")},
        "teachers": {run["dataset"]: run for run in runs if run["method"] == "teacher"},
        "alphas": list(ALPHAS),
        "sweep": chosen,
        "earlier_chapters": compressed,
    }
    write_json(OUTPUT, report)
    print(f"wrote {OUTPUT.name}: {len(runs)} trained models, {len(compressed)} compressed ones, in {seconds:.0f} s "
          f"with {args.workers} worker(s)")


if __name__ == "__main__":
    main()
