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
    nnz = density * shape[0] * shape[1]
    csr = storage.predicted_nbytes(shape, nnz, "csr")
    dense = storage.predicted_nbytes(shape, nnz, "dense")
    assert csr == pytest.approx(dense)
    assert 0.49 < density < 0.5  # 4-byte values + 4-byte indices vs 4 bytes per cell
    bitmap_density = storage.crossover_density(shape, "csr", "bitmap", value_dtype=None)
    assert bitmap_density == pytest.approx((shape[0] * shape[1] / 8 - 4 * 301) / (4 * shape[0] * shape[1]))


def test_unknown_format_lists_valid_ones(user_items):
    with pytest.raises(ValueError, match="valid formats are dense, bitmap, coo, csr, csc"):
        storage.store(user_items, "lil")
