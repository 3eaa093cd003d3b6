"""Pruning torch recommenders: remove the parameters that matter least.

Masks come from ``torch.nn.utils.prune``: a pruned layer keeps ``weight_orig`` and a 0/1
``weight_mask``, and its ``weight`` is their product, recomputed before every forward pass, so a
pruned model can be fine-tuned by the ordinary training loop and pruned weights stay zero.
Every verb returns a NEW model; the model passed in is never changed. ``amount`` is always the
share removed, as in ``torch.nn.utils.prune``.

Unstructured (single weights), returning a :class:`~reccompress.compress.base.ModuleRecommender`:
- :func:`magnitude_prune`: the smallest |w|, per layer or over all chosen layers at once;
- :func:`threshold_prune`: every |w| below a tolerance (after L1-regularised training);
- :func:`gradual_magnitude_prune`: prune a little, fine-tune, repeat (cubic schedule);
- :func:`lottery_ticket`: keep a pruned model's mask, rewind the survivors to their initial
  values, retrain;
- :func:`finalize`: make the masks permanent; :func:`fine_tune`: train on, masks in place.

Structured (whole latent dimensions of a matrix-factorization model), returning a
:class:`~reccompress.compress.base.FactorRecommender`:
- :func:`prune_dimensions`: keep ``rank`` dimensions chosen by column norm, by variance, or in
  the principal basis of the score matrix: a genuinely smaller dense model.

Penalties, objectives for the training loop: :class:`L1Penalty`, :class:`GroupLassoPenalty`.
Storage: :func:`to_sparse` stores a pruned matrix-factorization model's tables as CSR.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from .._checks import (
    check_choice,
    check_seed,
    check_fraction,
    check_non_negative,
    check_positive_int,
    check_user_items,
    describe,
)
from .. import train
from ..models.neural import MFModule, NeuralRecommender
from ..train import Objective, TrainSettings
from .base import CSRTable, DenseTable, FactorRecommender, ModuleRecommender, factor_model

__all__ = [
    "CRITERIA",
    "REWINDS",
    "compact",
    "GroupLassoPenalty",
    "L1Penalty",
    "dimension_importance",
    "finalize",
    "fine_tune",
    "gradual_magnitude_prune",
    "lottery_ticket",
    "magnitude_prune",
    "prunable_weights",
    "prune_dimensions",
    "sparsity",
    "threshold_prune",
    "to_sparse",
]

CRITERIA = ("norm", "variance", "principal")
SCOPES = ("global", "layer")
WHICH = ("embeddings", "mlp", "all")


def _module_of(model):
    """The torch module of a neural model or of a module-backed compressed model; a dense factor
    model (e.g. from :func:`prune_dimensions`) is read into a new matrix-factorization module."""
    if isinstance(model, FactorRecommender):
        if model.user_table_ is None or not all(isinstance(t, DenseTable) for t in (model.user_table_, model.item_table_)):
            raise TypeError("pruning or training a factor model needs dense user and item tables (e.g. from prune_dimensions)")
        if model.fold_in_weights_ is not None or model.item_scale_ is not None or model.item_bias_ is not None:
            raise TypeError("pruning or training a factor model needs plain user and item tables, without scales or biases")
        return MFModule.from_factors(model.user_factors_, model.item_factors_)
    if isinstance(model, (NeuralRecommender, ModuleRecommender)) and getattr(model, "module_", None) is not None:
        return model.module_
    raise TypeError(f"expected a fitted BPRMF or NCF, or a model pruned from one; got {describe(model)}")


def _root(model):
    """The fitted neural model a chain of compressed models started from (or None)."""
    while model is not None and not isinstance(model, NeuralRecommender):
        model = getattr(model, "source_", None)
    return model


def prunable_weights(model, which: str = "embeddings") -> list[tuple[nn.Module, str]]:
    """``(layer, "weight")`` pairs of a neural model: its embedding tables, its MLP/output
    linear layers, or both (``which`` in ``"embeddings"``, ``"mlp"``, ``"all"``)."""
    return _layers(_module_of(model), which)


def _layers(module, which: str) -> list[tuple[nn.Module, str]]:
    check_choice(which, "which", WHICH)
    kinds = {"embeddings": (nn.Embedding,), "mlp": (nn.Linear,), "all": (nn.Embedding, nn.Linear)}[which]
    chosen = [(layer, "weight") for layer in module.modules() if isinstance(layer, kinds)]
    if not chosen:
        raise ValueError(f"{type(module).__name__} has no {which} layers to prune")
    return chosen


def _pruning_hooks(module):
    """``(layer, hook)`` for every pruning mask in ``module``."""
    for layer in module.modules():
        for hook in layer._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):
                yield layer, hook


def _module_copy(model) -> nn.Module:
    """A copy of the model's module, to prune or train without touching the model."""
    module = _module_of(model)
    if isinstance(model, FactorRecommender):
        return module  # already a new module
    # A pruned layer's `weight` is orig * mask from the last forward pass, part of an autograd
    # graph after training; recompute it outside autograd so the module can be deep-copied.
    with torch.no_grad():
        for layer, hook in _pruning_hooks(module):
            hook(layer, None)
    return copy.deepcopy(module)


def _pruned(module, model, recipe: dict) -> ModuleRecommender:
    return ModuleRecommender(module, model.user_items_, source=model, recipe=recipe)


def sparsity(model, which: str = "embeddings") -> float:
    """Share of exactly-zero entries among the chosen weights (as used in the forward pass)."""
    weights = [getattr(layer, name) for layer, name in prunable_weights(model, which)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)


def _check_amount(amount) -> float:
    """A share of weights to remove, in [0, 1); removing everything leaves no model."""
    return check_fraction(amount, "amount", low_inclusive=True)


def magnitude_prune(model, amount: float, scope: str = "global", which: str = "embeddings") -> ModuleRecommender:
    """Zero the ``amount`` share of weights with the smallest magnitude.

    Args:
        model: a fitted BPRMF or NCF, or a model pruned from one (masks compose).
        amount: share of the chosen weights to remove, in [0, 1).
        scope: ``"global"`` (one threshold over all chosen layers, ``prune.global_unstructured``)
            or ``"layer"`` (the same share in every layer, ``prune.l1_unstructured``).
        which: ``"embeddings"``, ``"mlp"`` or ``"all"``.
    """
    amount = _check_amount(amount)
    check_choice(scope, "scope", SCOPES)
    module = _module_copy(model)
    targets = _layers(module, which)
    if scope == "global":
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=amount)
    else:
        for layer, name in targets:
            prune.l1_unstructured(layer, name, amount=amount)
    return _pruned(module, model, {"verb": "magnitude_prune", "amount": amount, "scope": scope, "which": which})


def threshold_prune(model, tolerance: float, which: str = "embeddings") -> ModuleRecommender:
    """Zero every chosen weight with |w| <= ``tolerance`` (e.g. after L1-regularised training)."""
    tolerance = check_non_negative(tolerance, "tolerance")
    module = _module_copy(model)
    for layer, name in _layers(module, which):
        prune.custom_from_mask(layer, name, mask=(getattr(layer, name).detach().abs() > tolerance).float())
    return _pruned(module, model, {"verb": "threshold_prune", "tolerance": tolerance, "which": which})


def finalize(model) -> ModuleRecommender:
    """Make every pruning mask permanent (``prune.remove``): plain ``weight`` tensors with zeros."""
    module = _module_copy(model)
    for layer, hook in list(_pruning_hooks(module)):
        prune.remove(layer, hook._tensor_name)
    return _pruned(module, model, {"verb": "finalize"})


def _check_same_shape(user_items, model) -> None:
    trained = getattr(model, "user_items_", None)
    if trained is None:
        raise TypeError(f"expected a fitted or compressed recommender; got {describe(model)}")
    check_user_items(user_items, non_empty=True)
    if user_items.shape != trained.shape:
        raise ValueError(
            f"user_items has shape {user_items.shape} but the model was trained on {trained.shape} (n_users, n_items); "
            "fine-tune on the matrix the model was trained on (its user_items_), or fit a new model"
        )


def fine_tune(model, user_items, epochs: int = 10, *, objective: Objective | None = None, validation=None,
              **changes) -> ModuleRecommender:
    """Continue training a (pruned) model with the one loop; pruned weights stay zero.

    Args:
        model: a BPRMF/NCF, a model pruned from one, or a dense factor model from
            :func:`prune_dimensions`.
        user_items: the training matrix, the shape the model was trained on.
        epochs: epochs to train (exactly this many unless ``validation`` stops it early).
        objective: the loss (default BPR).
        validation: a Split to early-stop on (default: none).
        changes: training settings that differ from those of the neural model the chain
            started from (``lr``, ``l2``, ``batch_size``, ``seed``...; see
            :class:`~reccompress.train.TrainSettings`).
    """
    _check_same_shape(user_items, model)
    epochs = check_positive_int(epochs, "epochs")
    root = _root(model)
    base = root.training if root is not None else TrainSettings()
    settings = base.replace(**{"progress": False, **changes, "epochs": epochs})
    module = _module_copy(model)
    history = train.fit(module, user_items, settings, objective=objective, validation=validation)
    tuned = _pruned(module, model, {"verb": "fine_tune", "epochs": epochs, **changes})
    tuned.history_ = history
    return tuned


def gradual_magnitude_prune(model, user_items, amount: float, steps: int = 5, epochs_per_step: int = 2,
                            which: str = "embeddings", **changes) -> ModuleRecommender:
    """Prune to ``amount`` in ``steps`` rounds of prune-then-fine-tune.

    The share pruned after round t (1..steps) follows the cubic schedule of Zhu and Gupta (2017),
    s_t = amount * (1 - (1 - t / steps) ** 3): large steps while many weights are redundant,
    small ones near the end. Each round prunes globally by magnitude, then fine-tunes
    ``epochs_per_step`` epochs without early stopping (``changes`` as in :func:`fine_tune`).
    """
    amount = _check_amount(amount)
    steps = check_positive_int(steps, "steps")
    _module_of(model)
    _check_same_shape(user_items, model)
    current = model
    for step in range(1, steps + 1):
        target = amount * (1 - (1 - step / steps) ** 3)
        already = sparsity(current, which)
        # Share of the *surviving* weights to remove now so that `target` of all are gone.
        share_of_rest = 0.0 if target <= already else (target - already) / (1 - already)
        current = magnitude_prune(current, min(share_of_rest, 1 - 1e-12), which=which)
        current = fine_tune(current, user_items, epochs=epochs_per_step, **changes)
    current.recipe_ = {"verb": "gradual_magnitude_prune", "amount": amount, "steps": steps,
                       "epochs_per_step": epochs_per_step, "which": which, **changes}
    current.source_ = model
    return current


REWINDS = ("initial", "random")


def lottery_ticket(model, user_items, amount: float, epochs: int, which: str = "embeddings",
                   rewind: str = "initial", reinit_seed: int = 1, **changes) -> ModuleRecommender:
    """Frankle and Carbin's experiment, and its control.

    Prune ``model`` by global magnitude; set the surviving weights to new starting values;
    retrain with the mask fixed for ``epochs`` epochs (``changes`` as in :func:`fine_tune`).

    Args:
        rewind: ``"initial"`` (the lottery ticket: survivors go back to their values before
            training, the fitted model's ``init_state_``) or ``"random"`` (the control: survivors
            get a fresh draw from the same initial distribution, seeded by ``reinit_seed``).
            Same mask, same budget: only the starting values differ.
    """
    check_choice(rewind, "rewind", REWINDS)
    root = _root(model)
    if root is None or root.init_state_ is None:
        raise TypeError(f"lottery_ticket needs a fitted BPRMF or NCF that kept its initial weights; got {describe(model)}")
    if rewind == "initial":
        start = root.init_state_
    else:
        fresh = root._build(*root.user_items_.shape, torch.Generator().manual_seed(check_seed(reinit_seed, "reinit_seed")))
        start = fresh.state_dict()
    pruned = magnitude_prune(model, amount, which=which)
    for layer, name in prunable_weights(pruned, which):
        original = next(key for key, value in pruned.module_.named_modules() if value is layer)
        with torch.no_grad():
            getattr(layer, f"{name}_orig").copy_(start[f"{original}.{name}" if original else name])
    ticket = fine_tune(pruned, user_items, epochs=epochs, **changes)
    ticket.recipe_ = {"verb": "lottery_ticket", "amount": amount, "epochs": epochs, "which": which,
                      "rewind": rewind, **changes}
    ticket.source_ = model
    return ticket


# --------------------------------------------------------------------------------------------
# Penalties for regularisation-induced sparsity: objectives added to BPR
# --------------------------------------------------------------------------------------------
def _batch_rows(module, batch):
    """The embedding rows a BPR batch uses: (batch, rank) user rows and two (batch, rank) item rows."""
    return module.user_embedding(batch.users), module.item_embedding(batch.positives), module.item_embedding(batch.negatives)


class L1Penalty(Objective):
    """strength * mean over the batch of |p_u|_1 + |q_i|_1 + |q_j|_1 — the L1 analogue of the
    loop's L2 term, on the rows in use. Use as ``train.BPR() + L1Penalty(0.03)``.

    L1 pulls every weight towards zero with the same force however small it is, so small weights
    reach (nearly) zero and can be thresholded; L2's pull vanishes near zero, so it shrinks
    weights without zeroing them. Acting on the batch's rows (not the whole table at every step)
    matters with Adam, which would otherwise push every unused row towards zero at full speed.
    """

    def __init__(self, strength: float):
        self.strength = check_non_negative(strength, "strength")

    def loss(self, module, batch):
        rows = _batch_rows(module, batch)
        return self.strength * sum(row.abs().sum(dim=1) for row in rows).mean()


class GroupLassoPenalty(Objective):
    """strength * sum_k ||column k of the batch's rows||_2: one group per latent dimension,
    spanning the user and the item rows in use. Use as ``train.BPR() + GroupLassoPenalty(1e-3)``.

    The Euclidean norm of a group has a constant pull towards zero as a whole (Yuan and Lin, 2006),
    so whole dimensions die together, which structured pruning can then remove.
    """

    def __init__(self, strength: float):
        self.strength = check_non_negative(strength, "strength")

    def loss(self, module, batch):
        columns = sum(row.pow(2).sum(dim=0) for row in _batch_rows(module, batch))
        return self.strength * torch.sqrt(columns + 1e-12).sum()


# --------------------------------------------------------------------------------------------
# Structured: latent dimensions of matrix factorization
# --------------------------------------------------------------------------------------------
def _factors(model) -> tuple[np.ndarray, np.ndarray]:
    factors = factor_model(model)
    if factors.user_table_ is None:
        raise TypeError(f"dimension pruning needs a user table (BPR-MF, ALS); {describe(model)} folds users in")
    return factors.user_factors_.astype(np.float64), factors.item_factors_.astype(np.float64)


def dimension_importance(model, criterion: str = "norm") -> np.ndarray:
    """(rank,) importance of each latent dimension k of a matrix-factorization model.

    - ``"norm"``: ||P[:, k]|| * ||Q[:, k]|| (the magnitude of the dimension's rank-one term);
    - ``"variance"``: Var_u(P[u, k]) * Var_i(Q[i, k]);
    - ``"principal"``: not defined in the learned basis; see :func:`prune_dimensions`.
    """
    check_choice(criterion, "criterion", ("norm", "variance"))
    users, items = _factors(model)
    if criterion == "norm":
        return np.linalg.norm(users, axis=0) * np.linalg.norm(items, axis=0)
    return users.var(axis=0) * items.var(axis=0)


def prune_dimensions(model, rank: int, criterion: str = "norm") -> FactorRecommender:
    """A smaller factor model keeping ``rank`` latent dimensions: a genuinely smaller dense model.

    ``"norm"`` and ``"variance"`` keep the best columns of the learned tables. ``"principal"``
    first rotates to the basis in which dimensions are ordered by importance: scores are P Q^T,
    unchanged by P R, Q R for any orthogonal R, so the learned basis is arbitrary. Taking the SVD
    P Q^T = U S V^T (via two thin QRs, never forming the n_users x n_items matrix) and keeping
    P' = U_r S_r^(1/2), Q' = V_r S_r^(1/2) gives the best rank-``rank`` approximation of the
    score matrix (Eckart–Young, Chapter 3).

    Args:
        model: a fitted BPRMF, ALS or other factor model with a user table (masks applied).
        rank: dimensions kept, at most the model's.
        criterion: ``"norm"``, ``"variance"`` or ``"principal"``.
    """
    check_choice(criterion, "criterion", CRITERIA)
    users, items = _factors(model)
    rank = check_positive_int(rank, "rank", maximum=users.shape[1])
    if criterion == "principal":
        q_users, r_users = np.linalg.qr(users)
        q_items, r_items = np.linalg.qr(items)
        left, singular, right_t = np.linalg.svd(r_users @ r_items.T)
        root = np.sqrt(singular[:rank])
        new_users, new_items = q_users @ left[:, :rank] * root, q_items @ right_t[:rank].T * root
    else:
        kept = np.sort(np.argsort(-dimension_importance(model, criterion), kind="stable")[:rank])
        new_users, new_items = users[:, kept], items[:, kept]
    return FactorRecommender(
        DenseTable(new_items), model.user_items_, user_table=DenseTable(new_users), source=model,
        recipe={"verb": "prune_dimensions", "rank": rank, "criterion": criterion},
    )


# --------------------------------------------------------------------------------------------
# Storage of unstructured sparsity
# --------------------------------------------------------------------------------------------
def to_sparse(model) -> FactorRecommender:
    """A (pruned) matrix-factorization model with both tables stored as CSR: only the non-zero
    weights cost bytes (a value and a column index each, plus one pointer per row)."""
    users, items = _factors(model)
    return FactorRecommender(
        CSRTable(items.astype(np.float32)), model.user_items_, user_table=CSRTable(users.astype(np.float32)),
        source=model, recipe={"verb": "to_sparse"},
    )


def compact(model) -> FactorRecommender:
    """A (pruned) matrix-factorization model stored the cheaper way: dense tables, or CSR tables
    when its zeros make them smaller (past about half zeros with float32 values and int32
    indices). What a pruned model costs once it is stored for inference."""
    dense = factor_model(model)
    dense = FactorRecommender(DenseTable(dense.item_factors_), model.user_items_,
                              user_table=DenseTable(dense.user_factors_), source=model, recipe={"verb": "compact"})
    stored = to_sparse(model)
    return stored if stored.nbytes < dense.nbytes else dense
