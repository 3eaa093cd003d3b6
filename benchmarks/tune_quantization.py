"""Choose the learning rate of quantization-aware training on the validation split.

Chapter 6 trains the Chapter 4 teacher for a few more epochs with its tables fake-quantized to
4, 2 or 1 bits, with the straight-through estimator and the steps either recomputed by min-max
("ste") or learned ("lsq"). Each variant and bit width gets the same 5-point learning-rate grid,
at a fixed budget of ``EPOCHS`` epochs and float16 steps. Every point starts from the teacher
trained on the validation split's training part and is scored on its held-out part. The float
teacher fine-tuned for the same epochs at each learning rate is the control. Chapter 6 reads the
file, checks that every chosen point is interior and trains the chosen points on the whole
training split.

Run (CI runs it before the tests):
    RECCOMPRESS_DATA=../shared/data python benchmarks/tune_quantization.py [--workers 2]
Writes benchmarks/results/tuning_quantization.json (atomically).
"""

from __future__ import annotations

import argparse
import itertools
import os
import pickle
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from _common import interior, write_json  # benchmarks/_common.py

EPOCHS = 10
BITS = (4, 2, 1)
VARIANTS = {"ste": False, "lsq": True}  # name -> learned_step
LEARNING_RATES = (2e-5, 5e-5, 1e-4, 5e-4, 2e-3)
OUTPUT = Path(__file__).resolve().parent / "results" / "tuning_quantization.json"


def run_point(teacher_file: str, variant: str | None, bits: int | None, lr: float) -> dict:
    """One grid point in this process (one thread, deterministic): QAT, or the float control
    when ``variant`` is None."""
    import numpy as np

    from reccompress import metrics, presets, repro
    from reccompress.compress import prune, qat

    repro.set_reproducible(seed=0, threads=1)
    validation = presets.validation_split()
    teacher = pickle.loads(Path(teacher_file).read_bytes())
    start = time.perf_counter()
    if variant is None:
        model = prune.fine_tune(teacher, validation.train, epochs=EPOCHS, lr=lr)
    else:
        model = qat.quantization_aware_training(teacher, validation.train, bits, EPOCHS, lr=lr,
                                                learned_step=VARIANTS[variant], scale_dtype=np.float16)
    return {"lr": lr, "valid_ndcg@20": metrics.evaluate(model, validation)["ndcg@20"],
            "seconds": time.perf_counter() - start}


def post_training_recipes(teacher, validation) -> list[dict]:
    """Validation NDCG@20 of the teacher quantized after training, for every recipe."""
    import numpy as np

    from reccompress import metrics
    from reccompress.compress import quantize

    rows = []
    for bits in (8, 4, 2, 1):
        scheme = "symmetric" if bits == 1 else "asymmetric"
        for granularity, clip in itertools.product(("tensor", "row", "group"), ("minmax", "mse")):
            model = quantize.quantize(teacher, bits, scheme=scheme, granularity=granularity, clip=clip,
                                      group_size=32 if granularity == "group" else None, scale_dtype=np.float16)
            rows.append({"bits": bits, "scheme": scheme, "granularity": granularity, "clip": clip,
                         "group_size": 32 if granularity == "group" else None, "bytes": model.nbytes,
                         "valid_ndcg@20": metrics.evaluate(model, validation)["ndcg@20"]})
    return rows



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="processes training grid points at once")
    args = parser.parse_args()
    import torch

    from reccompress import metrics, presets, repro

    start = time.perf_counter()
    repro.set_reproducible(seed=0, threads=1)
    validation = presets.validation_split()
    teacher = presets.teacher().fit(validation.train)
    teacher_ndcg = metrics.evaluate(teacher, validation)["ndcg@20"]
    recipes = post_training_recipes(teacher, validation)
    jobs = [(None, None, lr) for lr in LEARNING_RATES]
    jobs += [(variant, bits, lr) for variant, bits, lr in itertools.product(VARIANTS, BITS, LEARNING_RATES)]
    with tempfile.TemporaryDirectory() as folder:
        teacher_file = os.path.join(folder, "teacher.pkl")
        Path(teacher_file).write_bytes(pickle.dumps(teacher))
        # Fresh processes ("spawn"): each fixes its own seeds and threads, so a point gives the same
        # result whatever the number of workers.
        with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
            points = list(pool.map(run_point, [teacher_file] * len(jobs), *zip(*jobs)))
    controls = points[: len(LEARNING_RATES)]
    report = {
        "about": __doc__.split("\n\n")[1].replace("\n", " "),
        "protocol": {"epochs": EPOCHS, "scale_dtype": "float16", "granularity": "row", "seed": 0,
                     "teacher": "presets.teacher() fitted on presets.validation_split().train",
                     "validation": "presets.validation_split()", "metric": "ndcg@20"},
        "teacher_valid_ndcg@20": teacher_ndcg,
        "teacher_bytes": teacher.nbytes,
        "post_training": recipes,
        "controls": controls,
        "grids": {},
        "provenance": {"seconds": time.perf_counter() - start, "workers": args.workers,
                       "python": platform.python_version(), "torch": torch.__version__,
                       "date": time.strftime("%Y-%m-%d")},
    }
    for (variant, bits, lr), point in zip(jobs[len(LEARNING_RATES):], points[len(LEARNING_RATES):]):
        entry = report["grids"].setdefault(f"{variant} {bits}-bit", {"variant": variant, "bits": bits, "trials": []})
        entry["trials"].append(point)
    for entry in report["grids"].values():
        best = max(entry["trials"], key=lambda t: t["valid_ndcg@20"])  # ties keep the smaller lr
        entry["chosen_lr"] = best["lr"]
        entry["interior"] = interior(LEARNING_RATES, best["lr"])
    report["provenance"]["seconds"] = time.perf_counter() - start
    write_json(OUTPUT, report)
    for name, entry in report["grids"].items():
        kept = max(t["valid_ndcg@20"] for t in entry["trials"]) / teacher_ndcg
        print(f"{name}: lr {entry['chosen_lr']:g} (interior: {entry['interior']}), validation kept {kept:.4f}")
    print(f"wrote {OUTPUT.name} in {report['provenance']['seconds']:.0f} s with {args.workers} worker(s)")


if __name__ == "__main__":
    main()
