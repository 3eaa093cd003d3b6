"""Product quantization (Jégou, Douze and Schmid, 2011): many rows, few distinct sub-rows.

Split each row of an (n, r) table into m sub-vectors of r / m numbers. In each of the m
sub-spaces, k-means learns a codebook of K centroids, and every sub-vector is replaced by the
index of its nearest centroid: a row costs m codes of log2 K bits, plus the codebooks once,
m K (r / m) numbers. With many rows the codebooks amortise; with few they dominate.

Scoring is **asymmetric**: a user's vector u is not quantized. For each sub-space j one lookup
table LUT_j = C_j u_j holds the K dot products of u's j-th sub-vector with the centroids, and an
item's score is the sum over j of LUT_j[code_ij]: K r multiply-adds per user plus m lookups per
item, instead of n r multiply-adds.

:func:`kmeans` is written out here (k-means++ start, Lloyd iterations) because the book teaches
it; the chapter runs faiss's implementation beside it. :class:`PQTable` is the storage table,
:func:`product_quantize` the verb.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_choice, check_positive_int, check_seed, describe
from .base import CompressedRecommender, DenseTable, FactorRecommender, Table, factor_model
from .quantize import pack, unpack

__all__ = ["METRICS", "PQTable", "kmeans", "pq_table", "product_quantize"]

TABLES = ("items", "all")


def kmeans(points: np.ndarray, k: int, iterations: int = 25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with a k-means++ start.

    Args:
        points: (n, d) floats.
        k: centroids, at most n.
        iterations: Lloyd iterations (assign every point to its nearest centroid, move each
            centroid to the mean of its points); stops early when nothing changes.
        seed: seeds the k-means++ draws.

    Returns:
        ``(centroids, assignment)``: (k, d) float64 and (n,) int64. A centroid that loses all its
        points is moved to the point farthest from its own centroid.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or not np.all(np.isfinite(points)):
        raise ValueError(f"points must be a finite 2-D array (n, d); got {describe(points)}")
    k = check_positive_int(k, "k", maximum=points.shape[0])
    iterations = check_positive_int(iterations, "iterations")
    rng = np.random.default_rng(check_seed(seed))
    # k-means++: each new centroid drawn with probability proportional to its squared distance
    # from the nearest centroid chosen so far.
    centroids = np.empty((k, points.shape[1]))
    centroids[0] = points[rng.integers(points.shape[0])]
    nearest = ((points - centroids[0]) ** 2).sum(axis=1)
    for index in range(1, k):
        total = nearest.sum()
        choice = rng.choice(points.shape[0], p=nearest / total) if total > 0 else rng.integers(points.shape[0])
        centroids[index] = points[choice]
        nearest = np.minimum(nearest, ((points - centroids[index]) ** 2).sum(axis=1))
    assignment = np.full(points.shape[0], -1)
    for _ in range(iterations):
        distances = ((points**2).sum(1)[:, None] - 2 * points @ centroids.T + (centroids**2).sum(1)[None, :])
        new_assignment = distances.argmin(axis=1)
        if np.array_equal(new_assignment, assignment):
            break
        assignment = new_assignment
        counts = np.bincount(assignment, minlength=k)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assignment, points)
        empty = counts == 0
        centroids[~empty] = sums[~empty] / counts[~empty, None]
        if empty.any():  # re-seed empty clusters at the worst-fitted points
            worst = np.argsort(-distances[np.arange(points.shape[0]), assignment])[: int(empty.sum())]
            centroids[empty] = points[worst]
    return centroids, assignment


class PQTable(Table):
    """An (n, r) table stored as m codes per row and m codebooks of K centroids.

    Stored arrays: ``codes`` (n m codes of log2 K bits, packed when K is 16, 4 or 2),
    ``codebooks`` (m, K, r / m) in float32 or float16 and, when the sub-spaces are not runs of
    consecutive columns, ``dims`` (r,): sub-space j holds columns ``dims[j r/m : (j+1) r/m]``.

    Args:
        codes: (n, m) integer codes in [0, K).
        codebooks: (m, K, r / m) floats.
        codebook_dtype: storage dtype of the codebooks.
        dims: (r,) a permutation of the columns (default: consecutive runs).
    """

    def __init__(self, codes: np.ndarray, codebooks: np.ndarray, codebook_dtype=np.float32, dims=None):
        codes, codebooks = np.asarray(codes), np.asarray(codebooks)
        if codebooks.ndim != 3 or codes.ndim != 2 or codes.shape[1] != codebooks.shape[0]:
            raise ValueError(f"codes (n, m) and codebooks (m, K, r/m) must agree on m; got {codes.shape} and "
                             f"{codebooks.shape}")
        n_centroids = codebooks.shape[1]
        if n_centroids not in (2, 4, 16, 256):
            raise ValueError(f"the number of centroids must be 2, 4, 16 or 256 (codes of 1, 2, 4 or 8 bits); "
                             f"got {n_centroids}")
        self.bits = int(np.log2(n_centroids))
        self.n_subspaces, self.n_centroids = codes.shape[1], n_centroids
        self.shape = (codes.shape[0], codebooks.shape[0] * codebooks.shape[2])
        self.codes = pack(codes, self.bits)
        self.codebooks = np.ascontiguousarray(codebooks, dtype=codebook_dtype)
        self.dims = None
        if dims is not None:
            dims = np.asarray(dims)
            if dims.shape != (self.shape[1],) or not np.array_equal(np.sort(dims), np.arange(self.shape[1])):
                raise ValueError(f"dims must be a permutation of the {self.shape[1]} columns; got {describe(dims)}")
            if not np.array_equal(dims, np.arange(self.shape[1])):
                self.dims = dims.astype(np.uint8 if self.shape[1] <= 256 else np.uint16)

    def arrays(self) -> dict:
        arrays = {"codes": self.codes, "codebooks": self.codebooks}
        return arrays if self.dims is None else {**arrays, "dims": self.dims}

    def _subspace_columns(self):
        """For each sub-space, the columns it holds."""
        width = self.shape[1] // self.n_subspaces
        order = np.arange(self.shape[1]) if self.dims is None else self.dims.astype(np.int64)
        return [order[j * width : (j + 1) * width] for j in range(self.n_subspaces)]

    def unpacked_codes(self) -> np.ndarray:
        """(n, m) uint8 codes."""
        return unpack(self.codes, self.bits, self.shape[0] * self.n_subspaces).reshape(self.shape[0], -1)

    def rows(self, ids) -> np.ndarray:
        ids = self._check_ids(ids)
        codes = self.unpacked_codes()[ids]  # (len(ids), m)
        books = self.codebooks.astype(np.float32)
        out = np.empty((len(ids), self.shape[1]), dtype=np.float32)
        for j, columns in enumerate(self._subspace_columns()):
            out[:, columns] = books[j][codes[:, j]]
        return out

    def score_against(self, vectors: np.ndarray) -> np.ndarray:
        """Asymmetric scores ``vectors @ T^T`` through one lookup table per sub-space."""
        vectors = np.asarray(vectors, dtype=np.float32)
        books = self.codebooks.astype(np.float32)
        codes = self.unpacked_codes()
        scores = np.zeros((vectors.shape[0], self.shape[0]), dtype=np.float32)
        for j, columns in enumerate(self._subspace_columns()):
            lookup = vectors[:, columns] @ books[j].T  # (batch, K)
            scores += lookup[:, codes[:, j]]
        return scores

    def __repr__(self) -> str:
        return (f"PQTable({self.shape[0]} x {self.shape[1]}, {self.n_subspaces} sub-spaces x {self.n_centroids} "
                f"centroids, {self.nbytes:,} bytes)")


def pq_table(values: np.ndarray, subspaces: int, centroids: int = 256, iterations: int = 25, seed: int = 0,
             codebook_dtype=np.float32, weights=None) -> PQTable:
    """Product-quantize an (n, r) float array with ``subspaces`` sub-spaces of ``centroids`` centroids.

    ``weights`` (r,), if given, says how much an error on each column costs: k-means then
    minimises sum_c weights[c] (error_c)^2 instead of the plain squared error (it runs on the
    columns scaled by sqrt(weights), and the centroids are scaled back), and the columns are
    dealt to the sub-spaces in turn from the heaviest down, so every sub-space carries a similar
    share of the weight (stored as the table's ``dims``).
    """
    values = np.asarray(values, dtype=np.float64)
    n_rows, width = values.shape
    subspaces = check_positive_int(subspaces, "subspaces", maximum=width)
    if width % subspaces:
        raise ValueError(f"subspaces must divide the table's {width} columns; got {subspaces}")
    if centroids not in (2, 4, 16, 256):
        raise ValueError(f"centroids must be 2, 4, 16 or 256 (codes of 1, 2, 4 or 8 bits); got {centroids}")
    if centroids > n_rows:
        raise ValueError(f"a table of {n_rows} rows cannot fill {centroids} centroids; use fewer")
    sub = width // subspaces
    dims, scale = np.arange(width), np.ones(width)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (width,) or not np.all(np.isfinite(weights)) or weights.min() <= 0:
            raise ValueError(f"weights must be {width} positive finite numbers, one per column; got {describe(weights)}")
        # Heaviest column to sub-space 0, next to 1, ...: sub-space j gets ranks j, j + m, j + 2m...
        dims = np.argsort(-weights, kind="stable").reshape(sub, subspaces).T.ravel()
        scale = np.sqrt(weights)
    codes = np.empty((n_rows, subspaces), dtype=np.uint8)
    books = np.empty((subspaces, centroids, sub))
    for j in range(subspaces):
        columns = dims[j * sub : (j + 1) * sub]
        centres, codes[:, j] = kmeans(values[:, columns] * scale[columns], centroids, iterations, seed + j)
        books[j] = centres / scale[columns]
    return PQTable(codes, books, codebook_dtype, dims=None if weights is None else dims)


METRICS = ("scores", "euclidean")


def product_quantize(model, subspaces: int, centroids: int = 256, *, tables: str = "items", metric: str = "euclidean",
                     iterations: int = 25, seed: int = 0, codebook_dtype=np.float32) -> CompressedRecommender:
    """A fitted factor model with its item table (``tables="items"``) or every table
    (``"all"``) product-quantized; other tables stay as they are.

    Args:
        model: a matrix-factorization model (see :func:`~reccompress.compress.base.factor_model`).
        subspaces: m, dividing the rank.
        centroids: K per sub-space: 256 (8-bit codes), 16, 4 or 2.
        tables: ``"items"`` or ``"all"``.
        metric: ``"euclidean"`` (default) is the textbook method: k-means on the table as stored,
            sub-space j holding consecutive columns. ``"scores"`` measures an error where it
            lands, in the scores: an error e on an item row changes the score of user u by
            u . e, whose mean square over users is sum_c E[u_c^2] e_c^2 (cross terms
            neglected). So each column is weighted by the mean square of the vectors it meets
            (every user's vector for the item table, every item's for the user table) and the
            columns are dealt to the sub-spaces by weight (:func:`pq_table`'s ``weights``). It pays
            when the columns differ in importance (PureSVD's, met by user vectors scaled by singular values), not
            when they are alike (a BPR-MF model's).
        iterations, seed: k-means settings (sub-space j uses seed + j).
        codebook_dtype: float32 or float16 codebooks.
    """
    check_choice(tables, "tables", TABLES)
    check_choice(metric, "metric", METRICS)
    factors = factor_model(model)
    if any(table is not None and not isinstance(table, DenseTable)
           for table in (factors.item_table_, factors.user_table_, factors.fold_in_)):
        raise TypeError("product_quantize needs dense float tables; quantize a float model, not a compressed one")
    weights = {"items": None, "users": None, "fold_in": None}
    if metric == "scores":
        def mean_square(vectors):
            return np.maximum((np.asarray(vectors, dtype=np.float64) ** 2).mean(axis=0), 1e-12)

        weights["items"] = mean_square(factors.user_vectors(np.arange(factors.user_items_.shape[0])))
        weights["users"] = mean_square(factors.item_factors_)
        # A fold-in row's error reaches a score through the fold-in weights, then the items.
        fold = 1.0 if factors.fold_in_weights_ is None else np.asarray(factors.fold_in_weights_, np.float64) ** 2
        weights["fold_in"] = np.maximum(weights["users"] * fold, 1e-12)
    stored = {}

    def table(source, compress: bool, meets: str):
        if source is None or not compress:
            return source
        if id(source) not in stored:
            stored[id(source)] = pq_table(source.to_dense(), subspaces, centroids, iterations, seed, codebook_dtype,
                                          weights=weights[meets])
        return stored[id(source)]

    every = tables == "all"
    items = table(factors.item_table_, True, "items")
    return FactorRecommender(
        items, factors.user_items_, user_table=table(factors.user_table_, every, "users"),
        fold_in=table(factors.fold_in_, every or factors.fold_in_ is factors.item_table_, "fold_in"),
        fold_in_weights=factors.fold_in_weights_, item_scale=factors.item_scale_, item_bias=factors.item_bias_,
        source=model, recipe={"verb": "product_quantize", "subspaces": subspaces, "centroids": centroids,
                              "tables": tables, "metric": metric, "codebook_dtype": np.dtype(codebook_dtype).name},
    )
