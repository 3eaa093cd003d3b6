"""One call that makes a notebook or a benchmark reproducible.

``set_reproducible(seed, threads)`` fixes every source of run-to-run variation the library
knows of: Python's, numpy's and torch's random seeds, torch's deterministic algorithms, and
the number of threads used by torch and by the BLAS behind numpy and scipy. The first cell of
every chapter calls it. Functions that draw random numbers still take their own ``seed``;
this call only removes the variation that no argument controls.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np

from ._checks import check_positive_int, check_seed

__all__ = ["ReproSettings", "set_reproducible"]


@dataclass(frozen=True)
class ReproSettings:
    """What :func:`set_reproducible` fixed; its ``str`` is a line worth printing."""

    seed: int
    threads: int
    torch_version: str

    def __str__(self) -> str:
        return f"seed {self.seed}, {self.threads} thread(s), torch {self.torch_version} (deterministic)"


_blas_limiter = None  # kept alive so the BLAS thread limit stays in force


def set_reproducible(seed: int = 0, threads: int = 1) -> ReproSettings:
    """Fix seeds, torch determinism and thread counts for the whole process.

    Args:
        seed: seed for Python's ``random``, numpy's legacy global generator and torch.
        threads: threads for torch and for the BLAS/OpenMP pools of numpy and scipy. One thread
            is the default: on small models it is both faster and bit-for-bit repeatable.

    Returns:
        The settings applied, printable as one line.
    """
    global _blas_limiter
    seed = check_seed(seed)
    threads = check_positive_int(threads, "threads")
    import torch
    from threadpoolctl import threadpool_limits

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    # Child processes (e.g. data loaders) inherit these; the running pools are limited below.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    _blas_limiter = threadpool_limits(limits=threads)
    return ReproSettings(seed=seed, threads=threads, torch_version=torch.__version__.split("+")[0])
