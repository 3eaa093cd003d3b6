"""Chapter 5's multi-seed results: the lottery ticket and the headline pruning results, three teachers.

For each seed s in SEEDS, the teacher is ``presets.teacher(s)`` fitted on the reference split's
training part, and each result is a share of its test NDCG@20:
- lottery ticket: the teacher's global magnitude mask at AMOUNT; the surviving weights rewound to
  the teacher's initial values ("ticket"), or drawn afresh from the same distribution with seed
  s + 1 ("random": any seed but the teacher's own, which would redraw the ticket's values), then
  retrained with the mask fixed for the teacher's own number of epochs (share of the teacher);
- unstructured: in the principal basis, AMOUNT magnitude pruning, then TUNE_EPOCHS epochs of
  fine-tuning (share of the better of the teacher and the teacher trained TUNE_EPOCHS epochs more);
- structured, without retraining: the principal dimensions at equal bytes (the most dimensions
  whose dense tables take no more bytes than the unstructured model stored as CSR), and DIMS
  principal dimensions (share of the teacher).
Validation curves (seed 0): a teacher trained on the validation split's training part, its
ticket and random arms retrained there, and the dense model trained from its initial values for
the same budget; NDCG@20 on the validation split's held-out part after every epoch (patience
above the budget: no early stopping).

Run (CI runs it before the tests):
    RECCOMPRESS_DATA=../shared/data python benchmarks/pruning_seeds.py [--workers 2]
Writes benchmarks/results/pruning_seeds.json (atomically).
"""

from __future__ import annotations

import argparse
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from _common import write_json  # benchmarks/_common.py

SEEDS = (0, 1, 2)
AMOUNT = 0.9  # share of the embedding weights removed (Chapter 5's `amount`)
TUNE_EPOCHS = 10  # fine-tuning after the unstructured cut (Chapter 5's `tune_epochs`)
DIMS = 16  # Chapter 5's `dims`
OUTPUT = Path(__file__).resolve().parent / "results" / "pruning_seeds.json"


def _setup():
    from reccompress import metrics, presets, repro

    repro.set_reproducible(seed=0, threads=1)

    def ndcg20(model, on):
        return metrics.evaluate(model, on)["ndcg@20"]

    return presets, ndcg20


def run_seed(seed: int) -> dict:
    """Every test-split result of the teacher trained from ``seed``."""
    from reccompress.compress import prune

    presets, ndcg20 = _setup()
    start = time.perf_counter()
    split = presets.reference_split()
    budget = presets.TEACHER["epochs"]
    teacher = presets.teacher(seed=seed).fit(split.train)
    reference = ndcg20(teacher, split)
    ticket = prune.lottery_ticket(teacher, split.train, AMOUNT, epochs=budget, rewind="initial")
    random = prune.lottery_ticket(teacher, split.train, AMOUNT, epochs=budget, rewind="random",
                                  reinit_seed=seed + 1)
    control = max(reference, ndcg20(prune.fine_tune(teacher, split.train, epochs=TUNE_EPOCHS), split))
    rotated = prune.prune_dimensions(teacher, teacher.rank, "principal")
    unstructured = prune.fine_tune(prune.magnitude_prune(rotated, AMOUNT), split.train, epochs=TUNE_EPOCHS)
    csr_bytes = prune.to_sparse(unstructured).nbytes
    bytes_per_dim = prune.prune_dimensions(teacher, 1, "principal").nbytes
    equal_dims = csr_bytes // bytes_per_dim
    return {
        "seed": seed,
        "teacher_ndcg@20": reference,
        "ticket_kept": ndcg20(ticket, split) / reference,
        "random_kept": ndcg20(random, split) / reference,
        "unstructured_kept": ndcg20(unstructured, split) / control,
        "unstructured_csr_bytes": csr_bytes,
        "equal_dims": int(equal_dims),
        "equal_dims_kept": ndcg20(prune.prune_dimensions(teacher, equal_dims, "principal"), split) / reference,
        "dims_kept": ndcg20(prune.prune_dimensions(teacher, DIMS, "principal"), split) / reference,
        "seconds": time.perf_counter() - start,
    }


def run_curves() -> dict:
    """Validation NDCG@20 after every epoch: ticket, random re-init and dense, seed 0."""
    from reccompress import models
    from reccompress.compress import prune

    presets, _ = _setup()
    start = time.perf_counter()
    validation = presets.validation_split()
    budget = presets.TEACHER["epochs"]
    never_stop = {"patience": budget + 1}
    teacher = presets.teacher(seed=0).fit(validation.train)
    arms = {
        rewind: prune.lottery_ticket(teacher, validation.train, AMOUNT, epochs=budget, rewind=rewind,
                                     reinit_seed=1, validation=validation, **never_stop)
        for rewind in ("initial", "random")
    }
    dense = models.BPRMF(rank=presets.TEACHER["rank"], training=presets.teacher_training(0).replace(**never_stop))
    dense.fit(validation.train, validation=validation)
    curves = {"ticket": arms["initial"].history_, "random": arms["random"].history_, "dense": dense.history_}
    return {
        "epochs": [epoch for epoch, _ in curves["dense"].validation],
        **{name: [value for _, value in history.validation] for name, history in curves.items()},
        "seconds": time.perf_counter() - start,
    }


def _job(name):
    return run_curves() if name == "curves" else run_seed(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="processes running seeds at once")
    args = parser.parse_args()
    import torch

    from reccompress import presets

    start = time.perf_counter()
    # Fresh processes ("spawn"): each fixes its own seeds and threads, so the results do not
    # depend on the number of workers.
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_job, [*SEEDS, "curves"]))
    *seeds, curves = results
    report = {
        "about": __doc__.split("\n\n")[1].replace("\n", " "),
        "protocol": {"seeds": list(SEEDS), "amount": AMOUNT, "tune_epochs": TUNE_EPOCHS, "dims": DIMS,
                     "ticket_epochs": presets.TEACHER["epochs"], "random_reinit_seed": "teacher seed + 1",
                     "metric": "ndcg@20", "test": "presets.reference_split()",
                     "curves": "seed 0 on presets.validation_split()"},
        "provenance": {"seconds": sum(r["seconds"] for r in results), "workers": args.workers,
                       "python": platform.python_version(), "torch": torch.__version__,
                       "date": time.strftime("%Y-%m-%d")},
        "seeds": seeds,
        "curves": curves,
    }
    write_json(OUTPUT, report)
    for row in seeds:
        print(f"seed {row['seed']}: ticket {row['ticket_kept']:.3f}, random {row['random_kept']:.3f}, "
              f"unstructured {row['unstructured_kept']:.3f}, {row['equal_dims']} dims {row['equal_dims_kept']:.3f}")
    print(f"wrote {OUTPUT.name} in {time.perf_counter() - start:.0f} s with {args.workers} worker(s)")


if __name__ == "__main__":
    main()
