"""Neural recommenders in torch: the teacher models the later chapters compress.

- :class:`BPRMF`: matrix factorization, score(u, i) = p_u . q_i, trained with BPR;
- :class:`NCF`: an NCF-style model (He et al., 2017): a generalised matrix factorization
  branch (p_u * q_i) and an MLP branch over [p'_u, q'_i], joined by one output layer.

Both wrap an ``nn.Module`` (``module_``) in the recommender protocol and train it with the one
loop in :mod:`reccompress.train`: ``fit`` carves a validation slice out of the training matrix,
trains with early stopping on it, and keeps the best weights. ``nbytes`` counts every parameter
and buffer of the module as stored; ``n_parameters`` counts the numbers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._checks import check_fitted, check_fraction, check_non_negative, check_positive_int, check_user_items
from ..measure import nbytes
from .. import splits, train
from .base import Recommender

__all__ = ["BPRMF", "MFModule", "NCF", "NCFModule", "NeuralRecommender"]

_PAIRS_PER_CHUNK = 1 << 17  # pairs scored at once by NCF.score_users (bounds memory)


class MFModule(nn.Module):
    """p_u . q_i with embeddings P (n_users, dim) and Q (n_items, dim)."""

    def __init__(self, n_users: int, n_items: int, dim: int, init_std: float, generator):
        super().__init__()
        self.user_embedding = nn.Embedding(n_users, dim)
        self.item_embedding = nn.Embedding(n_items, dim)
        for table in (self.user_embedding, self.item_embedding):
            nn.init.normal_(table.weight, std=init_std, generator=generator)

    def forward(self, users, items):  # (batch,), (batch,) -> (batch,)
        return (self.user_embedding(users) * self.item_embedding(items)).sum(dim=1)

    def score_users(self, users):  # (batch,) -> (batch, n_items)
        # Look the items up through the layer (not .weight) so pruning masks are always applied.
        items = self.item_embedding(torch.arange(self.item_embedding.num_embeddings))
        return self.user_embedding(users) @ items.T

    def embedding_norms(self, users, positives, negatives):  # -> (batch,)
        return (
            self.user_embedding(users).pow(2).sum(1)
            + self.item_embedding(positives).pow(2).sum(1)
            + self.item_embedding(negatives).pow(2).sum(1)
        )

class NCFModule(nn.Module):
    """GMF branch (dim) + MLP branch ([p'_u, q'_i] -> hidden layers), one linear output."""

    def __init__(self, n_users: int, n_items: int, dim: int, hidden: tuple, init_std: float, generator):
        super().__init__()
        self.user_embedding = nn.Embedding(n_users, dim)  # GMF branch
        self.item_embedding = nn.Embedding(n_items, dim)
        self.user_embedding_mlp = nn.Embedding(n_users, dim)  # MLP branch
        self.item_embedding_mlp = nn.Embedding(n_items, dim)
        for table in (self.user_embedding, self.item_embedding, self.user_embedding_mlp, self.item_embedding_mlp):
            nn.init.normal_(table.weight, std=init_std, generator=generator)
        layers, width = [], 2 * dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.mlp = nn.Sequential(*layers)
        self.output = nn.Linear(dim + width, 1)
        for layer in [*self.mlp, self.output]:
            if isinstance(layer, nn.Linear):
                bound = 1.0 / np.sqrt(layer.in_features)
                nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
                nn.init.zeros_(layer.bias)

    def forward(self, users, items):  # (batch,), (batch,) -> (batch,)
        gmf = self.user_embedding(users) * self.item_embedding(items)  # (batch, dim)
        mlp = self.mlp(torch.cat([self.user_embedding_mlp(users), self.item_embedding_mlp(items)], dim=1))
        return self.output(torch.cat([gmf, mlp], dim=1)).squeeze(1)

    def score_users(self, users):  # (batch,) -> (batch, n_items), in chunks of pairs
        n_items = self.item_embedding.num_embeddings
        items = torch.arange(n_items)
        rows = []
        step = max(1, _PAIRS_PER_CHUNK // n_items)
        for start in range(0, len(users), step):
            chunk = users[start : start + step]
            pair_users = chunk.repeat_interleave(n_items)
            pair_items = items.repeat(len(chunk))
            rows.append(self.forward(pair_users, pair_items).view(len(chunk), n_items))
        return torch.cat(rows) if rows else torch.zeros((0, n_items))

    def embedding_norms(self, users, positives, negatives):  # -> (batch,)
        total = 0
        for user_table, item_table in (
            (self.user_embedding, self.item_embedding),
            (self.user_embedding_mlp, self.item_embedding_mlp),
        ):
            total = total + user_table(users).pow(2).sum(1)
            total = total + item_table(positives).pow(2).sum(1) + item_table(negatives).pow(2).sum(1)
        return total


class NeuralRecommender(Recommender):
    """A torch module behind the recommender protocol, trained by :func:`reccompress.train.fit_pairwise`.

    Subclasses build the module in ``_build(n_users, n_items, generator)``.

    Attributes:
        module_: the trained ``nn.Module`` (in eval mode).
        history_: the :class:`~reccompress.train.TrainingHistory` of ``fit``.
        init_state_: the module's ``state_dict`` before training (for rewinding; not in ``nbytes``).
    """

    module_ = None
    history_ = None
    init_state_ = None

    def _store_training(self, epochs, batch_size, lr, l2, init_std, validation_fraction, eval_every, patience, seed,
                        progress):
        """Keep the training hyper-parameters every neural model shares (constructors only store)."""
        self.epochs, self.batch_size, self.lr, self.l2 = epochs, batch_size, lr, l2
        self.init_std, self.validation_fraction, self.patience = init_std, validation_fraction, patience
        self.eval_every, self.seed, self.progress = eval_every, seed, progress

    def _train_settings(self) -> dict:
        return {
            "epochs": check_positive_int(self.epochs, "epochs"),
            "batch_size": check_positive_int(self.batch_size, "batch_size"),
            "lr": check_non_negative(self.lr, "lr"),
            "l2": check_non_negative(self.l2, "l2"),
            "patience": check_positive_int(self.patience, "patience"),
            "eval_every": check_positive_int(self.eval_every, "eval_every"),
            "seed": self.seed,
            "progress": self.progress,
        }

    def fit_penalized(self, user_items, penalty) -> "NeuralRecommender":
        """``fit`` with ``penalty(module, users, positives, negatives) -> scalar tensor`` added to
        every batch's loss (e.g. the L1 or group-lasso terms of :mod:`reccompress.compress.prune`)."""
        check_user_items(user_items)
        if not callable(penalty):
            raise TypeError(f"penalty must be a function of the module returning a scalar tensor; got {penalty!r}")
        self._fit(user_items, penalty=penalty)
        self.user_items_ = user_items
        return self

    def _fit(self, user_items, penalty=None) -> None:
        settings = self._train_settings()
        settings["penalty"] = penalty
        fraction = self.validation_fraction
        generator = torch.Generator().manual_seed(self.seed)
        self.module_ = self._build(user_items.shape[0], user_items.shape[1], generator)
        # The initial weights, kept for lottery-ticket rewinding (Chapter 5); not counted in nbytes.
        self.init_state_ = {name: tensor.detach().clone() for name, tensor in self.module_.state_dict().items()}
        validation = None
        if fraction:
            fraction = check_fraction(fraction, "validation_fraction")
            validation = splits.random_holdout(user_items, test_fraction=fraction, seed=self.seed)
            if validation.test.nnz == 0:  # histories too short to hold anything out
                validation = None
        if validation is None:
            self.history_ = train.fit_pairwise(self.module_, user_items, **settings)
        else:
            self.history_ = train.fit_pairwise(self.module_, validation.train, validation=validation, **settings)

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.module_.score_users(torch.as_tensor(user_ids, dtype=torch.long)).numpy().astype(np.float32)

    @property
    def n_parameters(self) -> int:
        """Numbers held by the module's parameters."""
        check_fitted(self, "module_")
        return int(sum(p.numel() for p in self.module_.parameters()))

    @property
    def nbytes(self) -> int:
        check_fitted(self, "module_")
        return nbytes(*self.module_.parameters(), *self.module_.buffers())


class BPRMF(NeuralRecommender):
    """Matrix factorization trained with BPR: score(u, i) = p_u . q_i.

    Args:
        dim: embedding dimension.
        epochs: maximum epochs (early stopping on validation NDCG@20 may stop sooner).
        batch_size: interactions per step.
        lr: Adam learning rate.
        l2: weight of the squared embedding norms in each batch.
        init_std: standard deviation of the initial embeddings.
        validation_fraction: share of each user's training interactions held out to early-stop
            on; 0 (or histories too short to hold anything out) trains on everything for
            ``epochs`` epochs.
        eval_every: validate every this many epochs.
        patience: validations without improvement before stopping.
        seed: seeds initialisation, the validation slice, shuffling and negatives.
        progress: show a progress bar.

    Attributes:
        module_.user_embedding.weight: (n_users, dim).   module_.item_embedding.weight: (n_items, dim).
    """

    def __init__(
        self,
        dim: int = 64,
        epochs: int = 80,
        batch_size: int = 1024,
        lr: float = 2e-3,
        l2: float = 1e-3,
        init_std: float = 0.01,
        validation_fraction: float = 0.1,
        eval_every: int = 1,
        patience: int = 5,
        seed: int = 0,
        progress: bool = False,
    ):
        self.dim = dim
        self._store_training(
            epochs, batch_size, lr, l2, init_std, validation_fraction, eval_every, patience, seed, progress
        )

    def _build(self, n_users: int, n_items: int, generator):
        dim = check_positive_int(self.dim, "dim")
        return MFModule(n_users, n_items, dim, check_non_negative(self.init_std, "init_std"), generator)


class NCF(NeuralRecommender):
    """NCF-style model: GMF and MLP branches over separate embeddings, trained with BPR.

    Args:
        dim: embedding dimension of each branch.
        hidden: widths of the MLP's hidden layers (input 2 * dim).
        Other arguments as :class:`BPRMF`.

    Attributes:
        module_: embeddings ``user_embedding``, ``item_embedding`` (GMF), ``user_embedding_mlp``,
            ``item_embedding_mlp`` (MLP), layers ``mlp`` and ``output``.
    """

    def __init__(
        self,
        dim: int = 32,
        hidden: tuple = (32,),
        epochs: int = 80,
        batch_size: int = 1024,
        lr: float = 2e-3,
        l2: float = 1e-3,
        init_std: float = 0.01,
        validation_fraction: float = 0.1,
        eval_every: int = 2,
        patience: int = 5,
        seed: int = 0,
        progress: bool = False,
    ):
        self.dim = dim
        self.hidden = hidden
        self._store_training(
            epochs, batch_size, lr, l2, init_std, validation_fraction, eval_every, patience, seed, progress
        )

    def _build(self, n_users: int, n_items: int, generator):
        dim = check_positive_int(self.dim, "dim")
        hidden = tuple(check_positive_int(width, "hidden layer width") for width in self.hidden)
        return NCFModule(n_users, n_items, dim, hidden, check_non_negative(self.init_std, "init_std"), generator)
