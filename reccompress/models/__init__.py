"""Recommenders that answer one protocol: fit, score, recommend, nbytes (see ``base``)."""

from .base import Recommender
from .baselines import MostPopular
from .factorization import BiasedMF, ImplicitALS, PureSVD
from .itemitem import EASE, ItemKNN

__all__ = ["EASE", "BiasedMF", "ImplicitALS", "ItemKNN", "MostPopular", "PureSVD", "Recommender"]
