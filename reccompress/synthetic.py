"""Seeded synthetic interaction matrices, for sizes no public dataset reaches.

Built row by row in sparse form: a 10^6 x 10^5 catalogue is never materialised densely.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._checks import check_non_negative, check_positive_int, check_seed

__all__ = ["power_law_interactions"]


def power_law_interactions(
    n_users: int, n_items: int, mean_per_user: float, exponent: float = 1.0, seed: int = 0
) -> sp.csr_array:
    """A random 0/1 (n_users, n_items) CSR matrix with a long-tailed item popularity.

    Item ``i`` (0 = most popular) is drawn with probability proportional to
    ``(i + 1) ** -exponent`` (Zipf's law); each user's number of draws is geometric with mean
    ``mean_per_user`` (at least one). Repeated draws of an item by one user count once, so the
    realised mean is slightly below ``mean_per_user`` (some users draw a popular item twice).

    Returns:
        float32 CSR with int32 indices when they fit (int64 otherwise), sorted indices.
    """
    n_users = check_positive_int(n_users, "n_users")
    n_items = check_positive_int(n_items, "n_items")
    exponent = check_non_negative(exponent, "exponent")
    mean_per_user = check_non_negative(mean_per_user, "mean_per_user")
    if not mean_per_user >= 1:
        raise ValueError(f"mean_per_user must be at least 1; got {mean_per_user}")
    rng = np.random.default_rng(check_seed(seed))
    popularity = (np.arange(1, n_items + 1, dtype=np.float64)) ** -exponent
    cumulative = np.cumsum(popularity / popularity.sum())
    per_user = rng.geometric(1.0 / mean_per_user, size=n_users)
    rows = np.repeat(np.arange(n_users), per_user)
    items = np.minimum(np.searchsorted(cumulative, rng.random(rows.size)), n_items - 1)
    matrix = sp.csr_array((np.ones(rows.size, dtype=np.float32), (rows, items)), shape=(n_users, n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    if matrix.nnz < 2**31 and n_items < 2**31:
        matrix.indices = matrix.indices.astype(np.int32)
        matrix.indptr = matrix.indptr.astype(np.int32)
    return matrix
