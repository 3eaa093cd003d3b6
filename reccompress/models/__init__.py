"""Recommenders that answer one protocol: fit, score, recommend, nbytes (see ``base``)."""

from .base import Recommender
from .baselines import MostPopular
from .factorization import BiasedMF, ImplicitALS, PureSVD
from .itemitem import EASE, ItemKNN
from .neural import BPRMF, NCF, NeuralRecommender

__all__ = ["BPRMF", "EASE", "NCF", "BiasedMF", "ImplicitALS", "ItemKNN", "MostPopular", "NeuralRecommender", "PureSVD", "Recommender"]
