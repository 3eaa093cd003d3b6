import numpy as np
import pytest
import scipy.sparse as sp

from reccompress import measure, storage


@pytest.mark.parametrize("fmt", storage.FORMATS)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_predicted_bytes_equal_measured_bytes(user_items, fmt, index_dtype):
    stored = storage.store(user_items, fmt, np.float32, index_dtype)
    assert measure.nbytes(stored) == storage.predicted_nbytes(user_items.shape, user_items.nnz, fmt, np.float32, index_dtype)


def test_bitmap_round_trips_rows_without_dense_matrix(user_items):
    bitmap = storage.Bitmap.from_csr(user_items)
    assert bitmap.nbytes == (7 * 5 + 7) // 8
    for row in range(7):
        assert bitmap.row(row).tolist() == user_items[[row]].indices.tolist()


def test_crossover_matches_the_byte_counts():
    shape = (300, 200)
    density = storage.crossover_density(shape, "csr", "dense")
    nnz = round(density * shape[0] * shape[1])
    csr = storage.predicted_nbytes(shape, nnz, "csr")
    dense = storage.predicted_nbytes(shape, nnz, "dense")
    assert csr == pytest.approx(dense, abs=8)  # within one non-zero of equal
    assert 0.49 < density < 0.5  # 4-byte values + 4-byte indices vs 4 bytes per cell
    bitmap_density = storage.crossover_density(shape, "csr", "bitmap", value_dtype=None)
    assert bitmap_density == pytest.approx((shape[0] * shape[1] / 8 - 4 * 301) / (4 * shape[0] * shape[1]))


def test_unknown_format_lists_valid_ones(user_items):
    with pytest.raises(ValueError, match="valid formats are dense, bitmap, coo, csr, csc"):
        storage.store(user_items, "lil")


def test_an_index_dtype_too_small_is_refused_not_wrapped(user_items):
    wide = sp.random_array((3, 300), density=0.5, format="csr", dtype=np.float32, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"index_dtype int8 holds values up to 127, but CSR of a 3 x 300 matrix with 450 non-zeros needs 450"):
        storage.store(wide, "csr", index_dtype=np.int8)
    with pytest.raises(ValueError, match="index_dtype int8 holds values up to 127"):
        storage.predicted_nbytes((3, 300), 10, "coo", index_dtype=np.int8)
    with pytest.raises(TypeError, match="index_dtype must be an integer dtype such as np.int32; got float32"):
        storage.store(user_items, "csr", index_dtype=np.float32)


@pytest.mark.parametrize(
    ("nnz", "error", "message"),
    [
        (-1, ValueError, r"nnz must lie in \[0, 35\] for a 7 x 5 matrix; got -1"),
        (36, ValueError, r"nnz must lie in \[0, 35\]"),
        (3.5, TypeError, "nnz .* must be an integer; got float 3.5"),
    ],
)
def test_impossible_nnz_is_refused(nnz, error, message):
    with pytest.raises(error, match=message):
        storage.predicted_nbytes((7, 5), nnz, "csr")


def test_bad_shapes_and_bitmap_rows_are_refused(user_items):
    with pytest.raises(TypeError, match=r"shape must be a pair \(n_rows, n_cols\)"):
        storage.predicted_nbytes(35, 3, "csr")
    with pytest.raises(ValueError, match="n_rows must be at least 1; got 0"):
        storage.crossover_density((0, 5), "csr")
    bitmap = storage.Bitmap.from_csr(user_items)
    with pytest.raises(IndexError, match=r"row index must lie in \[0, 7\) for a bitmap of shape \(7, 5\); got 7"):
        bitmap.row(7)
    with pytest.raises(IndexError, match="got -1"):
        bitmap.row(-1)
