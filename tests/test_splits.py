import numpy as np
import pytest
import scipy.sparse as sp

from reccompress import data, splits


def _cells(matrix):
    coo = matrix.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist()))


@pytest.fixture
def ratings_matrix():
    """40 users x 23 items of random ratings, 3 to 20 per user: non-square, uneven rows."""
    rng = np.random.default_rng(5)
    rows, cols = [], []
    for user in range(40):
        items = rng.choice(23, size=rng.integers(3, 21), replace=False)
        rows += [user] * len(items)
        cols += items.tolist()
    values = rng.integers(1, 6, size=len(rows)).astype(np.float32)
    return sp.csr_array((values, (rows, cols)), shape=(40, 23))


def test_random_holdout_partitions_each_row_with_floor_share(ratings_matrix):
    split = splits.random_holdout(ratings_matrix, test_fraction=0.25, seed=3)
    assert split.train.shape == split.test.shape == (40, 23)
    assert not _cells(split.train) & _cells(split.test)
    assert (split.train + split.test != ratings_matrix).nnz == 0, "values are kept"
    row_lengths = np.diff(ratings_matrix.indptr)
    assert np.array_equal(np.diff(split.test.indptr), np.floor(0.25 * row_lengths).astype(int))


def test_random_holdout_is_seeded(ratings_matrix):
    a = splits.random_holdout(ratings_matrix, 0.3, seed=1)
    b = splits.random_holdout(ratings_matrix, 0.3, seed=1)
    c = splits.random_holdout(ratings_matrix, 0.3, seed=2)
    assert _cells(a.test) == _cells(b.test)
    assert _cells(a.test) != _cells(c.test)


def test_random_holdout_ignores_storage_order(ratings_matrix):
    shuffled = ratings_matrix.copy()
    shuffled.has_sorted_indices = False
    for row in range(shuffled.shape[0]):  # reverse the stored order inside every row
        start, end = shuffled.indptr[row], shuffled.indptr[row + 1]
        shuffled.indices[start:end] = shuffled.indices[start:end][::-1].copy()
        shuffled.data[start:end] = shuffled.data[start:end][::-1].copy()
    assert _cells(splits.random_holdout(shuffled, 0.3, 4).test) == _cells(splits.random_holdout(ratings_matrix, 0.3, 4).test)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_random_holdout_rejects_fractions_outside_open_interval(ratings_matrix, fraction):
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        splits.random_holdout(ratings_matrix, fraction)


def test_random_holdout_rejects_dense_input_with_fix():
    with pytest.raises(TypeError, match=r"got a numpy array of shape \(2, 3\).*csr_array"):
        splits.random_holdout(np.ones((2, 3)))


def _log(users, items, timestamps):
    users, items = np.array(users, dtype=np.int32), np.array(items, dtype=np.int32)
    n_users, n_items = users.max() + 1, items.max() + 1
    return data.Interactions(
        users, items, np.ones(len(users), np.float32), np.array(timestamps, dtype=np.int64),
        n_users, n_items, np.arange(n_users), np.arange(n_items), np.array(["t"] * n_items, dtype=object),
    )


def test_leave_last_out_holds_out_the_latest_and_keeps_short_users():
    log = _log([0, 0, 0, 1, 1, 2], [0, 1, 2, 3, 1, 4], [30, 10, 20, 5, 6, 1])
    split = splits.leave_last_out(log, n_last=1)
    assert _cells(split.test) == {(0, 0), (1, 1)}
    assert (2, 4) in _cells(split.train), "a user with a single interaction stays in train"
    assert split.train.shape == (3, 5)


def test_leave_last_out_breaks_timestamp_ties_by_seed():
    log = _log([0] * 6, [0, 1, 2, 3, 4, 5], [1, 9, 9, 9, 9, 9])
    chosen = {next(iter(_cells(splits.leave_last_out(log, seed=s).test))) for s in range(20)}
    assert len(chosen) > 1 and (0, 0) not in chosen
    assert _cells(splits.leave_last_out(log, seed=7).test) == _cells(splits.leave_last_out(log, seed=7).test)


def test_leave_last_out_needs_timestamps(ratings_matrix):
    with pytest.raises(TypeError, match="needs an Interactions log"):
        splits.leave_last_out(ratings_matrix)


def test_ml100k_holdout_matches_reference_sizes(ml100k):
    split = splits.random_holdout(ml100k.matrix(), 0.2, seed=42)
    assert (split.train.nnz, split.test.nnz) == (80_367, 19_633)
    assert split.test_users().size == 943


def test_official_ua_split_as_ratings(movielens_home):
    split = splits.ml100k_official("ua", data_home=movielens_home)
    assert split.train.shape == (943, 1_682) and split.test.nnz == 9_430
    assert split.test.data.min() == 1 and split.test.data.max() == 5


def test_split_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*got \(2, 3\).*transposed"):
        splits.Split(sp.csr_array((3, 2), dtype=np.float32), sp.csr_array((2, 3), dtype=np.float32))


def test_split_refuses_train_and_test_sharing_cells(ratings_matrix):
    split = splits.random_holdout(ratings_matrix, 0.25, seed=0)
    leaky = (split.test + split.train).tocsr()  # the test cells plus every training cell
    with pytest.raises(ValueError, match=r"train and test share \d+ \(user, item\) cell\(s\), e.g. user \d+, item \d+"):
        splits.Split(split.train, leaky)


def test_seeds_of_the_wrong_type_are_explained(ratings_matrix):
    with pytest.raises(TypeError, match="seed must be a non-negative integer such as 0 or 42; got str 'a'"):
        splits.random_holdout(ratings_matrix, 0.2, seed="a")
