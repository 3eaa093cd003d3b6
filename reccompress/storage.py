"""How a user x item matrix can be stored, and what each way costs in bytes.

Formats: ``dense`` (every cell), ``bitmap`` (one bit per cell, for 0/1 data), ``coo`` (row,
column, value per non-zero), ``csr`` / ``csc`` (values and column/row indices per non-zero, plus
one pointer per row/column). :func:`predicted_nbytes` gives the arithmetic; :func:`store`
materialises a matrix in a format so that ``measure.nbytes`` can check the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_integer, check_positive_int, check_user_items, describe

__all__ = ["FORMATS", "Bitmap", "crossover_density", "predicted_nbytes", "store"]

FORMATS = ("dense", "bitmap", "coo", "csr", "csc")


@dataclass(frozen=True, eq=False)
class Bitmap:
    """A 0/1 matrix packed eight cells to a byte, row-major.

    Attributes:
        bits: (ceil(n_rows * n_cols / 8),) uint8.
        shape: (n_rows, n_cols).
    """

    bits: np.ndarray
    shape: tuple[int, int]

    @property
    def nbytes(self) -> int:
        return self.bits.nbytes

    @classmethod
    def from_csr(cls, matrix) -> "Bitmap":
        """Pack the stored cells of a CSR matrix without ever building it densely."""
        n_rows, n_cols = matrix.shape
        rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(matrix.indptr))
        flat = rows * n_cols + matrix.indices
        bits = np.zeros((n_rows * n_cols + 7) // 8, dtype=np.uint8)
        np.bitwise_or.at(bits, flat // 8, (128 >> (flat % 8)).astype(np.uint8))
        return cls(bits, (n_rows, n_cols))

    def row(self, index: int) -> np.ndarray:
        """Column indices set in one row, ascending."""
        index = check_integer(index, "index")
        if not 0 <= index < self.shape[0]:
            raise IndexError(f"row index must lie in [0, {self.shape[0]}) for a bitmap of shape {self.shape}; got {index}")
        n_cols = self.shape[1]
        start, stop = index * n_cols, (index + 1) * n_cols
        unpacked = np.unpackbits(self.bits[start // 8 : (stop + 7) // 8])
        offset = start % 8
        return np.flatnonzero(unpacked[offset : offset + n_cols])


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown storage format {fmt!r}; valid formats are {', '.join(FORMATS)}")


def _check_shape(shape) -> tuple[int, int]:
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) != 2:
        raise TypeError(f"shape must be a pair (n_rows, n_cols); got {describe(shape)}")
    return check_positive_int(shape[0], "n_rows"), check_positive_int(shape[1], "n_cols")


def _check_dtypes(value_dtype, index_dtype):
    value = None if value_dtype is None else np.dtype(value_dtype)
    if value is not None and not (np.issubdtype(value, np.number) or value == np.bool_):
        raise TypeError(f"value_dtype must be a numeric dtype such as np.float32 (or None); got {value}")
    index = np.dtype(index_dtype)
    if not np.issubdtype(index, np.integer):
        raise TypeError(f"index_dtype must be an integer dtype such as np.int32; got {index}")
    return value, index


def _check_index_capacity(index, fmt: str, shape, nnz: int) -> None:
    """Refuse an index dtype too small for the indices (or pointers) a format must store."""
    if fmt in ("dense", "bitmap"):
        return
    n_rows, n_cols = shape
    largest = {"coo": max(n_rows, n_cols) - 1, "csr": max(n_cols - 1, nnz), "csc": max(n_rows - 1, nnz)}[fmt]
    if largest > np.iinfo(index).max:
        raise ValueError(
            f"index_dtype {index} holds values up to {np.iinfo(index).max:,}, but {fmt.upper()} of a {n_rows} x {n_cols} "
            f"matrix with {nnz:,} non-zeros needs {largest:,}; use a wider index dtype such as np.int32 or np.int64"
        )


def predicted_nbytes(shape, nnz: int, fmt: str, value_dtype=np.float32, index_dtype=np.int32) -> int:
    """Bytes a (n_rows, n_cols) matrix with ``nnz`` non-zeros takes in ``fmt``.

    ``value_dtype=None`` stores no values (0/1 data: the pattern is the information).
    CSR keeps ``n_rows + 1`` row pointers, CSC ``n_cols + 1`` column pointers, both in
    ``index_dtype``; the bitmap ignores both dtypes.
    """
    _check_format(fmt)
    n_rows, n_cols = _check_shape(shape)
    nnz = check_integer(nnz, "nnz (a count of non-zeros; round a density times the cells)")
    if not 0 <= nnz <= n_rows * n_cols:
        raise ValueError(f"nnz must lie in [0, {n_rows * n_cols:,}] for a {n_rows} x {n_cols} matrix; got {nnz:,}")
    value_type, index_type = _check_dtypes(value_dtype, index_dtype)
    _check_index_capacity(index_type, fmt, (n_rows, n_cols), nnz)
    return _bytes(n_rows, n_cols, nnz, fmt, value_type, index_type)


def _bytes(n_rows: int, n_cols: int, nnz: int, fmt: str, value_type, index_type) -> int:
    """The byte arithmetic of :func:`predicted_nbytes`, on checked arguments."""
    value = 0 if value_type is None else value_type.itemsize
    index = index_type.itemsize
    if fmt == "dense":
        return n_rows * n_cols * (value or 1)
    if fmt == "bitmap":
        return (n_rows * n_cols + 7) // 8
    if fmt == "coo":
        return nnz * (value + 2 * index)
    pointers = (n_rows if fmt == "csr" else n_cols) + 1
    return nnz * (value + index) + pointers * index


def crossover_density(shape, fmt: str, than: str = "dense", value_dtype=np.float32, index_dtype=np.int32) -> float:
    """The density at which ``fmt`` and ``than`` take the same bytes (sparse formats win below it).

    Both byte counts are linear in nnz, so the crossover solves one linear equation.
    """
    _check_format(fmt)
    _check_format(than)
    n_rows, n_cols = _check_shape(shape)
    value_type, index_type = _check_dtypes(value_dtype, index_dtype)
    n_cells = n_rows * n_cols
    at = {nnz: _bytes(n_rows, n_cols, nnz, fmt, value_type, index_type)
          - _bytes(n_rows, n_cols, nnz, than, value_type, index_type) for nnz in (0, n_cells)}
    # difference(nnz) = at[0] + slope * nnz; zero at nnz = -at[0] / slope
    slope = (at[n_cells] - at[0]) / n_cells
    if slope == 0:
        raise ValueError(f"{fmt} and {than} grow at the same rate; they never cross")
    return float(-at[0] / slope / n_cells)


def store(user_items, fmt: str, value_dtype=np.float32, index_dtype=np.int32):
    """``user_items`` materialised in ``fmt``: a numpy array, a :class:`Bitmap`, or a scipy
    sparse matrix with the given value and index dtypes (``measure.nbytes`` counts any of them)."""
    check_user_items(user_items)
    _check_format(fmt)
    value_type, index_type = _check_dtypes(value_dtype, index_dtype)
    _check_index_capacity(index_type, fmt, user_items.shape, user_items.nnz)
    if fmt == "bitmap":
        return Bitmap.from_csr(user_items)
    if fmt == "dense":
        return user_items.toarray().astype(bool if value_dtype is None else value_dtype)
    if value_dtype is None:
        raise ValueError(f"scipy's {fmt.upper()} always stores values; pass a value_dtype such as np.float32")
    converted = {"coo": user_items.tocoo, "csr": user_items.copy, "csc": user_items.tocsc}[fmt]()
    converted = converted.astype(value_dtype)
    if fmt == "coo":
        converted.coords = tuple(c.astype(index_dtype) for c in converted.coords)
    else:
        converted.indices = converted.indices.astype(index_dtype)
        converted.indptr = converted.indptr.astype(index_dtype)
    return converted
