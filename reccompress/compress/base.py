"""Storage tables, and the compressed recommenders built from them.

A compressed model is a reference model's tables stored differently. This module holds the
two halves of that sentence:

**Storage tables** (:class:`Table`) are small classes for one (n_rows, n_cols) matrix: each
declares the arrays it stores (``arrays()``, whose bytes are its ``nbytes``) and gives back its
rows (``rows(ids)``) and the two products a recommender needs (``left_multiply(x) = x @ T`` and
``score_against(u) = u @ T^T``). :class:`DenseTable` and :class:`CSRTable` are here; the later
chapters add quantized codes with scales, packed sub-byte codes, product-quantized codes with
codebooks, and hashed / quotient-remainder / tensor-train tables. A new storage format is one
small class (and a test).

**Compressed recommenders** keep the recommender protocol, are built by a compression verb
(never fitted), know the model they came from (``source_``) and how (``recipe_``):

- :class:`FactorRecommender`: scores = (user vector) @ item_table^T, optionally times one
  scale per item and plus one bias per item. The user vector is a row of a user table, or the
  user's history folded in: (x_u @ fold_in) * fold_in_weights (as PureSVD and EASE's low-rank
  forms do, so a user needs no stored row).
- :class:`ItemItemRecommender`: scores = x_u @ W with W an (n_items, n_items) table.
- :class:`ModuleRecommender`: a torch module's ``score_users`` (a pruned or quantized NCF,
  a masked BPR-MF), with its bytes counted layer by layer.

:func:`factor_model` reads any matrix-factorization model as a :class:`FactorRecommender` with
dense tables, losslessly: the one door through which every factor compression enters.
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp

from .._checks import check_fitted, check_ids, check_user_items, describe
from ..measure import nbytes as count_bytes
from ..models.base import ModuleScoring, Recommender

__all__ = [
    "DERIVED",
    "CSRTable",
    "CompressedRecommender",
    "DenseTable",
    "FactorRecommender",
    "ItemItemRecommender",
    "ModuleRecommender",
    "Table",
    "factor_model",
]


DERIVED = "derived"  # an item scale recomputed from the stored table (see FactorRecommender)


# --------------------------------------------------------------------------------------------
# Storage tables
# --------------------------------------------------------------------------------------------
class Table:
    """One stored (n_rows, n_cols) matrix. Subclasses set ``shape`` and write :meth:`arrays` and
    :meth:`rows`; the products default to the dense matrix and may be specialised."""

    shape: tuple[int, int]

    def arrays(self) -> dict:
        """``{name: array}`` of what this table stores; ``nbytes`` is their total."""
        raise NotImplementedError

    def rows(self, ids) -> np.ndarray:
        """(len(ids), n_cols) float32 rows, decoded."""
        raise NotImplementedError

    @property
    def nbytes(self) -> int:
        return count_bytes(*self.arrays().values())

    def to_dense(self) -> np.ndarray:
        """The whole (n_rows, n_cols) matrix as float32."""
        return self.rows(np.arange(self.shape[0]))

    def left_multiply(self, x) -> np.ndarray:
        """``x @ T`` for a (batch, n_rows) dense array or sparse matrix: (batch, n_cols) float32."""
        return np.asarray(x @ self.to_dense(), dtype=np.float32)

    def score_against(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors @ T^T`` for (batch, n_cols) vectors: (batch, n_rows) float32, e.g. user
        vectors against an item table."""
        return np.asarray(vectors @ self.to_dense().T, dtype=np.float32)

    def _check_ids(self, ids) -> np.ndarray:
        return check_ids(ids, "ids", self.shape[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.shape[0]} x {self.shape[1]}, {self.nbytes:,} bytes)"


def _check_matrix_2d(values, name: str) -> None:
    if not isinstance(values, np.ndarray) or values.ndim != 2:
        raise TypeError(f"{name} must be a 2-D numpy array; got {describe(values)}")
    if not np.issubdtype(values.dtype, np.floating):
        raise TypeError(f"{name} must hold floating-point numbers; got dtype {values.dtype}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or infinite values")


class DenseTable(Table):
    """A dense floating-point table, stored as given (float32 by default).

    Args:
        values: (n_rows, n_cols) floating array.
        dtype: storage dtype, e.g. ``np.float32`` or ``np.float16``; rows decode to float32.
    """

    def __init__(self, values: np.ndarray, dtype=np.float32):
        _check_matrix_2d(values, "values")
        self.values = np.ascontiguousarray(values, dtype=dtype)
        self.shape = self.values.shape

    def arrays(self) -> dict:
        return {"values": self.values}

    def rows(self, ids) -> np.ndarray:
        return self.values[self._check_ids(ids)].astype(np.float32, copy=False)

    def to_dense(self) -> np.ndarray:
        return self.values.astype(np.float32, copy=False)


class CSRTable(Table):
    """A sparse table in CSR form: float32 values, int32 column indices and row pointers.

    Only stored entries cost bytes: 8 per kept value (value + column index) plus 4 per row.

    Args:
        matrix: (n_rows, n_cols) scipy sparse matrix or dense array (zeros are dropped).
    """

    def __init__(self, matrix):
        if isinstance(matrix, np.ndarray):
            _check_matrix_2d(matrix, "matrix")
        elif not sp.issparse(matrix):
            raise TypeError(f"matrix must be a scipy sparse matrix or a 2-D numpy array; got {describe(matrix)}")
        csr = sp.csr_array(matrix, dtype=np.float32)
        csr.eliminate_zeros()
        csr.sum_duplicates()
        if max(csr.shape) > np.iinfo(np.int32).max or csr.nnz > np.iinfo(np.int32).max:
            raise ValueError(f"a {csr.shape} table with {csr.nnz:,} entries does not fit int32 indices")
        csr.indices = csr.indices.astype(np.int32)
        csr.indptr = csr.indptr.astype(np.int32)
        self.matrix = csr
        self.shape = csr.shape

    def arrays(self) -> dict:
        return {"data": self.matrix.data, "indices": self.matrix.indices, "indptr": self.matrix.indptr}

    @property
    def density(self) -> float:
        """Share of the n_rows * n_cols cells stored."""
        return self.matrix.nnz / (self.shape[0] * self.shape[1])

    def rows(self, ids) -> np.ndarray:
        return self.matrix[self._check_ids(ids)].toarray()

    def to_dense(self) -> np.ndarray:
        return self.matrix.toarray()

    def left_multiply(self, x) -> np.ndarray:
        # The result is dense anyway (every column gets a value), so a sparse x is densified and
        # multiplied by the sparse table: cost ~ nnz(T) per row of x, measured 2x faster than
        # scipy's sparse x sparse product, which builds a sparse result first.
        dense = x.toarray() if sp.issparse(x) else x
        return np.asarray(dense @ self.matrix, dtype=np.float32)

    def score_against(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray((self.matrix @ np.asarray(vectors).T).T, dtype=np.float32)


def _check_table(table, name: str, shape: tuple | None = None) -> Table:
    if not isinstance(table, Table):
        raise TypeError(f"{name} must be a storage table (e.g. DenseTable(values)); got {describe(table)}")
    if shape is not None:
        for axis, (got, expected) in enumerate(zip(table.shape, shape)):
            if expected is not None and got != expected:
                raise ValueError(f"{name} must have shape {shape} (None: any); got {table.shape}")
    return table


def _check_vector(values, name: str, length: int) -> np.ndarray:
    """A (length,) finite float vector, kept in float16 if given so (it is stored, and counted,
    as it comes), else float32."""
    if not isinstance(values, np.ndarray) or values.shape != (length,):
        raise ValueError(f"{name} must be a numpy array of shape ({length},); got {describe(values)}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return values if values.dtype == np.float16 else values.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# Compressed recommenders
# --------------------------------------------------------------------------------------------
class CompressedRecommender(Recommender):
    """A model built by a compression verb from a fitted model, never by ``fit``.

    Attributes:
        user_items_: the training matrix of the model it came from (the users' histories).
        source_: the model it was built from (not counted in ``nbytes``).
        recipe_: how it was built: ``{"verb": name, **the verb's arguments}``.
    """

    def __init__(self, user_items, *, source=None, recipe: dict | None = None):
        check_user_items(user_items, "user_items")
        self.user_items_ = user_items
        self.source_ = source
        self.recipe_ = dict(recipe or {"verb": "built by hand"})

    def fit(self, user_items):
        raise RuntimeError(
            f"{type(self).__name__} is built by a compression verb ({self.recipe_.get('verb')}), not fitted; "
            "fit the reference model on the new data and compress it again"
        )

    def with_user_items(self, user_items) -> "CompressedRecommender":
        """The same stored model serving other histories (same shape: users x items), e.g. the
        histories as they stand later in time; nothing stored is refitted."""
        check_user_items(user_items, "user_items")
        if user_items.shape != self.user_items_.shape:
            raise ValueError(f"user_items must have the model's shape {self.user_items_.shape} (users x items); "
                             f"got {user_items.shape}")
        served = copy.copy(self)
        served.user_items_ = user_items
        return served

    def get_params(self) -> dict:
        """How the model was built (its ``recipe_``): a compressed model has no unfitted form."""
        return dict(self.recipe_)

    def __repr__(self) -> str:
        recipe = dict(self.recipe_)
        verb = recipe.pop("verb", "?")
        arguments = ", ".join(f"{key}={value!r}" for key, value in recipe.items())
        return f"{type(self).__name__}({verb}({arguments}))"


class FactorRecommender(CompressedRecommender):
    """A matrix-factorization model stored as tables.

    scores(u) = (user vector of u) @ item_table^T [* item_scale] [+ item_bias], where the user
    vector is ``user_table.rows([u])`` or, with a fold-in table F (n_items, rank),
    ``(x_u @ F) * fold_in_weights``. One table may serve both roles (it is stored once).

    Args:
        item_table: (n_items, rank) table.
        user_items: (n_users, n_items) training matrix.
        user_table: (n_users, rank) table; or None with ``fold_in``.
        fold_in: (n_items, rank) table folding a history into a user vector; or None.
        fold_in_weights: (rank,) weights applied to folded-in vectors (default: none).
        item_scale: (n_items,) one multiplier per item (default: none), or ``"derived"``: EASE's
            per-item scale 1 / (1 - sum_k w_k T_jk^2), recomputed from the stored table T (which
            must also be the fold-in table) and the fold-in weights w whenever scores are computed,
            so that it costs no stored bytes and follows the table if the table is quantized.
        item_bias: (n_items,) one offset per item (default: none).
        source, recipe: see :class:`CompressedRecommender`.
    """

    def __init__(self, item_table: Table, user_items, *, user_table: Table | None = None,
                 fold_in: Table | None = None, fold_in_weights=None, item_scale=None, item_bias=None,
                 source=None, recipe: dict | None = None):
        super().__init__(user_items, source=source, recipe=recipe)
        n_users, n_items = user_items.shape
        self.item_table_ = _check_table(item_table, "item_table", (n_items, None))
        rank = item_table.shape[1]
        if (user_table is None) == (fold_in is None):
            raise ValueError("give exactly one user side: user_table (a row per user) or fold_in (history x table)")
        self.user_table_ = None if user_table is None else _check_table(user_table, "user_table", (n_users, rank))
        self.fold_in_ = None if fold_in is None else _check_table(fold_in, "fold_in", (n_items, rank))
        if fold_in_weights is not None and fold_in is None:
            raise ValueError("fold_in_weights apply to folded-in users; give fold_in as well")
        self.fold_in_weights_ = None if fold_in_weights is None else _check_vector(fold_in_weights, "fold_in_weights", rank)
        if isinstance(item_scale, str):
            if item_scale != DERIVED:
                raise ValueError(f"item_scale must be a ({n_items},) array, None or {DERIVED!r}; got {item_scale!r}")
            if fold_in is not item_table or fold_in_weights is None:
                raise ValueError("a derived item scale needs the item table to be the fold-in table and fold-in "
                                 "weights (the truncated-EASE form); store the scales as an array instead")
            self.item_scale_ = DERIVED
        else:
            self.item_scale_ = None if item_scale is None else _check_vector(item_scale, "item_scale", n_items)
        self.item_bias_ = None if item_bias is None else _check_vector(item_bias, "item_bias", n_items)

    @property
    def rank(self) -> int:
        """Latent width."""
        return self.item_table_.shape[1]

    @property
    def user_factors_(self) -> np.ndarray | None:
        """(n_users, rank) float32, or None when users are folded in."""
        return None if self.user_table_ is None else self.user_table_.to_dense()

    @property
    def item_factors_(self) -> np.ndarray:
        """(n_items, rank) float32."""
        return self.item_table_.to_dense()

    def user_vectors(self, user_ids) -> np.ndarray:
        """(len(user_ids), rank) float32 user vectors."""
        user_ids = check_ids(user_ids, "user_ids", self.user_items_.shape[0])
        if self.user_table_ is not None:
            return self.user_table_.rows(user_ids)
        vectors = self.fold_in_.left_multiply(self.user_items_[user_ids])
        return vectors if self.fold_in_weights_ is None else vectors * self.fold_in_weights_

    def derived_item_scale(self) -> np.ndarray:
        """(n_items,) float32: 1 / (1 - sum_k w_k T_jk^2) from the (decoded) item table T and the
        fold-in weights w: what a ``"derived"`` item scale stands for."""
        if self.fold_in_weights_ is None:
            raise ValueError("a derived item scale needs fold-in weights; this model has none")
        table = self.item_table_.to_dense().astype(np.float64)
        kept = 1.0 - (table**2) @ self.fold_in_weights_.astype(np.float64)
        return (1.0 / np.maximum(kept, np.finfo(np.float32).tiny)).astype(np.float32)

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        scores = self.item_table_.score_against(self.user_vectors(user_ids))
        if isinstance(self.item_scale_, str):
            scores *= self.derived_item_scale()
        elif self.item_scale_ is not None:
            scores *= self.item_scale_
        if self.item_bias_ is not None:
            scores += self.item_bias_
        return scores

    def _inference_arrays(self) -> dict:
        arrays = {}
        for role in ("user_table_", "fold_in_", "item_table_"):
            table = getattr(self, role)
            if table is not None and all(table is not other for other in arrays.values()):
                arrays[role] = table
        for role in ("fold_in_weights_", "item_scale_", "item_bias_"):
            if getattr(self, role) is not None and not isinstance(getattr(self, role), str):
                arrays[role] = getattr(self, role)
        return arrays


class ItemItemRecommender(CompressedRecommender):
    """An item-item model stored as a table: scores = x_u @ W, W (n_items, n_items).

    Args:
        weights: (n_items, n_items) table.
        user_items, source, recipe: see :class:`CompressedRecommender`.
    """

    def __init__(self, weights: Table, user_items, *, source=None, recipe: dict | None = None):
        super().__init__(user_items, source=source, recipe=recipe)
        n_items = user_items.shape[1]
        self.weights_ = _check_table(weights, "weights", (n_items, n_items))

    @property
    def density(self) -> float:
        """Share of the n_items^2 weights stored (1.0 for a dense table)."""
        return getattr(self.weights_, "density", 1.0)

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        return self.weights_.left_multiply(self.user_items_[user_ids])

    def _inference_arrays(self) -> dict:
        return {"weights_": self.weights_}


class ModuleRecommender(ModuleScoring, CompressedRecommender):
    """A torch module with ``score_users`` behind the protocol (e.g. a pruned or quantized NCF).

    Its bytes are :func:`reccompress.measure.module_nbytes` of the module: a masked layer counts
    its effective weight, a quantized layer its codes and scales, an unknown layer is an error.

    Args:
        module: the torch module (used as is; the verbs pass a copy).
        user_items, source, recipe: see :class:`CompressedRecommender`.
    """

    def __init__(self, module, user_items, *, source=None, recipe: dict | None = None):
        super().__init__(user_items, source=source, recipe=recipe)
        if not callable(getattr(module, "score_users", None)):
            raise TypeError(f"module must be a torch module with score_users(users); got {describe(module)}")
        self.module_ = module.eval()

    @property
    def user_factors_(self) -> np.ndarray:
        return self._mf_factors()[0]

    @property
    def item_factors_(self) -> np.ndarray:
        return self._mf_factors()[1]

    def _mf_factors(self):
        if not callable(getattr(self.module_, "factors", None)):
            raise TypeError(f"{type(self.module_).__name__} is not a matrix-factorization module; it has no factors")
        return self.module_.factors()


# --------------------------------------------------------------------------------------------
# The one door for factor models
# --------------------------------------------------------------------------------------------
def _has_factors(model) -> bool:
    try:
        return getattr(model, "item_factors_", None) is not None
    except TypeError:  # a ModuleRecommender around a non-MF module
        return False


def factor_model(model) -> FactorRecommender:
    """Any fitted matrix-factorization model as a :class:`FactorRecommender` with dense tables.

    Lossless: the result scores like the model (up to float32 rounding of the arithmetic
    order). PureSVD folds users in (its item table serves both roles), ItemOnlyMF through its
    own fold-in table; ALS, BPR-MF and pruned
    BPR-MF keep a user table; BiasedMF keeps its item biases (the user bias and global mean
    shift all of a user's scores alike and cannot change a ranking, so they are dropped).
    A FactorRecommender is returned as is.
    """
    if isinstance(model, FactorRecommender):
        return model
    if not isinstance(model, Recommender) or not _has_factors(model):
        raise TypeError(
            f"expected a fitted matrix-factorization model (PureSVD, ImplicitALS, BiasedMF, BPRMF, or one "
            f"compressed from them); got {describe(model)}"
        )
    check_fitted(model, "user_items_")
    items = DenseTable(model.item_factors_)
    recipe = {"verb": "factor_model"}
    bias = getattr(model, "item_bias_", None)
    if model.user_factors_ is None:
        # Users folded in: through their own table where the model has one (ItemOnlyMF), else
        # through the item table (PureSVD).
        fold_in = getattr(model, "fold_in_factors_", None)
        fold_in = items if fold_in is None else DenseTable(fold_in)
        return FactorRecommender(items, model.user_items_, fold_in=fold_in, item_bias=bias, source=model, recipe=recipe)
    return FactorRecommender(items, model.user_items_, user_table=DenseTable(model.user_factors_), item_bias=bias,
                             source=model, recipe=recipe)
