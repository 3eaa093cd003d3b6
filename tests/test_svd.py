import numpy as np
import pytest
import scipy.sparse as sp

from reccompress.svd import SOLVERS, randomized_svd, tail_error, truncated_svd


@pytest.fixture
def matrix() -> np.ndarray:
    """A 9 x 6 matrix with a known, fast-decaying spectrum (so every solver can be exact)."""
    rng = np.random.default_rng(0)
    left, _ = np.linalg.qr(rng.standard_normal((9, 6)))
    right, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    return (left * np.array([10.0, 5.0, 2.5, 1.2, 0.6, 0.3])) @ right.T


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("rank", [1, 2, 4])
def test_rank_k_error_equals_the_spectral_tail(matrix, solver, rank):
    options = {"power_iterations": 8} if solver == "randomized" else {}
    u, s, vt = truncated_svd(matrix, rank, solver=solver, **options)
    assert u.shape == (9, rank) and s.shape == (rank,) and vt.shape == (rank, 6)
    assert np.all(np.diff(s) <= 0)
    residual = matrix - (u * s) @ vt
    everything = np.linalg.svd(matrix, compute_uv=False)
    frobenius, spectral = tail_error(everything, rank)
    assert np.isclose(np.linalg.norm(residual, "fro"), frobenius, rtol=1e-6)
    assert np.isclose(np.linalg.norm(residual, 2), spectral, rtol=1e-6)
    assert np.isclose(frobenius, np.sqrt(np.sum(everything[rank:] ** 2)))


@pytest.mark.parametrize("solver", SOLVERS)
def test_sparse_input_gives_the_dense_answer(matrix, solver):
    expected = truncated_svd(matrix, 3, solver="lapack")[1]
    options = {"power_iterations": 8} if solver == "randomized" else {}
    assert np.allclose(truncated_svd(sp.csr_array(matrix), 3, solver=solver, **options)[1], expected, rtol=1e-6)


def test_randomized_accuracy_grows_with_power_iterations():
    rng = np.random.default_rng(1)
    flat = rng.standard_normal((60, 40)) @ np.diag(np.linspace(1.0, 0.5, 40))  # slowly decaying spectrum
    exact = np.linalg.svd(flat, compute_uv=False)[:5]
    errors = [np.max(np.abs(randomized_svd(flat, 5, oversamples=5, power_iterations=q)[1] - exact) / exact) for q in (0, 2, 8)]
    assert errors[0] > errors[1] > errors[2]


def test_randomized_is_reproducible_by_seed(matrix):
    first, again, other = (randomized_svd(matrix, 2, oversamples=1, power_iterations=0, seed=s)[1] for s in (3, 3, 4))
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_tail_error_of_full_rank_is_zero():
    assert tail_error([3.0, 1.0, 2.0], 3) == (0.0, 0.0)
    assert tail_error([3.0, 1.0, 2.0], 1) == (pytest.approx(np.sqrt(5.0)), 2.0)


def test_bad_arguments_are_explained(matrix):
    with pytest.raises(ValueError, match="rank must be at least 1 and at most 5; got 6"):
        truncated_svd(matrix, 6)
    with pytest.raises(ValueError, match=r"solver must be one of \('lapack', 'arpack', 'randomized'\); got 'qr'"):
        truncated_svd(matrix, 2, solver="qr")
    with pytest.raises(TypeError, match="the arpack solver takes only tol"):
        truncated_svd(matrix, 2, solver="arpack", power_iterations=3)
    with pytest.raises(TypeError, match="2-D numpy array or scipy.sparse matrix; got list"):
        truncated_svd([[1.0, 2.0], [3.0, 4.0]], 1)
    with pytest.raises(ValueError, match="at least 2 rows and 2 columns"):
        truncated_svd(np.ones((1, 4)), 1)
    with pytest.raises(ValueError, match="oversamples must be at least 0; got -1"):
        randomized_svd(matrix, 2, oversamples=-1)


def test_nan_input_and_bad_spectra_are_explained(matrix):
    bad = matrix.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="matrix must hold finite real numbers"):
        truncated_svd(bad, 2)
    with pytest.raises(ValueError, match="singular_values must be a non-empty 1-D array of finite values >= 0"):
        tail_error([3.0, -1.0], 1)
    with pytest.raises(TypeError, match="seed must be a non-negative integer"):
        randomized_svd(matrix, 2, seed="0")


def test_arpack_tolerance_is_passed_through(matrix):
    exact = truncated_svd(matrix, 3, solver="lapack")[1]
    loose = truncated_svd(matrix, 3, solver="arpack", tol=1e-2)[1]
    assert np.allclose(loose, exact, rtol=5e-2)
