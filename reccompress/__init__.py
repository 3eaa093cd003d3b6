"""reccompress: the library behind the RecCompress book.

Chapters import it as ``from reccompress import data, splits, metrics, models``. Submodules are
imported on first use (as scikit-learn does), so ``import reccompress.data`` stays cheap: it
does not import torch, which only the neural models and the pruning verbs need.
"""

from ._lazy import lazy_submodules

__version__ = "0.1.0"
__all__ = [
    "compare", "compress", "data", "frontier", "measure", "metrics", "models", "presets", "report", "repro", "splits",
    "storage", "svd", "synthetic", "train", "tuning",
]
__getattr__, __dir__ = lazy_submodules(__name__, __all__)
