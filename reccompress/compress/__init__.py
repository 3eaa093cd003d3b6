"""Compression verbs: each takes a fitted model and returns a new, smaller one that keeps the
recommender protocol (``score``/``recommend``/``nbytes``). ``base`` holds the storage tables and
the compressed model shapes they form; the other modules hold the verbs, except ``embeddings``,
whose tables are smaller by construction and trained from scratch (Chapter 8). Imported on
first use.
"""

from .._lazy import lazy_submodules

__all__ = ["base", "embeddings", "lowrank", "pq", "prune", "qat", "quantize", "sparse"]
__getattr__, __dir__ = lazy_submodules(__name__, __all__)
