"""reccompress: the library behind the RecCompress book.

Chapters import it as ``from reccompress import data, splits, metrics, models``.
"""

from . import compress, data, measure, metrics, models, report, repro, splits, storage, svd, synthetic, train, tuning

__version__ = "0.1.0"
__all__ = ["compress", "data", "measure", "metrics", "models", "report", "repro", "splits", "storage", "svd", "synthetic", "train", "tuning"]
