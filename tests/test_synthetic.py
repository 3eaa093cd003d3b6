import numpy as np
import pytest

from reccompress import synthetic


def test_power_law_matrix_is_seeded_binary_and_long_tailed():
    a = synthetic.power_law_interactions(2_000, 300, mean_per_user=8, exponent=1.0, seed=3)
    b = synthetic.power_law_interactions(2_000, 300, mean_per_user=8, exponent=1.0, seed=3)
    assert a.shape == (2_000, 300) and (a != b).nnz == 0
    assert set(np.unique(a.data)) == {1.0}
    assert a.indices.dtype == a.indptr.dtype == np.int32 and a.has_sorted_indices
    assert 6 < a.nnz / 2_000 <= 8.5
    popularity = np.bincount(a.indices, minlength=300)
    assert popularity[:10].sum() > popularity[-100:].sum()


def test_power_law_rejects_bad_means():
    with pytest.raises(ValueError, match="mean_per_user must be at least 1; got 0.5"):
        synthetic.power_law_interactions(10, 10, mean_per_user=0.5)


def test_power_law_explains_wrong_types():
    with pytest.raises(TypeError, match="mean_per_user must be a real number; got str"):
        synthetic.power_law_interactions(10, 5, "20")
    with pytest.raises(TypeError, match="seed must be a non-negative integer"):
        synthetic.power_law_interactions(10, 5, 2, seed=None)
