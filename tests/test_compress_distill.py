import numpy as np
import pytest
import scipy.sparse as sp
import torch

from reccompress import models, repro, train
from reccompress.compress import distill
from reccompress.train import TrainSettings

N_USERS, N_ITEMS = 6, 9


class FixedTeacher:
    """A 'fitted recommender' whose scores are a given matrix."""

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=np.float32)

    def score(self, user_ids):
        return self.scores[np.asarray(user_ids)]


class TableModule(torch.nn.Module):
    """A student whose pair scores are read from a table (plus a per-user offset)."""

    def __init__(self, table, offset=None):
        super().__init__()
        self.table = torch.nn.Parameter(torch.as_tensor(table, dtype=torch.float32))
        self.offset = torch.as_tensor(np.zeros(len(table)) if offset is None else offset, dtype=torch.float32)

    def forward(self, users, items):
        return self.table[users, items] + self.offset[users]


@pytest.fixture
def setting():
    rng = np.random.default_rng(3)
    seen = np.zeros((N_USERS, N_ITEMS), dtype=np.float32)
    seen[np.arange(N_USERS), np.arange(N_USERS) % N_ITEMS] = 1  # one training item per user
    user_items = sp.csr_array(seen)
    teacher = FixedTeacher(rng.normal(size=(N_USERS, N_ITEMS)))
    return user_items, teacher, distill.TeacherScores(teacher, user_items)


def batch_of(users, seed=0):
    users = torch.as_tensor(users, dtype=torch.int64)
    return train.Batch(users, users * 0 + 1, users * 0 + 2, np.random.default_rng(seed))


def test_teacher_scores_rank_unseen_items_first(setting):
    user_items, teacher, scores = setting
    assert scores.scores.shape == (N_USERS, N_ITEMS)
    for user in range(N_USERS):
        unseen = [i for i in range(N_ITEMS) if user_items[user, i] == 0]
        expected = sorted(unseen, key=lambda i: -teacher.scores[user, i])
        assert list(scores.ranking[user, : len(unseen)]) == expected
        assert scores.ranking[user, -1] == user % N_ITEMS  # the seen item last
    assert np.allclose(scores.standardised.mean(axis=1), 0, atol=1e-6)
    assert np.allclose(scores.standardised.std(axis=1), 1, atol=1e-5)


def test_ranking_weights_decay_and_sum_to_one():
    weights = distill.ranking_weights(3, decay=1.0)
    expected = np.exp(-np.array([1.0, 2.0, 3.0]))
    assert np.allclose(weights, expected / expected.sum())
    with pytest.raises(ValueError, match="decay must be positive"):
        distill.ranking_weights(3, decay=0)


def test_listwise_kl_is_zero_when_the_student_equals_the_teacher_up_to_a_constant(setting):
    user_items, _, scores = setting
    objective = distill.ListwiseDistillation(scores, k=3, sampled=2, temperature=2.0)
    objective.prepare(None, user_items)
    student = TableModule(scores.standardised, offset=np.arange(N_USERS) * 10.0)
    assert objective.loss(student, batch_of([0, 2, 5])).item() == pytest.approx(0.0, abs=1e-6)
    worse = TableModule(-scores.standardised)
    assert objective.loss(worse, batch_of([0, 2, 5])).item() > 0.1


def test_listwise_loss_on_a_hand_computed_case(setting):
    user_items, _, scores = setting
    objective = distill.ListwiseDistillation(scores, k=2, sampled=0, temperature=2.0, weight=0.5)
    objective.prepare(None, user_items)
    student = TableModule(np.zeros((N_USERS, N_ITEMS)))  # uniform over the two candidates
    top = scores.ranking[1, :2]
    t = scores.standardised[1, top] / 2.0
    p = np.exp(t) / np.exp(t).sum()
    expected = 0.5 * 4.0 * float((p * np.log(p / 0.5)).sum())
    assert objective.loss(student, batch_of([1])).item() == pytest.approx(expected, rel=1e-5)


def test_ranking_distillation_on_a_hand_computed_case(setting):
    user_items, _, scores = setting
    objective = distill.RankingDistillation(scores, k=2, decay=1.0, weight=2.0)
    objective.prepare(None, user_items)
    table = np.zeros((N_USERS, N_ITEMS))
    first, second = scores.ranking[4, :2]
    table[4, first], table[4, second] = 1.0, -1.0
    w = distill.ranking_weights(2, 1.0)
    log_sigmoid = -np.log1p(np.exp(-np.array([1.0, -1.0])))
    expected = -2.0 * float((w * log_sigmoid).sum())
    assert objective.loss(TableModule(table), batch_of([4])).item() == pytest.approx(expected, rel=1e-5)


def test_relaxed_ranking_on_a_hand_computed_case(setting):
    user_items, _, scores = setting
    objective = distill.RelaxedRankingDistillation(scores, k=2, sampled=0)
    objective.prepare(None, user_items)
    table = np.zeros((N_USERS, N_ITEMS))
    first, second = scores.ranking[3, :2]
    table[3, first], table[3, second] = 2.0, 0.5
    # Plackett-Luce: P(first, then second) = e^2 / (e^2 + e^0.5) * 1.
    expected = -np.log(np.exp(2.0) / (np.exp(2.0) + np.exp(0.5)))
    assert objective.loss(TableModule(table), batch_of([3])).item() == pytest.approx(expected, rel=1e-5)
    # The teacher's order is more likely than the reverse.
    table[3, first], table[3, second] = 0.5, 2.0
    assert objective.loss(TableModule(table), batch_of([3])).item() > expected


def test_pointwise_loss_is_zero_on_the_standardised_teacher(setting):
    user_items, _, scores = setting
    objective = distill.PointwiseDistillation(scores, sampled=3)
    objective.prepare(None, user_items)
    assert objective.loss(TableModule(scores.standardised), batch_of([0, 1, 2])).item() == pytest.approx(0, abs=1e-10)
    assert objective.loss(TableModule(scores.scores * 0 + 5), batch_of([0, 1, 2])).item() > 1


def test_distillation_is_reproducible(setting):
    user_items, teacher, _ = setting
    runs = []
    for _ in range(2):
        repro.set_reproducible(seed=0, threads=1)
        objective = train.BPR() + distill.ListwiseDistillation(teacher, k=3, sampled=2)
        student = models.BPRMF(rank=3, objective=objective,
                               training=TrainSettings(epochs=3, batch_size=4, validation_fraction=0.0))
        runs.append(student.fit(user_items))
    assert np.array_equal(runs[0].item_factors_, runs[1].item_factors_)
    assert np.array_equal(runs[0].user_factors_, runs[1].user_factors_)


def test_a_teacher_with_other_items_is_refused(setting):
    user_items, _, _ = setting
    other = FixedTeacher(np.zeros((N_USERS, N_ITEMS + 2)))
    with pytest.raises(ValueError, match="teacher scores 11 items per user but the student's training matrix has 9"):
        distill.TeacherScores(other, user_items)
    student = models.BPRMF(rank=2, objective=train.BPR() + distill.RankingDistillation(other, k=2),
                           training=TrainSettings(epochs=1, validation_fraction=0.0))
    with pytest.raises(ValueError, match="same items"):
        student.fit(user_items)


def test_bad_arguments_are_explained(setting):
    _, teacher, scores = setting
    with pytest.raises(ValueError, match="temperature must be positive"):
        distill.ListwiseDistillation(teacher, temperature=0)
    with pytest.raises(TypeError, match="fitted recommender"):
        distill.TeacherScores(object(), setting[0])
    with pytest.raises(ValueError, match="fewer than k=20 unseen"):
        scores.top(np.array([0]), 20)


def test_users_per_batch_distils_a_subset_drawn_by_the_loop(setting):
    user_items, _, scores = setting
    objective = distill.ListwiseDistillation(scores, k=2, sampled=1, users_per_batch=2)
    objective.prepare(None, user_items)
    users = objective._users(batch_of([0, 1, 2, 3, 3]))
    assert users.tolist() == sorted(set(users.tolist())) and len(users) == 2 and set(users) <= {0, 1, 2, 3}
    with pytest.raises(ValueError, match="users_per_batch"):
        distill.RankingDistillation(scores, users_per_batch=0)


def test_mf_candidate_scores_equal_the_pair_scores():
    """The fused candidate path of MFModule (used by the ranking losses) scores like forward()."""
    module = models.neural.MFModule(5, 7, 3, init_std=0.5, generator=torch.Generator().manual_seed(0))
    users = torch.tensor([4, 0, 2])
    items = torch.tensor([[6, 1], [0, 0], [3, 5]])
    fused = distill._Distillation._pair_scores(module, users.numpy(), items.numpy())
    pairs = module(users.repeat_interleave(2), items.reshape(-1)).view(3, 2)
    assert torch.allclose(fused, pairs, atol=1e-6)


def test_item_only_student_distils():
    """A student without a user table trains under a distillation loss and scores x_u P Q^T."""
    rng = np.random.default_rng(0)
    user_items = sp.csr_array((rng.random((N_USERS, N_ITEMS)) < 0.3).astype(np.float32))
    teacher = FixedTeacher(rng.normal(size=(N_USERS, N_ITEMS)))
    repro.set_reproducible(seed=0, threads=1)
    student = models.ItemOnlyMF(rank=2, objective=train.BPR() + distill.RelaxedRankingDistillation(teacher, k=2, sampled=1),
                                training=TrainSettings(epochs=2, batch_size=4, validation_fraction=0.0)).fit(user_items)
    expected = (user_items.toarray() @ student.fold_in_factors_) @ student.item_factors_.T
    np.testing.assert_allclose(student.score(np.arange(N_USERS)), expected, rtol=1e-5, atol=1e-6)


def test_ensemble_averages_standardised_scores(setting):
    _, teacher, _ = setting
    rng = np.random.default_rng(5)
    other = FixedTeacher(rng.normal(size=(N_USERS, N_ITEMS)) * 100 + 7)  # another scale and offset
    ensemble = distill.Ensemble([teacher, other])
    z = lambda s: (s - s.mean(1, keepdims=True)) / s.std(1, keepdims=True)
    np.testing.assert_allclose(ensemble.score([1, 4]), (z(teacher.scores[[1, 4]]) + z(other.scores[[1, 4]])) / 2,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="at least two fitted recommenders"):
        distill.Ensemble([teacher])
