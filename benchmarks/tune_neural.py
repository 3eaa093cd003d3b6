"""Tune the neural models on the validation split, with the classical baselines' budget.

Chapter 1 tuned ItemKNN, PureSVD and EASE on grids of 7-8 points; here BPR-MF and NCF each get
a 3 x 3 grid of learning rate x L2 weight (and BPR-MF the same grid on ml-latest-small, the
second dataset of Chapters 6, 8 and 9). Every grid point trains on the validation split's
training part and early-stops on its held-out part (at most ``MAX_EPOCHS`` epochs, patience 5):
the number of epochs is chosen on validation too. Chapter 4 reads the result, checks that every
chosen point is interior, re-runs the chosen point to confirm the file, and trains the final
models on the whole training split for the chosen number of epochs (``reccompress.presets``).

Run (CI runs it before the tests):
    RECCOMPRESS_DATA=../shared/data python benchmarks/tune_neural.py [--workers 2]
Writes benchmarks/results/tuning_neural.json (atomically).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from _common import interior, write_json  # benchmarks/_common.py

MAX_EPOCHS = 150
# Patience: validations without improvement before stopping. ml-latest-small's validation
# curve (610 users) is noisier; with 5 some of its points stopped on a plateau after 15 epochs.
GRIDS = {
    "bpr_mf": {"rank": 64, "hidden": None, "eval_every": 1, "patience": 5,
               "lr": [1e-3, 2e-3, 5e-3], "l2": [1e-3, 3e-3, 1e-2]},
    "bpr_mf_latest": {"rank": 64, "hidden": None, "eval_every": 1, "patience": 10,
                      "lr": [1e-3, 2e-3, 5e-3], "l2": [1e-3, 3e-3, 1e-2], "dataset": "ml-latest-small"},
    "ncf": {"rank": 32, "hidden": [32], "eval_every": 2, "patience": 5,
            "lr": [2.5e-4, 5e-4, 1e-3], "l2": [1e-5, 1e-4, 1e-3]},
}
OUTPUT = Path(__file__).resolve().parent / "results" / "tuning_neural.json"


def make_model(name: str, lr: float, l2: float):
    """The unfitted model of one grid point (seed 0, early stopping on the validation split)."""
    from reccompress import models
    from reccompress.train import TrainSettings

    grid = GRIDS[name]
    training = TrainSettings(lr=lr, l2=l2, epochs=MAX_EPOCHS, eval_every=grid["eval_every"], patience=grid["patience"])
    if name.startswith("bpr_mf"):
        return models.BPRMF(rank=grid["rank"], training=training)
    return models.NCF(rank=grid["rank"], hidden=tuple(grid["hidden"]), training=training)


def run_point(name: str, lr: float, l2: float) -> dict:
    """Train one grid point in this process (one thread, deterministic) and report it: the
    library's grid search on a one-point grid, early-stopping on the validation split."""
    from reccompress import presets, repro, tuning

    repro.set_reproducible(seed=0, threads=1)
    validation = presets.validation_split(dataset=GRIDS[name].get("dataset", "ml-100k"))
    start = time.perf_counter()
    search = tuning.grid_search(lambda lr, l2: make_model(name, lr, l2), {"lr": [lr], "l2": [l2]}, validation,
                                metric="ndcg@20", early_stopping=True, progress=False)
    model, (_, result) = search.best_model, search.trials[0]
    return {
        "lr": lr, "l2": l2, "valid_ndcg@10": result["ndcg@10"], "valid_ndcg@20": result["ndcg@20"],
        "best_epoch": model.history_.best_epoch, "epochs_run": len(model.history_.losses),
        "stopped_early": model.history_.stopped_early, "seconds": time.perf_counter() - start,
    }



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="processes training grid points at once")
    parser.add_argument("--models", nargs="+", choices=sorted(GRIDS), default=sorted(GRIDS),
                        help="tune only these (the other entries of an existing file are kept)")
    args = parser.parse_args()
    grids = {name: GRIDS[name] for name in args.models}
    import torch

    start = time.perf_counter()
    jobs = [(name, lr, l2) for name, grid in grids.items() for lr, l2 in itertools.product(grid["lr"], grid["l2"])]
    # Fresh processes ("spawn"): each one fixes its own seeds and thread count, so a point gives the
    # same result whatever the number of workers.
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
        points = list(pool.map(run_point, *zip(*jobs)))
    previous = json.loads(OUTPUT.read_text())["models"] if OUTPUT.exists() else {}
    report = {"about": __doc__.split("\n\n")[1].replace("\n", " "), "max_epochs": MAX_EPOCHS,
              "models": {name: entry for name, entry in previous.items() if name in GRIDS and name not in grids}}
    for name, grid in grids.items():
        trials = [point for (job, point) in zip(jobs, points) if job[0] == name]
        best = max(trials, key=lambda t: t["valid_ndcg@20"])  # ties keep the first in grid order
        report["models"][name] = {
            "dataset": grid.get("dataset", "ml-100k"), "rank": grid["rank"], "hidden": grid["hidden"],
            "grid": {"lr": grid["lr"], "l2": grid["l2"]},
            "protocol": {"max_epochs": MAX_EPOCHS, "patience": grid["patience"], "eval_every": grid["eval_every"],
                         "batch_size": make_model(name, 1e-3, 1e-3).training.batch_size, "seed": 0,
                         "validation": "presets.validation_split(dataset)", "metric": "ndcg@20"},
            "provenance": {"seconds_of_training": sum(t["seconds"] for t in trials), "workers": args.workers,
                           "python": platform.python_version(), "torch": torch.__version__,
                           "date": time.strftime("%Y-%m-%d")},
            "trials": trials,
            "chosen": {"lr": best["lr"], "l2": best["l2"], "epochs": best["best_epoch"]},
            "interior": {"lr": interior(grid["lr"], best["lr"]), "l2": interior(grid["l2"], best["l2"])},
        }
    seconds = time.perf_counter() - start
    write_json(OUTPUT, report)
    for name, entry in report["models"].items():
        print(f"{name}: chosen {entry['chosen']} (interior: {entry['interior']})")
    print(f"wrote {OUTPUT.relative_to(Path.cwd()) if OUTPUT.is_relative_to(Path.cwd()) else OUTPUT} "
          f"in {seconds:.0f} s with {args.workers} worker(s)")


if __name__ == "__main__":
    main()
