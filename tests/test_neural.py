import numpy as np
import pytest
import scipy.sparse as sp
import torch

from reccompress import models, repro


@pytest.fixture
def interactions() -> sp.csr_array:
    rng = np.random.default_rng(4)
    return sp.csr_array((rng.random((25, 18)) < 0.3).astype(np.float32))


def test_bprmf_nbytes_and_parameters_are_exact(interactions):
    model = models.BPRMF(dim=5, epochs=2, validation_fraction=0.0).fit(interactions)
    assert model.n_parameters == (25 + 18) * 5
    assert model.nbytes == (25 + 18) * 5 * 4
    assert model.history_.best_epoch == 2


def test_ncf_parameter_count_matches_its_architecture(interactions):
    model = models.NCF(dim=4, hidden=(6, 3), epochs=1, validation_fraction=0.0).fit(interactions)
    embeddings = 2 * (25 + 18) * 4
    layers = (8 * 6 + 6) + (6 * 3 + 3) + (4 + 3 + 1)
    assert model.n_parameters == embeddings + layers
    assert model.nbytes == 4 * (embeddings + layers)


@pytest.mark.parametrize("make", [lambda: models.BPRMF(dim=4, epochs=2), lambda: models.NCF(dim=4, hidden=(5,), epochs=2)])
def test_score_users_agrees_with_pair_scores(make, interactions):
    model = make().fit(interactions)
    users = torch.tensor([0, 3, 24])
    pairs = torch.stack([model.module_(torch.full((18,), int(u)), torch.arange(18)) for u in users])
    assert np.allclose(model.score(users.numpy()), pairs.detach().numpy(), atol=1e-6)


def test_fit_is_reproducible(interactions):
    scores = []
    for _ in range(2):
        repro.set_reproducible(seed=0, threads=1)
        scores.append(models.NCF(dim=4, hidden=(5,), epochs=3, seed=2).fit(interactions).score([0, 1]))
    assert np.array_equal(*scores)


def test_bad_hyper_parameters_are_explained(interactions):
    with pytest.raises(ValueError, match="dim must be at least 1; got 0"):
        models.BPRMF(dim=0).fit(interactions)
    with pytest.raises(ValueError, match=r"validation_fraction must be in \(0, 1\); got 1.5"):
        models.BPRMF(dim=2, validation_fraction=1.5).fit(interactions)
    with pytest.raises(ValueError, match="hidden layer width must be at least 1; got 0"):
        models.NCF(dim=2, hidden=(4, 0)).fit(interactions)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        models.NCF().n_parameters
