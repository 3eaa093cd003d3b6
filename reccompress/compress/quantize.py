"""Scalar quantization: store every number of a table in ``bits`` bits.

**Affine quantization.** A real number x in a range [lo, hi] becomes an integer code
q in {0, ..., 2^b - 1},

    s = (hi - lo) / (2^b - 1),   z = round(-lo / s),   q = clamp(round(x / s) + z, 0, 2^b - 1),

and is read back as x' = s (q - z). Inside the representable range [s (0 - z), s (2^b - 1 - z)]
the error is at most s / 2 (half a step); outside it, x is clipped to the range first. (The
integer zero point makes 0 exactly representable; it shifts the range by less than half a step.) **Symmetric** quantization fixes z at the middle
of the code range and s = max|x| / (2^(b-1) - 1), so zero is exactly representable and no zero
point is stored; at one bit it keeps the sign, x' = s sign(x).

**Granularity.** One (s, z) for the whole table (``"tensor"``), one per row (``"row"``: an
embedding row is one item or user, and rows differ in range), or one per group of
``group_size`` consecutive columns of a row (``"group"``).

**Clipping.** ``"minmax"`` takes the range of the values; ``"mse"`` shrinks it by the factor
(from a grid) that minimises the squared error of each group: at few bits, clipping a few large
values buys a finer step for all the others.

**Packing.** 8 / b codes share a byte (1, 2, 4 bits), without padding between rows, so
``nbytes`` is exactly ceil(n b / 8) bytes of codes plus the scales (float32 or float16) and, for
affine codes, the zero points, packed at the codes' width (a zero point is itself a code). :func:`pack` and :func:`unpack` are the two
directions; :func:`quantize_array` / :func:`dequantize` do the arithmetic;
:class:`QuantizedTable` is the storage table; :func:`quantize` turns a fitted factor or
item-item model into one that stores codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_choice, check_positive_int, describe
from .base import (
    CompressedRecommender,
    DenseTable,
    FactorRecommender,
    ItemItemRecommender,
    Table,
    factor_model,
)

__all__ = [
    "BITS",
    "HammingRecommender",
    "hamming_scores",
    "sign_codes",
    "CLIPS",
    "GRANULARITIES",
    "SCHEMES",
    "QuantizedArray",
    "QuantizedTable",
    "dequantize",
    "pack",
    "quantize",
    "quantize_array",
    "unpack",
]

BITS = (1, 2, 4, 8)
SCHEMES = ("asymmetric", "symmetric")
GRANULARITIES = ("tensor", "row", "group")
CLIPS = ("minmax", "mse")
_MSE_SHRINK = np.linspace(0.2, 1.0, 81)  # candidate fractions of the full range for "mse"


# --------------------------------------------------------------------------------------------
# Packing codes into bytes
# --------------------------------------------------------------------------------------------
def _check_bits(bits) -> int:
    bits = check_positive_int(bits, "bits")
    if bits not in BITS:
        raise ValueError(f"bits must be one of {BITS} (codes pack evenly into bytes); got {bits}")
    return bits


def pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack integer codes in [0, 2^bits) into bytes, 8 / bits per byte, first code in the low bits.

    Args:
        codes: any-shape array of integer codes (read in C order).
        bits: 1, 2, 4 or 8.

    Returns:
        (ceil(codes.size * bits / 8),) uint8.
    """
    bits = _check_bits(bits)
    flat = np.asarray(codes).ravel()
    if flat.size and (not np.issubdtype(flat.dtype, np.integer) or flat.min() < 0 or flat.max() >= 1 << bits):
        raise ValueError(f"codes must be integers in [0, {1 << bits}) for {bits}-bit packing; got {describe(codes)}")
    flat = flat.astype(np.uint8)
    per_byte = 8 // bits
    padded = np.zeros(-(-flat.size // per_byte) * per_byte, dtype=np.uint8)
    padded[: flat.size] = flat
    shifts = (np.arange(per_byte, dtype=np.uint8) * bits)[None, :]
    return np.bitwise_or.reduce(padded.reshape(-1, per_byte) << shifts, axis=1).astype(np.uint8)


def unpack(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """The first ``count`` codes of :func:`pack`'s output, as a (count,) uint8 array."""
    bits = _check_bits(bits)
    count = check_positive_int(count, "count", minimum=0)
    packed = np.asarray(packed, dtype=np.uint8)
    per_byte = 8 // bits
    if count > packed.size * per_byte:
        raise ValueError(f"{packed.size} bytes hold at most {packed.size * per_byte} {bits}-bit codes; asked for {count}")
    shifts = (np.arange(per_byte, dtype=np.uint8) * bits)[None, :]
    codes = (packed[:, None] >> shifts) & np.uint8((1 << bits) - 1)
    return codes.ravel()[:count]


# --------------------------------------------------------------------------------------------
# Affine quantization of an array
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class QuantizedArray:
    """Codes of a 2-D array with their scales (and zero points).

    Attributes:
        codes: (n_rows, n_cols) uint8, unpacked codes in [0, 2^bits).
        scales: (n_rows, n_groups) or (1, 1) for "tensor", in ``scale_dtype``.
        zero_points: like ``scales``, uint8 (asymmetric), or None (symmetric).
        bits, scheme, granularity, group_size: how it was made.
    """

    codes: np.ndarray
    scales: np.ndarray
    zero_points: np.ndarray | None
    bits: int
    scheme: str
    granularity: str
    group_size: int


def _groups(values: np.ndarray, granularity: str, group_size: int) -> np.ndarray:
    """``values`` (n_rows, n_cols) viewed as (n_groups_total, group_len) rows of one group each."""
    n_rows, n_cols = values.shape
    if granularity == "tensor":
        return values.reshape(1, -1)
    if granularity == "row":
        return values
    return values.reshape(n_rows * (n_cols // group_size), group_size)


def _ranges(groups: np.ndarray, scheme: str, shrink: np.ndarray | float):
    """(lo, hi) per group, the full range shrunk by ``shrink`` (scalar, or one per group)."""
    shrink = np.asarray(shrink, dtype=np.float64).reshape(-1)
    if scheme == "symmetric":
        hi = np.abs(groups).max(axis=1) * shrink
        return -hi, hi
    lo, hi = groups.min(axis=1), groups.max(axis=1)
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)  # the range always holds zero (exact zeros stay exact)
    return lo * shrink, hi * shrink


def _scale_zero(lo, hi, bits: int, scheme: str, scale_dtype):
    """Scale and zero point per group; the scale rounded to its storage dtype first, so that the
    codes are computed with the scale that will be read back."""
    levels = (1 << bits) - 1
    if scheme == "symmetric":
        half = max((1 << (bits - 1)) - 1, 1)  # 1 bit: codes {0, 1} mean -s and +s
        scale = hi / half
        zero = None
    else:
        scale = (hi - lo) / levels
    scale = np.where(scale > 0, scale, 1.0)  # a group of zeros: any scale will do
    # Stored in scale_dtype, rounded UP so that the stored step still spans the whole range.
    stored = scale.astype(scale_dtype)
    stored = np.where(stored.astype(np.float64) < scale, np.nextafter(stored, np.inf, dtype=scale_dtype), stored)
    scale = np.maximum(stored.astype(np.float64), float(np.finfo(scale_dtype).tiny))
    if scheme == "asymmetric":
        zero = np.clip(np.round(-lo / scale), 0, levels)
    return scale, zero


def _encode(groups, scale, zero, bits: int, scheme: str) -> np.ndarray:
    levels = (1 << bits) - 1
    if scheme == "symmetric" and bits == 1:
        return (groups >= 0).astype(np.uint8)
    if scheme == "symmetric":
        half = (1 << (bits - 1)) - 1
        q = np.clip(np.round(groups / scale[:, None]), -half, half) + half  # codes 0 .. 2 half
        return q.astype(np.uint8)
    return np.clip(np.round(groups / scale[:, None]) + zero[:, None], 0, levels).astype(np.uint8)


def _decode(codes, scale, zero, bits: int, scheme: str) -> np.ndarray:
    if scheme == "symmetric" and bits == 1:
        return np.where(codes > 0, 1.0, -1.0) * scale[:, None]
    if scheme == "symmetric":
        half = (1 << (bits - 1)) - 1
        return (codes.astype(np.float64) - half) * scale[:, None]
    return (codes.astype(np.float64) - zero[:, None]) * scale[:, None]


def quantize_array(values: np.ndarray, bits: int, *, scheme: str = "asymmetric", granularity: str = "row",
                   group_size: int | None = None, clip: str = "minmax", scale_dtype=np.float32) -> QuantizedArray:
    """Quantize a 2-D float array to ``bits``-bit codes (see the module docstring).

    Args:
        values: (n_rows, n_cols) finite floats.
        bits: 1, 2, 4 or 8.
        scheme: ``"asymmetric"`` (scale + zero point) or ``"symmetric"`` (scale only).
        granularity: ``"tensor"``, ``"row"`` or ``"group"`` (with ``group_size`` dividing n_cols).
        clip: ``"minmax"`` or ``"mse"`` (per group, the shrink of the range with least squared error).
        scale_dtype: ``np.float32`` or ``np.float16``: how scales are stored.
    """
    values = np.asarray(values)
    if values.ndim != 2 or not np.issubdtype(values.dtype, np.floating) or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be a finite 2-D float array (n_rows, n_cols); got {describe(values)}")
    bits = _check_bits(bits)
    check_choice(scheme, "scheme", SCHEMES)
    if bits == 1 and scheme == "asymmetric":
        raise ValueError("1-bit codes are symmetric (the sign, x' = s sign(x)): with an integer zero point one of "
                         "the two levels would be 0; pass scheme='symmetric'")
    check_choice(granularity, "granularity", GRANULARITIES)
    check_choice(clip, "clip", CLIPS)
    scale_dtype = np.dtype(scale_dtype)
    if scale_dtype not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise ValueError(f"scale_dtype must be np.float32 or np.float16; got {scale_dtype}")
    n_rows, n_cols = values.shape
    if granularity == "group":
        group_size = check_positive_int(group_size, "group_size", maximum=n_cols)
        if n_cols % group_size:
            raise ValueError(f"group_size must divide the {n_cols} columns; got {group_size}")
    elif group_size is not None:
        raise ValueError(f"group_size goes with granularity='group'; got granularity={granularity!r}")
    group_size = {"tensor": n_rows * n_cols, "row": n_cols}.get(granularity, group_size)
    groups = _groups(values.astype(np.float64), granularity, group_size)

    def fit(shrink):
        lo, hi = _ranges(groups, scheme, shrink)
        scale, zero = _scale_zero(lo, hi, bits, scheme, scale_dtype)
        codes = _encode(groups, scale, zero, bits, scheme)
        error = ((_decode(codes, scale, zero, bits, scheme) - groups) ** 2).sum(axis=1)
        return scale, zero, codes, error

    if clip == "minmax":
        scale, zero, codes, _ = fit(1.0)
    else:
        errors = np.stack([fit(np.full(groups.shape[0], shrink))[3] for shrink in _MSE_SHRINK])
        scale, zero, codes, _ = fit(_MSE_SHRINK[np.argmin(errors, axis=0)])
    n_groups = 1 if granularity == "tensor" else n_cols // group_size
    shape = (1, 1) if granularity == "tensor" else (n_rows, n_groups)
    return QuantizedArray(
        codes=codes.reshape(n_rows, n_cols),
        scales=scale.reshape(shape).astype(scale_dtype),
        zero_points=None if zero is None else zero.reshape(shape).astype(np.uint8),
        bits=bits, scheme=scheme, granularity=granularity, group_size=group_size,
    )


def dequantize(quantized: QuantizedArray) -> np.ndarray:
    """The (n_rows, n_cols) float32 values a :class:`QuantizedArray` stands for."""
    codes = quantized.codes
    n_rows, n_cols = codes.shape
    if quantized.granularity == "tensor":  # one scale (and zero point) for every row
        groups = codes
        scale = np.full(n_rows, float(quantized.scales.ravel()[0]))
        zero = None if quantized.zero_points is None else np.full(n_rows, float(quantized.zero_points.ravel()[0]))
    else:
        groups = codes.reshape(-1, quantized.group_size)
        scale = quantized.scales.astype(np.float64).ravel()
        zero = None if quantized.zero_points is None else quantized.zero_points.astype(np.float64).ravel()
    values = _decode(groups, scale, zero, quantized.bits, quantized.scheme)
    return values.reshape(n_rows, n_cols).astype(np.float32)


# --------------------------------------------------------------------------------------------
# The storage table
# --------------------------------------------------------------------------------------------
class QuantizedTable(Table):
    """A table stored as packed ``bits``-bit codes with their scales (and zero points).

    Stored arrays: ``codes`` (ceil(n_rows n_cols bits / 8),) uint8, ``scales`` (float32 or
    float16) and, for affine codes, ``zero_points`` packed at the codes' width — one scale and
    zero point per tensor, row or group.
    Rows are decoded when asked for; a whole-table product decodes the whole table (what
    packing costs at scoring time).

    Args:
        quantized: the :class:`QuantizedArray` to store.
    """

    def __init__(self, quantized: QuantizedArray):
        if not isinstance(quantized, QuantizedArray):
            raise TypeError(f"expected a QuantizedArray from quantize_array; got {describe(quantized)}")
        self.shape = quantized.codes.shape
        self.bits, self.scheme = quantized.bits, quantized.scheme
        self.granularity, self.group_size = quantized.granularity, quantized.group_size
        self.codes = pack(quantized.codes, quantized.bits)
        self.scales = quantized.scales
        # A zero point is a code: it packs at the codes' width (4 bits for 4-bit codes).
        self.zero_points = None if quantized.zero_points is None else pack(quantized.zero_points, quantized.bits)

    @classmethod
    def from_values(cls, values: np.ndarray, bits: int, **options) -> "QuantizedTable":
        """Quantize a float array (options as :func:`quantize_array`) and store it."""
        return cls(quantize_array(values, bits, **options))

    def arrays(self) -> dict:
        arrays = {"codes": self.codes, "scales": self.scales}
        if self.zero_points is not None:
            arrays["zero_points"] = self.zero_points
        return arrays

    def _zero_points(self) -> np.ndarray | None:
        if self.zero_points is None:
            return None
        return unpack(self.zero_points, self.bits, self.scales.size).reshape(self.scales.shape)

    def _quantized(self, codes: np.ndarray, ids=None) -> QuantizedArray:
        """The codes of all rows (or of rows ``ids``) with their own scales and zero points."""
        scales, zeros = self.scales, self._zero_points()
        if ids is not None and self.granularity != "tensor":
            scales, zeros = scales[ids], None if zeros is None else zeros[ids]
        return QuantizedArray(codes=codes, scales=scales, zero_points=zeros, bits=self.bits,
                              scheme=self.scheme, granularity=self.granularity, group_size=self.group_size)

    def unpacked_codes(self, ids=None) -> np.ndarray:
        """(n, n_cols) uint8 codes of the given rows (all rows by default)."""
        n_rows, n_cols = self.shape
        row_bits = n_cols * self.bits
        if ids is None:
            return unpack(self.codes, self.bits, n_rows * n_cols).reshape(n_rows, n_cols)
        ids = self._check_ids(ids)
        if row_bits % 8 == 0:  # rows start on byte boundaries: decode only the rows asked for
            row_bytes = row_bits // 8
            chunk = self.codes.reshape(n_rows, row_bytes)[ids].ravel()
            return unpack(chunk, self.bits, ids.size * n_cols).reshape(ids.size, n_cols)
        return self.unpacked_codes()[ids]

    def rows(self, ids) -> np.ndarray:
        ids = self._check_ids(ids)
        return dequantize(self._quantized(self.unpacked_codes(ids), ids))

    def to_dense(self) -> np.ndarray:
        return dequantize(self._quantized(self.unpacked_codes()))

    def __repr__(self) -> str:
        return (f"QuantizedTable({self.shape[0]} x {self.shape[1]}, {self.bits}-bit {self.scheme}, "
                f"{self.granularity} scales, {self.nbytes:,} bytes)")


# --------------------------------------------------------------------------------------------
# The verb
# --------------------------------------------------------------------------------------------
def quantize(model, bits: int, *, scheme: str | None = None, granularity: str = "row", group_size: int | None = None,
             clip: str = "minmax", scale_dtype=np.float32, vector_dtype=np.float32) -> CompressedRecommender:
    """A fitted factor or item-item model with every table stored as ``bits``-bit codes.

    Factor models (BPR-MF, PureSVD, ALS, truncated or low-rank EASE, a distilled student...) go
    through :func:`~reccompress.compress.base.factor_model`; each table is quantized once (a table
    serving two roles stays shared), and the small per-dimension or per-item vectors (fold-in
    weights, item scales and biases) are stored in ``vector_dtype``. Dense item-item models (EASE,
    a dense ``ItemItemRecommender``) have their weight matrix quantized row by row.
    ``bits=32`` stores float32 copies (a "quantization" that changes nothing: a check). The scheme
    defaults to affine (asymmetric) codes, and to sign codes (symmetric) at one bit.

    Options as :func:`quantize_array`.
    """
    if bits != 32:
        _check_bits(bits)
    scheme = ("symmetric" if bits == 1 else "asymmetric") if scheme is None else scheme
    vector_dtype = np.dtype(vector_dtype)
    if vector_dtype not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise ValueError(f"vector_dtype must be np.float32 or np.float16; got {vector_dtype}")
    options = {"scheme": scheme, "granularity": granularity, "group_size": group_size, "clip": clip,
               "scale_dtype": scale_dtype}
    recipe = {"verb": "quantize", "bits": bits, **{k: v for k, v in options.items() if k != "scale_dtype"},
              "scale_dtype": np.dtype(scale_dtype).name, "vector_dtype": vector_dtype.name}

    def store(values):
        return DenseTable(values) if bits == 32 else QuantizedTable.from_values(np.asarray(values, np.float32),
                                                                                bits, **options)

    from ..models.itemitem import EASE
    from .sparse import dense_weights

    if isinstance(model, EASE) or (isinstance(model, ItemItemRecommender) and isinstance(model.weights_, DenseTable)):
        return ItemItemRecommender(store(dense_weights(model)), model.user_items_, source=model, recipe=recipe)
    factors = factor_model(model)
    stored = {}  # one quantized table per distinct source table

    def table(source):
        if source is None:
            return None
        if id(source) not in stored:
            stored[id(source)] = store(source.to_dense())
        return stored[id(source)]

    def vector(values):
        return values if values is None or isinstance(values, str) else values.astype(vector_dtype)

    return FactorRecommender(
        table(factors.item_table_), factors.user_items_, user_table=table(factors.user_table_),
        fold_in=table(factors.fold_in_), fold_in_weights=vector(factors.fold_in_weights_),
        item_scale=vector(factors.item_scale_), item_bias=vector(factors.item_bias_), source=model, recipe=recipe,
    )


# --------------------------------------------------------------------------------------------
# The extreme: one bit per number, scored by Hamming distance
# --------------------------------------------------------------------------------------------
def sign_codes(values: np.ndarray) -> np.ndarray:
    """The signs of an (n, r) float array, one bit each (1 for >= 0), packed into (n, ceil(r / 8)) uint8."""
    values = np.asarray(values)
    if values.ndim != 2 or not np.issubdtype(values.dtype, np.floating):
        raise ValueError(f"values must be a 2-D float array (n, r); got {describe(values)}")
    return np.packbits(values >= 0, axis=1)


def hamming_scores(user_codes: np.ndarray, item_codes: np.ndarray, rank: int) -> np.ndarray:
    """(n_users, n_items) scores r - 2 H(u, i): the dot product of the ±1 vectors whose signs the
    codes hold, computed with XOR and popcount (``np.bitwise_count``), no multiplication."""
    user_codes, item_codes = np.asarray(user_codes, np.uint8), np.asarray(item_codes, np.uint8)
    if user_codes.ndim != 2 or item_codes.ndim != 2 or user_codes.shape[1] != item_codes.shape[1]:
        raise ValueError(f"codes must be (n, bytes) arrays with the same number of bytes; got {user_codes.shape} "
                         f"and {item_codes.shape}")
    if user_codes.shape[1] % 8 == 0:  # 64 bits at a time
        user_codes, item_codes = user_codes.view(np.uint64), item_codes.view(np.uint64)
    distance = np.zeros((user_codes.shape[0], item_codes.shape[0]), dtype=np.int32)
    for word in range(user_codes.shape[1]):
        distance += np.bitwise_count(user_codes[:, word, None] ^ item_codes[None, :, word])
    return (rank - 2 * distance).astype(np.float32)


class HammingRecommender(CompressedRecommender):
    """A factor model reduced to the signs of its tables: r bits per user and per item, scored by
    Hamming distance (:func:`hamming_scores`) — no scales, no multiplications. Built by
    :meth:`from_model`.

    Attributes:
        user_codes_: (n_users, ceil(r / 8)) uint8.   item_codes_: (n_items, ceil(r / 8)) uint8.
    """

    def __init__(self, user_codes: np.ndarray, item_codes: np.ndarray, rank: int, user_items, *, source=None,
                 recipe=None):
        super().__init__(user_items, source=source, recipe=recipe)
        if user_codes.shape[0] != user_items.shape[0] or item_codes.shape[0] != user_items.shape[1]:
            raise ValueError(f"codes must have one row per user and per item {user_items.shape}; got "
                             f"{user_codes.shape[0]} and {item_codes.shape[0]}")
        self.user_codes_, self.item_codes_ = user_codes, item_codes
        self.rank = check_positive_int(rank, "rank")

    @classmethod
    def from_model(cls, model) -> "HammingRecommender":
        """The sign codes of a factor model with a user table (BPR-MF, ALS...)."""
        factors = factor_model(model)
        if factors.user_table_ is None:
            raise TypeError(f"Hamming scoring needs a user table; {describe(model)} folds users in")
        return cls(sign_codes(factors.user_factors_), sign_codes(factors.item_factors_), factors.rank,
                   factors.user_items_, source=model, recipe={"verb": "HammingRecommender.from_model"})

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        return hamming_scores(self.user_codes_[user_ids], self.item_codes_, self.rank)

    def _inference_arrays(self) -> dict:
        return {"user_codes_": self.user_codes_, "item_codes_": self.item_codes_}
