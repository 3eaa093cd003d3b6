"""Quantization-aware training: train the tables as they will be stored.

Post-training quantization rounds a finished model and hopes. Quantization-aware training keeps
training, but every forward pass uses the *quantized* tables, so the model learns weights that
survive rounding. Rounding has zero gradient almost everywhere; the **straight-through
estimator** (STE) lets the gradient through it as if it were the identity:

    w' = s (clamp(round_ste(w / s) + z, 0, 2^b - 1) - z),   round_ste(x) = x + (round(x) - x).detach()

With ``learned_step=True`` the per-row step s is a parameter too, trained by the same loss —
Learned Step Size Quantization (LSQ, Esser et al., 2020), whose step gradient is scaled by
1 / sqrt(n_cols (2^(b-1) - 1)) so that steps and weights learn at comparable rates. Without it,
s and z are recomputed from the current weights at every step (min-max per row).

The fake quantizer is a ``torch.nn.utils.parametrize`` parametrization of each embedding's
weight: the one training loop (:func:`reccompress.train.fit`) trains the module unchanged.
:func:`quantization_aware_training` returns the model stored with the codes it learned.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from .._checks import check_choice, check_positive_int, describe
from .. import train
from ..models.neural import MFModule
from ..train import TrainSettings
from .base import DenseTable, FactorRecommender, factor_model
from .quantize import SCHEMES, QuantizedArray, QuantizedTable, _check_bits, quantize_array

__all__ = ["FakeQuantize", "quantization_aware_training"]


def _round_ste(x):
    return x + (torch.round(x) - x).detach()


def _grad_scale(x, factor: float):
    """x in the forward pass; its gradient multiplied by ``factor`` in the backward pass."""
    return (x - x * factor).detach() + x * factor


class FakeQuantize(nn.Module):
    """Fake quantization of a (n_rows, n_cols) weight with one step per row (or per group of
    ``group_size`` columns of a row), as a parametrization.

    Args:
        weight: the initial weight (sets the initial steps, MSE-clipped).
        bits: 1, 2, 4 or 8.
        scheme: ``"asymmetric"`` (step and zero point per group) or ``"symmetric"`` (step only; at
            one bit, the sign).
        learned_step: learn the steps (LSQ) instead of recomputing them (min-max) at every step.
        group_size: columns per step (default: the whole row).
    """

    def __init__(self, weight: torch.Tensor, bits: int, scheme: str = "asymmetric", learned_step: bool = False,
                 group_size: int | None = None):
        super().__init__()
        self.bits, self.scheme, self.learned_step = _check_bits(bits), scheme, learned_step
        check_choice(scheme, "scheme", SCHEMES)
        self.levels = (1 << bits) - 1
        n_cols = weight.shape[1]
        self.group_size = n_cols if group_size is None else group_size
        granularity = "row" if self.group_size == n_cols else "group"
        start = quantize_array(weight.detach().numpy(), bits, scheme=scheme, granularity=granularity,
                               group_size=None if granularity == "row" else self.group_size, clip="mse")
        self.register_buffer("zero", torch.as_tensor(
            np.zeros(start.scales.size) if start.zero_points is None else start.zero_points.astype(np.float64).ravel(),
            dtype=torch.float32))
        if learned_step:
            self.log_step = nn.Parameter(torch.as_tensor(np.log(start.scales.astype(np.float64).ravel()),
                                                         dtype=torch.float32))
        self.grad_factor = 1.0 / np.sqrt(self.group_size * max((1 << (bits - 1)) - 1, 1))

    def _grouped(self, weight):
        """(n_rows * n_groups, group_size): one row per group."""
        return weight.reshape(-1, self.group_size)

    def step_and_zero(self, weight):
        """(n_groups_total, 1) steps and zero points in force for the grouped ``weight``."""
        if self.learned_step:
            return _grad_scale(self.log_step.exp(), self.grad_factor)[:, None], self.zero[:, None]
        with torch.no_grad():  # min-max per row, recomputed from the current weights
            if self.scheme == "symmetric":
                half = max((1 << (self.bits - 1)) - 1, 1)
                step = weight.abs().amax(dim=1) / half
                zero = torch.zeros_like(step)
            else:
                low = weight.amin(dim=1).clamp(max=0.0)
                step = (weight.amax(dim=1).clamp(min=0.0) - low) / self.levels
                zero = torch.round(-low / step.clamp(min=1e-12)).clamp(0, self.levels)
            step = step.clamp(min=1e-12)
        return step[:, None], zero[:, None]

    def forward(self, weight):
        shape, weight = weight.shape, self._grouped(weight)
        step, zero = self.step_and_zero(weight)
        if self.scheme == "symmetric" and self.bits == 1:  # sign codes: w' = s sign(w), STE on sign
            sign = torch.where(weight >= 0, 1.0, -1.0)
            fake = (weight + (sign - weight).detach()) * step
        elif self.scheme == "symmetric":
            half = (1 << (self.bits - 1)) - 1
            fake = torch.clamp(_round_ste(weight / step), -half, half) * step
        else:
            fake = (torch.clamp(_round_ste(weight / step) + zero, 0, self.levels) - zero) * step
        return fake.reshape(shape)

    def quantized(self, weight, scale_dtype=np.float32) -> QuantizedArray:
        """The codes, steps and zero points of ``weight`` as this quantizer rounds it, with the steps
        stored in ``scale_dtype`` (rounded up, and the codes computed with the stored steps)."""
        n_rows, n_cols = weight.shape
        weight = self._grouped(weight)
        with torch.no_grad():
            step, zero = self.step_and_zero(weight)
            stored = step.numpy().astype(scale_dtype)
            stored = np.where(stored.astype(np.float64) < step.numpy(), np.nextafter(stored, np.inf, dtype=scale_dtype),
                              stored)
            step = torch.as_tensor(stored.astype(np.float32))
            if self.scheme == "symmetric" and self.bits == 1:
                codes = (weight >= 0).to(torch.uint8)
            elif self.scheme == "symmetric":
                half = (1 << (self.bits - 1)) - 1
                codes = (torch.clamp(torch.round(weight / step), -half, half) + half).to(torch.uint8)
            else:
                codes = torch.clamp(torch.round(weight / step) + zero, 0, self.levels).to(torch.uint8)
        groups = n_cols // self.group_size
        zero_points = None if self.scheme == "symmetric" else zero.numpy().astype(np.uint8).reshape(n_rows, groups)
        return QuantizedArray(codes=codes.numpy().reshape(n_rows, n_cols),
                              scales=stored.reshape(n_rows, groups), zero_points=zero_points,
                              bits=self.bits, scheme=self.scheme, granularity="row" if groups == 1 else "group",
                              group_size=self.group_size)


def quantization_aware_training(model, user_items, bits: int, epochs: int, *, scheme: str | None = None,
                                learned_step: bool = False, group_size: int | None = None, scale_dtype=np.float32,
                                objective=None, **changes) -> FactorRecommender:
    """Continue training a matrix-factorization model with both tables fake-quantized to ``bits``
    bits per row, then store it with the codes it learned.

    Args:
        model: a fitted BPR-MF (or any factor model with dense user and item tables).
        user_items: the training matrix (the shape the model was trained on).
        bits: 1, 2, 4 or 8.
        epochs: epochs of quantization-aware training.
        scheme: ``"asymmetric"`` (default) or ``"symmetric"`` (default at one bit: sign codes).
        learned_step: learn the steps (LSQ) instead of recomputing them by min-max.
        group_size: columns sharing one step (default: a whole row).
        scale_dtype: how the steps are stored (float32 or float16; the codes use the stored steps).
        objective: the loss (default BPR); ``changes`` override the training settings of the
            neural model the chain started from (as :func:`reccompress.compress.prune.fine_tune`).

    Returns:
        A FactorRecommender whose tables are :class:`~reccompress.compress.quantize.QuantizedTable`;
        ``history_`` holds the training history.
    """
    bits = _check_bits(bits)
    epochs = check_positive_int(epochs, "epochs")
    scheme = ("symmetric" if bits == 1 else "asymmetric") if scheme is None else scheme
    check_choice(scheme, "scheme", SCHEMES)
    factors = factor_model(model)
    if factors.user_table_ is None or not isinstance(factors.user_table_, DenseTable):
        raise TypeError(f"quantization-aware training needs dense user and item tables (e.g. BPR-MF); got {describe(model)}")
    if user_items.shape != factors.user_items_.shape:
        raise ValueError(f"user_items has shape {user_items.shape} but the model was trained on "
                         f"{factors.user_items_.shape}; train on the matrix the model was trained on")
    from .prune import _root

    root = _root(model)
    settings = (root.training if root is not None else TrainSettings()).replace(
        **{"progress": False, **changes, "epochs": epochs})
    module = MFModule.from_factors(factors.user_factors_, factors.item_factors_)
    quantizers = {}
    for name in ("user_embedding", "item_embedding"):
        layer = getattr(module, name)
        quantizers[name] = FakeQuantize(layer.weight, bits, scheme, learned_step, group_size)
        parametrize.register_parametrization(layer, "weight", quantizers[name])
    history = train.fit(module, user_items, settings, objective=objective)
    tables = {}
    for name, quantizer in quantizers.items():
        layer = getattr(module, name)
        raw = layer.parametrizations.weight.original.detach()
        tables[name] = QuantizedTable(quantizer.quantized(raw, scale_dtype))
    quantized = FactorRecommender(
        tables["item_embedding"], factors.user_items_, user_table=tables["user_embedding"], source=model,
        recipe={"verb": "quantization_aware_training", "bits": bits, "epochs": epochs, "scheme": scheme,
                "learned_step": learned_step, "group_size": group_size, **changes},
    )
    quantized.history_ = history
    return quantized
