"""Embedding tables that are smaller by construction: hashing, quotient-remainder, frequency-aware,
mixed-dimension and tensor-train tables (Chapter 8).

These methods do not compress a trained model: they change the architecture, and the model is
trained from scratch with the smaller table. Each is two small pieces:

- a **spec** (``Hashing(compression=4)``, ``QuotientRemainder(4)``, ...) that an MF model takes
  (``models.BPRMF(rank=64, embeddings=embeddings.Hashing(4))``) and that builds the table once the
  number of ids and their training counts are known (``spec.build(n_ids, dim, counts, ...)``);
- a **table**, an ``nn.Module`` mapping ids (any shape, int64) to rows (``ids.shape + (dim,)``),
  with ``num_embeddings``, ``embedding_dim`` and an exact ``nbytes``: the bytes of the arrays it
  stores (float32 weights, the integer id lists it searches, nothing else).

``compression`` is the ratio of the plain float32 table's bytes (``n_ids * dim * 4``) to the
most this table may use: every spec fills its budget as far as its shape allows and raises a
clear error when the shape cannot fit it (quotient-remainder at 64x on 943 ids needs more rows
than the budget holds). At ``compression=1`` every spec builds a plain embedding.

| table | an id's row | stores |
|---|---|---|
| :class:`HashedEmbedding` | E[h1(x)] (+ E[h2(x)]) | m rows |
| :class:`QuotientRemainderEmbedding` | E1[x mod m] * E2[x // m] (mixed radix for > 2) | m + n/m rows |
| :class:`FrequencyAwareEmbedding` | own row if popular, else a hashed / composed / shared tail row | head rows + tail + head ids |
| :class:`MixedDimensionEmbedding` | E_k[x] P_k, narrower E_k for rarer blocks | blocks + projections + block ids |
| :class:`TensorTrainEmbedding` | contraction of three TT cores | the cores |

Ids of the training vocabulary are ``0 .. n_ids - 1``. The hashing family (hashed tables and
frequency-aware tables with a hashed tail) also maps ids it never saw, up to ``2**31 - 2``:
new ids need no new row, and the vocabulary need not be enumerated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._checks import check_integer, check_non_negative, check_positive_int, check_seed, describe

__all__ = [
    "BudgetError",
    "FrequencyAware",
    "FrequencyAwareEmbedding",
    "FrequencyPruning",
    "HashedEmbedding",
    "Hashing",
    "MixedDimension",
    "MixedDimensionEmbedding",
    "PlainEmbedding",
    "QuotientRemainder",
    "QuotientRemainderEmbedding",
    "TensorTrain",
    "TensorTrainEmbedding",
    "dense_nbytes",
    "mix32",
    "tt_svd",
]

FLOAT_BYTES = 4
_ID_LIMIT = 2**31 - 1  # hashed tables take any id below this (31-bit ids, mixed as 32-bit words)
_SMALL_TABLE = 2**22  # a TT table of at most this many numbers is rebuilt whole for a lookup


def dense_nbytes(n_ids: int, dim: int) -> int:
    """Bytes of the plain float32 (n_ids, dim) table that ``compression`` is measured against."""
    return check_positive_int(n_ids, "n_ids") * check_positive_int(dim, "dim") * FLOAT_BYTES


def _check_compression(compression) -> float:
    if isinstance(compression, bool) or not isinstance(compression, (int, float, np.integer, np.floating)):
        raise TypeError(f"compression must be a number >= 1 (e.g. 4 for 4x fewer bytes); got {describe(compression)}")
    if not math.isfinite(compression) or compression < 1:
        raise ValueError(f"compression must be a finite number >= 1 (the plain table's bytes over the budget); "
                         f"got {compression!r}")
    return float(compression)


def _budget(n_ids: int, dim: int, compression: float) -> int:
    """The most bytes a table of (n_ids, dim) at ``compression`` may use."""
    return int(dense_nbytes(n_ids, dim) // compression)


def _index_dtype(upper: int):
    """The narrowest integer dtype that stores ids below ``upper`` (the id lists' honest size)."""
    for dtype in (torch.int16, torch.int32):
        if upper <= torch.iinfo(dtype).max:
            return dtype
    return torch.int64


class BudgetError(ValueError):
    """A table's shape cannot fit the bytes its compression allows (a lower compression can)."""


def _cannot(method: str, n_ids: int, dim: int, compression: float, why: str) -> BudgetError:
    return BudgetError(f"{method} cannot store {n_ids} ids x {dim} dims in 1/{compression:g} of the plain table "
                      f"({_budget(n_ids, dim, compression)} bytes): {why}. Use a lower compression or another method.")


def _check_ids(ids, upper: int, name: str):
    if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{name} expects an integer tensor of ids (int64 or int32), e.g. torch.tensor([0, 5]); "
                        f"got {describe(ids)}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= upper):
        raise IndexError(f"{name} maps ids 0..{upper - 1}; got ids from {int(ids.min())} to {int(ids.max())} "
                         "(a table for a larger vocabulary, or a hashed one, takes them)")
    return ids.long()  # int32 ids widen to int64, the index type


def _search(sorted_ids: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """How many of ``sorted_ids`` (a stored list, narrow integers) are below each of ``ids`` (int64),
    searched in the list's own type (no per-call copy of the list)."""
    top = torch.iinfo(sorted_ids.dtype).max
    narrow = ids.clamp_max(top).to(sorted_ids.dtype)  # an id above the type's range is above every listed id
    below = torch.searchsorted(sorted_ids, narrow)
    return torch.where(ids > top, sorted_ids.numel(), below)


def _stored(*tensors) -> int:
    """Bytes of stored tensors, as stored (``numel * element_size``)."""
    return sum(t.numel() * t.element_size() for t in tensors)


def _normal(shape, std: float, generator, mean: float = 0.0) -> nn.Parameter:
    return nn.Parameter(torch.randn(shape, generator=generator) * std + mean)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
class PlainEmbedding(nn.Embedding):
    """A plain float32 table with an ``nbytes``: what every spec builds at ``compression=1``."""

    def __init__(self, n_ids: int, dim: int, init_std: float = 0.01, generator=None):
        super().__init__(n_ids, dim, _weight=torch.empty(n_ids, dim))  # skips a default initialisation
        nn.init.normal_(self.weight, std=init_std, generator=generator)

    @property
    def nbytes(self) -> int:
        return _stored(self.weight)


def _mul32(h: torch.Tensor, factor: int) -> torch.Tensor:
    """(h * factor) mod 2**32 for 32-bit words h, without int64 overflow (two 16-bit halves)."""
    low = (h & 0xFFFF) * factor
    high = (((h >> 16) * factor) & 0xFFFF) << 16
    return (low + high) & 0xFFFFFFFF


def mix32(ids: torch.Tensor, seed: int) -> torch.Tensor:
    """A seeded 32-bit hash of non-negative ids below 2**31: MurmurHash3's finaliser ("fmix32")
    applied to id XOR seed. Consecutive ids land on unrelated words (an affine hash
    (a x + b) mod p mod m maps them onto a lattice and can leave most rows unused)."""
    h = (ids ^ seed) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    h = _mul32(h, 0x85EBCA6B)
    h = h ^ (h >> 13)
    h = _mul32(h, 0xC2B2AE35)
    return h ^ (h >> 16)


class HashedEmbedding(nn.Module):
    """The hashing trick: id x reads row h(x) of an (m, dim) table; with two hashes, the sum of rows
    h1(x) and h2(x) (two ids rarely collide on both).

    h(x) = mix32(x, s) mod m (:func:`mix32`), one 32-bit seed s per hash drawn from ``seed``:
    deterministic, nothing stored per id, any id below 2**31 - 1 has a row.

    Args:
        n_ids: the training vocabulary size (reported as ``num_embeddings``; larger ids are hashed too).
        rows: m, the stored rows.
        dim: row width.
        hashes: 1 or 2.
        seed: draws the hash functions.
    """

    def __init__(self, n_ids: int, rows: int, dim: int, hashes: int = 1, seed: int = 0, init_std: float = 0.01,
                 generator=None):
        super().__init__()
        self.num_embeddings, self.rows = check_positive_int(n_ids, "n_ids"), check_positive_int(rows, "rows")
        self.embedding_dim = check_positive_int(dim, "dim")
        self.hashes = check_positive_int(hashes, "hashes", maximum=2)
        rng = np.random.default_rng(check_seed(seed))
        # One seed per hash, kept as a buffer so a saved model hashes the same way (8 bytes each).
        self.register_buffer("seeds", torch.as_tensor(rng.integers(0, 2**32, size=self.hashes, dtype=np.int64)))
        self.weight = _normal((rows, dim), init_std / math.sqrt(self.hashes), generator)

    def row_ids(self, ids) -> torch.Tensor:  # ids.shape -> ids.shape + (hashes,)
        ids = _check_ids(ids, _ID_LIMIT, "HashedEmbedding")
        return torch.stack([mix32(ids, int(seed)) % self.rows for seed in self.seeds], dim=-1)

    def forward(self, ids):  # ids.shape -> ids.shape + (dim,)
        return self.weight[self.row_ids(ids)].sum(-2)

    @property
    def nbytes(self) -> int:
        return _stored(self.weight, self.seeds)


class QuotientRemainderEmbedding(nn.Module):
    """Compositional embedding (Shi et al., KDD 2020): id x is written in a mixed radix with digits
    (x mod s_1, (x // s_1) mod s_2, ...), each digit reads its own small table, and the row is the
    element-wise product of the digits' rows. Two parts: the quotient-remainder trick, m + n/m rows.
    Every id gets a distinct combination of rows (the parts are complementary partitions).

    Args:
        n_ids: ids 0 .. n_ids - 1.
        sizes: (s_1, s_2, ...), the rows of each part; their product must be >= n_ids.
        dim: row width.
    """

    def __init__(self, n_ids: int, sizes, dim: int, init_std: float = 0.01, generator=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = check_positive_int(n_ids, "n_ids"), check_positive_int(dim, "dim")
        self.sizes = tuple(check_positive_int(s, "size") for s in sizes)
        if math.prod(self.sizes) < n_ids:
            raise ValueError(f"the parts' sizes {self.sizes} give {math.prod(self.sizes)} combinations, fewer than "
                             f"{n_ids} ids: every id needs its own combination")
        # The first part (the remainder) starts as a small normal table, the others near 1, so the
        # product starts at the scale of a plain table's rows.
        self.parts = nn.ParameterList(
            [_normal((size, dim), init_std, generator, mean=0.0 if k == 0 else 1.0) for k, size in enumerate(self.sizes)])

    def digits(self, ids) -> list[torch.Tensor]:
        ids = _check_ids(ids, self.num_embeddings, "QuotientRemainderEmbedding")
        out = []
        for size in self.sizes:
            out.append(ids % size)
            ids = ids // size
        return out

    def forward(self, ids):  # ids.shape -> ids.shape + (dim,)
        rows = None
        for part, digit in zip(self.parts, self.digits(ids)):
            rows = part[digit] if rows is None else rows * part[digit]
        return rows

    @property
    def nbytes(self) -> int:
        return _stored(*self.parts)


class _SharedRow(nn.Module):
    """The tail of frequency-based pruning: every rare id reads one shared row."""

    def __init__(self, dim: int, init_std: float, generator):
        super().__init__()
        self.weight = _normal((1, dim), init_std, generator)

    def forward(self, ids):
        return self.weight[torch.zeros_like(ids)]

    @property
    def nbytes(self) -> int:
        return _stored(self.weight)


class FrequencyAwareEmbedding(nn.Module):
    """Popular ids keep their own rows; every other id goes to a small ``tail`` table (hashed,
    quotient-remainder over the tail's ids, or one shared row: frequency-based pruning of rare rows).

    The head's ids are stored sorted (in the narrowest integer type) and found by binary search;
    an id's head row is its position in that list. The tail table sees the id itself, so ids
    never seen in training fall to the tail.

    Args:
        head_ids: (n_head,) distinct ids that keep their own rows.
        n_ids: the training vocabulary size.
        tail: the tail table (an ``nn.Module`` with ``nbytes``), or None when every id is in the head.
    """

    def __init__(self, head_ids, n_ids: int, dim: int, tail: nn.Module | None, init_std: float = 0.01,
                 generator=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = check_positive_int(n_ids, "n_ids"), check_positive_int(dim, "dim")
        head_ids = np.unique(np.asarray(head_ids, dtype=np.int64))
        if head_ids.size and (head_ids[0] < 0 or head_ids[-1] >= n_ids):
            raise ValueError(f"head_ids must lie in 0..{n_ids - 1}; got {head_ids[0]}..{head_ids[-1]}")
        if tail is None and head_ids.size != n_ids:
            raise ValueError(f"without a tail every id must be in the head; got {head_ids.size} of {n_ids} ids")
        self.register_buffer("head_ids", torch.as_tensor(head_ids).to(_index_dtype(n_ids)))
        self.head = _normal((head_ids.size, dim), init_std, generator)
        self.tail = tail

    def forward(self, ids):  # ids.shape -> ids.shape + (dim,)
        ids = _check_ids(ids, _ID_LIMIT if isinstance(self.tail, HashedEmbedding) else self.num_embeddings,
                         "FrequencyAwareEmbedding")
        n_head = self.head_ids.numel()
        if n_head == 0:
            return self.tail(ids)
        below = _search(self.head_ids, ids)  # head ids smaller than each id
        position = below.clamp_max(n_head - 1)
        in_head = self.head_ids[position].long() == ids
        rows = self.head[position]
        if self.tail is None:
            return rows
        if isinstance(self.tail, QuotientRemainderEmbedding):
            # A composed tail covers only the tail's ids: id x is the (x - #head ids below x)-th
            # of them (clamped for head ids, whose tail rows are not used).
            tail_rows = self.tail((ids - below).clamp(0, self.tail.num_embeddings - 1))
        else:
            tail_rows = self.tail(ids)
        return torch.where(in_head[..., None], rows, tail_rows)

    @property
    def nbytes(self) -> int:
        tail = 0 if self.tail is None else self.tail.nbytes
        return _stored(self.head, self.head_ids) + tail


class MixedDimensionEmbedding(nn.Module):
    """Mixed-dimension embeddings (Ginart et al., 2021): ids in blocks by popularity, block k stores
    rows of width d_k (narrower for rarer blocks), brought to the common width ``dim`` by a
    projection: the identity on the first d_k coordinates (zero padding, nothing stored; default)
    or a learned (d_k, dim) matrix starting there.

    Every block but the last stores its ids sorted (found by binary search); the last block's row
    of id x is x minus the number of other blocks' ids below x, so the largest block needs no list.

    Args:
        blocks: list of (ids, width) per block, most popular first; the ids of all blocks
            partition 0 .. n_ids - 1.
        learn_projections: learn the projections (stored and counted in ``nbytes``). With the one
            optimizer of the training loop they move far faster than the rows they serve and
            training stalls (Chapter 8 measures it); the default keeps them fixed.
    """

    def __init__(self, blocks, n_ids: int, dim: int, init_std: float = 0.01, generator=None,
                 learn_projections: bool = False):
        super().__init__()
        self.num_embeddings, self.embedding_dim = check_positive_int(n_ids, "n_ids"), check_positive_int(dim, "dim")
        id_lists = [np.sort(np.asarray(ids, dtype=np.int64)) for ids, _ in blocks]
        every = np.concatenate(id_lists) if id_lists else np.zeros(0, np.int64)
        if every.size != n_ids or np.unique(every).size != n_ids or every.min() != 0 or every.max() != n_ids - 1:
            raise ValueError(f"the blocks' ids must partition 0..{n_ids - 1} (each id in exactly one block); got "
                             f"{every.size} ids, {np.unique(every).size} distinct, from {every.min() if every.size else None} "
                             f"to {every.max() if every.size else None}")
        self.widths = tuple(check_positive_int(width, "width", maximum=dim) for _, width in blocks)
        self.learn_projections = bool(learn_projections)
        dtype = _index_dtype(n_ids)
        for k, ids in enumerate(id_lists[:-1]):
            self.register_buffer(f"block_ids_{k}", torch.as_tensor(ids).to(dtype))
        self._offsets = torch.as_tensor(np.concatenate([[0], np.cumsum([ids.size for ids in id_lists])[:-1]]))
        self.tables = nn.ParameterList([_normal((ids.size, w), init_std, generator) for ids, w in
                                        zip(id_lists, self.widths)])
        # A learned projection starts as the identity on the first d_k coordinates: all blocks (and the
        # user and item tables) share one space, as a plain table of that width would. (Random
        # projections start them in nearly orthogonal subspaces: 74% of the plain model's
        # validation NDCG at 4x, measured, against 95% with these.)
        # (A full-width block needs no projection: an empty placeholder keeps the indexes aligned.)
        self.projections = nn.ParameterList(
            [nn.Parameter(torch.eye(w, dim) if w < dim else torch.zeros(0, 0)) for w in self.widths]
        ) if self.learn_projections else None

    def _block_rows(self, k: int) -> torch.Tensor:  # (n_k, dim): block k's rows at the common width
        table = self.tables[k]
        if self.learn_projections and table.shape[1] < self.embedding_dim:
            return table @ self.projections[k]
        return nn.functional.pad(table, (0, self.embedding_dim - table.shape[1]))

    def forward(self, ids):  # ids.shape -> ids.shape + (dim,)
        ids = _check_ids(ids, self.num_embeddings, "MixedDimensionEmbedding")
        flat = ids.reshape(-1)
        block, row = self.rows_of(flat)
        if flat.numel() >= self.num_embeddings // 4:
            # Many ids (a training batch): every block at full width once, then one gather.
            every = torch.cat([self._block_rows(k) for k in range(len(self.widths))])
            return every[self._offsets[block] + row].reshape(ids.shape + (self.embedding_dim,))
        out = torch.zeros((flat.numel(), self.embedding_dim))
        for k in range(len(self.widths)):
            chosen = (block == k).nonzero().squeeze(1)
            if chosen.numel():
                rows = self.tables[k][row[chosen]]
                rows = rows @ self.projections[k] if self.learn_projections and rows.shape[1] < self.embedding_dim \
                    else nn.functional.pad(rows, (0, self.embedding_dim - rows.shape[1]))
                out = out.index_put((chosen,), rows)
        return out.reshape(ids.shape + (self.embedding_dim,))

    @property
    def block_ids(self) -> list[torch.Tensor]:
        """The sorted ids of every block but the last (stored)."""
        return [getattr(self, f"block_ids_{k}") for k in range(len(self.widths) - 1)]

    def rows_of(self, ids) -> tuple[torch.Tensor, torch.Tensor]:
        """(block, row) of each of (b,) ids, found in the stored id lists by binary search."""
        last = len(self.widths) - 1
        block = torch.full_like(ids, last)
        tail_row = ids.clone()  # the last block's row: the id minus the other blocks' ids below it
        listed_row = torch.zeros_like(ids)
        for k, listed in enumerate(self.block_ids):
            if listed.numel() == 0:
                continue
            position = _search(listed, ids)
            tail_row = tail_row - position
            position = position.clamp_max(listed.numel() - 1)
            found = listed[position].long() == ids
            block = torch.where(found, k, block)
            listed_row = torch.where(found, position, listed_row)
        return block, torch.where(block == last, tail_row, listed_row)

    @property
    def nbytes(self) -> int:
        projections = [] if self.projections is None else list(self.projections)
        return _stored(*self.tables, *projections, *self.block_ids)


class TensorTrainEmbedding(nn.Module):
    """A tensor-train table (TT-Rec, Yin et al., MLSys 2021): the (n, dim) table, reshaped to a
    tensor with modes (n_1 d_1)(n_2 d_2)(n_3 d_3), is stored as three cores; the row of
    id x = (i_1, i_2, i_3) is the contraction G_1[i_1] G_2[i_2] G_3[i_3] (a d_1 x d_2 x d_3 block).

    A small table (or a large batch) is looked up by rebuilding the whole table, once per state
    of the cores: the rebuilt table is kept until an optimizer step (or any in-place change)
    alters a core, so a training step that looks rows up several times rebuilds it once. Its
    graph is freed by the step's backward pass: to run two backward passes in one step, call
    :meth:`clear_cache` between them. Copies and pickles never carry it.

    Args:
        n_ids: ids 0 .. n_ids - 1 (padded to n_1 n_2 n_3 rows).
        id_shape: (n_1, n_2, n_3) with product >= n_ids.
        dim_shape: (d_1, d_2, d_3) with product == dim.
        ranks: (r_1, r_2), the TT ranks.

    Attributes:
        cores: (n_1, d_1, r_1), (n_2, r_1, d_2, r_2), (n_3, r_2, d_3).
    """

    def __init__(self, n_ids: int, id_shape, dim_shape, ranks, init_std: float = 0.01, generator=None):
        super().__init__()
        self.num_embeddings = check_positive_int(n_ids, "n_ids")
        self.id_shape = tuple(check_positive_int(n, "id_shape") for n in id_shape)
        self.dim_shape = tuple(check_positive_int(d, "dim_shape") for d in dim_shape)
        self.ranks = tuple(check_positive_int(r, "ranks") for r in ranks)
        if len(self.id_shape) != 3 or len(self.dim_shape) != 3 or len(self.ranks) != 2:
            raise ValueError(f"a three-core TT table needs 3 id factors, 3 dim factors and 2 ranks; got "
                             f"{self.id_shape}, {self.dim_shape}, {self.ranks}")
        if math.prod(self.id_shape) < n_ids:
            raise ValueError(f"id_shape {self.id_shape} holds {math.prod(self.id_shape)} ids, fewer than {n_ids}")
        self.embedding_dim = math.prod(self.dim_shape)
        (n1, n2, n3), (d1, d2, d3), (r1, r2) = self.id_shape, self.dim_shape, self.ranks
        # Each core's std makes a row's entries (sums of r1 r2 products) about init_std.
        std = (init_std / math.sqrt(r1 * r2)) ** (1 / 3)
        self.cores = nn.ParameterList([_normal((n1, d1, r1), std, generator), _normal((n2, r1, d2, r2), std, generator),
                                       _normal((n3, r2, d3), std, generator)])
        self._table_cache = None  # (the cores' versions, the rebuilt table): not stored, not counted

    def clear_cache(self) -> None:
        """Forget the rebuilt table (call it between two backward passes of one optimizer step,
        e.g. when accumulating gradients: the cached table's graph is freed by the first)."""
        self._table_cache = None

    def __getstate__(self):  # copies and pickles never carry the cached table (or its graph)
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        return {**state, "_table_cache": None}

    def _apply(self, fn, *args, **kwargs):  # .to(), .double(), ...: the cached table is stale
        self._table_cache = None
        return super()._apply(fn, *args, **kwargs)

    @classmethod
    def from_matrix(cls, matrix: np.ndarray, id_shape, dim_shape, ranks=None) -> "TensorTrainEmbedding":
        """A TT table whose cores are the TT-SVD of ``matrix`` (n, dim), truncated to ``ranks`` (None:
        full ranks, an exact reconstruction)."""
        matrix = np.asarray(matrix, dtype=np.float64)
        cores = tt_svd(matrix, id_shape, dim_shape, ranks)
        table = cls(matrix.shape[0], id_shape, dim_shape, (cores[0].shape[2], cores[2].shape[1]), init_std=0.0)
        with torch.no_grad():
            for parameter, core in zip(table.cores, cores):
                parameter.copy_(torch.as_tensor(core, dtype=torch.float32))
        return table

    def forward(self, ids):  # ids.shape -> ids.shape + (dim,)
        ids = _check_ids(ids, self.num_embeddings, "TensorTrainEmbedding")
        flat = ids.reshape(-1)
        padded_rows = math.prod(self.id_shape)
        if flat.numel() >= padded_rows // 4 or padded_rows * self.embedding_dim <= _SMALL_TABLE:
            # Many ids at once, or a small table (a training batch of a small vocabulary): rebuilding
            # the whole table with two matrix products is cheaper than contracting the cores id by
            # id (whose backward scatters a (batch, r1, d2, r2) gradient into the cores), and the
            # table is rebuilt once per state of the cores (a training step looks rows up several
            # times between two optimizer steps; each step changes the cores in place).
            key = tuple((core.data_ptr(), core.dtype, core._version) for core in self.cores)
            key += (torch.is_grad_enabled(),)
            if self._table_cache is None or self._table_cache[0] != key:
                self._table_cache = (key, self.full_table())
            return self._table_cache[1][flat].reshape(ids.shape + (self.embedding_dim,))
        return self.contract(flat).reshape(ids.shape + (self.embedding_dim,))

    def contract(self, ids) -> torch.Tensor:
        """(b,) ids -> (b, dim) rows, each contracted from its three core slices."""
        n1, n2, n3 = self.id_shape
        (d1, d2, d3), (r1, r2) = self.dim_shape, self.ranks
        i1, i2, i3 = ids // (n2 * n3), (ids // n3) % n2, ids % n3
        g1, g2, g3 = self.cores[0][i1], self.cores[1][i2], self.cores[2][i3]  # (b,d1,r1) (b,r1,d2,r2) (b,r2,d3)
        left = torch.bmm(g1, g2.reshape(-1, r1, d2 * r2)).reshape(-1, d1 * d2, r2)  # (b, d1 d2, r2)
        return torch.bmm(left, g3).reshape(-1, self.embedding_dim)  # (b, d1 d2 d3)

    def full_table(self) -> torch.Tensor:
        """The whole (n_1 n_2 n_3, dim) table, padding rows included, from the cores."""
        (n1, n2, n3), (d1, d2, d3), (r1, r2) = self.id_shape, self.dim_shape, self.ranks
        first = self.cores[0].reshape(n1 * d1, r1)
        second = self.cores[1].permute(1, 0, 2, 3).reshape(r1, n2 * d2 * r2)
        third = self.cores[2].permute(1, 0, 2).reshape(r2, n3 * d3)
        tensor = ((first @ second).reshape(n1 * d1 * n2 * d2, r2) @ third)  # (n1 d1 n2 d2, n3 d3)
        tensor = tensor.reshape(n1, d1, n2, d2, n3, d3).permute(0, 2, 4, 1, 3, 5)  # (n1, n2, n3, d1, d2, d3)
        return tensor.reshape(n1 * n2 * n3, self.embedding_dim)

    @property
    def nbytes(self) -> int:
        return _stored(*self.cores)


def tt_svd(matrix: np.ndarray, id_shape, dim_shape, ranks=None) -> list[np.ndarray]:
    """The TT-SVD (Oseledets, 2011) of an (n, dim) matrix as three cores shaped like
    :class:`TensorTrainEmbedding`'s: rows padded with zeros to n_1 n_2 n_3, the tensor's modes
    ordered (n_1 d_1)(n_2 d_2)(n_3 d_3), two truncated SVDs. ``ranks=None`` keeps full ranks (exact).
    """
    (n1, n2, n3), (d1, d2, d3) = tuple(id_shape), tuple(dim_shape)
    n, dim = matrix.shape
    if dim != d1 * d2 * d3 or n > n1 * n2 * n3:
        raise ValueError(f"a ({n}, {dim}) matrix does not fit id_shape {tuple(id_shape)} x dim_shape {tuple(dim_shape)}")
    padded = np.zeros((n1 * n2 * n3, dim))
    padded[:n] = matrix
    tensor = padded.reshape(n1, n2, n3, d1, d2, d3).transpose(0, 3, 1, 4, 2, 5)  # (n1,d1,n2,d2,n3,d3)
    r1 = min(n1 * d1, n2 * d2 * n3 * d3) if ranks is None else min(ranks[0], n1 * d1, n2 * d2 * n3 * d3)
    r2_max = min(r1 * n2 * d2, n3 * d3)  # after the first truncation
    r2 = r2_max if ranks is None else min(ranks[1], r2_max)
    u, s, vt = np.linalg.svd(tensor.reshape(n1 * d1, -1), full_matrices=False)
    core1 = u[:, :r1].reshape(n1, d1, r1)
    rest = (s[:r1, None] * vt[:r1]).reshape(r1 * n2 * d2, n3 * d3)
    u, s, vt = np.linalg.svd(rest, full_matrices=False)
    core2 = u[:, :r2].reshape(r1, n2, d2, r2).transpose(1, 0, 2, 3)  # (n2, r1, d2, r2)
    core3 = (s[:r2, None] * vt[:r2]).reshape(r2, n3, d3).transpose(1, 0, 2)  # (n3, r2, d3)
    return [core1, core2, core3]


# --------------------------------------------------------------------------------------------
# Specs: what a model takes, built once the vocabulary and its counts are known
# --------------------------------------------------------------------------------------------
class _Spec:
    compression: float

    def build(self, n_ids: int, dim: int, counts=None, init_std: float = 0.01, generator=None) -> nn.Module:
        """The table for ids 0 .. n_ids - 1 of width ``dim``; ``counts`` (n_ids,) are the ids'
        training frequencies (the frequency-aware methods need them)."""
        check_positive_int(n_ids, "n_ids")
        check_positive_int(dim, "dim")
        check_non_negative(init_std, "init_std")
        self._check()
        if _check_compression(self.compression) == 1:
            return PlainEmbedding(n_ids, dim, init_std, generator)
        return self._build(n_ids, dim, counts, init_std, generator)

    def _check(self) -> None:
        """Check the spec's own settings (also at compression 1, where they are not used)."""

    def _build(self, n_ids, dim, counts, init_std, generator):
        raise NotImplementedError


def _check_counts(counts, n_ids: int, method: str) -> np.ndarray:
    if counts is None:
        raise ValueError(f"{method} needs the ids' training counts (counts=, shape ({n_ids},)); the MF models pass them")
    counts = np.asarray(counts)
    if counts.shape != (n_ids,) or not np.issubdtype(counts.dtype, np.number) or (counts < 0).any():
        raise ValueError(f"counts must be ({n_ids},) non-negative numbers; got {describe(counts)}")
    return counts


def _by_popularity(counts: np.ndarray) -> np.ndarray:
    """Ids, most frequent first (ties by id: deterministic)."""
    return np.lexsort((np.arange(counts.size), -counts))


@dataclass(frozen=True)
class Hashing(_Spec):
    """The hashing trick at ``compression``: m = n_ids * dim * 4 / compression bytes of rows,
    one hash or the sum of two."""

    compression: float
    hashes: int = 1
    seed: int = 0

    def _build(self, n_ids, dim, counts, init_std, generator):
        hashes = check_positive_int(self.hashes, "hashes", maximum=2)
        rows = (_budget(n_ids, dim, self.compression) - 8 * hashes) // (dim * FLOAT_BYTES)
        if rows < 1:
            raise _cannot("Hashing", n_ids, dim, self.compression, "not even one row fits")
        return HashedEmbedding(n_ids, rows, dim, hashes, self.seed, init_std, generator)


def qr_sizes(n_ids: int, max_rows: int) -> tuple[int, ...] | None:
    """Part sizes of a compositional table for ``n_ids`` ids in at most ``max_rows`` rows in all:
    two parts (remainder m as large as fits, quotient ceil(n / m)) when they fit, else the fewest
    equal-radix parts that fit; None when none does."""
    if max_rows * max_rows >= 4 * n_ids:  # two parts: m + ceil(n / m) <= max_rows for some m
        m = min(n_ids - 1, int((max_rows + math.sqrt(max_rows * max_rows - 4 * n_ids)) / 2) + 1)
        while m >= 1 and m + -(-n_ids // m) > max_rows:
            m -= 1
        if m >= 1:
            return (m, -(-n_ids // m))
    for parts in range(3, max(3, int(math.log2(max(n_ids, 2)))) + 1):
        base = math.ceil(n_ids ** (1 / parts))
        while base ** parts < n_ids:
            base += 1
        if parts * base <= max_rows:
            return (base,) * parts
    return None


@dataclass(frozen=True)
class QuotientRemainder(_Spec):
    """Quotient-remainder compositional embeddings at ``compression`` (more parts when two cannot fit)."""

    compression: float

    def _build(self, n_ids, dim, counts, init_std, generator):
        max_rows = _budget(n_ids, dim, self.compression) // (dim * FLOAT_BYTES)
        sizes = qr_sizes(n_ids, max_rows)
        if sizes is None:
            raise _cannot("QuotientRemainder", n_ids, dim, self.compression,
                          f"{max_rows} rows in all cannot give {n_ids} ids distinct combinations")
        return QuotientRemainderEmbedding(n_ids, sizes, dim, init_std, generator)


def _tail_table(kind: str, n_ids: int, tail_bytes: int, dim: int, seed: int, init_std: float, generator):
    rows = tail_bytes // (dim * FLOAT_BYTES)
    if kind == "shared":
        return _SharedRow(dim, init_std, generator) if rows >= 1 else None
    if kind == "hash":
        rows = (tail_bytes - 8) // (dim * FLOAT_BYTES)
        return HashedEmbedding(n_ids, rows, dim, 1, seed, init_std, generator) if rows >= 1 else None
    sizes = qr_sizes(n_ids, rows)
    return None if sizes is None else QuotientRemainderEmbedding(n_ids, sizes, dim, init_std, generator)


@dataclass(frozen=True)
class FrequencyAware(_Spec):
    """Popular ids keep their own rows, the rest share a ``tail`` table: ``"hash"`` (hashed rows),
    ``"qr"`` (quotient-remainder) or ``"shared"`` (one row: frequency-based pruning).

    Args:
        compression: the plain table's bytes over the budget.
        head_share: share of the budget spent on the head's own rows (and their id list); the
            rest goes to the tail. Ignored for ``"shared"`` (the tail is one row).
        tail: ``"hash"``, ``"qr"`` or ``"shared"``.
        seed: the tail hash's seed.
    """

    compression: float
    head_share: float = 0.5
    tail: str = "hash"
    seed: int = 0

    def _check(self) -> None:
        if self.tail not in ("hash", "qr", "shared"):
            raise ValueError(f"tail must be 'hash', 'qr' or 'shared'; got {self.tail!r}")
        if not 0 < self.head_share <= 1:
            raise ValueError(f"head_share must be in (0, 1]; got {self.head_share!r}")

    def _build(self, n_ids, dim, counts, init_std, generator):
        counts = _check_counts(counts, n_ids, "FrequencyAware")
        budget = _budget(n_ids, dim, self.compression)
        per_head_row = dim * FLOAT_BYTES + torch.iinfo(_index_dtype(n_ids)).bits // 8
        share = 1.0 if self.tail == "shared" else self.head_share
        tail_bytes = budget - int(budget * share) if self.tail != "shared" else dim * FLOAT_BYTES
        n_head = min(n_ids, (budget - tail_bytes) // per_head_row)
        # A hashed tail takes any id (also ids never seen); a composed tail only the tail's ids.
        tail_ids = n_ids - n_head if self.tail == "qr" else n_ids
        tail = _tail_table(self.tail, max(tail_ids, 1), tail_bytes, dim, self.seed, init_std, generator)
        if tail is None or n_head < 1:
            raise _cannot(f"FrequencyAware(tail={self.tail!r}, head_share={self.head_share})", n_ids, dim,
                          self.compression, "the head or the tail gets no row")
        head_ids = _by_popularity(counts)[:n_head]
        return FrequencyAwareEmbedding(head_ids, n_ids, dim, tail, init_std, generator)


def FrequencyPruning(compression: float) -> FrequencyAware:
    """Frequency-based pruning of rare rows: the most frequent ids that fit keep their rows, every
    other id shares one row (a :class:`FrequencyAware` spec with ``tail="shared"``)."""
    return FrequencyAware(compression, head_share=1.0, tail="shared")


@dataclass(frozen=True)
class MixedDimension(_Spec):
    """Mixed dimensions by popularity (Ginart et al.): ids ranked by training count into ``blocks``
    blocks of doubling size (the most popular 1/2**(B-1)... the rarest half), block k of width
    d_k = w * (p_k / p_0) ** alpha, p_k the block's mean count, the scale w as large as the budget allows.

    Args:
        compression: the plain table's bytes over the budget.
        alpha: how fast width falls with popularity (0: one width for all, like a smaller table).
        blocks: number of popularity blocks.
        learn_projections: learned (d_k, dim) projections instead of zero padding (see
            :class:`MixedDimensionEmbedding`).
    """

    compression: float
    alpha: float = 0.3
    blocks: int = 4
    learn_projections: bool = False

    def plan(self, n_ids: int, dim: int, counts) -> list[tuple[np.ndarray, int]]:
        """[(ids, width), ...] of each block, most popular first."""
        counts = _check_counts(counts, n_ids, "MixedDimension")
        n_blocks = check_positive_int(self.blocks, "blocks")
        check_non_negative(self.alpha, "alpha")
        order = _by_popularity(counts)
        # Block k (k = 0 most popular) ends at n / 2**(B-1-k): sizes double toward the tail.
        ends = [int(round(n_ids / 2 ** (n_blocks - 1 - k))) for k in range(n_blocks)]
        starts = [0] + ends[:-1]
        id_blocks = [order[a:b] for a, b in zip(starts, ends) if b > a]
        mean = np.array([max(counts[ids].mean(), 1e-12) for ids in id_blocks])
        relative = (mean / mean[0]) ** self.alpha
        budget = _budget(n_ids, dim, self.compression)
        index_bytes = torch.iinfo(_index_dtype(n_ids)).bits // 8

        def widths(scale):
            return [int(min(dim, max(1, math.floor(scale * r)))) for r in relative]

        def cost(ws):
            total = 0
            for k, (ids, w) in enumerate(zip(id_blocks, ws)):
                total += ids.size * w * FLOAT_BYTES
                total += w * dim * FLOAT_BYTES if self.learn_projections and w < dim else 0
                total += ids.size * index_bytes if k < len(id_blocks) - 1 else 0
            return total

        if cost(widths(0)) > budget:
            raise _cannot("MixedDimension", n_ids, dim, self.compression, "even width 1 everywhere does not fit")
        low, high = 0.0, float(dim) / float(relative.min())
        for _ in range(60):  # the largest scale whose widths fit the budget
            middle = (low + high) / 2
            low, high = (middle, high) if cost(widths(middle)) <= budget else (low, middle)
        return list(zip(id_blocks, widths(low)))

    def _build(self, n_ids, dim, counts, init_std, generator):
        return MixedDimensionEmbedding(self.plan(n_ids, dim, counts), n_ids, dim, init_std, generator,
                                       self.learn_projections)


def _three_factors(value: int, at_least: bool) -> tuple[int, int, int]:
    """Three factors near the cube root: with product exactly ``value`` (dims) or >= it (ids)."""
    if at_least:
        base = max(1, round(value ** (1 / 3)))
        shape = [base, base, base]
        k = 0
        while math.prod(shape) < value:
            shape[k % 3] += 1
            k += 1
        return tuple(sorted(shape, reverse=True))
    best = None
    for a in range(1, value + 1):
        for b in range(1, value // a + 1):
            if value % (a * b) == 0:
                c = value // (a * b)
                spread = max(a, b, c) - min(a, b, c)
                if best is None or spread < best[0]:
                    best = (spread, tuple(sorted((a, b, c), reverse=True)))
    return best[1]


@dataclass(frozen=True)
class TensorTrain(_Spec):
    """Tensor-train embeddings (TT-Rec) at ``compression``: three cores, id and dim factored near
    their cube roots, equal TT ranks r as large as the budget allows, at most ``max_rank``
    (a row costs about d r^2 multiply-adds to rebuild: TT-Rec's ranks are 8 to 64)."""

    compression: float
    max_rank: int = 32

    def _build(self, n_ids, dim, counts, init_std, generator):
        id_shape, dim_shape = _three_factors(n_ids, at_least=True), _three_factors(dim, at_least=False)
        (n1, n2, n3), (d1, d2, d3) = id_shape, dim_shape
        numbers = _budget(n_ids, dim, self.compression) // FLOAT_BYTES
        # n1 d1 r + n2 d2 r^2 + n3 d3 r <= numbers: the largest integer r.
        a, b = n2 * d2, n1 * d1 + n3 * d3
        rank = min(check_positive_int(self.max_rank, "max_rank"), int((-b + math.sqrt(b * b + 4 * a * numbers)) / (2 * a)))
        if rank < 1:
            raise _cannot("TensorTrain", n_ids, dim, self.compression, "not even TT rank 1 fits")
        return TensorTrainEmbedding(n_ids, id_shape, dim_shape, (rank, rank), init_std, generator)
