"""Knowledge distillation: a fitted teacher's scores as extra training signal for a small student.

The student is any model trained by the one loop (:func:`reccompress.train.fit`), e.g. a narrow
:class:`~reccompress.models.BPRMF`; distillation is an :class:`~reccompress.train.Objective` added
to its own loss::

    student = models.BPRMF(rank=8, objective=train.BPR() + ListwiseDistillation(ease, k=20))

The teacher is any fitted recommender of the book (EASE, PureSVD, BPR-MF, or several averaged by
:class:`Ensemble`): only its ``score(user_ids)`` is used, once, before training
(:class:`TeacherScores`). Its items must be
the student's items, and it must have been fitted on the matrix the student trains on: a teacher
that saw interactions the student holds out (e.g. a model's own validation slice) would hand
them to the student as top-K items. Four objectives, from the least to the most structured:

- :class:`PointwiseDistillation`: the student's scores regress the teacher's, standardised per
  user, on the batch's items and a few sampled ones (soft labels).
- :class:`RankingDistillation` (Tang and Wang, 2018): the teacher's top-K unseen items are extra
  positives of the user, position r weighted by exp(-r / decay) (weights sum to 1).
- :class:`ListwiseDistillation` (Hinton et al., 2015): the KL divergence between the teacher's and
  the student's softmax distributions at temperature T over a candidate list (the teacher's top-K
  plus sampled items), times T^2 so that its gradients keep their size as T changes.
- :class:`RelaxedRankingDistillation` (DE-RRD, Kang et al., 2020): the Plackett-Luce likelihood
  of the teacher's order of its top-K items, each position normalised over the remaining top-K
  items and the sampled ("uninteresting") ones.

The list-based objectives take ``users_per_batch``: distil only that many of a batch's distinct
users per step (drawn by the loop's generator), to trade signal for speed; by default all.

Not distillation: a loss on the student's own outputs alone (e.g. cross-entropy plus the entropy
of the student's distribution) never looks at the teacher and transfers nothing.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_non_negative, check_positive_int, check_user_items, describe
from ..train import Objective

__all__ = [
    "Ensemble",
    "ListwiseDistillation",
    "PointwiseDistillation",
    "RankingDistillation",
    "RelaxedRankingDistillation",
    "TeacherScores",
    "ranking_weights",
]


class TeacherScores:
    """A teacher's scores of every (user, item) of a training matrix, computed once.

    Args:
        teacher: a fitted recommender with ``score(user_ids) -> (len(user_ids), n_items)``.
        user_items: (n_users, n_items) CSR training matrix the student learns from.
        chunk: users scored per call.

    Attributes:
        scores: (n_users, n_items) float32 teacher scores (memory n_users * n_items * 4 bytes).
        standardised: the same, minus each user's mean, divided by each user's standard deviation.
        ranking: (n_users, n_items) int32, every user's unseen items first, best first; the
            user's training items last.
        n_unseen: (n_users,) int64 number of unseen items of each user.
    """

    def __init__(self, teacher, user_items, chunk: int = 1024):
        check_user_items(user_items, non_empty=True)
        if not callable(getattr(teacher, "score", None)):
            raise TypeError(f"teacher must be a fitted recommender with score(user_ids); got {describe(teacher)}")
        chunk = check_positive_int(chunk, "chunk")
        n_users, n_items = user_items.shape
        scores = np.empty((n_users, n_items), dtype=np.float32)
        for start in range(0, n_users, chunk):
            users = np.arange(start, min(start + chunk, n_users))
            block = np.asarray(teacher.score(users))
            if block.shape != (len(users), n_items):
                raise ValueError(f"the teacher scores {block.shape[-1] if block.ndim == 2 else '?'} items per user "
                                 f"but the student's training matrix has {n_items}: distil a teacher fitted on the "
                                 f"same items (same split's training matrix)")
            scores[users] = block
        if not np.all(np.isfinite(scores)):
            raise ValueError("the teacher returned non-finite scores; distil a fitted model with finite scores")
        self.scores = scores
        self.standardised = _standardise(scores)
        seen = np.zeros((n_users, n_items), dtype=bool)
        coo = user_items.tocoo()
        seen[coo.row, coo.col] = True
        masked = np.where(seen, -np.inf, scores)
        self.ranking = np.argsort(-masked, axis=1, kind="stable").astype(np.int32)
        self.n_unseen = n_items - seen.sum(axis=1).astype(np.int64)
        self.shape = (n_users, n_items)

    def top(self, users: np.ndarray, k: int) -> np.ndarray:
        """(len(users), k) the teacher's k best unseen items of each user, best first."""
        if np.any(self.n_unseen[users] < k):
            raise ValueError(f"some users have fewer than k={k} unseen items; use a smaller k")
        return self.ranking[users, :k]


def _standardise(scores: np.ndarray) -> np.ndarray:
    """Each row minus its mean, divided by its standard deviation (rows with none left as centred)."""
    scores = np.asarray(scores, dtype=np.float32)
    std = scores.std(axis=1, keepdims=True)
    return (scores - scores.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)


class Ensemble:
    """A teacher made of several fitted recommenders: the mean of their per-user standardised
    scores (each model's scores minus the user's mean, over their standard deviation), so that
    models whose scores live on different scales (EASE, PureSVD, BPR-MF) weigh alike.

    Args:
        models: fitted recommenders scoring the same items.
    """

    def __init__(self, models):
        models = list(models)
        if len(models) < 2 or not all(callable(getattr(m, "score", None)) for m in models):
            raise TypeError(f"an ensemble needs at least two fitted recommenders with score(user_ids); got "
                            f"{[describe(m) for m in models]}")
        self.models = models

    def score(self, user_ids) -> np.ndarray:
        """(len(user_ids), n_items) float32 mean standardised score."""
        blocks = [_standardise(model.score(user_ids)) for model in self.models]
        if len({block.shape for block in blocks}) != 1:
            raise ValueError(f"the ensemble's models score different numbers of items: {[b.shape for b in blocks]}")
        return np.mean(blocks, axis=0, dtype=np.float32)

    def __repr__(self) -> str:
        return f"Ensemble([{', '.join(type(m).__name__ for m in self.models)}])"


def ranking_weights(k: int, decay: float) -> np.ndarray:
    """(k,) weights of positions 1..k, proportional to exp(-r / decay), summing to 1."""
    k = check_positive_int(k, "k")
    if not decay > 0:
        raise ValueError(f"decay must be positive (larger spreads the weight over more positions); got {decay!r}")
    weights = np.exp(-np.arange(1, k + 1) / decay)
    return weights / weights.sum()


class _Distillation(Objective):
    """Shared parts: the teacher (scored at :meth:`prepare`), the weight, candidate sampling."""

    def __init__(self, teacher, weight: float, users_per_batch: int | None = None):
        self.teacher = teacher
        self.weight = check_non_negative(weight, "weight")
        if users_per_batch is not None:
            users_per_batch = check_positive_int(users_per_batch, "users_per_batch")
        self.users_per_batch = users_per_batch
        self._scores = teacher if isinstance(teacher, TeacherScores) else None

    def prepare(self, module, user_items) -> None:
        if self._scores is None or self._scores.shape != user_items.shape:
            if isinstance(self.teacher, TeacherScores):
                raise ValueError(f"the teacher's scores cover {self.teacher.shape} (users, items) but the student "
                                 f"trains on {user_items.shape}; score the teacher on the student's matrix")
            self._scores = TeacherScores(self.teacher, user_items)

    def _teacher(self):
        if self._scores is None:
            raise RuntimeError("the objective has not been prepared; train through reccompress.train.fit")
        return self._scores

    @staticmethod
    def _pair_scores(module, users, items):
        """(len(users), items.shape[1]) student scores of each user's candidate row."""
        import torch

        users_t = torch.as_tensor(users, dtype=torch.int64)
        items_t = torch.as_tensor(items, dtype=torch.int64)
        if hasattr(module, "score_candidates"):  # MF: one fused lookup per table
            return module.score_candidates(users_t, items_t)
        # Any other module: its forward pass on every (user, candidate) pair.
        flat = module(users_t.repeat_interleave(items_t.shape[1]), items_t.reshape(-1))
        return flat.view(items_t.shape)

    def _users(self, batch) -> np.ndarray:
        """The batch's distinct users, or ``users_per_batch`` of them drawn by the loop's generator."""
        users = np.unique(np.asarray(batch.users))
        if self.users_per_batch is not None and users.size > self.users_per_batch:
            users = np.sort(batch.rng.choice(users, size=self.users_per_batch, replace=False))
        return users

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items()
                           if not key.startswith("_") and key != "teacher" and value is not None)
        return f"{type(self).__name__}(teacher={type(self.teacher).__name__}, {fields})"


class PointwiseDistillation(_Distillation):
    """weight * mean squared difference between the student's scores and the teacher's
    standardised scores, on the batch's positives and negatives and ``sampled`` random items per
    batch user."""

    def __init__(self, teacher, weight: float = 1.0, sampled: int = 10):
        super().__init__(teacher, weight)
        self.sampled = check_positive_int(sampled, "sampled", minimum=0)

    def loss(self, module, batch):
        import torch

        target = self._teacher().standardised
        users = np.asarray(batch.users)
        items = np.stack([np.asarray(batch.positives), np.asarray(batch.negatives)], axis=1)
        if self.sampled:
            items = np.concatenate([items, batch.rng.integers(0, target.shape[1], (len(users), self.sampled))], axis=1)
        student = self._pair_scores(module, users, items)
        teacher = torch.as_tensor(_rows_at(target, users, items))
        return self.weight * (student - teacher).pow(2).mean()


class RankingDistillation(_Distillation):
    """Ranking distillation (Tang and Wang, 2018): for every batch user, the teacher's top-``k``
    unseen items are extra positives, position r weighted by :func:`ranking_weights`:
    weight * mean over users of -sum_r w_r log sigmoid(s_u,pi_r)."""

    def __init__(self, teacher, k: int = 10, weight: float = 1.0, decay: float = 5.0,
                 users_per_batch: int | None = None):
        super().__init__(teacher, weight, users_per_batch)
        self.k = check_positive_int(k, "k")
        self.decay = float(decay)
        self._weights = ranking_weights(self.k, self.decay)

    def loss(self, module, batch):
        import torch
        import torch.nn.functional as F

        users = self._users(batch)
        student = self._pair_scores(module, users, self._teacher().top(users, self.k))
        weights = torch.as_tensor(self._weights, dtype=student.dtype)
        return -self.weight * (F.logsigmoid(student) * weights).sum(dim=1).mean()


def _rows_at(table: np.ndarray, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """(len(users), c) ``table[users[i], columns[i, j]]`` (one flat take: faster than 2-D fancy indexing)."""
    return np.take(table.ravel(), np.asarray(users, dtype=np.int64)[:, None] * table.shape[1] + columns)


def _candidates(scores: TeacherScores, users, k: int, sampled: int, rng) -> np.ndarray:
    """(len(users), k + sampled): the teacher's top-k unseen items, then ``sampled`` items drawn
    uniformly from each user's unseen items below the top k."""
    top = scores.top(users, k)
    if not sampled:
        return top
    below = scores.n_unseen[users] - k
    if np.any(below < 1):
        raise ValueError("some users have no unseen item below the teacher's top k to sample; use a smaller k")
    positions = k + (rng.random((len(users), sampled)) * below[:, None]).astype(np.int64)
    return np.concatenate([top, _rows_at(scores.ranking, users, positions)], axis=1)


class ListwiseDistillation(_Distillation):
    """weight * T^2 * mean over batch users of KL(softmax(t / T) || softmax(s / T)) over each
    user's candidates: the teacher's top-``k`` unseen items and ``sampled`` items from below them.

    t are the teacher's scores *standardised per user* (:attr:`TeacherScores.standardised`), so
    that T is measured in units of the teacher's spread of scores: raw scores have arbitrary
    scales (EASE's are far smaller than BPR-MF's), and a softmax of tiny scores is nearly uniform.
    A higher T softens both distributions, so the order among the lower candidates counts too.
    The T^2 keeps the gradients' size (Hinton et al., 2015). The KL is zero exactly when the
    student's scores equal the teacher's standardised scores up to a constant per user."""

    def __init__(self, teacher, k: int = 20, sampled: int = 50, temperature: float = 1.0, weight: float = 1.0,
                 users_per_batch: int | None = None):
        super().__init__(teacher, weight, users_per_batch)
        self.k = check_positive_int(k, "k")
        self.sampled = check_positive_int(sampled, "sampled", minimum=0)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive; got {temperature!r}")
        self.temperature = float(temperature)

    def loss(self, module, batch):
        import torch
        import torch.nn.functional as F

        scores = self._teacher()
        users = self._users(batch)
        items = _candidates(scores, users, self.k, self.sampled, batch.rng)
        student = self._pair_scores(module, users, items) / self.temperature
        teacher = torch.as_tensor(_rows_at(scores.standardised, users, items)) / self.temperature
        p_teacher = F.softmax(teacher, dim=1)
        kl = (p_teacher * (F.log_softmax(teacher, dim=1) - F.log_softmax(student, dim=1))).sum(dim=1)
        return self.weight * self.temperature**2 * kl.mean()


class RelaxedRankingDistillation(_Distillation):
    """Relaxed ranking distillation (DE-RRD, Kang et al., 2020): weight * mean over batch users of
    the negative log Plackett-Luce likelihood of the teacher's order of its top-``k`` unseen items,

        -sum_{r=1..k} [ s_pi_r - log( sum_{j=r..k} exp(s_pi_j) + sum_{u in U} exp(s_u) ) ],

    where U are ``sampled`` items from below the top k: their order is not asked for, only that
    they come after every top-k item."""

    def __init__(self, teacher, k: int = 10, sampled: int = 50, weight: float = 1.0,
                 users_per_batch: int | None = None):
        super().__init__(teacher, weight, users_per_batch)
        self.k = check_positive_int(k, "k")
        self.sampled = check_positive_int(sampled, "sampled", minimum=0)

    def loss(self, module, batch):
        import torch

        users = self._users(batch)
        items = _candidates(self._teacher(), users, self.k, self.sampled, batch.rng)
        student = self._pair_scores(module, users, items)
        top, rest = student[:, : self.k], student[:, self.k :]
        # log sum_{j >= r} exp(top_j), for every r: a reversed cumulative logsumexp.
        tail = torch.logcumsumexp(top.flip(1), dim=1).flip(1)
        if self.sampled:
            tail = torch.logaddexp(tail, torch.logsumexp(rest, dim=1, keepdim=True))
        return -self.weight * (top - tail).sum(dim=1).mean()
