"""Recommenders that answer one protocol: fit, score, recommend, nbytes (see ``base``).

The classical models are numpy/scipy; the neural ones (``BPRMF``, ``ItemOnlyMF``, ``NCF``) import torch, and
are loaded only when first used, so ``from reccompress.models import EASE`` stays cheap.
"""

from .base import Recommender
from .baselines import MostPopular
from .factorization import BiasedMF, ImplicitALS, PureSVD
from .itemitem import EASE, ItemKNN

__all__ = ["BPRMF", "EASE", "NCF", "BiasedMF", "ImplicitALS", "ItemKNN", "ItemOnlyMF", "MostPopular", "NeuralRecommender",
           "PureSVD", "Recommender"]

_NEURAL = ("BPRMF", "ItemOnlyMF", "NCF", "NeuralRecommender")


def __getattr__(name):
    if name in _NEURAL:
        from . import neural

        return getattr(neural, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_NEURAL))
