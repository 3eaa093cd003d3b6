"""The recommender protocol every model in the book answers, classical or torch.

- ``fit(user_items) -> self``: learn from a (n_users, n_items) CSR matrix.
- ``score(user_ids) -> (len(user_ids), n_items) float32``: a score for every item.
- ``recommend(user_ids, k, exclude=...) -> (item_ids, scores)``: the top k, seen items excluded.
- ``nbytes``: bytes of the arrays the model needs at inference, counted from what it stores:
  the sum of :meth:`Recommender.inference_arrays`.

A model keeps a reference to its training matrix as ``user_items_``: item-item and fold-in
models score a user from their history. That history is the model's input, not part of the
model, so ``nbytes`` does not count it (Chapter 2 measures what storing it costs).
Constructors only store hyper-parameters; everything learned ends in ``_``.

Matrix-factorization models (PureSVD, ImplicitALS, BiasedMF, BPR-MF, and the compressed
factor models of :mod:`reccompress.compress.base`) all expose their factors the same way:
``item_factors_`` (n_items, rank) and ``user_factors_`` (n_users, rank) float32 arrays, with
``user_factors_ = None`` for a model that folds a user's history in instead (PureSVD).
"""

from __future__ import annotations

import inspect

import numpy as np

from .._checks import check_fitted, check_ids, check_positive_int, check_user_items
from ..measure import nbytes as count_bytes
from ..metrics import mask_seen, top_k

__all__ = ["ModuleScoring", "Recommender"]


class Recommender:
    """Base class: validation, ``recommend`` and ``nbytes`` are shared; subclasses write
    ``_fit``, ``_score`` and ``inference_arrays``."""

    user_items_ = None

    def fit(self, user_items) -> "Recommender":
        """Learn from ``user_items``, a (n_users, n_items) CSR matrix (ones or ratings)."""
        check_user_items(user_items, non_empty=True)
        self._fit(user_items)
        self.user_items_ = user_items
        return self

    def score(self, user_ids) -> np.ndarray:
        """Scores of every item for each user: (len(user_ids), n_items) float32."""
        check_fitted(self, "user_items_")
        user_ids = check_ids(user_ids, "user_ids", self.user_items_.shape[0])
        return self._score(user_ids)

    def recommend(self, user_ids, k: int = 10, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best items for each user, best first, ties to the lower item index.

        Args:
            user_ids: (n,) user indices.
            k: list length.
            exclude: (n_users, n_items) CSR matrix of items never to recommend; defaults to
                the training matrix (items already seen).

        Returns:
            ``(item_ids, scores)``: (n, k) int64 and (n, k) float32. A user with fewer than
            ``k`` allowed items gets excluded items at the end, with score ``-inf``.
        """
        check_fitted(self, "user_items_")
        user_ids = check_ids(user_ids, "user_ids", self.user_items_.shape[0])
        k = check_positive_int(k, "k", maximum=self.user_items_.shape[1])
        if exclude is None:
            exclude = self.user_items_
        check_user_items(exclude, "exclude", shape=self.user_items_.shape)
        scores = mask_seen(self._score(user_ids).astype(np.float32), exclude[user_ids])
        items = top_k(scores, k)
        return items, np.take_along_axis(scores, items, axis=1)

    def inference_arrays(self) -> dict:
        """``{name: array}`` of everything scoring needs: numpy arrays, sparse matrices, storage
        tables or torch modules. ``nbytes`` is their total; the training history is not in it."""
        check_fitted(self, "user_items_")
        return self._inference_arrays()

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays needed at inference (the user history excluded)."""
        return count_bytes(*self.inference_arrays().values())

    def _fit(self, user_items) -> None:
        raise NotImplementedError

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _inference_arrays(self) -> dict:
        raise NotImplementedError

    def get_params(self) -> dict:
        """The constructor's hyper-parameters: ``type(model)(**model.get_params())`` is an unfitted copy."""
        parameters = inspect.signature(type(self).__init__).parameters.values()
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        names = [p.name for p in parameters if p.name != "self" and p.kind in kinds]
        return {name: getattr(self, name) for name in names}

    # Settings that change how a model is computed or displayed, not what it is: left out of
    # ``repr`` while at their defaults, so tables of models stay readable.
    _quiet_defaults = ("solver", "progress", "objective", "embeddings")

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = {
            name: value
            for name, value in self.get_params().items()
            if not (name in self._quiet_defaults and value == defaults.get(name))
        }
        return f"{type(self).__name__}({', '.join(f'{n}={v!r}' for n, v in shown.items())})"


class ModuleScoring:
    """Scoring for recommenders backed by a torch module ``module_`` with ``score_users``: shared
    by the trained neural models and the compressed ones built from a module. Torch is imported
    only when a score is asked for."""

    module_ = None

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.module_.score_users(torch.as_tensor(user_ids, dtype=torch.long)).numpy().astype(np.float32)

    def _inference_arrays(self) -> dict:
        return {"module_": self.module_}

    @property
    def n_parameters(self) -> int:
        """Numbers held by the module's parameters (a pruned layer's original weight counts once)."""
        check_fitted(self, "module_")
        return int(sum(p.numel() for p in self.module_.parameters()))
