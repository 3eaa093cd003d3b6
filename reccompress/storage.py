"""How a user x item matrix can be stored, and what each way costs in bytes.

Formats: ``dense`` (every cell), ``bitmap`` (one bit per cell, for 0/1 data), ``coo`` (row,
column, value per non-zero), ``csr`` / ``csc`` (values and column/row indices per non-zero, plus
one pointer per row/column). :func:`predicted_nbytes` gives the arithmetic; :func:`store`
materialises a matrix in a format so that ``measure.nbytes`` can check the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._checks import check_user_items

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
        n_cols = self.shape[1]
        start, stop = index * n_cols, (index + 1) * n_cols
        unpacked = np.unpackbits(self.bits[start // 8 : (stop + 7) // 8])
        offset = start % 8
        return np.flatnonzero(unpacked[offset : offset + n_cols])


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown storage format {fmt!r}; valid formats are {', '.join(FORMATS)}")


def predicted_nbytes(shape, nnz: int, fmt: str, value_dtype=np.float32, index_dtype=np.int32) -> int:
    """Bytes a (n_rows, n_cols) matrix with ``nnz`` non-zeros takes in ``fmt``.

    ``value_dtype=None`` stores no values (0/1 data: the pattern is the information).
    CSR keeps ``n_rows + 1`` row pointers, CSC ``n_cols + 1`` column pointers, both in
    ``index_dtype``; the bitmap ignores both dtypes.
    """
    _check_format(fmt)
    n_rows, n_cols = shape
    value = 0 if value_dtype is None else np.dtype(value_dtype).itemsize
    index = np.dtype(index_dtype).itemsize
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
    n_cells = shape[0] * shape[1]
    at = {nnz: predicted_nbytes(shape, nnz, fmt, value_dtype, index_dtype)
          - predicted_nbytes(shape, nnz, than, value_dtype, index_dtype) for nnz in (0, n_cells)}
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
