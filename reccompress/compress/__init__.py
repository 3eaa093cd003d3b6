"""Compression verbs: each takes a fitted model and returns a new, smaller one that keeps the
recommender protocol (``score``/``recommend``/``nbytes``). ``base`` holds the storage tables and
the compressed model shapes they form; the other modules hold the verbs. Imported on first use.
"""

from .._lazy import lazy_submodules

__all__ = ["base", "lowrank", "pq", "prune", "qat", "quantize", "sparse"]
__getattr__, __dir__ = lazy_submodules(__name__, __all__)
