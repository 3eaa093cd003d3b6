import numpy as np
import pytest
import scipy.sparse as sp
import torch

from reccompress import models, repro
from reccompress.train import TrainSettings


@pytest.fixture
def interactions() -> sp.csr_array:
    rng = np.random.default_rng(4)
    return sp.csr_array((rng.random((25, 18)) < 0.3).astype(np.float32))


def test_bprmf_nbytes_and_parameters_are_exact(interactions):
    model = models.BPRMF(rank=5, training=TrainSettings(epochs=2, validation_fraction=0.0)).fit(interactions)
    assert model.n_parameters == (25 + 18) * 5
    assert model.nbytes == (25 + 18) * 5 * 4
    assert model.history_.best_epoch == 2
    assert model.user_factors_.shape == (25, 5) and model.item_factors_.shape == (18, 5)
    assert np.allclose(model.score([0, 1]), model.user_factors_[[0, 1]] @ model.item_factors_.T, atol=1e-6)


def test_ncf_parameter_count_matches_its_architecture(interactions):
    model = models.NCF(rank=4, hidden=(6, 3), training=TrainSettings(epochs=1, validation_fraction=0.0)).fit(interactions)
    embeddings = 2 * (25 + 18) * 4
    layers = (8 * 6 + 6) + (6 * 3 + 3) + (4 + 3 + 1)
    assert model.n_parameters == embeddings + layers
    assert model.nbytes == 4 * (embeddings + layers)


@pytest.mark.parametrize("make", [lambda: models.BPRMF(rank=4, training=TrainSettings(epochs=2)),
                                  lambda: models.NCF(rank=4, hidden=(5,), training=TrainSettings(epochs=2))])
def test_score_users_agrees_with_pair_scores(make, interactions):
    model = make().fit(interactions)
    users = torch.tensor([0, 3, 24])
    pairs = torch.stack([model.module_(torch.full((18,), int(u)), torch.arange(18)) for u in users])
    assert np.allclose(model.score(users.numpy()), pairs.detach().numpy(), atol=1e-6)


def test_fit_is_reproducible(interactions):
    scores = []
    for _ in range(2):
        repro.set_reproducible(seed=0, threads=1)
        scores.append(models.NCF(rank=4, hidden=(5,), training=TrainSettings(epochs=3, seed=2)).fit(interactions).score([0, 1]))
    assert np.array_equal(*scores)


def test_without_a_validation_slice_every_epoch_is_trained(interactions):
    model = models.BPRMF(rank=3, training=TrainSettings(epochs=4, validation_fraction=0.0)).fit(interactions)
    assert len(model.history_.losses) == 4 and not model.history_.validation


def test_bad_hyper_parameters_are_explained(interactions):
    with pytest.raises(ValueError, match="rank must be at least 1; got 0"):
        models.BPRMF(rank=0).fit(interactions)
    with pytest.raises(ValueError, match=r"validation_fraction must be in \(0, 1\); got 1.5"):
        TrainSettings(validation_fraction=1.5)
    with pytest.raises(ValueError, match="each of hidden must be at least 1; got 0"):
        models.NCF(rank=2, hidden=(4, 0)).fit(interactions)
    with pytest.raises(TypeError, match=r"hidden must be a sequence of integers such as \(32,\) or \(64, 32\); got int 32"):
        models.NCF(rank=2, hidden=32).fit(interactions)
    with pytest.raises(TypeError, match="training must be a train.TrainSettings"):
        models.BPRMF(rank=2, training={"lr": 0.1}).fit(interactions)
    with pytest.raises(TypeError, match="seed must be a non-negative integer such as 0 or 42; got str '1'"):
        TrainSettings(seed="1")
    with pytest.raises(RuntimeError, match="not fitted yet"):
        models.NCF().n_parameters


def test_item_only_mf_leaves_a_seen_item_out_of_its_own_score():
    """Training scores a seen pair with the item left out of the history (no self-recognition);
    unseen items, and all serving scores, use the whole history x_u P Q^T."""
    history = sp.csr_array(np.array([[1, 1, 0, 0, 0], [0, 1, 0, 1, 1], [1, 0, 0, 0, 0]], dtype=np.float32))
    module = models.neural.HistoryMFModule(history, rank=2, init_std=0.5, generator=torch.Generator().manual_seed(0))
    p, q = module.fold_in.weight.detach().numpy(), module.item_embedding.weight.detach().numpy()
    x = history.toarray()
    with torch.no_grad():
        seen = module(torch.tensor([0, 1]), torch.tensor([1, 4])).numpy()
        unseen = module(torch.tensor([0, 2]), torch.tensor([3, 2])).numpy()
        every = module.score_users(torch.tensor([0, 1, 2])).numpy()
    np.testing.assert_allclose(seen, [(x[0] - np.eye(5)[1]) @ p @ q[1], (x[1] - np.eye(5)[4]) @ p @ q[4]], rtol=1e-5)
    np.testing.assert_allclose(unseen, [x[0] @ p @ q[3], x[2] @ p @ q[2]], rtol=1e-5)
    np.testing.assert_allclose(every, x @ p @ q.T, rtol=1e-5, atol=1e-7)


def test_item_only_mf_serves_its_whole_history_and_counts_two_item_tables():
    rng = np.random.default_rng(1)
    user_items = sp.csr_array((rng.random((9, 6)) < 0.4).astype(np.float32))
    repro.set_reproducible(seed=0, threads=1)
    model = models.ItemOnlyMF(rank=3, training=TrainSettings(epochs=3, validation_fraction=0.3)).fit(user_items)
    assert model.user_factors_ is None and model.fold_in_factors_.shape == model.item_factors_.shape == (6, 3)
    # fit trained on a slice, but serving folds in everything it was given
    expected = (user_items.toarray() @ model.fold_in_factors_) @ model.item_factors_.T
    np.testing.assert_allclose(model.score(np.arange(9)), expected, rtol=1e-5, atol=1e-7)
    assert model.nbytes == 2 * 6 * 3 * 4
