"""The one training loop for every torch model in the book.

:func:`fit` trains a module that scores (user, item) pairs. Every step takes a mini-batch of
observed interactions (u, i), draws for each an item j the user has not seen, and minimises

    loss = objective(module, batch) + l2 * mean over the batch of the rows' squared norms,

where the objective is pluggable: :class:`BPR` (Rendle et al., 2009) by default,
-mean log sigmoid(s_ui - s_uj); penalties (Chapter 5), distillation losses (Chapter 7) and
quantization-aware training (Chapter 6) are objectives too, and objectives add up
(``BPR() + L1Penalty(0.03)``). Everything else is fixed by one :class:`TrainSettings` object.

The loop owns what every chapter shares: seeded shuffling and negative sampling,
mini-batches, the optimiser, validation with early stopping (the best epoch's weights are
restored), an optional hook after every optimiser step, and a progress bar. With
:func:`reccompress.repro.set_reproducible` in force, two runs give identical weights.

A module trained here provides
- ``forward(users, items) -> (batch,)`` pair scores,
- ``score_users(users) -> (len(users), n_items)`` scores of every item, and
- ``embedding_norms(users, positives, negatives) -> (batch,)`` the squared norms the L2 term
  penalises.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import metrics
from ._checks import (
    check_callable,
    check_fraction,
    check_non_negative,
    check_positive_int,
    check_seed,
    check_user_items,
    describe,
)

__all__ = ["BPR", "Batch", "NegativeSampler", "Objective", "TrainSettings", "TrainingHistory", "fit"]


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides how a torch model is trained, in one validated object.

    Attributes:
        epochs: maximum passes over the interactions.
        batch_size: interactions per optimiser step.
        lr: Adam's learning rate.
        l2: weight of the squared norms of the batch's embedding rows.
        validation_fraction: share of each user's training interactions a model's ``fit``
            holds out to early-stop on; 0 trains on everything for exactly ``epochs`` epochs.
        eval_every: validate every this many epochs.
        patience: validations without improvement before stopping.
        metric: the :func:`~reccompress.metrics.evaluate` key maximised on validation.
        seed: seeds initialisation, the validation slice, shuffling and negatives.
        progress: show a progress bar over epochs.

    ``settings.replace(lr=5e-3)`` returns a copy with fields changed (and checked).
    """

    epochs: int = 80
    batch_size: int = 1024
    lr: float = 2e-3
    l2: float = 1e-3
    validation_fraction: float = 0.1
    eval_every: int = 1
    patience: int = 5
    metric: str = "ndcg@20"
    seed: int = 0
    progress: bool = False

    def __post_init__(self):
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        check_non_negative(self.lr, "lr")
        check_non_negative(self.l2, "l2")
        if self.validation_fraction != 0:
            check_fraction(self.validation_fraction, "validation_fraction")
        check_positive_int(self.eval_every, "eval_every")
        check_positive_int(self.patience, "patience")
        if not isinstance(self.metric, str) or "@" not in self.metric:
            raise ValueError(f"metric must name a metric and a list length such as 'ndcg@20'; got {self.metric!r}")
        check_seed(self.seed)
        if not isinstance(self.progress, bool):
            raise TypeError(f"progress must be True or False; got {describe(self.progress)}")

    def replace(self, **changes) -> "TrainSettings":
        """A copy with ``changes`` applied; unknown names are refused with the valid ones listed."""
        valid = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(valid))
        if unknown:
            raise TypeError(f"TrainSettings has no setting(s) {unknown}; valid settings are {valid}")
        return dataclasses.replace(self, **changes)

    _ALWAYS_SHOWN = ("epochs", "lr", "l2")

    def __repr__(self) -> str:
        # The settings a reader looks for first, always; the others only where they differ from
        # the defaults (a model's repr stays short enough to read).
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                 if f.name in self._ALWAYS_SHOWN or getattr(self, f.name) != f.default]
        return f"TrainSettings({', '.join(shown)})"


# --------------------------------------------------------------------------------------------
# Objectives
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Batch:
    """One mini-batch: (batch,) int64 tensors of users, their observed items and sampled unseen
    items, and the loop's seeded generator (for objectives that draw more candidates)."""

    users: object
    positives: object
    negatives: object
    rng: np.random.Generator


class Objective:
    """A training loss: ``loss(module, batch) -> scalar tensor``. Objectives add up with ``+``.

    Subclasses write :meth:`loss`. ``prepare(module, user_items)`` is called once before the
    first epoch (e.g. to check shapes against a teacher); the default does nothing.
    """

    def loss(self, module, batch: Batch):
        raise NotImplementedError

    def prepare(self, module, user_items) -> None:
        """Called once by :func:`fit` before training starts."""

    def __add__(self, other: "Objective") -> "Objective":
        if not isinstance(other, Objective):
            raise TypeError(f"only objectives can be added to an objective; got {describe(other)}")
        return _Sum(self, other)

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items() if not key.startswith("_"))
        return f"{type(self).__name__}({fields})"


class _Sum(Objective):
    def __init__(self, *parts: Objective):
        self.parts = tuple(p for part in parts for p in (part.parts if isinstance(part, _Sum) else (part,)))

    def loss(self, module, batch):
        return sum(part.loss(module, batch) for part in self.parts)

    def prepare(self, module, user_items) -> None:
        for part in self.parts:
            part.prepare(module, user_items)

    def __repr__(self) -> str:
        return " + ".join(repr(part) for part in self.parts)


class BPR(Objective):
    """Bayesian personalised ranking: -mean log sigmoid(s_ui - s_uj) over the batch."""

    def loss(self, module, batch):
        import torch.nn.functional as F

        difference = module(batch.users, batch.positives) - module(batch.users, batch.negatives)
        return -F.logsigmoid(difference).mean()


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------
@dataclass
class TrainingHistory:
    """What happened during :func:`fit`.

    Attributes:
        losses: mean training loss of each epoch run.
        validation: ``(epoch, metric value)`` for each validation pass (1-based epochs).
        metric: the validation metric's name.
        best_epoch: the epoch whose weights were kept (the last one without validation).
        stopped_early: whether patience ran out before ``epochs``.
    """

    losses: list[float] = field(default_factory=list)
    validation: list[tuple[int, float]] = field(default_factory=list)
    metric: str = "ndcg@20"
    best_epoch: int = 0
    stopped_early: bool = False


def _with_sorted_indices(user_items):
    """``user_items`` as CSR with sorted column indices; a sorted copy if needed, never in place."""
    user_items = user_items.tocsr()
    if not user_items.has_sorted_indices:
        user_items = user_items.copy()
        user_items.sort_indices()
    return user_items


class NegativeSampler:
    """Draws, for each user in a batch, one item uniformly among the items they have not seen.

    Draws uniformly over all items, then redraws the ones that hit a seen item (vectorised
    rejection; a user who has seen a share p of the catalogue needs 1 / (1 - p) draws on
    average). Membership is a binary search in the sorted keys ``user * n_items + item`` of the
    seen pairs, computed once.

    Args:
        user_items: (n_users, n_items) CSR of the seen interactions.
        max_rounds: redraws before giving up on a user who has seen (almost) everything.
    """

    def __init__(self, user_items, max_rounds: int = 50):
        check_user_items(user_items)
        user_items = _with_sorted_indices(user_items)
        self.n_items = user_items.shape[1]
        rows = np.repeat(np.arange(user_items.shape[0], dtype=np.int64), np.diff(user_items.indptr))
        self.seen_keys = rows * self.n_items + user_items.indices.astype(np.int64)  # sorted: CSR order
        self.max_rounds = check_positive_int(max_rounds, "max_rounds")

    def _is_seen(self, keys: np.ndarray) -> np.ndarray:
        position = np.searchsorted(self.seen_keys, keys)
        position[position == self.seen_keys.size] = 0
        return self.seen_keys[position] == keys if self.seen_keys.size else np.zeros(keys.size, dtype=bool)

    def sample(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(batch,) int64 unseen item ids for (batch,) int64 user ids."""
        negatives = rng.integers(0, self.n_items, size=users.size)
        pending = np.arange(users.size)
        for _ in range(self.max_rounds):
            hit = self._is_seen(users[pending] * self.n_items + negatives[pending])
            if not hit.any():
                return negatives
            pending = pending[hit]
            negatives[pending] = rng.integers(0, self.n_items, size=pending.size)
        raise ValueError(
            f"could not draw unseen items after {self.max_rounds} rounds for users "
            f"{np.unique(users[pending])[:5].tolist()}: they have seen (almost) every item"
        )


class ModuleScorer:
    """A module seen as a scorer: ``score(user_ids)`` for :func:`reccompress.metrics.evaluate`."""

    def __init__(self, module):
        self.module = module

    def score(self, user_ids):
        import torch

        with torch.no_grad():
            return self.module.score_users(torch.as_tensor(np.asarray(user_ids), dtype=torch.long)).numpy()


def _validate(module, validation, metric: str) -> float:
    """``metric`` on ``validation``; a list longer than the catalogue is cut to the catalogue."""
    name, _, length = metric.partition("@")
    k = min(int(length), validation.train.shape[1]) if length.isdigit() else 10
    result = metrics.evaluate(ModuleScorer(module), validation, ks=(k,))
    key = f"{name}@{k}" if length else name
    if key not in result:
        raise ValueError(f"metric must be one of {sorted(result)} (any list length); got {metric!r}")
    return result[key]


def fit(
    module,
    user_items,
    settings: TrainSettings | None = None,
    *,
    objective: Objective | None = None,
    validation=None,
    after_step: Callable | None = None,
) -> TrainingHistory:
    """Train ``module`` on ``user_items``, in place.

    Args:
        module: a torch module with ``forward``, ``score_users`` and ``embedding_norms``.
        user_items: (n_users, n_items) CSR of the interactions to learn from.
        settings: a :class:`TrainSettings` (its ``validation_fraction`` is not used here: pass
            the validation split itself).
        objective: the loss (default :class:`BPR`); the loop adds ``settings.l2`` times the
            batch's squared embedding norms.
        validation: a Split whose ``train`` is ``user_items`` (or None: no early stopping).
        after_step: ``after_step(module)`` called after every optimiser step.

    Returns:
        The :class:`TrainingHistory`; the module holds the best validated weights.
    """
    import torch
    from tqdm import tqdm

    settings = TrainSettings() if settings is None else settings
    if not isinstance(settings, TrainSettings):
        raise TypeError(f"settings must be a train.TrainSettings; got {describe(settings)}")
    objective = BPR() if objective is None else objective
    if not isinstance(objective, Objective):
        raise TypeError(f"objective must be a train.Objective such as train.BPR(); got {describe(objective)}")
    if after_step is not None:
        check_callable(after_step, "after_step", "a function after_step(module) or None")
    check_user_items(user_items, non_empty=True)
    if validation is not None and validation.train.shape != user_items.shape:
        raise ValueError(
            f"validation.train must have the shape of user_items {user_items.shape}; got {validation.train.shape}"
        )
    user_items = _with_sorted_indices(user_items)
    coo = user_items.tocoo()
    users_all, items_all = coo.row.astype(np.int64), coo.col.astype(np.int64)
    rng = np.random.default_rng(settings.seed)
    sampler = NegativeSampler(user_items)
    objective.prepare(module, user_items)
    optimizer = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=settings.lr)
    history = TrainingHistory(metric=settings.metric)
    best_value, best_state, waited = float("-inf"), None, 0

    bar = tqdm(range(1, settings.epochs + 1), desc="training", disable=not settings.progress, leave=False)
    for epoch in bar:
        module.train()
        order = rng.permutation(users_all.size)
        total, batches = 0.0, 0
        for start in range(0, order.size, settings.batch_size):
            chosen = order[start : start + settings.batch_size]
            users = users_all[chosen]
            negatives = sampler.sample(users, rng)
            batch = Batch(torch.from_numpy(users), torch.from_numpy(items_all[chosen]), torch.from_numpy(negatives), rng)
            loss = objective.loss(module, batch)
            if settings.l2 > 0:
                loss = loss + settings.l2 * module.embedding_norms(batch.users, batch.positives, batch.negatives).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step(module)
            total += loss.item()
            batches += 1
        history.losses.append(total / batches)
        module.eval()
        if validation is None or epoch % settings.eval_every:
            continue
        value = _validate(module, validation, settings.metric)
        history.validation.append((epoch, value))
        bar.set_postfix(loss=f"{history.losses[-1]:.4f}", **{settings.metric: f"{value:.4f}"})
        if value > best_value:
            best_value, best_state, waited = value, copy.deepcopy(module.state_dict()), 0
            history.best_epoch = epoch
        else:
            waited += 1
            if waited >= settings.patience:
                history.stopped_early = True
                break
    if best_state is not None:
        module.load_state_dict(best_state)
    else:
        history.best_epoch = len(history.losses)
    module.eval()
    return history
