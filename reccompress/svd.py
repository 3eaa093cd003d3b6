"""Truncated SVD: the best rank-r approximation of a matrix, and two ways to compute it.

By the Eckart–Young–Mirsky theorem, keeping the r largest singular triplets of A = U S V^T
gives the rank-r matrix closest to A, and the error left is exactly the discarded tail of the
spectrum: ||A - A_r||_F^2 = sum_{i>r} s_i^2 and ||A - A_r||_2 = s_{r+1}.

- :func:`truncated_svd` with ``solver="lapack"`` takes numpy's full SVD and keeps the top
  (exact, but it pays for every triplet); with ``solver="arpack"`` it wraps
  ``scipy.sparse.linalg.svds`` (an iterative Lanczos method: it touches A only through
  products A x and A^T y, one vector at a time);
- :func:`randomized_svd` is the randomized range finder of Halko, Martinsson and Tropp (2011),
  written out here because the book teaches it: sketch the range of A with a few random
  vectors, sharpen the sketch with power iterations, and take an exact SVD of the small
  projected matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from ._checks import check_positive_int, check_rank, check_seed, describe

__all__ = ["SOLVERS", "randomized_svd", "tail_error", "truncated_svd"]

SOLVERS = ("lapack", "arpack", "randomized")


def _check_matrix(matrix, name: str = "matrix"):
    if not (sp.issparse(matrix) or isinstance(matrix, np.ndarray)) or matrix.ndim != 2:
        raise TypeError(f"{name} must be a 2-D numpy array or scipy.sparse matrix; got {describe(matrix)}")
    values = matrix.data if sp.issparse(matrix) else matrix
    if not np.issubdtype(values.dtype, np.number) or not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must hold finite real numbers; got {describe(matrix)} with NaN, infinite or non-numeric values")
    if min(matrix.shape) < 2:
        raise ValueError(f"{name} must have at least 2 rows and 2 columns to truncate; got shape {matrix.shape}")
    return matrix


def randomized_svd(matrix, rank: int, oversamples: int | None = None, power_iterations: int = 4, seed: int = 0):
    """The ``rank`` leading singular triplets of ``matrix`` by a randomized range finder.

    Steps (Halko et al., 2011, Algorithms 4.4 and 5.1), with l = rank + oversamples:
    1. Y = A G for a Gaussian (n, l) matrix G: the columns of Y span (almost) the leading
       range of A;
    2. ``power_iterations`` times, Y = A (A^T Q) with Q re-orthonormalised between products:
       each pass raises the singular values to a higher power, so the leading directions
       dominate the trailing ones even when the spectrum decays slowly;
    3. Q = orth(Y), B = Q^T A (l x n, small), exact SVD B = U' S V^T, U = Q U'.

    The number of products with A is 2 + 2 * power_iterations, whatever the rank.

    Args:
        matrix: (m, n) numpy array or scipy.sparse matrix.
        rank: triplets returned, below min(m, n).
        oversamples: extra random directions beyond ``rank``; ``None`` means ``rank`` (the
            sketch is twice as wide as the answer). The textbook 10 suits fast-decaying
            spectra; interaction data decays slowly and needs more (Chapter 3 measures it).
        power_iterations: passes of the power scheme (more = more accurate, each costs two
            products with A).
        seed: seed of the Gaussian test matrix.

    Returns:
        ``(u, s, vt)``: (m, rank), (rank,) decreasing, (rank, n), float64.
    """
    matrix = _check_matrix(matrix)
    rank = check_rank(rank, matrix.shape)
    oversamples = rank if oversamples is None else check_positive_int(oversamples, "oversamples", minimum=0)
    power_iterations = check_positive_int(power_iterations, "power_iterations", minimum=0)
    a = matrix.astype(np.float64)
    width = min(rank + oversamples, min(a.shape))
    rng = np.random.default_rng(check_seed(seed))
    y = a @ rng.standard_normal((a.shape[1], width))
    for _ in range(power_iterations):
        # Re-normalise between products: without it, rounding erases all but the top direction.
        # Any well-conditioned basis of the same span will do, and the L factor of a pivoted
        # LU is several times cheaper than a QR (Voronin and Martinsson, 2015).
        z = scipy.linalg.lu(a.T @ scipy.linalg.lu(y, permute_l=True)[0], permute_l=True)[0]
        y = a @ z
    q, _ = np.linalg.qr(y)  # one orthonormal basis at the end
    small = np.asarray((a.T @ q).T)  # Q^T A, (width, n): computed as (A^T Q)^T so sparse A stays on the left
    u_small, s, vt = np.linalg.svd(small, full_matrices=False)
    return q @ u_small[:, :rank], s[:rank], vt[:rank]


def truncated_svd(matrix, rank: int, solver: str = "arpack", seed: int = 0, **options):
    """The ``rank`` leading singular triplets of ``matrix``, largest first.

    Args:
        matrix: (m, n) numpy array or scipy.sparse matrix.
        rank: triplets kept, below min(m, n).
        solver: ``"lapack"`` (full ``numpy.linalg.svd``, then truncated), ``"arpack"``
            (``scipy.sparse.linalg.svds``; ``options`` may set its ``tol``, 0 = machine precision)
            or ``"randomized"`` (:func:`randomized_svd`; ``options`` are passed to it).
        seed: seed of the solver's random start.

    Returns:
        ``(u, s, vt)``: (m, rank), (rank,) decreasing, (rank, n), float64.
    """
    matrix = _check_matrix(matrix)
    rank = check_rank(rank, matrix.shape)
    seed = check_seed(seed)
    if solver == "randomized":
        return randomized_svd(matrix, rank, seed=seed, **options)
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}")
    if solver == "lapack" and options:
        raise TypeError(f"the lapack solver takes no extra options; got {sorted(options)}")
    unknown = sorted(set(options) - {"tol"})
    if solver == "arpack" and unknown:
        raise TypeError(f"the arpack solver takes only tol (its convergence tolerance); got {unknown}")
    if solver == "lapack":
        dense = matrix.toarray() if sp.issparse(matrix) else matrix
        u, s, vt = np.linalg.svd(np.asarray(dense, dtype=np.float64), full_matrices=False)
        return u[:, :rank], s[:rank], vt[:rank]
    u, s, vt = svds(matrix.astype(np.float64), k=rank, random_state=seed, **options)
    order = np.argsort(-s)  # svds returns them in increasing order
    return u[:, order], s[order], vt[order]


def tail_error(singular_values, rank: int) -> tuple[float, float]:
    """Errors of the best rank-``rank`` approximation, read off the full spectrum.

    Args:
        singular_values: every singular value of the matrix, (min(m, n),), any order.
        rank: triplets kept.

    Returns:
        ``(frobenius, spectral)``: sqrt(sum of the discarded s_i^2) and the largest discarded s_i.
    """
    values = np.asarray(singular_values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)) or (values < 0).any():
        raise ValueError(f"singular_values must be a non-empty 1-D array of finite values >= 0; got {describe(singular_values)}")
    values = np.sort(values)[::-1]
    rank = check_positive_int(rank, "rank", minimum=0, maximum=values.size)
    tail = values[rank:]
    return float(np.sqrt(np.sum(tail**2))), float(tail[0]) if tail.size else 0.0

