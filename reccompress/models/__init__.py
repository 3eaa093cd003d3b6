"""Recommenders that answer one protocol: fit, score, recommend, nbytes (see ``base``)."""

from .base import Recommender
from .baselines import MostPopular
from .factorization import PureSVD
from .itemitem import EASE, ItemKNN

__all__ = ["EASE", "ItemKNN", "MostPopular", "PureSVD", "Recommender"]
