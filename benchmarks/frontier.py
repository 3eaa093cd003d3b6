"""Chapter 9: every method of Chapters 2-8 on one size / accuracy / latency table, on four splits.

Every model is built at the setting its chapter chose on validation (no grid is searched again,
except the headline's one choice, made on the three ML-100K splits' own validation splits, and
Chapter 6's rule for the clipping of stacked codes, reapplied on the reference validation
split): the settings are read from the chapters' benchmark results or listed in
``CHAPTER_SETTINGS`` with the chapter that chose them. Dense EASE (Chapter 1) is the reference of every row. Four splits: the
reference split of ML-100K (seed 42), two more random 80/20 splits of it (seeds 1 and 2), and
the reference split of ml-latest-small. Latency (recommend top 20 for all test users and for one
user, one thread, every model interleaved, at least 30 rounds) is measured on the reference
split only. Drift: a temporal split of ML-100K, four periods after the first half of the data.

Run (CI runs it before the tests):
    RECCOMPRESS_DATA=../shared/data python benchmarks/frontier.py [--workers 2]
Writes benchmarks/results/frontier.json and frontier.csv (the reference split's table), atomically.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from _common import interior, write_json  # benchmarks/_common.py

RESULTS = Path(__file__).resolve().parent / "results"
OUTPUT = RESULTS / "frontier.json"
CSV = RESULTS / "frontier.csv"
SPLITS = (("ml-100k", 42), ("ml-100k", 1), ("ml-100k", 2), ("ml-latest-small", 42))
REFERENCE = SPLITS[0]
# Settings chosen on validation in the chapters (the glue name that shows each is in brackets).
CHAPTER_SETTINGS = {
    "sparse_ease_amount": 0.98,  # Chapter 2, magnitude + refit [chosen_amount]
    "item_knn_small_k": 50,  # Chapter 2, ItemKNN with few neighbours [knn_small_k]
    "truncated_ease_rank": 32,  # Chapter 6, truncated EASE [ease_rank]
    "lowrank_ease_rank": 8,  # Chapter 7, low-rank EASE at the student's bytes [lowrank8_bytes]
    "magnitude_amount": 0.9,  # Chapter 5, magnitude pruning of the teacher in its principal basis [amount]
    "fine_tune_epochs": 10,  # Chapter 5, fine-tuning after the unstructured cut [tune_epochs]
    "principal_dims": 16,  # Chapter 5, principal dimensions [principal16]
    "pq": ((8, 256), (32, 16)),  # Chapter 6's PQ grid points for the teacher's tables (both shown there)
}
# The headline's grid (chosen on the reference validation split): truncated EASE with derived
# item scales, its one table coded at 4 bits, uniformly (row scales) or by 1-D k-means per column.
HEADLINE_RANKS = (8, 12, 16, 20, 24, 32, 48)
HEADLINE_CODES = ("uniform, stored scales", "uniform", "k-means")  # the first: plain stacking, for contrast
HEADLINE_TARGET = 0.97
HEADLINE_SEEDS = tuple(seed for dataset, seed in SPLITS if dataset == "ml-100k")
BOOTSTRAP = 2000  # paired bootstrap resamples of the drift differences
DRIFT_PERIODS = 4
_CACHE: dict = {}


def load_split(dataset: str, seed: int):
    """The 80/20 per-user split of ``dataset`` with ``seed`` (seed 42 is the book's reference split)."""
    from reccompress import data, presets, splits

    key = (dataset, seed)
    if key not in _CACHE:
        interactions = data.load_movielens(dataset)
        _CACHE[key] = splits.random_holdout(interactions.matrix(presets.REFERENCE_SPLIT["feedback"]),
                                            test_fraction=presets.REFERENCE_SPLIT["test_fraction"], seed=seed)
    return _CACHE[key]


def _chosen():
    """The distillation and embedding-table settings their chapters' benchmarks chose."""
    distillation = json.loads((RESULTS / "tuning_distillation.json").read_text())
    sweep = json.loads((RESULTS / "embedding_sweep.json").read_text())
    best = distillation["best_method"]
    alone8 = distillation["alone"]["8"]["chosen"]
    item_only = next(v for v in distillation["variants"] if v["student"] == "item_only" and v["method"] == best)
    mixed = {row["dataset"]: row for row in sweep["sweep"] if row["method"] == "mixed_dimension" and row["ratio"] == 4}
    hashing = {row["dataset"]: row for row in sweep["sweep"] if row["method"] == "hashing" and row["ratio"] == 4}
    quantization = json.loads((RESULTS / "tuning_quantization.json").read_text())
    teacher_clip = {}
    for bits in (8, 4):  # Chapter 6: per-row affine codes, the clipping better on validation
        trials = [t for t in quantization["post_training"] if t["bits"] == bits and t["granularity"] == "row"
                  and t["scheme"] == "asymmetric"]
        teacher_clip[bits] = max(trials, key=lambda t: t["valid_ndcg@20"])["clip"]
    return {
        "distillation": {"method": best, "setting": distillation["methods"][best]["chosen"]["setting"],
                         "rank": 8, "lr": alone8["lr"], "l2": alone8["l2"],
                         "epochs": distillation["methods"][best]["chosen"]["epochs"],
                         "alone_epochs": alone8["epochs"], "item_only_epochs": item_only["best_epoch"]},
        "mixed_dimension": {name: {"alpha": row["alpha"], "epochs": row["best_epoch"]} for name, row in mixed.items()},
        "hashing": {name: {"epochs": row["best_epoch"]} for name, row in hashing.items()},
        "teacher_clip": teacher_clip,
    }


def ease_scores(dataset: str, seed: int):
    """Dense EASE's scores on a split's training part, the distillation teacher (fitted once per
    worker process and split: both students of a split may land in the same worker)."""
    from reccompress import presets
    from reccompress.compress import distill

    key = (dataset, seed, "ease scores")
    if key not in _CACHE:
        train = load_split(dataset, seed).train
        _CACHE[key] = distill.TeacherScores(presets.ease().fit(train), train)
    return _CACHE[key]


def train_job(job: dict) -> dict:
    """Train one neural model on a split's training part (one thread, seed 0); returns it and its time."""
    from reccompress import models, presets, repro, train
    from reccompress.compress import distill, embeddings
    from reccompress.train import TrainSettings

    repro.set_reproducible(seed=0, threads=1)
    split = load_split(job["dataset"], job["seed"])
    chosen = job["chosen"]
    start = time.perf_counter()
    kind = job["kind"]
    if kind == "teacher":
        model = presets.teacher(seed=0, dataset=job["dataset"])
    elif kind in ("mixed_dimension", "hashing"):
        setting = chosen[kind][job["dataset"]]
        teacher = presets.TEACHER if job["dataset"] == "ml-100k" else presets.TEACHER_LATEST
        spec = (embeddings.MixedDimension(4, alpha=setting["alpha"]) if kind == "mixed_dimension"
                else embeddings.Hashing(4))
        model = models.BPRMF(rank=teacher["rank"], embeddings=spec,
                             training=TrainSettings(lr=teacher["lr"], l2=teacher["l2"], epochs=setting["epochs"],
                                                    validation_fraction=0.0, seed=0))
    else:
        d = chosen["distillation"]
        epochs = {"alone": d["alone_epochs"], "distilled": d["epochs"], "item_only": d["item_only_epochs"]}[kind]
        training = TrainSettings(lr=d["lr"], l2=d["l2"], epochs=epochs, validation_fraction=0.0, seed=0)
        objective = train.BPR()
        if kind != "alone":
            kinds = {"listwise": distill.ListwiseDistillation, "pointwise": distill.PointwiseDistillation,
                     "ranking": distill.RankingDistillation, "relaxed_ranking": distill.RelaxedRankingDistillation}
            scores = ease_scores(job["dataset"], job["seed"])
            fixed = {"listwise": {"sampled": 50}}.get(d["method"], {})
            objective = objective + kinds[d["method"]](scores, **d["setting"], **fixed)
        student = models.ItemOnlyMF if kind == "item_only" else models.BPRMF
        model = student(rank=d["rank"], training=training, objective=objective)
    model.fit(split.train)
    return {**{k: v for k, v in job.items() if k != "chosen"}, "model": model, "seconds": time.perf_counter() - start}


def timed(build):
    start = time.perf_counter()
    model = build()
    return model, time.perf_counter() - start


def headline(user_items, rank: int, codes: str):
    """Truncated EASE at ``rank``, its table coded at 4 bits: uniform codes with a float16 scale and
    zero point per row ("uniform", item scales derived; "uniform, stored scales": the per-item
    scales stored in float16, as plain stacking does), or 16 levels per column by 1-D k-means
    ("k-means": product quantization with one-dimensional sub-spaces, item scales derived)."""
    import numpy as np

    from reccompress.compress import lowrank, pq, quantize

    stored = codes == "uniform, stored scales"
    from reccompress import presets

    # Only X and EASE's l2 enter: no dense fit is needed (Chapter 9, the e-commerce scenario).
    truncated = lowrank.truncate_ease(presets.ease(), rank, item_scale="stored" if stored else "derived",
                                      user_items=user_items)
    if codes.startswith("uniform"):
        return quantize.quantize(truncated, 4, scale_dtype=np.float16, vector_dtype=np.float16)
    return pq.product_quantize(truncated, subspaces=rank, centroids=16, codebook_dtype=np.float16)


def validation_of(dataset: str, seed: int):
    """The validation split carved from a split's own training part (as presets does for seed 42)."""
    from reccompress import presets, splits

    return splits.random_holdout(load_split(dataset, seed).train, **presets.VALIDATION_SPLIT)


def choose_headline() -> dict:
    """Smallest (rank, codes) whose NDCG@20 keeps >= HEADLINE_TARGET of dense EASE's on EVERY one
    of the three ML-100K splits' validation splits (each carved from its own training part): a
    target met only on average is missed on some splits."""
    import numpy as np

    from reccompress import metrics, presets

    validations = [validation_of("ml-100k", seed) for seed in HEADLINE_SEEDS]
    eases = [presets.ease().fit(v.train) for v in validations]
    references = [metrics.evaluate(e, v)["ndcg@20"] for e, v in zip(eases, validations)]
    trials = []
    for rank in HEADLINE_RANKS:
        for codes in HEADLINE_CODES:
            built = [headline(v.train, rank, codes) for v in validations]
            shares = [metrics.evaluate(m, v)["ndcg@20"] / ref for m, v, ref in zip(built, validations, references)]
            trials.append({"rank": rank, "codes": codes, "bytes": int(built[0].nbytes),
                           "valid_shares": shares, "valid_share": float(np.mean(shares)),
                           "valid_min": float(np.min(shares))})
    passing = [t for t in trials if t["valid_min"] >= HEADLINE_TARGET and t["codes"] != HEADLINE_CODES[0]]
    chosen = min(passing, key=lambda t: t["bytes"])
    return {"target": HEADLINE_TARGET, "rule": "every validation split", "trials": trials,
            "chosen": {"rank": chosen["rank"], "codes": chosen["codes"]},
            "interior": interior(HEADLINE_RANKS, chosen["rank"])}


def headline_on_test() -> list[dict]:
    """Every headline grid point on the three ML-100K test splits: the measurement behind "the
    smallest model that keeps 97% on test" (a choice that looks at the test splits)."""
    from reccompress import metrics, presets

    tests = [load_split("ml-100k", seed) for seed in HEADLINE_SEEDS]
    references = [metrics.evaluate(presets.ease().fit(t.train), t)["ndcg@20"] for t in tests]
    rows = []
    for rank in HEADLINE_RANKS:
        for codes in HEADLINE_CODES:
            built = [headline(t.train, rank, codes) for t in tests]
            rows.append({"rank": rank, "codes": codes, "bytes": int(built[0].nbytes),
                         "test_shares": [metrics.evaluate(m, t)["ndcg@20"] / ref
                                         for m, t, ref in zip(built, tests, references)]})
    return rows


def chapter6_clip(model, bits: int, validation) -> str:
    """Chapter 6's choice of clipping for a model's codes: the one better on validation."""
    import numpy as np

    from reccompress import metrics
    from reccompress.compress import quantize

    ndcg = {clip: metrics.evaluate(quantize.quantize(model, bits, clip=clip, scale_dtype=np.float16,
                                                     vector_dtype=np.float16), validation)["ndcg@20"]
            for clip in quantize.CLIPS}
    return max(ndcg, key=ndcg.get)


def choose_clips() -> dict:
    """Clipping of the stacks' codes, chosen on the reference validation split (Chapter 6's rule)."""
    from reccompress import models, presets
    from reccompress.compress import lowrank

    validation = presets.validation_split()
    ease = presets.ease().fit(validation.train)
    truncated = lowrank.truncate_ease(ease, CHAPTER_SETTINGS["truncated_ease_rank"])
    svd8 = models.PureSVD(rank=8).fit(validation.train)
    return {"truncated_ease": {bits: chapter6_clip(truncated, bits, validation) for bits in (8, 4, 2)},
            "pure_svd_8": {4: chapter6_clip(svd8, 4, validation)}}


def entries_for(dataset: str, seed: int, ease, ease_seconds: float, trained: dict, chosen_headline: dict,
                clips: dict, teacher_clip: dict) -> dict:
    """Every model of Chapters 1-8 (and the stacks) on one split, as frontier Entries."""
    import numpy as np

    from reccompress import models, presets
    from reccompress.compress import lowrank, pq, prune, quantize, sparse
    from reccompress.frontier import Entry

    split = load_split(dataset, seed)
    train = split.train
    s = CHAPTER_SETTINGS
    half = {"scale_dtype": np.float16, "vector_dtype": np.float16}  # Chapter 6's storage
    out = {}

    def add(name, family, build, base_seconds=0.0):
        model, seconds = timed(build)
        out[name] = Entry(family, model, base_seconds + seconds)
        return model

    def from_ease(name, family, build):  # built from the fitted dense EASE: its fit counts
        return add(name, family, build, ease_seconds)

    def derived(name, family, base, build):
        model, seconds = timed(build)
        out[name] = Entry(family, model, out[base].seconds + seconds)  # building the base counts
        return model

    add("ItemKNN (k=400)", "item-item", lambda: presets.item_knn().fit(train))
    add(f"ItemKNN (k={s['item_knn_small_k']})", "item-item", lambda: models.ItemKNN(k=s["item_knn_small_k"]).fit(train))
    from_ease("sparse EASE (98% removed)", "sparse", lambda: sparse.magnitude_prune(ease, s["sparse_ease_amount"]))
    from_ease("sparse EASE, refit", "sparse", lambda: sparse.refit_on_support(
        sparse.magnitude_prune(ease, s["sparse_ease_amount"]), l2=ease.l2))
    svd = add("PureSVD", "factorization", lambda: presets.pure_svd(dataset).fit(train))
    add("implicit ALS", "factorization", lambda: presets.implicit_als().fit(train))
    r = s["truncated_ease_rank"]
    # Truncated EASE needs only X and l2 (an SVD of X), not the dense fit: built from the data.
    add(f"truncated EASE (r={r})", "factorization", lambda: lowrank.truncate_ease(presets.ease(), r, user_items=train))
    from_ease(f"low-rank EASE (r={s['lowrank_ease_rank']})", "factorization",
              lambda: lowrank.factorize(ease, s["lowrank_ease_rank"]))
    for name, family in (("BPR-MF teacher", "neural"), ("mixed-dimension tables (4x)", "embedding tables"),
                         ("hashed tables (4x)", "embedding tables"),
                         ("BPR-MF r=8 alone", "neural"), ("distilled BPR-MF r=8", "distillation"),
                         ("distilled item-only r=8", "distillation")):
        job = trained[name]
        out[name] = Entry(family, job["model"], job["seconds"])
    teacher = out["BPR-MF teacher"].model
    # Chapter 5's unstructured pipeline: principal basis, 90% by magnitude, fine-tuned, stored as
    # CSR; and its control, the teacher given the same extra epochs.
    epochs = s["fine_tune_epochs"]
    derived(f"teacher +{epochs} epochs (control)", "neural", "BPR-MF teacher",
            lambda: prune.fine_tune(teacher, train, epochs=epochs))
    derived(f"teacher, magnitude 90% +{epochs} ep. (CSR)", "pruning", "BPR-MF teacher",
            lambda: prune.to_sparse(prune.fine_tune(prune.magnitude_prune(
                prune.prune_dimensions(teacher, teacher.rank, "principal"), s["magnitude_amount"]),
                train, epochs=epochs)))
    dims = s["principal_dims"]
    principal = derived(f"teacher, {dims} principal dims", "pruning", "BPR-MF teacher",
                        lambda: prune.prune_dimensions(teacher, dims, "principal"))
    for bits in (8, 4):
        derived(f"teacher int{bits}", "quantization", "BPR-MF teacher",
                lambda b=bits: quantize.quantize(teacher, b, clip=teacher_clip[b], **half))
    for m, k in s["pq"]:
        derived(f"teacher PQ (m={m}, K={k})", "quantization", "BPR-MF teacher",
                lambda m=m, k=k: pq.product_quantize(teacher, m, k, tables="all", codebook_dtype=np.float16))
    # Stacks: two compressions composed.
    derived(f"{dims} principal dims + int4", "stacked", f"teacher, {dims} principal dims",
            lambda: quantize.quantize(principal, 4, **half))
    truncated = out[f"truncated EASE (r={r})"].model
    for bits in (8, 4, 2):
        derived(f"truncated EASE (r={r}) + int{bits}", "stacked", f"truncated EASE (r={r})",
                lambda b=bits: quantize.quantize(truncated, b, clip=clips["truncated_ease"][b], **half))
    derived("PureSVD r=8 + int4", "stacked", "PureSVD", lambda: quantize.quantize(
        models.PureSVD(rank=8).fit(train), 4, clip=clips["pure_svd_8"][4], **half))
    derived("distilled r=8 + int4", "stacked", "distilled BPR-MF r=8",
            lambda: quantize.quantize(out["distilled BPR-MF r=8"].model, 4, **half))
    derived("distilled item-only + int4", "stacked", "distilled item-only r=8",
            lambda: quantize.quantize(out["distilled item-only r=8"].model, 4, **half))
    rank, codes = chosen_headline["rank"], chosen_headline["codes"]
    add(f"truncated EASE (r={rank}), derived scales", "factorization",
        lambda: lowrank.truncate_ease(presets.ease(), rank, user_items=train, item_scale="derived"))
    add(f"compact EASE (r={rank}, 4-bit {codes})", "stacked", lambda: headline(train, rank, codes))
    return out


def per_user_ndcg(model, split) -> "np.ndarray":
    """(n_test_users,) NDCG@20 of each test user (their mean is metrics.evaluate's ndcg@20)."""
    import numpy as np

    from reccompress import metrics

    users = split.test_users()
    scores = metrics.mask_seen(model.score(users), split.train[users])
    truth = split.test[users]
    hits = metrics.hits_at_k(metrics.top_k(scores, 20), truth)
    values = metrics.ndcg_at_k(hits, np.diff(truth.indptr))
    assert np.isclose(values.mean(), metrics.evaluate(model, split, ks=(20,))["ndcg@20"])
    return values


def paired_interval(first, second, reference: float, seed: int = 0) -> list[float]:
    """90% paired-bootstrap interval of mean(first - second) over users, as a share of ``reference``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    differences = np.asarray(first) - np.asarray(second)
    draws = rng.integers(0, differences.size, size=(BOOTSTRAP, differences.size))
    means = differences[draws].mean(axis=1) / reference
    return [float(v) for v in np.percentile(means, [5, 95])]


def drift_study(chosen_headline: dict) -> dict:
    """Temporal split of ML-100K: fit at the median timestamp, serve four later periods."""
    import numpy as np

    from reccompress import data, metrics, presets, splits
    from reccompress.compress import lowrank, pq, sparse
    from reccompress.compress.base import FactorRecommender

    interactions = data.load_movielens("ml-100k")
    order = np.argsort(interactions.timestamps, kind="stable")
    cuts = np.linspace(len(order) // 2, len(order), DRIFT_PERIODS + 1).astype(int)

    def matrix(index, users=None):
        mask = np.zeros(len(interactions), dtype=bool)
        mask[index] = True
        if users is not None:  # only these users' interactions
            mask &= users[interactions.users]
        return interactions.subset(mask).matrix(presets.REFERENCE_SPLIT["feedback"])

    rank, codes, amount = chosen_headline["rank"], chosen_headline["codes"], CHAPTER_SETTINGS["sparse_ease_amount"]
    l2 = presets.EASE["l2"]
    history0 = matrix(order[: cuts[0]])
    ease0 = presets.ease().fit(history0)
    compact0 = headline(history0, rank, codes)
    sparse0 = sparse.refit_on_support(sparse.magnitude_prune(ease0, amount), l2=l2)
    periods = []
    for p in range(DRIFT_PERIODS):
        history = matrix(order[: cuts[p]])
        seen = np.diff(history.indptr) > 0  # users with a history before the period
        test = matrix(order[cuts[p] : cuts[p + 1]], users=seen)
        split = splits.Split(train=history, test=test)
        row = {"period": p + 1, "start": int(interactions.timestamps[order[cuts[p]]]),
               "test_interactions": int(test.nnz), "test_users": int(split.test_users().size),
               "new_items_share": float(np.isin(test.indices, np.flatnonzero(np.asarray(history.sum(axis=0)).ravel() == 0)).mean())}
        dense, seconds = timed(lambda: presets.ease().fit(history))
        results = {"dense EASE refit": (dense, seconds)}
        results["compact: keep"] = (compact0.with_user_items(history), 0.0)

        def refit_weights():  # keep the codes; re-derive D_k = s_k^2 / (s_k^2 + l2) along each coded column
            table = compact0.item_table_
            squared = np.asarray(((history @ table.to_dense()) ** 2).sum(axis=0), dtype=np.float64)
            return FactorRecommender(table, history, fold_in=table, fold_in_weights=(squared / (squared + l2)).astype(np.float32),
                                     item_scale="derived", source=compact0, recipe={"verb": "refit fold-in weights"})

        results["compact: refit weights"] = timed(refit_weights)
        results["compact: recompress"] = timed(lambda: headline(history, rank, codes))
        results["sparse: keep"] = (sparse0.with_user_items(history), 0.0)
        results["sparse: refit values"] = timed(lambda: sparse.refit_on_support(sparse0.with_user_items(history), l2=l2))
        results["sparse: recompress"] = timed(lambda: sparse.refit_on_support(
            sparse.magnitude_prune(presets.ease().fit(history), amount), l2=l2))
        per_user = {name: per_user_ndcg(model, split) for name, (model, _) in results.items()}
        reference = float(per_user["dense EASE refit"].mean())
        row["policies"] = {}
        for name, (model, seconds) in results.items():
            value = float(per_user[name].mean())
            row["policies"][name] = {"ndcg@20": value, "share": value / reference, "seconds": seconds,
                                     "bytes": int(model.nbytes)}
            family = name.split(":")[0]
            if ":" in name and not name.endswith("recompress"):  # against recompressing, same users
                row["policies"][name]["vs_recompress_90"] = paired_interval(
                    per_user[name], per_user[f"{family}: recompress"], reference)
        periods.append(row)
        print(f"drift period {p + 1}: " + ", ".join(f"{k} {v['share']:.3f}" for k, v in row["policies"].items()), flush=True)
    return {"fit_until": int(interactions.timestamps[order[cuts[0]]]), "periods": periods,
            "history0_interactions": int(history0.nnz)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="processes training the neural models at once")
    args = parser.parse_args()
    import numpy as np
    import torch

    from reccompress import frontier, presets, repro

    repro.set_reproducible(seed=0, threads=1)
    start = time.perf_counter()
    chosen = _chosen()
    kinds = {"teacher": "BPR-MF teacher", "mixed_dimension": "mixed-dimension tables (4x)",
             "hashing": "hashed tables (4x)",
             "alone": "BPR-MF r=8 alone", "distilled": "distilled BPR-MF r=8", "item_only": "distilled item-only r=8"}
    jobs = [{"dataset": d, "seed": s, "kind": kind, "chosen": chosen} for d, s in SPLITS for kind in kinds]
    jobs.sort(key=lambda j: j["kind"] not in ("distilled", "item_only"))  # longest first
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(train_job, job) for job in jobs]
        choice = choose_headline()  # meanwhile, in this process
        print(f"headline chosen on validation: {choice['chosen']}", flush=True)
        clips = choose_clips()
        print(f"clipping chosen on validation: {clips}", flush=True)
        test_grid = headline_on_test()
        trained = {}
        for future in futures:
            result = future.result()
            trained.setdefault((result["dataset"], result["seed"]), {})[kinds[result["kind"]]] = result
    print(f"neural models trained in {time.perf_counter() - start:.0f} s", flush=True)
    tables = {}
    for dataset, seed in SPLITS:
        split = load_split(dataset, seed)
        ease, seconds = timed(lambda: presets.ease().fit(split.train))
        entries = entries_for(dataset, seed, ease, seconds, trained[(dataset, seed)], choice["chosen"], clips,
                              chosen["teacher_clip"])
        rows = frontier.frontier_rows(ease, entries, split, reference_seconds=seconds,
                                      latency=(dataset, seed) == REFERENCE)
        tables[f"{dataset} seed {seed}"] = rows
        print(f"{dataset} seed {seed}: {len(rows)} rows", flush=True)
    drift = drift_study(choice["chosen"])
    seconds = time.perf_counter() - start
    reference_rows = tables[f"{REFERENCE[0]} seed {REFERENCE[1]}"]
    name = next(row["method"] for row in reference_rows if row["method"].startswith("compact EASE"))
    shares = [next(r for r in tables[f"ml-100k seed {s}"] if r["method"] == name)["share"] for d, s in SPLITS if d == "ml-100k"]
    ratios = [next(r for r in tables[f"ml-100k seed {s}"] if r["method"] == name)["bytes ratio"] for d, s in SPLITS if d == "ml-100k"]
    report = {
        "about": __doc__.split("\n\n")[1].replace("\n", " "),
        "settings": {**CHAPTER_SETTINGS, **chosen, "clips": clips},
        "splits": [{"dataset": d, "seed": s} for d, s in SPLITS],
        "headline_choice": choice,
        "headline_test_grid": test_grid,
        "headline": {"method": name, "shares": shares, "share_mean": float(np.mean(shares)),
                     "share_std": float(np.std(shares, ddof=1)), "bytes_ratio": float(np.mean(ratios))},
        "tables": tables,
        "drift": drift,
        "provenance": {"seconds": seconds, "workers": args.workers, "python": platform.python_version(),
                       "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")},
    }
    frontier.write_csv(reference_rows, CSV)
    write_json(OUTPUT, report)
    print(f"headline {name}: share {np.mean(shares):.4f} (per split {np.round(shares, 4)}), {np.mean(ratios):.0f}x")
    print(f"wrote {OUTPUT.name} and {CSV.name} in {seconds:.0f} s with {args.workers} worker(s)")


if __name__ == "__main__":
    main()
