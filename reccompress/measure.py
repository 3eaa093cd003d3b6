"""Size and speed, measured one way everywhere.

Size is bytes actually held by the arrays a model needs at inference (:func:`nbytes`).
Latency is the median of repeated calls after warm-up, at a stated thread count
(:func:`latency`); it is always printed together with its conditions.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._checks import check_positive_int, describe

__all__ = ["Latency", "latency", "nbytes"]


def nbytes(*arrays) -> int:
    """Bytes held by numpy arrays, scipy sparse matrices and torch tensors, summed.

    A CSR/CSC matrix counts its values, indices and index pointer; a COO matrix its values
    and both coordinate arrays; a tensor ``numel * element_size``; any other object its integer
    ``nbytes`` attribute (a :class:`~reccompress.storage.Bitmap`, a model). ``None`` counts zero.
    """
    total = 0
    for array in arrays:
        if array is None:
            continue
        if isinstance(array, np.ndarray):
            total += array.nbytes
        elif sp.issparse(array):
            if array.format in ("csr", "csc", "bsr"):
                total += array.data.nbytes + array.indices.nbytes + array.indptr.nbytes
            elif array.format == "coo":
                total += array.data.nbytes + sum(coord.nbytes for coord in array.coords)
            else:
                raise TypeError(f"nbytes does not know the {array.format.upper()} format; convert to CSR first")
        elif hasattr(array, "element_size") and hasattr(array, "numel"):
            total += array.element_size() * array.numel()
        elif isinstance(getattr(array, "nbytes", None), int):  # e.g. a Bitmap, or a model
            total += array.nbytes
        else:
            raise TypeError(f"nbytes expects numpy arrays, scipy sparse matrices or torch tensors; got {describe(array)}")
    return int(total)


@dataclass(frozen=True)
class Latency:
    """Repeated wall-clock timings of one call.

    Attributes:
        times: seconds taken by each timed repeat (warm-up calls excluded).
        threads: the thread count in force during the measurement.
        warmup: number of untimed calls made first.
    """

    times: tuple[float, ...]
    threads: int
    warmup: int

    @property
    def median(self) -> float:
        """Median seconds per call: the number to quote."""
        return statistics.median(self.times)

    @property
    def spread(self) -> tuple[float, float]:
        """(fastest, slowest) seconds per call."""
        return min(self.times), max(self.times)

    def __str__(self) -> str:
        low, high = self.spread
        return (
            f"median {_fmt(self.median)} (range {_fmt(low)}-{_fmt(high)}) over {len(self.times)} runs "
            f"after {self.warmup} warm-up, {self.threads} thread(s)"
        )


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def latency(fn: Callable[[], object], *, repeats: int = 7, warmup: int = 1, threads: int = 1) -> Latency:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones, at ``threads`` threads.

    The thread count of torch and of the BLAS pools is set for the measurement and restored
    afterwards, so that numbers taken in one run are comparable. Quote the median, and compare
    methods by ratios measured in the same run: these machines are shared and noisy.
    """
    repeats = check_positive_int(repeats, "repeats")
    warmup = check_positive_int(warmup, "warmup", minimum=0)
    threads = check_positive_int(threads, "threads")
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            for _ in range(warmup):
                fn()
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return Latency(times=tuple(times), threads=threads, warmup=warmup)
