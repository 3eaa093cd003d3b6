"""Argument validation shared by every module.

Each check raises an exception whose message says what was expected, what was received,
and how to fix it. Nothing is silently converted: a caller who passes the wrong thing
finds out at the boundary, not from a traceback deep inside numpy, scipy or torch.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp


def describe(value) -> str:
    """A short, human description of ``value`` for error messages."""
    if sp.issparse(value):
        return f"a scipy.sparse {value.format.upper()} {type(value).__name__} of shape {value.shape}"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:200]


def _duplicate_cells(matrix) -> int:
    """Number of (row, column) cells a CSR matrix stores more than once."""
    if matrix.has_canonical_format:  # sorted and unique (scipy computes and caches the flag)
        return 0
    ordered = matrix.copy()
    ordered.has_sorted_indices = False
    ordered.sort_indices()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(ordered.indptr))
    same = (np.diff(ordered.indices) == 0) & (np.diff(rows) == 0)
    return int(same.sum())


def check_user_items(user_items, name: str = "user_items", shape: tuple[int, int] | None = None,
                     *, non_empty: bool = False):
    """Check a (n_users, n_items) interaction matrix and return it unchanged.

    An interaction matrix stores each (user, item) cell at most once, with a positive, finite
    value (1.0 for implicit feedback, a rating otherwise). Anything else is refused rather than
    interpreted: a duplicate cell would count twice in a metric's truth, a stored zero would be
    "seen" by one function and absent for the next, a negative value would be trained on as a
    positive.

    Args:
        user_items: a scipy.sparse CSR matrix or array, users in rows, items in columns.
        name: the argument's name, used in messages.
        shape: the shape it must have, if known (e.g. the shape a model was fitted on).
        non_empty: require at least one interaction (for fitting).

    Raises:
        TypeError: not a CSR sparse matrix.
        ValueError: wrong shape (with a hint when it is the transpose), non-finite, zero or
            negative values, duplicate cells, or no interaction when one is required.
    """
    if not sp.issparse(user_items):
        fix = "build one with scipy.sparse.csr_array(...) or use Interactions.matrix()"
        raise TypeError(f"{name} must be a scipy.sparse CSR matrix (users x items); got {describe(user_items)}; {fix}")
    if user_items.format != "csr":
        raise TypeError(
            f"{name} must be in CSR format (users x items); got {describe(user_items)}; convert it with .tocsr()"
        )
    if user_items.ndim != 2:
        raise ValueError(f"{name} must be 2-D (users x items); got shape {user_items.shape}")
    if shape is not None and tuple(user_items.shape) != tuple(shape):
        hint = ""
        if tuple(user_items.shape) == tuple(shape)[::-1]:
            hint = "; it looks transposed: pass users in rows and items in columns"
        raise ValueError(f"{name} must have shape {tuple(shape)} (n_users, n_items); got {user_items.shape}{hint}")
    values = user_items.data
    if values.size:
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} contains NaN or infinite values; remove or fill them before fitting")
        if (values < 0).any():
            raise ValueError(
                f"{name} must hold interaction strengths >= 0; got {int((values < 0).sum())} negative value(s) "
                f"(smallest {values.min():g}); pass raw counts or ratings, not centred or signed values"
            )
        if (values == 0).any():
            raise ValueError(
                f"{name} stores {int((values == 0).sum())} explicit zero(s): a stored cell means an interaction; "
                "remove them with .eliminate_zeros()"
            )
    duplicates = _duplicate_cells(user_items)
    if duplicates:
        raise ValueError(
            f"{name} stores {duplicates} (user, item) cell(s) more than once; "
            "merge them with .sum_duplicates() (or keep one value per cell)"
        )
    if non_empty and user_items.nnz == 0:
        raise ValueError(f"{name} holds no interactions (shape {user_items.shape}, nothing stored); a model needs data")
    return user_items


def check_integer(value, name: str) -> int:
    """Check a Python or numpy integer (not a bool, not a float) and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {describe(value)}")
    return int(value)


def check_positive_int(value, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """Check an integer hyper-parameter in [minimum, maximum] and return it as ``int``."""
    value = check_integer(value, name)
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise ValueError(f"{name} must be at least {minimum}{upper}; got {value}")
    return value


def check_seed(seed, name: str = "seed") -> int:
    """A random seed: a non-negative integer (numpy generators and torch accept any such)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer such as 0 or 42; got {describe(seed)}")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {seed}")
    return int(seed)


def check_rank(rank, shape, minimum: int = 1) -> int:
    """Check a factorization rank below min(shape): at full rank a factorization compresses nothing."""
    return check_positive_int(rank, "rank", minimum=minimum, maximum=min(shape) - 1)


def check_non_negative(value, name: str) -> float:
    """Check a non-negative finite real number (e.g. a regularization weight)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {describe(value)}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value}")
    return float(value)


def check_fraction(value, name: str, *, low_inclusive: bool = False, high_inclusive: bool = False) -> float:
    """Check a real number in the interval (0, 1), with optionally closed ends."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number between 0 and 1; got {describe(value)}")
    ok_low = value >= 0 if low_inclusive else value > 0
    ok_high = value <= 1 if high_inclusive else value < 1
    if not (ok_low and ok_high):
        interval = ("[" if low_inclusive else "(") + "0, 1" + ("]" if high_inclusive else ")")
        raise ValueError(f"{name} must be in {interval}; got {value}")
    return float(value)


def check_ids(ids, name: str, upper: int) -> np.ndarray:
    """Check a 1-D array of integer ids in [0, upper) and return it as an int64 array."""
    array = np.asarray(ids)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of ids; got an array of shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer ids; got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= upper):
        raise ValueError(
            f"{name} must lie in [0, {upper}); got values from {array.min()} to {array.max()}; "
            "ids are the contiguous 0-based indices of Interactions, not raw MovieLens ids"
        )
    return array.astype(np.int64, copy=False)


def check_int_sequence(values, name: str, example: str, minimum: int = 1) -> tuple[int, ...]:
    """A non-empty sequence of integers >= ``minimum`` (list lengths, layer widths), as a tuple."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a sequence of integers such as {example}; got {describe(values)}")
    if len(values) == 0:
        raise ValueError(f"{name} must hold at least one integer, e.g. {example}; got an empty sequence")
    return tuple(check_positive_int(value, f"each of {name}", minimum=minimum) for value in values)


def check_callable(value, name: str, expected: str) -> None:
    """Refuse a non-callable where a function is expected (``expected`` says which)."""
    if not callable(value):
        raise TypeError(f"{name} must be {expected}; got {describe(value)}")


def check_choice(value, name: str, choices: Sequence) -> None:
    """Refuse a value outside a fixed set of names."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {value!r}")


def check_fitted(model, attribute: str) -> None:
    """Raise a clear error when a model is used before ``fit``."""
    if getattr(model, attribute, None) is None:
        raise RuntimeError(f"{type(model).__name__} is not fitted yet; call .fit(user_items) first")
