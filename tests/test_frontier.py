import csv
import math

import numpy as np
import pytest

from reccompress import frontier, metrics, models, splits, synthetic
from reccompress.compress import lowrank, quantize, sparse
from reccompress.frontier import Entry


@pytest.fixture(scope="module")
def split():
    """A tiny synthetic 60 users x 40 items log, 80/20 per user."""
    user_items = synthetic.power_law_interactions(60, 40, mean_per_user=8, exponent=1.0, seed=0)
    return splits.random_holdout(user_items, test_fraction=0.2, seed=1)


@pytest.fixture(scope="module")
def table(split):
    ease = models.EASE(l2=5.0).fit(split.train)
    entries = {
        "sparse": Entry("sparse", sparse.magnitude_prune(ease, 0.8), 0.5),
        "truncated": Entry("factorization", lowrank.truncate_ease(ease, 4), 0.1),
        "truncated int4": Entry("stacked", quantize.quantize(lowrank.truncate_ease(ease, 4), 4), 0.2),
        "popular": Entry("baseline", models.MostPopular().fit(split.train), 0.0),
    }
    return ease, entries, frontier.frontier_rows(ease, entries, split, reference_seconds=0.3)


def test_every_row_has_every_column_in_order(table):
    _, entries, rows = table
    assert [row["method"] for row in rows] == ["dense EASE", *entries]
    for row in rows:
        assert tuple(row) == frontier.COLUMNS


def test_bytes_are_the_models_nbytes_and_shares_use_the_reference(table, split):
    ease, entries, rows = table
    reference = metrics.evaluate(ease, split)["ndcg@20"]
    models_by_name = {"dense EASE": ease, **{name: entry.model for name, entry in entries.items()}}
    for row in rows:
        model = models_by_name[row["method"]]
        assert row["bytes"] == model.nbytes
        assert row["bytes ratio"] == pytest.approx(ease.nbytes / model.nbytes)
        result = metrics.evaluate(model, split)
        assert row["ndcg@20"] == pytest.approx(result["ndcg@20"])
        assert row["recall@20"] == pytest.approx(result["recall@20"])
        assert row["share"] == pytest.approx(result["ndcg@20"] / reference)
    assert rows[0]["share"] == 1.0 and rows[0]["bytes ratio"] == 1.0
    assert [row["compression s"] for row in rows] == [0.3, 0.5, 0.1, 0.2, 0.0]


def test_frontier_flags_agree_with_pareto_front(table):
    *_, rows = table
    expected = frontier.pareto_front([r["bytes"] for r in rows], [r["ndcg@20"] for r in rows])
    assert [r["on frontier"] for r in rows] == list(expected)
    assert all(math.isnan(r["ms (all users)"]) for r in rows)  # no latency asked


def test_latency_columns_are_filled_and_the_reference_ratio_is_one(split, table):
    ease, entries, _ = table
    rows = frontier.frontier_rows(ease, {"truncated": entries["truncated"]}, split, latency=True,
                                  min_repeats=3, min_seconds=0.0)
    for row in rows:
        for label in ("all users", "one user"):
            assert row[f"ms ({label})"] > 0
            assert row[f"speed-up low ({label})"] <= row[f"speed-up ({label})"] <= row[f"speed-up high ({label})"]
    assert rows[0]["speed-up (all users)"] == 1.0


def test_pareto_front_marks_non_dominated_points():
    sizes = [10, 5, 5, 20, 1]
    quality = [0.9, 0.8, 0.7, 0.9, 0.1]
    assert frontier.pareto_front(sizes, quality).tolist() == [True, True, False, False, True]
    assert frontier.pareto_front([3, 3], [0.5, 0.5]).tolist() == [True, True]  # equal points do not dominate
    with pytest.raises(ValueError, match="one length"):
        frontier.pareto_front([1, 2], [0.5])
    with pytest.raises(ValueError, match="finite"):
        frontier.pareto_front([1, np.inf], [0.5, 0.6])


def test_rank_correlation_over_shared_methods():
    a = {"x": 1.0, "y": 2.0, "z": 3.0, "only a": 9.0}
    assert frontier.rank_correlation(a, {"x": 10, "y": 20, "z": 30}) == pytest.approx(1.0)
    assert frontier.rank_correlation(a, {"z": 1, "y": 2, "x": 3}) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="at least 3"):
        frontier.rank_correlation(a, {"x": 1, "y": 2})


def test_bad_entries_are_explained(table, split):
    ease, entries, _ = table
    with pytest.raises(TypeError, match="Entry"):
        frontier.frontier_rows(ease, {"m": entries["sparse"].model}, split)
    with pytest.raises(TypeError, match="non-empty mapping"):
        frontier.frontier_rows(ease, {}, split)
    with pytest.raises(ValueError, match="names the reference"):
        frontier.frontier_rows(ease, {"dense EASE": entries["sparse"]}, split)


def test_write_csv_round_trips_and_leaves_the_old_file_on_failure(table, tmp_path):
    *_, rows = table
    path = tmp_path / "out" / "frontier.csv"
    frontier.write_csv(rows, path)
    with open(path) as file:
        read = list(csv.DictReader(file))
    assert tuple(read[0]) == frontier.COLUMNS and len(read) == len(rows)
    before = path.read_text()
    with pytest.raises(ValueError):
        frontier.write_csv([rows[0], {"unexpected": 1}], path)
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir()] == ["frontier.csv"]  # no temporary left behind
    with pytest.raises(ValueError, match="no rows"):
        frontier.write_csv([], path)
