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
