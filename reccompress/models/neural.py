"""Neural recommenders in torch: the teacher models the later chapters compress.

- :class:`BPRMF`: matrix factorization, score(u, i) = p_u . q_i, trained with BPR;
- :class:`NCF`: an NCF-style model (He et al., 2017): a generalised matrix factorization
  branch (p_u * q_i) and an MLP branch over [p'_u, q'_i], joined by one output layer;
- :class:`ItemOnlyMF`: matrix factorization without a user table, score(u, i) = (x_u P) . q_i:
  a user is their history folded into P, so a new user is served without retraining.

Both wrap an ``nn.Module`` (``module_``) in the recommender protocol and train it with the one
loop, :func:`reccompress.train.fit`, configured by one :class:`~reccompress.train.TrainSettings`
(``training=``) and an objective (``objective=``, BPR by default). ``fit`` carves a validation
slice out of the training matrix (``training.validation_fraction``), trains with early
stopping on it and keeps the best weights; with ``validation_fraction=0`` it trains on all
of it for exactly ``training.epochs`` epochs. ``nbytes`` counts the module as
:func:`reccompress.measure.module_nbytes` does; ``n_parameters`` counts the numbers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._checks import check_int_sequence, check_non_negative, check_positive_int, check_user_items, describe
from .. import splits, train
from ..train import TrainSettings
from .base import ModuleScoring, Recommender

__all__ = ["BPRMF", "HistoryMFModule", "ItemOnlyMF", "MFModule", "NCF", "NCFModule", "NeuralRecommender"]

_PAIRS_PER_CHUNK = 1 << 17  # pairs scored at once by NCF.score_users (bounds memory)


class MFModule(nn.Module):
    """p_u . q_i with embeddings P (n_users, rank) and Q (n_items, rank).

    Args:
        n_users, n_items, rank: table sizes.
        init_std: standard deviation of the normal initial weights.
        generator: the torch generator that draws them (seeded by the caller).
        tables: optional (user_table, item_table) modules to use instead of plain embeddings
            (Chapter 8's hashed, compositional, mixed-dimension, tensor-train tables: each maps
            ids to rows and has ``num_embeddings``, ``embedding_dim`` and ``nbytes``).
    """

    def __init__(self, n_users: int, n_items: int, rank: int, init_std: float = 0.01, generator=None,
                 tables=None):
        super().__init__()
        if tables is not None:
            self.user_embedding, self.item_embedding = tables
            return
        self.user_embedding = nn.Embedding(n_users, rank)
        self.item_embedding = nn.Embedding(n_items, rank)
        for table in (self.user_embedding, self.item_embedding):
            nn.init.normal_(table.weight, std=init_std, generator=generator)

    @classmethod
    def from_factors(cls, user_factors: np.ndarray, item_factors: np.ndarray) -> "MFModule":
        """A module holding given (n_users, rank) and (n_items, rank) factors (copied, float32)."""
        module = cls(user_factors.shape[0], item_factors.shape[0], user_factors.shape[1], init_std=0.0)
        with torch.no_grad():
            module.user_embedding.weight.copy_(torch.as_tensor(np.asarray(user_factors), dtype=torch.float32))
            module.item_embedding.weight.copy_(torch.as_tensor(np.asarray(item_factors), dtype=torch.float32))
        return module.eval()

    def forward(self, users, items):  # (batch,), (batch,) -> (batch,)
        return (self.user_embedding(users) * self.item_embedding(items)).sum(dim=1)

    def score_users(self, users):  # (batch,) -> (batch, n_items)
        # Look the items up through the layer (not .weight) so pruning masks are always applied.
        items = self.item_embedding(torch.arange(self.item_embedding.num_embeddings))
        return self.user_embedding(users) @ items.T

    def score_candidates(self, users, items):  # (batch,), (batch, c) -> (batch, c)
        """Each user's scores of their own row of candidate items (distillation's lists)."""
        # Indexing the (masked) weights rather than calling the layers: the backward pass is then
        # one index_add per table, about twice as fast on CPU as the embedding layer's.
        return (_lookup(self.item_embedding, items) * _lookup(self.user_embedding, users)[:, None, :]).sum(-1)

    def embedding_norms(self, users, positives, negatives):  # -> (batch,)
        return (
            self.user_embedding(users).pow(2).sum(1)
            + self.item_embedding(positives).pow(2).sum(1)
            + self.item_embedding(negatives).pow(2).sum(1)
        )

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """The effective (pruning masks applied) user and item tables as float32 numpy arrays."""
        with torch.no_grad():
            users = self.user_embedding(torch.arange(self.user_embedding.num_embeddings))
            items = self.item_embedding(torch.arange(self.item_embedding.num_embeddings))
        return users.numpy().copy(), items.numpy().copy()


class HistoryMFModule(nn.Module):
    """(x_u P) . q_i: a user is the sum of the fold-in rows P of the items in their history.

    Training scores a seen pair (u, i) with i left out of the history, ((x_u - e_i) P) . q_i,
    so the model cannot score a training item by recognising the item itself (EASE's zero
    diagonal, for a factorized W = P Q^T). Unseen items, the only ones ever recommended, are
    scored with the whole history.

    Args:
        user_items: (n_users, n_items) CSR training histories (kept, not a parameter).
        rank: factor width.
        init_std, generator: as :class:`MFModule`.
    """

    def __init__(self, user_items, rank: int, init_std: float = 0.01, generator=None):
        super().__init__()
        n_users, n_items = user_items.shape
        self.fold_in = nn.Embedding(n_items, rank)  # P
        self.item_embedding = nn.Embedding(n_items, rank)  # Q
        for table in (self.fold_in, self.item_embedding):
            nn.init.normal_(table.weight, std=init_std, generator=generator)
        csr = user_items.tocsr()
        # Histories as plain arrays (not buffers: they are the model's input, not its weights).
        self._indptr = np.asarray(csr.indptr, dtype=np.int64)
        self._lengths = np.diff(self._indptr)
        self._indices = np.asarray(csr.indices, dtype=np.int64)
        self._seen = torch.zeros((n_users, n_items), dtype=torch.bool)  # n_users * n_items bytes
        coo = csr.tocoo()
        self._seen[torch.as_tensor(coo.row, dtype=torch.int64), torch.as_tensor(coo.col, dtype=torch.int64)] = True

    def user_vectors(self, users):  # (batch,) -> (batch, rank): x_u P
        users = users.numpy().astype(np.int64)
        starts, lengths = self._indptr[users], self._lengths[users]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        flat = np.repeat(starts - offsets, lengths) + np.arange(lengths.sum())
        return torch.nn.functional.embedding_bag(
            torch.from_numpy(self._indices[flat]), self.fold_in.weight, torch.from_numpy(offsets), mode="sum")

    def _pair_users(self, users):  # x_u P for every row of a batch, each distinct user once
        distinct, inverse = torch.unique(users, return_inverse=True)
        return self.user_vectors(distinct)[inverse]

    def score_candidates(self, users, items):  # (batch,), (batch, c) -> (batch, c)
        """Each user's scores of their own row of items, seen items scored with themselves left out."""
        left_out = self._seen[users[:, None], items].unsqueeze(-1) * self.fold_in.weight[items]
        history = self._pair_users(users)[:, None, :] - left_out
        return (history * self.item_embedding.weight[items]).sum(-1)

    def forward(self, users, items):  # (batch,), (batch,) -> (batch,)
        return self.score_candidates(users, items[:, None])[:, 0]

    def score_users(self, users):  # (batch,) -> (batch, n_items), whole histories
        return self.user_vectors(users) @ self.item_embedding.weight.T

    def embedding_norms(self, users, positives, negatives):  # -> (batch,): the pair's item rows
        return sum(table(items).pow(2).sum(1) for table in (self.fold_in, self.item_embedding)
                   for items in (positives, negatives))


def _lookup(table, ids):
    """Rows of ids (any shape): a plain embedding's (masked) weight indexed, any other table called."""
    if isinstance(table, nn.Embedding):
        return _effective(table, "weight")[ids]
    return table(ids)


def _effective(layer, name: str):
    """A layer's parameter as the forward pass uses it: ``orig * mask`` for a parameter pruned by
    ``torch.nn.utils.prune`` (whose cached attribute is only refreshed by a forward call)."""
    if hasattr(layer, f"{name}_orig"):
        return getattr(layer, f"{name}_orig") * getattr(layer, f"{name}_mask")
    return getattr(layer, name)


class NCFModule(nn.Module):
    """GMF branch (rank) + MLP branch ([p'_u, q'_i] -> hidden layers), one linear output."""

    def __init__(self, n_users: int, n_items: int, rank: int, hidden: tuple, init_std: float, generator):
        super().__init__()
        self.user_embedding = nn.Embedding(n_users, rank)  # GMF branch
        self.item_embedding = nn.Embedding(n_items, rank)
        self.user_embedding_mlp = nn.Embedding(n_users, rank)  # MLP branch
        self.item_embedding_mlp = nn.Embedding(n_items, rank)
        for table in (self.user_embedding, self.item_embedding, self.user_embedding_mlp, self.item_embedding_mlp):
            nn.init.normal_(table.weight, std=init_std, generator=generator)
        layers, width = [], 2 * rank
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.mlp = nn.Sequential(*layers)
        self.output = nn.Linear(rank + width, 1)
        for layer in [*self.mlp, self.output]:
            if isinstance(layer, nn.Linear):
                bound = 1.0 / np.sqrt(layer.in_features)
                nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
                nn.init.zeros_(layer.bias)

    def forward(self, users, items):  # (batch,), (batch,) -> (batch,)
        gmf = self.user_embedding(users) * self.item_embedding(items)  # (batch, rank)
        mlp = self.mlp(torch.cat([self.user_embedding_mlp(users), self.item_embedding_mlp(items)], dim=1))
        return self.output(torch.cat([gmf, mlp], dim=1)).squeeze(1)

    def _plain_layers(self) -> bool:
        """Whether every linear layer keeps its weights as tensors (not packed by quantization)."""
        return all(type(layer) is nn.Linear for layer in [*self.mlp, self.output] if "Linear" in type(layer).__name__)

    def _score_pairs(self, users):  # forward() on every (user, item) pair, in chunks of pairs
        n_items = self.item_embedding.num_embeddings
        items = torch.arange(n_items)
        rows = []
        step = max(1, _PAIRS_PER_CHUNK // n_items)
        for start in range(0, len(users), step):
            chunk = users[start : start + step]
            pairs = self.forward(chunk.repeat_interleave(n_items), items.repeat(len(chunk)))
            rows.append(pairs.view(len(chunk), n_items))
        return torch.cat(rows) if rows else torch.zeros((0, n_items))

    def score_users(self, users):  # (batch,) -> (batch, n_items), in chunks of users
        # The same function as forward() on every (user, item) pair, computed without forming the
        # pairs' inputs: the GMF term is (p_u * w_gmf) . q_i, a matrix product, and the first MLP
        # layer W [p'_u; q'_i] + b splits into W_u p'_u (once per user) + W_i q'_i (once per item).
        # Layers whose weights are packed (quantized) are run on the pairs themselves.
        if not self._plain_layers():
            return self._score_pairs(users)
        n_items = self.item_embedding.num_embeddings
        items = torch.arange(n_items)
        rank = self.user_embedding.embedding_dim
        w_out, b_out = _effective(self.output, "weight")[0], _effective(self.output, "bias")  # (rank + width,), (1,)
        item_gmf = self.item_embedding(items) * w_out[:rank]  # (n_items, rank)
        layers = list(self.mlp)
        if layers:
            first = layers[0]
            first_weight = _effective(first, "weight")
            item_part = self.item_embedding_mlp(items) @ first_weight[:, rank:].T + _effective(first, "bias")
        rows = []
        step = max(1, _PAIRS_PER_CHUNK // n_items)
        for start in range(0, len(users), step):
            chunk = users[start : start + step]
            scores = self.user_embedding(chunk) @ item_gmf.T + b_out  # (chunk, n_items)
            if layers:
                user_part = self.user_embedding_mlp(chunk) @ first_weight[:, :rank].T  # (chunk, h1)
                hidden = user_part[:, None, :] + item_part[None, :, :]  # (chunk, n_items, h1)
                for layer in layers[1:]:
                    hidden = layer(hidden)
            else:  # no hidden layer: the MLP branch is the concatenation itself
                hidden = torch.cat([self.user_embedding_mlp(chunk)[:, None, :].expand(-1, n_items, -1),
                                    self.item_embedding_mlp(items)[None, :, :].expand(len(chunk), -1, -1)], dim=2)
            scores = scores + hidden @ w_out[rank:]
            rows.append(scores)
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


class NeuralRecommender(ModuleScoring, Recommender):
    """A torch module behind the recommender protocol, trained by :func:`reccompress.train.fit`.

    Subclasses build the module in ``_build(n_users, n_items, generator)``.

    Attributes:
        module_: the trained ``nn.Module`` (in eval mode).
        history_: the :class:`~reccompress.train.TrainingHistory` of ``fit``.
        init_state_: the module's ``state_dict`` before training (for rewinding; not in ``nbytes``).
    """

    module_ = None
    history_ = None
    init_state_ = None

    def _check_training(self) -> tuple[TrainSettings, "train.Objective"]:
        if not isinstance(self.training, TrainSettings):
            raise TypeError(f"training must be a train.TrainSettings(...); got {describe(self.training)}")
        objective = train.BPR() if self.objective is None else self.objective
        if not isinstance(objective, train.Objective):
            raise TypeError(f"objective must be a train.Objective such as train.BPR(); got {describe(objective)}")
        return self.training, objective

    def fit(self, user_items, validation=None) -> "NeuralRecommender":
        """Train on ``user_items``; early-stop on ``validation`` if given (a Split whose ``train`` is
        ``user_items``, e.g. when tuning on a validation split), else on a slice carved out of
        ``user_items`` (``training.validation_fraction``), else train exactly ``training.epochs``."""
        check_user_items(user_items, non_empty=True)
        if validation is not None:
            if not (hasattr(validation, "train") and hasattr(validation, "test")):
                raise TypeError(f"validation must be a Split whose train is user_items; got {describe(validation)}")
            if validation.train.shape != user_items.shape or (validation.train != user_items).nnz:
                raise ValueError("validation.train must equal user_items: the model trains on it and early-stops on "
                                 "validation.test")
        self._train(user_items, validation)
        self.user_items_ = user_items
        return self

    def _fit(self, user_items) -> None:
        self._train(user_items, None)

    def _train(self, user_items, validation) -> None:
        settings, objective = self._check_training()
        if validation is None and settings.validation_fraction:
            validation = splits.random_holdout(user_items, test_fraction=settings.validation_fraction, seed=settings.seed)
            if validation.test.nnz == 0:  # histories too short to hold anything out
                validation = None
        data = user_items if validation is None else validation.train
        generator = torch.Generator().manual_seed(settings.seed)
        self.module_ = self._build_module(data, generator)
        # The initial weights, kept for lottery-ticket rewinding (Chapter 5); not counted in nbytes.
        self.init_state_ = {name: tensor.detach().clone() for name, tensor in self.module_.state_dict().items()}
        self.history_ = train.fit(self.module_, data, settings, objective=objective, validation=validation)

    def _build_module(self, user_items, generator):
        """The untrained module for the matrix it will train on (most only need its shape)."""
        return self._build(user_items.shape[0], user_items.shape[1], generator)



class BPRMF(NeuralRecommender):
    """Matrix factorization trained with BPR: score(u, i) = p_u . q_i.

    Args:
        rank: embedding dimension (latent width).
        init_std: standard deviation of the initial embeddings.
        training: how to train (epochs, lr, l2, validation slice, seed, ...).
        objective: the loss (default :class:`~reccompress.train.BPR`; e.g. ``BPR() + L1Penalty(0.03)``).
        embeddings: how the two tables are stored (default: plain float32 tables): a spec from
            :mod:`reccompress.compress.embeddings` for both, e.g. ``embeddings.Hashing(4)``, or a
            ``(user_spec, item_spec)`` pair. The tables are built from the training matrix (the
            frequency-aware specs rank ids by their training counts) and trained from scratch.

    Attributes:
        user_factors_: (n_users, rank) float32, the user table as used to score (masks applied).
        item_factors_: (n_items, rank) float32, the item table likewise.
    """

    def __init__(self, rank: int = 64, init_std: float = 0.01, training: TrainSettings = TrainSettings(),
                 objective=None, embeddings=None):
        self.rank = rank
        self.init_std = init_std
        self.training = training
        self.objective = objective
        self.embeddings = embeddings

    def _build(self, n_users: int, n_items: int, generator):
        rank = check_positive_int(self.rank, "rank")
        return MFModule(n_users, n_items, rank, check_non_negative(self.init_std, "init_std"), generator)

    def _build_module(self, user_items, generator):
        if self.embeddings is None:
            return super()._build_module(user_items, generator)
        specs = self.embeddings if isinstance(self.embeddings, tuple) else (self.embeddings, self.embeddings)
        if len(specs) != 2 or not all(callable(getattr(spec, "build", None)) for spec in specs):
            raise TypeError("embeddings must be a table spec such as compress.embeddings.Hashing(4), or a (user_spec, "
                            f"item_spec) pair; got {describe(self.embeddings)}")
        rank = check_positive_int(self.rank, "rank")
        init_std = check_non_negative(self.init_std, "init_std")
        binary = user_items.copy()
        binary.data[:] = 1
        counts = (np.asarray(binary.sum(axis=1)).ravel(), np.asarray(binary.sum(axis=0)).ravel())
        tables = tuple(spec.build(n, rank, count, init_std, generator)
                       for spec, n, count in zip(specs, user_items.shape, counts))
        return MFModule(*user_items.shape, rank, init_std, generator, tables=tables)

    @property
    def user_factors_(self) -> np.ndarray | None:
        return None if self.module_ is None else self.module_.factors()[0]

    @property
    def item_factors_(self) -> np.ndarray | None:
        return None if self.module_ is None else self.module_.factors()[1]


class NCF(NeuralRecommender):
    """NCF-style model: GMF and MLP branches over separate embeddings, trained with BPR.

    Args:
        rank: embedding width of each branch.
        hidden: widths of the MLP's hidden layers (input 2 * rank), e.g. ``(32,)``.
        init_std, training, objective: as :class:`BPRMF` (validated every 2nd epoch by default:
            scoring every item needs the MLP on every pair).

    Attributes:
        module_: embeddings ``user_embedding``, ``item_embedding`` (GMF), ``user_embedding_mlp``,
            ``item_embedding_mlp`` (MLP), layers ``mlp`` and ``output``.
    """

    def __init__(self, rank: int = 32, hidden: tuple = (32,), init_std: float = 0.01,
                 training: TrainSettings = TrainSettings(eval_every=2), objective=None):
        self.rank = rank
        self.hidden = hidden
        self.init_std = init_std
        self.training = training
        self.objective = objective

    def _build(self, n_users: int, n_items: int, generator):
        rank = check_positive_int(self.rank, "rank")
        hidden = check_int_sequence(self.hidden, "hidden", "(32,) or (64, 32)")
        return NCFModule(n_users, n_items, rank, hidden, check_non_negative(self.init_std, "init_std"), generator)


class ItemOnlyMF(NeuralRecommender):
    """Matrix factorization without a user table: score(u, i) = (x_u P) . q_i.

    A user is the sum of the fold-in rows of the items in their history, so a user unseen in
    training, or a user's new interactions, are served without retraining; the model stores
    2 * n_items * rank numbers whatever the number of users (a factorized item-item model
    W = P Q^T, see :class:`HistoryMFModule`). Trained by the one loop, like :class:`BPRMF`.

    Args:
        rank, init_std, training, objective: as :class:`BPRMF`.

    Attributes:
        fold_in_factors_: (n_items, rank) float32 P.
        item_factors_: (n_items, rank) float32 Q.
        user_factors_: None (users are folded in).
    """

    user_factors_ = None

    def __init__(self, rank: int = 16, init_std: float = 0.01, training: TrainSettings = TrainSettings(),
                 objective=None):
        self.rank = rank
        self.init_std = init_std
        self.training = training
        self.objective = objective

    def _build_module(self, user_items, generator):
        rank = check_positive_int(self.rank, "rank")
        return HistoryMFModule(user_items, rank, check_non_negative(self.init_std, "init_std"), generator)

    def _weights(self, name: str) -> np.ndarray | None:
        if self.module_ is None:
            return None
        return getattr(self.module_, name).weight.detach().numpy().copy()

    @property
    def fold_in_factors_(self) -> np.ndarray | None:
        return self._weights("fold_in")

    @property
    def item_factors_(self) -> np.ndarray | None:
        return self._weights("item_embedding")

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        # The history the model was fitted with (all of it, also when fit held a slice out).
        folded = np.asarray(self.user_items_[user_ids] @ self.fold_in_factors_, dtype=np.float32)
        return folded @ self.item_factors_.T
