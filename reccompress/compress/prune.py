"""Pruning torch recommenders: remove the parameters that matter least.

Masks come from ``torch.nn.utils.prune``: a pruned layer keeps ``weight_orig`` and a 0/1
``weight_mask``, and its ``weight`` is their product, recomputed before every forward pass, so a
pruned model can be fine-tuned by the ordinary training loop and pruned weights stay zero.
Every verb returns a NEW model (a deep copy); the model passed in is never changed.

Unstructured (single weights):
- :func:`magnitude_prune`: the smallest |w|, per layer or over all chosen layers at once;
- :func:`threshold_prune`: every |w| below a tolerance (after L1-regularised training);
- :func:`gradual_magnitude_prune`: prune a little, fine-tune, repeat (cubic schedule);
- :func:`lottery_ticket`: keep a pruned model's mask, rewind the survivors to their initial
  values, retrain.

Structured (whole latent dimensions of a matrix-factorization model):
- :func:`prune_dimensions`: keep the ``keep`` most important dimensions by column norm, by
  variance, or in the principal basis of the score matrix; returns a smaller dense model.

Penalties for the training loop's ``penalty`` hook: :func:`l1_penalty`, :func:`group_lasso_penalty`.
Storage: :func:`to_sparse` materialises a pruned matrix-factorization model with CSR tables.
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn.utils import prune

from .._checks import check_fitted, check_fraction, check_non_negative, check_positive_int, describe
from ..measure import nbytes
from ..models.base import Recommender
from ..models.neural import BPRMF, MFModule, NeuralRecommender
from .. import train

__all__ = [
    "CRITERIA",
    "SparseMF",
    "dimension_importance",
    "finalize",
    "fine_tune",
    "gradual_magnitude_prune",
    "group_lasso_penalty",
    "l1_penalty",
    "lottery_ticket",
    "magnitude_prune",
    "prunable_weights",
    "prune_dimensions",
    "sparsity",
    "threshold_prune",
    "to_sparse",
]

CRITERIA = ("norm", "variance", "principal")
_SCOPES = ("embeddings", "mlp", "all")


def _check_model(model) -> NeuralRecommender:
    if not isinstance(model, NeuralRecommender):
        raise TypeError(f"expected a fitted BPRMF or NCF model; got {describe(model)}")
    check_fitted(model, "module_")
    return model


def _check_amount(amount, name: str = "amount") -> float:
    """A share of weights to prune, in [0, 1); pruning everything leaves no model."""
    return check_fraction(amount, name, low_inclusive=True)


def prunable_weights(model, which: str = "embeddings") -> list[tuple[nn.Module, str]]:
    """``(layer, "weight")`` pairs of a neural model: its embedding tables, its MLP/output
    linear layers, or both (``which`` in ``"embeddings"``, ``"mlp"``, ``"all"``)."""
    _check_model(model)
    if which not in _SCOPES:
        raise ValueError(f"which must be one of {_SCOPES}; got {which!r}")
    kinds = {"embeddings": (nn.Embedding,), "mlp": (nn.Linear,), "all": (nn.Embedding, nn.Linear)}[which]
    chosen = [(layer, "weight") for layer in model.module_.modules() if isinstance(layer, kinds)]
    if not chosen:
        raise ValueError(f"{type(model).__name__} has no {which} layers to prune")
    return chosen


def _pruning_hooks(module):
    """``(layer, hook)`` for every pruning mask in ``module``."""
    for layer in module.modules():
        for hook in layer._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):
                yield layer, hook


def _copy(model) -> NeuralRecommender:
    # A pruned layer's `weight` is orig * mask from the last forward pass, part of an autograd
    # graph after training; recompute it outside autograd so the module can be deep-copied.
    with torch.no_grad():
        for layer, hook in _pruning_hooks(model.module_):
            hook(layer, None)
    twin = copy.copy(model)
    twin.module_ = copy.deepcopy(model.module_)
    return twin


def sparsity(model, which: str = "embeddings") -> float:
    """Share of exactly-zero entries among the chosen weights (as used in the forward pass)."""
    weights = [getattr(layer, name) for layer, name in prunable_weights(model, which)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)


def magnitude_prune(model, amount: float, scope: str = "global", which: str = "embeddings"):
    """Zero the ``amount`` share of weights with the smallest magnitude.

    Args:
        model: a fitted BPRMF or NCF (pruned or not: masks compose).
        amount: share of the chosen weights to remove, in [0, 1).
        scope: ``"global"`` (one threshold over all chosen layers, ``prune.global_unstructured``)
            or ``"layer"`` (the same share in every layer, ``prune.l1_unstructured``).
        which: ``"embeddings"``, ``"mlp"`` or ``"all"``.
    """
    amount = _check_amount(amount)
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer'; got {scope!r}")
    pruned = _copy(_check_model(model))
    targets = prunable_weights(pruned, which)
    if scope == "global":
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=amount)
    else:
        for layer, name in targets:
            prune.l1_unstructured(layer, name, amount=amount)
    return pruned


def threshold_prune(model, tolerance: float, which: str = "embeddings"):
    """Zero every chosen weight with |w| <= ``tolerance`` (e.g. after L1-regularised training)."""
    tolerance = check_non_negative(tolerance, "tolerance")
    pruned = _copy(_check_model(model))
    for layer, name in prunable_weights(pruned, which):
        prune.custom_from_mask(layer, name, mask=(getattr(layer, name).detach().abs() > tolerance).float())
    return pruned


def finalize(model):
    """Make every pruning mask permanent (``prune.remove``): plain ``weight`` tensors with zeros."""
    final = _copy(_check_model(model))
    for layer, hook in list(_pruning_hooks(final.module_)):
        prune.remove(layer, hook._tensor_name)
    return final


def fine_tune(model, user_items, epochs: int = 10, validation=None, **settings):
    """Continue training a (pruned) model with the shared loop; pruned weights stay zero.

    ``settings`` go to :func:`reccompress.train.fit_pairwise`; the model's own learning rate,
    L2 weight, batch size and seed are used unless overridden.
    """
    tuned = _copy(_check_model(model))
    options = {"lr": model.lr, "l2": model.l2, "batch_size": model.batch_size, "seed": model.seed,
               "progress": False, "patience": model.patience, "eval_every": model.eval_every}
    options.update(settings)
    tuned.history_ = train.fit_pairwise(tuned.module_, user_items, epochs=epochs, validation=validation, **options)
    return tuned


def gradual_magnitude_prune(model, user_items, final_amount: float, steps: int = 5, epochs_per_step: int = 2,
                            which: str = "embeddings", **settings):
    """Prune to ``final_amount`` in ``steps`` rounds of prune-then-fine-tune.

    The share pruned after round t (1..steps) follows the cubic schedule of Zhu and Gupta (2017),
    s_t = final_amount * (1 - (1 - t / steps) ** 3): large steps while many weights are
    redundant, small ones near the end. Each round prunes globally by magnitude, then
    fine-tunes ``epochs_per_step`` epochs without early stopping.
    """
    final_amount = _check_amount(final_amount, "final_amount")
    steps = check_positive_int(steps, "steps")
    current = _check_model(model)
    for step in range(1, steps + 1):
        target = final_amount * (1 - (1 - step / steps) ** 3)
        already = sparsity(current, which)
        # Share of the *surviving* weights to remove now so that `target` of all are gone.
        share_of_rest = 0.0 if target <= already else (target - already) / (1 - already)
        current = magnitude_prune(current, min(share_of_rest, 1 - 1e-12), which=which)
        current = fine_tune(current, user_items, epochs=epochs_per_step, **settings)
    return current


def lottery_ticket(model, user_items, amount: float, epochs: int, which: str = "embeddings", **settings):
    """Frankle and Carbin's experiment: prune ``model`` by global magnitude, rewind the surviving
    weights to their values before training (``model.init_state_``), retrain with the mask fixed.
    """
    pruned = magnitude_prune(model, amount, which=which)
    for layer, name in prunable_weights(pruned, which):
        original = next(key for key, value in pruned.module_.named_modules() if value is layer)
        initial = model.init_state_[f"{original}.{name}" if original else name]
        with torch.no_grad():
            getattr(layer, f"{name}_orig").copy_(initial)
    return fine_tune(pruned, user_items, epochs=epochs, **settings)


# --------------------------------------------------------------------------------------------
# Penalties for regularisation-induced sparsity
# --------------------------------------------------------------------------------------------
def _batch_rows(module, users, positives, negatives):
    """The embedding rows a BPR batch uses: (batch, dim) user rows and two (batch, dim) item rows."""
    return module.user_embedding(users), module.item_embedding(positives), module.item_embedding(negatives)


def l1_penalty(strength: float):
    """``penalty(module, users, positives, negatives)`` = strength * mean over the batch of
    |p_u|_1 + |q_i|_1 + |q_j|_1 — the L1 analogue of the loop's L2 term, on the rows in use.

    L1 pulls every weight towards zero with the same force however small it is, so small weights
    reach (nearly) zero and can be thresholded; L2's pull vanishes near zero, so it shrinks
    weights without zeroing them. Acting on the batch's rows (not the whole table at every step)
    matters with Adam, which would otherwise push every unused row towards zero at full speed.
    """
    strength = check_non_negative(strength, "strength")

    def penalty(module, users, positives, negatives):
        rows = _batch_rows(module, users, positives, negatives)
        return strength * sum(row.abs().sum(dim=1) for row in rows).mean()

    return penalty


def group_lasso_penalty(strength: float):
    """``penalty(module, users, positives, negatives)`` = strength * sum_k ||column k of the batch's
    rows||_2: one group per latent dimension, spanning the user and the item rows in use.

    The Euclidean norm of a group has a constant pull towards zero as a whole (Yuan and Lin, 2006),
    so whole dimensions die together, which structured pruning can then remove.
    """
    strength = check_non_negative(strength, "strength")

    def penalty(module, users, positives, negatives):
        columns = sum(row.pow(2).sum(dim=0) for row in _batch_rows(module, users, positives, negatives))
        return strength * torch.sqrt(columns + 1e-12).sum()

    return penalty


# --------------------------------------------------------------------------------------------
# Structured: latent dimensions of matrix factorization
# --------------------------------------------------------------------------------------------
def _factors(model) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(model, BPRMF):
        raise TypeError(f"dimension pruning needs a fitted BPRMF; got {describe(model)}")
    check_fitted(model, "module_")
    module = model.module_
    users = module.user_embedding(torch.arange(module.user_embedding.num_embeddings)).detach().numpy()
    items = module.item_embedding(torch.arange(module.item_embedding.num_embeddings)).detach().numpy()
    return users.astype(np.float64), items.astype(np.float64)


def dimension_importance(model, criterion: str = "norm") -> np.ndarray:
    """(dim,) importance of each latent dimension k of a BPRMF.

    - ``"norm"``: ||P[:, k]|| * ||Q[:, k]|| (the magnitude of the dimension's rank-one term);
    - ``"variance"``: Var_u(P[u, k]) * Var_i(Q[i, k]) — a dimension on which all users (or all
      items) agree shifts every score alike and cannot change a ranking;
    - ``"principal"``: not defined in the learned basis; see :func:`prune_dimensions`.
    """
    if criterion not in ("norm", "variance"):
        raise ValueError(f"criterion must be 'norm' or 'variance' for per-dimension scores; got {criterion!r}")
    users, items = _factors(model)
    if criterion == "norm":
        return np.linalg.norm(users, axis=0) * np.linalg.norm(items, axis=0)
    return users.var(axis=0) * items.var(axis=0)


def prune_dimensions(model, keep: int, criterion: str = "norm") -> BPRMF:
    """A smaller BPRMF keeping ``keep`` latent dimensions: a genuinely smaller dense model.

    ``"norm"`` and ``"variance"`` keep the best columns of the learned tables. ``"principal"``
    first rotates to the basis in which dimensions are ordered by importance: scores are P Q^T,
    unchanged by P R, Q R for any orthogonal R, so the learned basis is arbitrary. Taking the SVD
    P Q^T = U S V^T (via two thin QRs, never forming the n_users x n_items matrix) and keeping
    P' = U_r S_r^(1/2), Q' = V_r S_r^(1/2) gives the best rank-``keep`` approximation of the
    score matrix (Eckart–Young, Chapter 3).
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}; got {criterion!r}")
    users, items = _factors(model)
    dim = users.shape[1]
    keep = check_positive_int(keep, "keep", maximum=dim)
    if criterion == "principal":
        q_users, r_users = np.linalg.qr(users)
        q_items, r_items = np.linalg.qr(items)
        left, singular, right_t = np.linalg.svd(r_users @ r_items.T)
        root = np.sqrt(singular[:keep])
        new_users, new_items = q_users @ left[:, :keep] * root, q_items @ right_t[:keep].T * root
    else:
        kept = np.sort(np.argsort(-dimension_importance(model, criterion), kind="stable")[:keep])
        new_users, new_items = users[:, kept], items[:, kept]
    smaller = copy.copy(model)
    smaller.dim = keep
    smaller.init_state_ = None  # the rotated/selected model has no initial weights to rewind to
    smaller.module_ = MFModule(users.shape[0], items.shape[0], keep, init_std=0.0, generator=torch.Generator())
    with torch.no_grad():
        smaller.module_.user_embedding.weight.copy_(torch.as_tensor(new_users, dtype=torch.float32))
        smaller.module_.item_embedding.weight.copy_(torch.as_tensor(new_items, dtype=torch.float32))
    smaller.module_.eval()
    return smaller


# --------------------------------------------------------------------------------------------
# Storage of unstructured sparsity
# --------------------------------------------------------------------------------------------
class SparseMF(Recommender):
    """Matrix factorization whose tables are stored as CSR: what unstructured sparsity buys.

    Scores are P[users] @ Q^T computed from the sparse tables. Built by :func:`to_sparse`.

    Attributes:
        user_factors_: (n_users, dim) CSR float32 / int32.   item_factors_: (n_items, dim) CSR.
    """

    user_factors_ = None
    item_factors_ = None

    def __init__(self, density: float = 1.0):
        self.density = density

    def _fit(self, user_items) -> None:
        raise RuntimeError("SparseMF is made from a pruned BPRMF by reccompress.compress.prune.to_sparse")

    def _score(self, user_ids: np.ndarray) -> np.ndarray:
        return np.asarray((self.user_factors_[user_ids] @ self.item_factors_.T).toarray(), dtype=np.float32)

    @property
    def nbytes(self) -> int:
        check_fitted(self, "item_factors_")
        return nbytes(self.user_factors_, self.item_factors_)


def _csr32(dense: np.ndarray) -> sp.csr_array:
    matrix = sp.csr_array(dense.astype(np.float32))
    matrix.indices = matrix.indices.astype(np.int32)
    matrix.indptr = matrix.indptr.astype(np.int32)
    return matrix


def to_sparse(model, user_items) -> SparseMF:
    """Store a (pruned) BPRMF's tables as CSR matrices; ``user_items`` is the training matrix."""
    users, items = _factors(model)
    density = (np.count_nonzero(users) + np.count_nonzero(items)) / (users.size + items.size)
    sparse_model = SparseMF(density=round(float(density), 6))
    sparse_model.user_factors_, sparse_model.item_factors_ = _csr32(users), _csr32(items)
    sparse_model.user_items_ = user_items
    return sparse_model
