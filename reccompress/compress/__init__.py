"""Compression verbs: each takes a fitted model and returns a new, smaller one that keeps the
recommender protocol (``fit``/``score``/``recommend``/``nbytes``)."""

from . import lowrank, prune, sparse

__all__ = ["lowrank", "prune", "sparse"]
