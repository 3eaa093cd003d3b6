import numpy as np
import pytest
import scipy.sparse as sp
import torch

from reccompress import repro, splits, train
from reccompress.models.neural import MFModule
from reccompress.train import TrainSettings


@pytest.fixture
def interactions() -> sp.csr_array:
    """30 users x 20 items, about a quarter seen; non-square on purpose."""
    rng = np.random.default_rng(0)
    return sp.csr_array((rng.random((30, 20)) < 0.25).astype(np.float32))


def make_module(interactions, seed=0):
    return MFModule(*interactions.shape, rank=4, init_std=0.1, generator=torch.Generator().manual_seed(seed))


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
        train.fit(module, interactions, TrainSettings(epochs=3, batch_size=16, lr=0.05, seed=3))
        weights.append([p.detach().clone() for p in module.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))


class CountingPenalty(train.Objective):
    """A zero loss that counts its calls and checks the batch it receives."""

    def __init__(self):
        self.calls = 0
        self.prepared = 0

    def prepare(self, module, user_items):
        self.prepared += 1

    def loss(self, module, batch):
        self.calls += 1
        assert batch.users.shape == batch.positives.shape == batch.negatives.shape
        assert isinstance(batch.rng, np.random.Generator)
        return 0.0 * module.user_embedding.weight.sum()


def test_loss_falls_and_objectives_and_hooks_run_once_per_step(interactions):
    counter, steps = CountingPenalty(), {"after_step": 0}

    def after_step(module):
        steps["after_step"] += 1

    history = train.fit(make_module(interactions), interactions, TrainSettings(epochs=20, batch_size=32, lr=0.05),
                        objective=train.BPR() + counter, after_step=after_step)
    steps_per_epoch = -(-interactions.nnz // 32)
    assert counter.calls == steps["after_step"] == 20 * steps_per_epoch and counter.prepared == 1
    assert history.losses[-1] < 0.8 * history.losses[0]
    assert history.best_epoch == 20 and not history.validation


def test_objectives_add_up(interactions):
    module = make_module(interactions)
    batch = train.Batch(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]), np.random.default_rng(0))
    single = train.BPR().loss(module, batch)
    assert (train.BPR() + train.BPR() + train.BPR()).loss(module, batch).item() == pytest.approx(3 * single.item())
    assert repr(train.BPR() + CountingPenalty()).startswith("BPR() + CountingPenalty(")
    with pytest.raises(TypeError, match="only objectives can be added"):
        train.BPR() + 0.1


def test_early_stopping_keeps_the_best_validated_weights(interactions):
    validation = splits.random_holdout(interactions, 0.3, seed=1)
    module = make_module(interactions)
    history = train.fit(module, validation.train, TrainSettings(epochs=40, batch_size=16, lr=0.2, patience=2),
                        validation=validation)
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
        ({"metric": "ndcg"}, ValueError, "metric must name a metric and a list length"),
        ({"progress": "yes"}, TypeError, "progress must be True or False"),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer; got -1"),
    ],
)
def test_bad_settings_are_explained(options, error, message):
    with pytest.raises(error, match=message):
        TrainSettings(**options)


def test_settings_replace_checks_names_and_values():
    settings = TrainSettings(lr=0.01)
    assert settings.replace(epochs=3) == TrainSettings(lr=0.01, epochs=3)
    assert repr(settings) == "TrainSettings(epochs=80, lr=0.01, l2=0.001)"  # + whatever differs from the defaults
    assert repr(settings.replace(seed=3)) == "TrainSettings(epochs=80, lr=0.01, l2=0.001, seed=3)"
    with pytest.raises(TypeError, match=r"TrainSettings has no setting\(s\) \['learning_rate'\]"):
        settings.replace(learning_rate=0.1)
    with pytest.raises(ValueError, match="epochs must be at least 1; got 0"):
        settings.replace(epochs=0)


def test_fit_refuses_what_is_not_a_setting_or_objective(interactions):
    with pytest.raises(TypeError, match="settings must be a train.TrainSettings"):
        train.fit(make_module(interactions), interactions, {"epochs": 1})
    with pytest.raises(TypeError, match="objective must be a train.Objective"):
        train.fit(make_module(interactions), interactions, objective=lambda module, batch: 0.0)
    with pytest.raises(TypeError, match="after_step must be a function"):
        train.fit(make_module(interactions), interactions, after_step="reapply masks")
    with pytest.raises(ValueError, match="user_items holds no interactions"):
        train.fit(make_module(interactions), sp.csr_array(interactions.shape, dtype=np.float32))


def test_validation_must_match_the_training_matrix(interactions):
    other = splits.random_holdout(sp.csr_array(np.ones((5, 20), dtype=np.float32)), 0.2)
    with pytest.raises(ValueError, match=r"validation.train must have the shape of user_items \(30, 20\); got \(5, 20\)"):
        train.fit(make_module(interactions), interactions, validation=other)


def test_unknown_validation_metric_is_explained(interactions):
    validation = splits.random_holdout(interactions, 0.3, seed=1)
    with pytest.raises(ValueError, match="metric must be one of"):
        train.fit(make_module(interactions), validation.train, TrainSettings(metric="auc@5", epochs=1),
                  validation=validation)


def test_training_does_not_reorder_the_callers_matrix(interactions):
    shuffled = interactions.copy()
    shuffled.indices[:3] = shuffled.indices[:3][::-1]  # row 0 now has unsorted column indices
    shuffled.has_sorted_indices = False
    before = shuffled.indices.copy()
    train.fit(make_module(interactions), shuffled, TrainSettings(epochs=1))
    assert np.array_equal(shuffled.indices, before)
