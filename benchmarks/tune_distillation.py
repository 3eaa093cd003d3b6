"""Chapter 7: small students trained alone and distilled, tuned on validation, tested over 3 seeds.

Every choice is made on the validation split (the reference training part, 20% held out, seed
43), with early stopping (patience 10, at most 150 epochs) choosing the number of epochs; the
test runs then train on the whole training split for that many epochs, with the student seeds
0, 1 and 2 (the teachers are fixed: EASE is deterministic, the BPR-MF teacher uses seed 0).

1. Students alone: BPR-MF at ranks 4, 8, 16, 32, each on a 3 x 3 grid of learning rate x L2
   weight, centred for each rank where a coarse probe found its optimum (the script checks
   that every chosen point is interior).
2. Distillation at rank 8 from EASE: each of the four objectives added to BPR, the student's
   learning rate and L2 weight those chosen for it alone, the objective's own settings on a
   grid (the loss weight for pointwise distillation, 4 points, and for ranking distillation, 3;
   temperature x list length K for the listwise loss, 3 x 3; K for relaxed ranking, 5 points).
3. The method best on validation, with its setting, at ranks 4, 16 and 32, from the two other
   teachers (the BPR-MF teacher; an ensemble of EASE, PureSVD and BPR-MF), and into an
   item-only student (scores = history x P Q^T), each with its epochs from early stopping; the
   item-only student alone (BPR only) likewise.
4. Test: everything above at its chosen settings, 3 seeds; the teachers once.

Run (CI runs it before the tests):
    RECCOMPRESS_DATA=../shared/data python benchmarks/tune_distillation.py [--workers 2]
Writes benchmarks/results/tuning_distillation.json (atomically).
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from _common import interior, write_json  # benchmarks/_common.py

OUTPUT = Path(__file__).resolve().parent / "results" / "tuning_distillation.json"
RANKS = (4, 8, 16, 32)
HEADLINE_RANK = 8
ALONE_LR = {4: [1e-3, 2e-3, 5e-3], 8: [2e-3, 5e-3, 1e-2], 16: [1e-3, 2e-3, 5e-3], 32: [1e-3, 2e-3, 5e-3]}
ALONE_L2 = {4: [3e-3, 1e-2, 3e-2], 8: [1e-3, 3e-3, 1e-2], 16: [3e-3, 1e-2, 3e-2], 32: [1e-3, 3e-3, 1e-2]}
# Each objective's own settings on a grid (every combination); the other settings fixed.
METHODS = {
    "pointwise": {"grid": {"weight": [0.1, 0.3, 1.0, 3.0]}, "fixed": {"sampled": 10}},
    "ranking": {"grid": {"weight": [0.1, 0.3, 1.0]}, "fixed": {"k": 10, "decay": 5.0}},
    "listwise": {"grid": {"temperature": [1.0, 2.0, 4.0], "k": [20, 50, 100]}, "fixed": {"sampled": 50}},
    "relaxed_ranking": {"grid": {"k": [10, 20, 40, 80, 160]}, "fixed": {"sampled": 50}},
}
TEACHERS = ("ease", "bpr_mf", "ensemble")
SEEDS = (0, 1, 2)
MAX_EPOCHS, PATIENCE = 150, 10
HEAD = 0.1  # popularity: share of top-20 slots taken by the 10% most popular items

_CACHE: dict = {}  # per worker process: splits, fitted teachers and their scores


def _split(phase: str):
    from reccompress import presets

    if phase not in _CACHE:
        _CACHE[phase] = presets.validation_split() if phase == "validation" else presets.reference_split()
    return _CACHE[phase]


def _teacher(phase: str, name: str):
    """The teacher ``name`` fitted on the phase's training matrix (EASE, BPR-MF, or the ensemble)."""
    from reccompress import presets
    from reccompress.compress import distill

    key = (phase, name)
    if key not in _CACHE:
        train = _split(phase).train
        if name == "ease":
            _CACHE[key] = presets.ease().fit(train)
        elif name == "bpr_mf":
            _CACHE[key] = presets.teacher(seed=0).fit(train)
        else:
            _CACHE[key] = distill.Ensemble([_teacher(phase, "ease"), presets.pure_svd().fit(train),
                                            _teacher(phase, "bpr_mf")])
    return _CACHE[key]


def _teacher_scores(phase: str, name: str):
    from reccompress.compress import distill

    key = (phase, name, "scores")
    if key not in _CACHE:
        _CACHE[key] = distill.TeacherScores(_teacher(phase, name), _split(phase).train)
    return _CACHE[key]


def objective_for(method: str | None, setting: dict | None, scores):
    """BPR alone (method None) or BPR plus a distillation objective at ``setting`` ({knob: value})."""
    from reccompress import train
    from reccompress.compress import distill

    if method is None:
        return train.BPR()
    spec = METHODS[method]
    kinds = {"pointwise": distill.PointwiseDistillation, "ranking": distill.RankingDistillation,
             "listwise": distill.ListwiseDistillation, "relaxed_ranking": distill.RelaxedRankingDistillation}
    return train.BPR() + kinds[method](scores, **setting, **spec["fixed"])


def _outcome(scorer, split, nbytes: int) -> dict:
    """Test accuracy, popularity of the top-20 lists and their coverage of the catalogue."""
    import numpy as np

    from reccompress import metrics

    result = metrics.evaluate(scorer, split, ks=(10, 20))
    scores = metrics.mask_seen(scorer.score(np.arange(split.train.shape[0])), split.train)
    ranked = metrics.top_k(scores, 20)
    counts = np.asarray(split.train.sum(axis=0)).ravel()
    return {"ndcg@10": result["ndcg@10"], "ndcg@20": result["ndcg@20"], "recall@20": result["recall@20"],
            "head_share@20": metrics.head_share_at_k(ranked, counts, head=HEAD),
            "coverage@20": metrics.item_coverage_at_k(ranked, split.train.shape[1]), "nbytes": int(nbytes)}


def run(job: dict) -> dict:
    """Train one student (validation: early stopping; test: fixed epochs, one seed) in this
    process, one thread, deterministic; or evaluate one teacher (``job["student"] == "teacher"``)."""
    from reccompress import models, repro
    from reccompress.train import TrainSettings

    repro.set_reproducible(seed=job.get("seed", 0), threads=1)
    phase, split = job["phase"], _split(job["phase"])
    start = time.perf_counter()
    if job["student"] == "teacher":
        teacher = _teacher(phase, job["teacher"])
        members = getattr(teacher, "models", [teacher])  # an ensemble stores its members
        return {**job, **_outcome(teacher, split, sum(m.nbytes for m in members)),
                "seconds": time.perf_counter() - start}
    scores = None if job["method"] is None else _teacher_scores(phase, job["teacher"])
    teacher_seconds = time.perf_counter() - start
    if phase == "validation":
        training = TrainSettings(lr=job["lr"], l2=job["l2"], epochs=MAX_EPOCHS, patience=PATIENCE, seed=0)
    else:
        training = TrainSettings(lr=job["lr"], l2=job["l2"], epochs=job["epochs"], validation_fraction=0.0,
                                 seed=job["seed"])
    kind = models.BPRMF if job["student"] == "mf" else models.ItemOnlyMF
    model = kind(rank=job["rank"], training=training, objective=objective_for(job["method"], job["setting"], scores))
    fit_start = time.perf_counter()
    if phase == "validation":
        model.fit(split.train, validation=split)
        history = model.history_
        return {**job, "valid_ndcg@20": max(value for _, value in history.validation),
                "best_epoch": history.best_epoch, "epochs_run": len(history.losses),
                "seconds": time.perf_counter() - fit_start}
    model.fit(split.train)
    return {**job, **_outcome(model, split, model.nbytes), "seconds": time.perf_counter() - fit_start,
            "teacher_seconds": teacher_seconds}


def _stage(pool, jobs: list[dict], label: str) -> list[dict]:
    start = time.perf_counter()
    # Longest jobs first (distillation, wider ranks), so that no worker idles at the end.
    order = sorted(range(len(jobs)), key=lambda i: (jobs[i].get("method") is None, -jobs[i].get("rank", 99)))
    futures = {i: pool.submit(run, jobs[i]) for i in order}
    results = [futures[i].result() for i in range(len(jobs))]
    print(f"{label}: {len(jobs)} runs in {time.perf_counter() - start:.0f} s", flush=True)
    return results


def _best(trials: list[dict]) -> dict:
    return max(trials, key=lambda t: t["valid_ndcg@20"])  # ties keep the first in grid order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="processes training students at once")
    args = parser.parse_args()
    import torch

    start = time.perf_counter()
    base = {"phase": "validation", "student": "mf", "method": None, "setting": None, "teacher": None}
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
        # 1. students alone
        jobs = [{**base, "rank": r, "lr": lr, "l2": l2} for r in RANKS
                for lr, l2 in itertools.product(ALONE_LR[r], ALONE_L2[r])]
        alone_trials = _stage(pool, jobs, "1. students alone, validation grids")
        alone = {}
        for r in RANKS:
            trials = [t for t in alone_trials if t["rank"] == r]
            best = _best(trials)
            alone[r] = {"grid": {"lr": ALONE_LR[r], "l2": ALONE_L2[r]}, "trials": trials,
                        "chosen": {"lr": best["lr"], "l2": best["l2"], "epochs": best["best_epoch"]},
                        "interior": {"lr": interior(ALONE_LR[r], best["lr"]), "l2": interior(ALONE_L2[r], best["l2"])}}
        # 2. the four objectives at the headline rank, from EASE
        chosen8 = alone[HEADLINE_RANK]["chosen"]
        jobs = [{**base, "rank": HEADLINE_RANK, "lr": chosen8["lr"], "l2": chosen8["l2"], "teacher": "ease",
                 "method": m, "setting": dict(zip(spec["grid"], values))}
                for m, spec in METHODS.items() for values in itertools.product(*spec["grid"].values())]
        method_trials = _stage(pool, jobs, "2. distillation objectives, validation grids")
        methods = {}
        for m, spec in METHODS.items():
            trials = [t for t in method_trials if t["method"] == m]
            best = _best(trials)
            methods[m] = {"grid": spec["grid"], "fixed": spec["fixed"], "trials": trials,
                          "chosen": {"setting": best["setting"], "epochs": best["best_epoch"],
                                     "valid_ndcg@20": best["valid_ndcg@20"]},
                          "interior": {knob: interior(grid, best["setting"][knob]) for knob, grid in spec["grid"].items()}}
        best_method = max(methods, key=lambda m: methods[m]["chosen"]["valid_ndcg@20"])
        setting = methods[best_method]["chosen"]["setting"]
        # 3. the best method at the other ranks, from the other teachers, into the item-only student
        variants = [{"rank": r, "teacher": "ease", "student": "mf"} for r in RANKS if r != HEADLINE_RANK]
        variants += [{"rank": HEADLINE_RANK, "teacher": t, "student": "mf"} for t in TEACHERS if t != "ease"]
        variants += [{"rank": HEADLINE_RANK, "teacher": "ease", "student": "item_only"}]
        jobs = [{**base, **v, "lr": alone[v["rank"]]["chosen"]["lr"], "l2": alone[v["rank"]]["chosen"]["l2"],
                 "method": best_method, "setting": setting} for v in variants]
        jobs.append({**base, "rank": HEADLINE_RANK, "student": "item_only", "lr": chosen8["lr"], "l2": chosen8["l2"]})
        variant_trials = _stage(pool, jobs, "3. best method elsewhere, epochs on validation")
        # 4. test: every configuration at its chosen settings, 3 seeds; the teachers once
        configurations = [{"student": "mf", "rank": r, "method": None, "setting": None, "teacher": None,
                           **{k: alone[r]["chosen"][k] for k in ("lr", "l2", "epochs")}} for r in RANKS]
        configurations += [{"student": "mf", "rank": HEADLINE_RANK, "method": m, "setting": methods[m]["chosen"]["setting"],
                            "teacher": "ease", "lr": chosen8["lr"], "l2": chosen8["l2"],
                            "epochs": methods[m]["chosen"]["epochs"]} for m in METHODS]
        configurations += [{k: t[k] for k in ("student", "rank", "method", "setting", "teacher", "lr", "l2")}
                           | {"epochs": t["best_epoch"]} for t in variant_trials]
        jobs = [{**c, "phase": "test", "seed": s} for c in configurations for s in SEEDS]
        jobs += [{"phase": "test", "student": "teacher", "teacher": t, "method": None} for t in TEACHERS]
        test_runs = _stage(pool, jobs, "4. test, 3 seeds")
    seconds = time.perf_counter() - start
    report = {
        "about": __doc__.split("\n\n")[1].replace("\n", " "),
        "protocol": {"max_epochs": MAX_EPOCHS, "patience": PATIENCE, "seeds": list(SEEDS), "head": HEAD,
                     "validation": "presets.validation_split()", "test": "presets.reference_split()",
                     "metric": "ndcg@20", "batch_size": 1024},
        "provenance": {"seconds": seconds, "workers": args.workers, "python": platform.python_version(),
                       "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")},
        "alone": {str(r): entry for r, entry in alone.items()},
        "methods": methods,
        "best_method": best_method,
        "variants": variant_trials,
        "test": [run for run in test_runs if run["student"] != "teacher"],
        "teachers": {run["teacher"]: run for run in test_runs if run["student"] == "teacher"},
    }
    write_json(OUTPUT, report)
    print(f"best method on validation: {best_method} {setting}")
    print(f"alone interior: {[(r, alone[r]['interior']) for r in RANKS]}")
    print(f"methods interior: {[(m, methods[m]['interior']) for m in METHODS]}")
    print(f"wrote {OUTPUT.name} in {seconds:.0f} s with {args.workers} worker(s)")


if __name__ == "__main__":
    main()
