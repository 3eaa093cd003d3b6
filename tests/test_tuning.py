import numpy as np
import pytest

from reccompress import models, splits, tuning


def test_grid_search_keeps_the_best_validation_setting(user_items):
    validation = splits.random_holdout(user_items, 0.5, seed=0)
    result = tuning.grid_search(models.EASE, {"l2": [0.1, 10.0, 1000.0]}, validation, metric="ndcg@2", ks=(2,), progress=False)
    scores = [trial[1]["ndcg@2"] for trial in result.trials]
    assert len(result.trials) == 3
    assert result.best_score == max(scores)
    assert result.best_params == {"l2": [0.1, 10.0, 1000.0][int(np.argmax(scores))]}


def test_grid_search_names_unknown_metric(user_items):
    validation = splits.random_holdout(user_items, 0.5, seed=0)
    with pytest.raises(ValueError, match="metric 'auc' is not one of"):
        tuning.grid_search(models.EASE, {"l2": [1.0]}, validation, metric="auc", ks=(2,), progress=False)


def test_grid_search_rejects_empty_grid(user_items):
    with pytest.raises(ValueError, match="non-empty list"):
        tuning.grid_search(models.EASE, {"l2": []}, None)


def test_grid_search_explains_bad_arguments(user_items):
    from reccompress import models, splits

    validation = splits.random_holdout(user_items, 0.4, seed=0)
    with pytest.raises(TypeError, match="make_model must be a function"):
        tuning.grid_search("EASE", {"l2": [1.0]}, validation)
    with pytest.raises(ValueError, match=r"grid\['l2'\] must be a non-empty list of values"):
        tuning.grid_search(models.EASE, {"l2": 1.0}, validation)
    with pytest.raises(TypeError, match="validation must be a Split"):
        tuning.grid_search(models.EASE, {"l2": [1.0]}, user_items)
