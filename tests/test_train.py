import numpy as np
import pytest
import scipy.sparse as sp
import torch

from reccompress import models, repro, splits, train
from reccompress.models.neural import MFModule


@pytest.fixture
def interactions() -> sp.csr_array:
    """30 users x 20 items, about a quarter seen; non-square on purpose."""
    rng = np.random.default_rng(0)
    return sp.csr_array((rng.random((30, 20)) < 0.25).astype(np.float32))


def make_module(interactions, seed=0):
    return MFModule(*interactions.shape, dim=4, init_std=0.1, generator=torch.Generator().manual_seed(seed))


def test_negative_sampler_never_returns_a_seen_item(interactions):
    sampler = train.NegativeSampler(interactions)
    users = np.repeat(np.arange(30), 50)
    negatives = sampler.sample(users, np.random.default_rng(1))
    assert negatives.shape == users.shape and negatives.dtype == np.int64
    assert not interactions.toarray()[users, negatives].any()
    # every unseen item of user 0 is drawn, and no other
    assert set(negatives[users == 0]) == set(np.flatnonzero(interactions.toarray()[0] == 0))


def test_negative_sampler_explains_a_user_who_saw_everything():
    full = sp.csr_array(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"could not draw unseen items after 50 rounds for users \[0\]"):
        train.NegativeSampler(full).sample(np.array([0]), np.random.default_rng(0))


def test_training_is_deterministic(interactions):
    weights = []
    for _ in range(2):
        repro.set_reproducible(seed=0, threads=1)
        module = make_module(interactions)
        train.fit_pairwise(module, interactions, epochs=3, batch_size=16, lr=0.05, progress=False, seed=3)
        weights.append([p.detach().clone() for p in module.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))


def test_loss_falls_and_hooks_run_once_per_step(interactions):
    calls = {"penalty": 0, "after_step": 0}

    def penalty(module, users, positives, negatives):
        calls["penalty"] += 1
        assert users.shape == positives.shape == negatives.shape
        return 0.0 * module.user_embedding.weight.sum()

    def after_step(module):
        calls["after_step"] += 1

    history = train.fit_pairwise(make_module(interactions), interactions, epochs=20, batch_size=32, lr=0.05,
                                 penalty=penalty, after_step=after_step, progress=False)
    steps_per_epoch = -(-interactions.nnz // 32)
    assert calls["penalty"] == calls["after_step"] == 20 * steps_per_epoch
    assert history.losses[-1] < 0.8 * history.losses[0]
    assert history.best_epoch == 20 and not history.validation


def test_early_stopping_keeps_the_best_validated_weights(interactions):
    validation = splits.random_holdout(interactions, 0.3, seed=1)
    module = make_module(interactions)
    history = train.fit_pairwise(module, validation.train, validation=validation, epochs=40, batch_size=16,
                                 lr=0.2, patience=2, progress=False)
    values = dict(history.validation)
    assert history.best_epoch == max(values, key=values.get)
    assert train._validate(module, validation, "ndcg@20") == pytest.approx(values[history.best_epoch])
    if history.stopped_early:
        assert len(history.losses) == history.validation[-1][0] < 40


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"epochs": 0}, ValueError, "epochs must be at least 1; got 0"),
        ({"lr": -1.0}, ValueError, "lr must be a finite number >= 0"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an integer"),
    ],
)
def test_bad_settings_are_explained(interactions, options, error, message):
    with pytest.raises(error, match=message):
        train.fit_pairwise(make_module(interactions), interactions, progress=False, **options)


def test_validation_must_match_the_training_matrix(interactions):
    other = splits.random_holdout(sp.csr_array(np.ones((5, 20), dtype=np.float32)), 0.2)
    with pytest.raises(ValueError, match=r"validation.train must have the shape of user_items \(30, 20\); got \(5, 20\)"):
        train.fit_pairwise(make_module(interactions), interactions, validation=other, progress=False)


def test_unknown_validation_metric_is_explained(interactions):
    validation = splits.random_holdout(interactions, 0.3, seed=1)
    with pytest.raises(ValueError, match="metric must be one of"):
        train.fit_pairwise(make_module(interactions), validation.train, validation=validation, metric="auc@5",
                           epochs=1, progress=False)


def test_training_does_not_reorder_the_callers_matrix(interactions):
    shuffled = interactions.copy()
    shuffled.indices[:3] = shuffled.indices[:3][::-1]  # row 0 now has unsorted column indices
    shuffled.has_sorted_indices = False
    before = shuffled.indices.copy()
    train.fit_pairwise(make_module(interactions), shuffled, epochs=1, progress=False)
    assert np.array_equal(shuffled.indices, before)
