"""The floor every model must clear: recommend what is popular."""

from __future__ import annotations

import numpy as np

from .base import Recommender

__all__ = ["MostPopular"]


class MostPopular(Recommender):
    """Scores every item by its number of training interactions, the same for every user.

    Attributes:
        popularity_: (n_items,) float32, interactions per item in the training matrix.
    """

    popularity_ = None

    def _fit(self, user_items) -> None:
        counts = np.diff(user_items.tocsc().indptr)  # stored cells per column
        self.popularity_ = counts.astype(np.float32)

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        return np.tile(self.popularity_, (len(user_ids), 1))

    def _inference_arrays(self) -> dict:
        return {"popularity_": self.popularity_}
