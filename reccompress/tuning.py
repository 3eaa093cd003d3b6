"""Choosing hyper-parameters on a validation split, never on the test split.

Typical use: carve a validation split out of the training data with
``splits.random_holdout(split.train, ...)``, search a grid on it, then refit the best setting
on the whole training matrix and evaluate once on the test split.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from . import metrics
from ._checks import check_callable, describe

__all__ = ["GridSearchResult", "grid_search"]


@dataclass(frozen=True)
class GridSearchResult:
    """Outcome of :func:`grid_search`.

    Attributes:
        best_params: the setting with the highest validation ``metric``.
        best_score: its validation ``metric``.
        metric: the name of the metric maximised.
        trials: every ``(params, validation metrics)`` pair, in grid order.
        best_model: the model of the best setting, fitted on ``validation.train`` (its training
            history, e.g. the early-stopped epoch of a neural model, is there).
    """

    best_params: dict
    best_score: float
    metric: str
    trials: list[tuple[dict, dict[str, float]]]
    best_model: object = None


def grid_search(
    make_model: Callable[..., object],
    grid: Mapping[str, Sequence],
    validation,
    metric: str = "ndcg@10",
    ks: Sequence[int] = (10, 20),
    progress: bool = True,
    early_stopping: bool = False,
) -> GridSearchResult:
    """Fit ``make_model(**params)`` on ``validation.train`` for every setting in ``grid`` and keep
    the one with the best ``metric`` on ``validation.test``. Ties keep the earlier setting.

    Args:
        make_model: builds an unfitted model from keyword hyper-parameters (e.g. a class).
        grid: ``{"name": [values, ...]}``; the search covers their Cartesian product.
        validation: a Split carved out of the training data.
        metric: a key of :func:`reccompress.metrics.evaluate`'s result.
        ks: list lengths evaluated.
        progress: show a progress bar.
        early_stopping: fit neural models with ``fit(validation.train, validation=validation)``,
            so they early-stop on the same held-out part the grid is judged on (the number of
            epochs is then chosen on validation too: ``best_model.history_.best_epoch``).
    """
    check_callable(make_model, "make_model", "a function (or class) building an unfitted model from keyword arguments")
    if not isinstance(grid, Mapping) or not grid:
        raise TypeError(f"grid must be a non-empty mapping {{name: [values, ...]}}; got {describe(grid)}")
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"grid[{name!r}] must be a non-empty list of values, e.g. [100.0, 500.0]; got {values!r}")
    if not (hasattr(validation, "train") and hasattr(validation, "test")):
        raise TypeError(f"validation must be a Split carved out of the training data; got {describe(validation)}")
    names = list(grid)
    settings = [dict(zip(names, values)) for values in itertools.product(*grid.values())]
    from tqdm import tqdm  # plain text bar: tqdm.auto warns in notebooks without ipywidgets

    trials = []
    best_params, best_score, best_model = None, float("-inf"), None
    for params in tqdm(settings, desc=f"grid search on {metric}", disable=not progress, leave=False):
        model = make_model(**params)
        if early_stopping:
            model.fit(validation.train, validation=validation)
        else:
            model.fit(validation.train)
        result = metrics.evaluate(model, validation, ks=ks)
        if metric not in result:
            raise ValueError(f"metric {metric!r} is not one of {sorted(result)}")
        trials.append((params, result))
        if result[metric] > best_score:
            best_params, best_score, best_model = params, result[metric], model
    return GridSearchResult(best_params=best_params, best_score=best_score, metric=metric, trials=trials,
                            best_model=best_model)
