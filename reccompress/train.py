"""The one training loop for every torch model in the book.

:func:`fit_pairwise` trains a module that scores (user, item) pairs with the BPR loss
(Rendle et al., 2009): for each observed interaction (u, i) it draws an item j the user has
not interacted with and pushes score(u, i) above score(u, j),

    loss = -mean log sigmoid(s_ui - s_uj) + l2 * mean(||batch embeddings||^2) + penalty(module).

It owns everything the chapters share: seeded shuffling and negative sampling, mini-batches,
the optimiser, validation NDCG with early stopping (the best epoch's weights are restored),
an optional extra penalty on the batch (L1 or group lasso, Chapter 5) and an optional hook after every
optimiser step (re-applying pruning masks, Chapter 5), and a progress bar that can be switched
off. With :func:`reccompress.repro.set_reproducible` in force, two runs give identical weights.

A module trained here provides
- ``forward(users, items) -> (batch,)`` pair scores, and
- ``score_users(users) -> (len(users), n_items)`` scores of every item,
- ``embedding_norms(users, items) -> (batch,)`` the squared norms the L2 term penalises.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import metrics
from ._checks import check_non_negative, check_positive_int, check_user_items

__all__ = ["NegativeSampler", "TrainingHistory", "fit_pairwise"]


@dataclass
class TrainingHistory:
    """What happened during :func:`fit_pairwise`.

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
    """

    def __init__(self, user_items, max_rounds: int = 50):
        user_items = _with_sorted_indices(user_items)
        self.n_items = user_items.shape[1]
        rows = np.repeat(np.arange(user_items.shape[0], dtype=np.int64), np.diff(user_items.indptr))
        self.seen_keys = rows * self.n_items + user_items.indices.astype(np.int64)  # sorted: CSR order
        self.max_rounds = max_rounds

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


class _ModuleScorer:
    """Lets :func:`reccompress.metrics.evaluate` score users with a module."""

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
    result = metrics.evaluate(_ModuleScorer(module), validation, ks=(k,))
    key = f"{name}@{k}" if length else name
    if key not in result:
        raise ValueError(f"metric must be one of {sorted(result)} (any list length); got {metric!r}")
    return result[key]


def fit_pairwise(
    module,
    user_items,
    *,
    epochs: int = 30,
    batch_size: int = 1024,
    lr: float = 1e-3,
    l2: float = 1e-4,
    validation=None,
    metric: str = "ndcg@20",
    eval_every: int = 1,
    patience: int = 3,
    seed: int = 0,
    penalty: Callable | None = None,
    after_step: Callable | None = None,
    progress: bool = True,
) -> TrainingHistory:
    """Train ``module`` on ``user_items`` with the BPR loss, in place.

    Args:
        module: a torch module with ``forward``, ``score_users`` and ``embedding_norms``.
        user_items: (n_users, n_items) CSR of the interactions to learn from.
        epochs: maximum passes over the interactions.
        batch_size: interactions per optimiser step.
        lr: Adam's learning rate.
        l2: weight of the squared norms of the embeddings in each batch.
        validation: a Split whose ``train`` is ``user_items`` (or None: no early stopping).
        metric: the :func:`~reccompress.metrics.evaluate` key to maximise on validation.
        eval_every: validate every this many epochs.
        patience: stop after this many validations without improvement.
        seed: seeds shuffling and negative sampling.
        penalty: ``penalty(module, users, positives, negatives) -> scalar tensor`` added to every
            batch's loss (the batch's id tensors let it act on the rows in use, like the L2 term).
        after_step: ``after_step(module)`` called after every optimiser step.
        progress: show a progress bar over epochs.

    Returns:
        The :class:`TrainingHistory`; the module holds the best validated weights.
    """
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    check_user_items(user_items)
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    eval_every = check_positive_int(eval_every, "eval_every")
    patience = check_positive_int(patience, "patience")
    lr = check_non_negative(lr, "lr")
    l2 = check_non_negative(l2, "l2")
    if validation is not None and validation.train.shape != user_items.shape:
        raise ValueError(
            f"validation.train must have the shape of user_items {user_items.shape}; got {validation.train.shape}"
        )
    user_items = _with_sorted_indices(user_items)
    coo = user_items.tocoo()
    users_all, items_all = coo.row.astype(np.int64), coo.col.astype(np.int64)
    rng = np.random.default_rng(seed)
    sampler = NegativeSampler(user_items)
    optimizer = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=lr)
    history = TrainingHistory(metric=metric)
    best_value, best_state, waited = float("-inf"), None, 0

    bar = tqdm(range(1, epochs + 1), desc="training", disable=not progress, leave=False)
    for epoch in bar:
        module.train()
        order = rng.permutation(users_all.size)
        total, batches = 0.0, 0
        for start in range(0, order.size, batch_size):
            batch = order[start : start + batch_size]
            users = users_all[batch]
            negatives = sampler.sample(users, rng)
            u = torch.from_numpy(users)
            i = torch.from_numpy(items_all[batch])
            j = torch.from_numpy(negatives)
            difference = module(u, i) - module(u, j)
            loss = -F.logsigmoid(difference).mean()
            if l2 > 0:
                loss = loss + l2 * module.embedding_norms(u, i, j).mean()
            if penalty is not None:
                loss = loss + penalty(module, u, i, j)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step(module)
            total += loss.item()
            batches += 1
        history.losses.append(total / batches)
        module.eval()
        if validation is None or epoch % eval_every:
            continue
        value = _validate(module, validation, metric)
        history.validation.append((epoch, value))
        bar.set_postfix(loss=f"{history.losses[-1]:.4f}", **{metric: f"{value:.4f}"})
        if value > best_value:
            best_value, best_state, waited = value, copy.deepcopy(module.state_dict()), 0
            history.best_epoch = epoch
        else:
            waited += 1
            if waited >= patience:
                history.stopped_early = True
                break
    if best_state is not None:
        module.load_state_dict(best_state)
    else:
        history.best_epoch = len(history.losses)
    module.eval()
    return history
