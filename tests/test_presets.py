import pytest

from reccompress import presets, splits
from reccompress.train import TrainSettings


def test_reference_split_is_chapter_1s(ml100k, movielens_home):
    split = presets.reference_split(movielens_home)
    expected = splits.random_holdout(ml100k.matrix("implicit"), test_fraction=0.2, seed=42)
    assert (split.train != expected.train).nnz == 0 and (split.test != expected.test).nnz == 0
    validation = presets.validation_split(movielens_home)
    assert validation.train.nnz + validation.test.nnz == split.train.nnz


def test_presets_build_unfitted_models_with_the_chosen_settings():
    teacher = presets.teacher(seed=2)
    assert teacher.module_ is None and teacher.rank == presets.TEACHER["rank"]
    assert teacher.training == TrainSettings(lr=presets.TEACHER["lr"], l2=presets.TEACHER["l2"],
                                             epochs=presets.TEACHER["epochs"], validation_fraction=0.0, seed=2)
    assert presets.ease().l2 == presets.EASE["l2"] and presets.pure_svd().rank == presets.PURE_SVD["rank"]
    assert presets.item_knn().k == presets.ITEM_KNN["k"]
    assert presets.implicit_als().get_params()["alpha"] == presets.IMPLICIT_ALS["alpha"]
    assert presets.ncf().hidden == presets.NCF["hidden"] and presets.ncf().training.eval_every == 2


def test_presets_agree_with_the_tuning_benchmark():
    """The settings Chapter 4 loads are the ones benchmarks/tune_neural.py chose on validation."""
    import json
    from pathlib import Path

    report = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "tuning_neural.json").read_text())
    for name, preset in (("bpr_mf", presets.TEACHER), ("ncf", presets.NCF), ("bpr_mf_latest", presets.TEACHER_LATEST)):
        chosen = report["models"][name]["chosen"]
        assert {key: preset[key] for key in ("lr", "l2", "epochs")} == chosen
        assert all(report["models"][name]["interior"].values()), f"{name}: the chosen point is at an edge of the grid"


def test_the_second_dataset_has_its_own_split_and_teacher(movielens_home):
    split = presets.reference_split(movielens_home, dataset="ml-latest-small")
    assert split.train.shape[0] == 610 and split.train.nnz + split.test.nnz == 100836
    assert presets.teacher(dataset="ml-latest-small").training.epochs == presets.TEACHER_LATEST["epochs"]
    assert presets.pure_svd(dataset="ml-latest-small").rank == presets.PURE_SVD_LATEST["rank"]
    with pytest.raises(ValueError, match="dataset must be one of"):
        presets.pure_svd(dataset="ml-1m")
    with pytest.raises(ValueError, match="dataset must be one of"):
        presets.reference_split(movielens_home, dataset="netflix")
