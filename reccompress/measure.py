"""Size and speed, measured one way everywhere.

Size is the bytes a model needs at inference, counted from what it actually stores
(:func:`nbytes`): arrays, sparse matrices, tensors, and torch modules layer by layer, where a
pruned layer counts its effective weight (not the original and the mask), a quantized layer
its codes and scales, and a layer whose storage the library does not know is an error rather
than zero bytes.

Speed is measured by :func:`latencies`: the compared calls interleaved in rounds (each round
runs every call once, in a rotating order), repeated at least ``min_repeats`` times and at
least ``min_seconds`` per call, at a stated thread count. :func:`speedup` turns two of them into
a ratio with its spread, and says "no measurable difference" when the spread straddles 1.
:func:`latency` times a single call the same way.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._checks import check_callable, check_non_negative, check_positive_int, describe

__all__ = ["Latency", "SpeedRatio", "latencies", "latency", "module_nbytes", "nbytes", "speedup"]


# --------------------------------------------------------------------------------------------
# Bytes
# --------------------------------------------------------------------------------------------
def nbytes(*arrays) -> int:
    """Bytes held by numpy arrays, scipy sparse matrices, torch tensors and modules, summed.

    A CSR/CSC matrix counts its values, indices and index pointer; a COO matrix its values
    and both coordinate arrays; a tensor ``numel * element_size``; a torch module what
    :func:`module_nbytes` counts; any other object its integer ``nbytes`` attribute (a
    :class:`~reccompress.storage.Bitmap`, a storage table, a model). ``None`` counts zero.
    The same object passed twice is counted once (a table shared by two roles is stored once).
    """
    total, seen = 0, set()
    for array in arrays:
        if array is None or id(array) in seen:
            continue
        seen.add(id(array))
        if isinstance(array, np.ndarray):
            total += array.nbytes
        elif sp.issparse(array):
            if array.format in ("csr", "csc", "bsr"):
                total += array.data.nbytes + array.indices.nbytes + array.indptr.nbytes
            elif array.format == "coo":
                total += array.data.nbytes + sum(coord.nbytes for coord in array.coords)
            else:
                raise TypeError(f"nbytes does not know the {array.format.upper()} format; convert to CSR first")
        elif _is_torch_module(array):
            total += module_nbytes(array)
        elif hasattr(array, "element_size") and hasattr(array, "numel"):
            total += array.element_size() * array.numel()
        elif isinstance(getattr(array, "nbytes", None), (int, np.integer)):  # a Bitmap, a table, a model
            total += int(array.nbytes)
        else:
            raise TypeError(
                f"nbytes expects numpy arrays, scipy sparse matrices, torch tensors or modules, or objects with "
                f"an integer nbytes; got {describe(array)}"
            )
    return int(total)


def _is_torch_module(value) -> bool:
    import sys

    torch = sys.modules.get("torch")  # a torch module can only exist if torch was imported
    return torch is not None and isinstance(value, torch.nn.Module)


# Layer types that hold nothing at inference (activations, containers, quantization stubs).
_STATELESS = (
    "Identity", "ReLU", "LeakyReLU", "ReLU6", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "Dropout", "Flatten", "Unflatten", "Sequential", "ModuleList", "ModuleDict", "QuantStub", "DeQuantStub",
    "Quantize", "DeQuantize",
)
# fbgemm's row-wise quantized embedding layout: per row, the packed codes plus a scale and an
# offset (float32 for 8 bits, float16 below): 72 / 36 / 20 bytes for a 64-dim row.
_ROWWISE_BITS = {"quint8": 8, "quint4x2": 4, "quint2x4": 2}


def _quantized_tensor_nbytes(weight) -> int:
    """Codes (1 byte each, as torch stores qint8/quint8) plus the scales and zero points declared."""
    import torch

    codes = weight.numel() * weight.element_size()
    scheme = weight.qscheme()
    if scheme in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        return codes + 4 + 4  # one float32 scale, one int32 zero point
    channels = weight.q_per_channel_scales().numel()
    return codes + 8 * channels  # a float32 scale and an int32 zero point per channel


def module_nbytes(module) -> int:
    """Bytes of a torch module at inference, layer by layer.

    - plain parameters and buffers: ``numel * element_size`` each;
    - a layer pruned with ``torch.nn.utils.prune`` (``weight_orig`` + ``weight_mask``): its
      effective weight, stored densely, once; the mask is a training device, not an inference
      array (store the zeros sparsely to make them pay: ``compress.prune.to_sparse``);
    - ``torch.ao.nn.quantized.dynamic.Linear`` / ``quantized.Linear``: int8 codes, scales and
      zero points, float32 bias;
    - ``torch.ao.nn.quantized.Embedding`` / ``EmbeddingBag``: fbgemm's row-wise layout, the packed
      codes plus a scale and an offset per row (float32 at 8 bits, float16 at 4 and 2 bits);
    - a module with its own integer ``nbytes`` attribute: that;
    - any other layer that holds no parameter or buffer and is not known to be stateless: an
      error, because it may keep its weights where this count cannot see them.
    """
    own = getattr(module, "nbytes", None)
    if isinstance(own, (int, np.integer)) and not isinstance(own, bool):
        return int(own)
    kind = type(module)
    qualified = f"{kind.__module__}.{kind.__name__}"
    if qualified.startswith("torch.ao.nn.quantized") or qualified.startswith("torch.nn.quantized"):
        return _quantized_module_nbytes(module, kind.__name__, qualified)
    direct_parameters = dict(module.named_parameters(recurse=False))
    direct_buffers = dict(module.named_buffers(recurse=False))
    children = list(module.children())
    # A pruned layer's `weight_orig` parameter stands for its effective weight (same shape and
    # dtype); its `weight_mask` buffer is skipped.
    total = sum(tensor.numel() * tensor.element_size() for tensor in direct_parameters.values())
    total += sum(
        tensor.numel() * tensor.element_size()
        for name, tensor in direct_buffers.items()
        if not (name.endswith("_mask") and f"{name[:-5]}_orig" in direct_parameters)
    )
    if not direct_parameters and not direct_buffers and not children and kind.__name__ not in _STATELESS:
        raise TypeError(
            f"nbytes does not know the layer type {qualified}: it holds no parameters or buffers, so its weights "
            "(if any) are stored where they cannot be counted; give the module an integer `nbytes` attribute"
        )
    return total + sum(module_nbytes(child) for child in children)


def _quantized_module_nbytes(module, name: str, qualified: str) -> int:
    if name in ("Linear", "LinearDynamic") and callable(getattr(module, "weight", None)):
        bias = module.bias()
        return _quantized_tensor_nbytes(module.weight()) + (0 if bias is None else bias.numel() * bias.element_size())
    if name in ("Embedding", "EmbeddingBag"):
        dtype = str(module._packed_params.dtype).replace("torch.", "")
        if dtype not in _ROWWISE_BITS:
            raise TypeError(f"nbytes does not know the quantized embedding dtype {dtype} of {qualified}")
        bits = _ROWWISE_BITS[dtype]
        rows, dim = module.num_embeddings, module.embedding_dim
        per_row = -(-dim * bits // 8) + (8 if bits == 8 else 4)
        return rows * per_row
    if name in _STATELESS:
        return 0
    raise TypeError(
        f"nbytes does not know the quantized layer type {qualified}; count its codes and scales and give it an "
        "integer `nbytes` attribute"
    )


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Latency:
    """Repeated wall-clock timings of one call.

    Attributes:
        times: seconds taken by each timed repeat (warm-up calls excluded), in round order.
        threads: the thread count in force during the measurement.
        warmup: number of untimed calls made first.
    """

    times: tuple[float, ...]
    threads: int
    warmup: int

    @property
    def median(self) -> float:
        """Median seconds per call: the number to quote."""
        return statistics.median(self.times)

    @property
    def spread(self) -> tuple[float, float]:
        """(fastest, slowest) seconds per call."""
        return min(self.times), max(self.times)

    def __str__(self) -> str:
        low, high = self.spread
        return (
            f"median {_fmt(self.median)} (range {_fmt(low)}-{_fmt(high)}) over {len(self.times)} runs "
            f"after {self.warmup} warm-up, {self.threads} thread(s)"
        )


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


class _Threads:
    """Set torch's and the BLAS pools' thread count for a measurement, restore it afterwards."""

    def __init__(self, threads: int):
        self.threads = threads

    def __enter__(self):
        import torch
        from threadpoolctl import threadpool_limits

        self.previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        self.limits = threadpool_limits(limits=self.threads)
        return self

    def __exit__(self, *exc):
        import torch

        self.limits.restore_original_limits()
        torch.set_num_threads(self.previous)


def latency(fn: Callable[[], object], *, repeats: int = 7, warmup: int = 1, threads: int = 1) -> Latency:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones, at ``threads`` threads.

    The thread count of torch and of the BLAS pools is set for the measurement and restored
    afterwards. To compare calls, use :func:`latencies`, which interleaves them.
    """
    check_callable(fn, "fn", "a function of no arguments to time, e.g. lambda: model.recommend(users, k=20)")
    repeats = check_positive_int(repeats, "repeats")
    warmup = check_positive_int(warmup, "warmup", minimum=0)
    threads = check_positive_int(threads, "threads")
    with _Threads(threads):
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return Latency(times=tuple(times), threads=threads, warmup=warmup)


def latencies(functions: Mapping[str, Callable[[], object]], *, min_repeats: int = 30, min_seconds: float = 1.0,
              max_repeats: int = 1000, warmup: int = 1, threads: int = 1) -> dict[str, Latency]:
    """Time several calls against each other, interleaved.

    Each round calls every function once, the order rotating from round to round, so that a
    slow spell of a shared machine hits all of them alike. Rounds continue until every call
    has run ``min_repeats`` times and for at least ``min_seconds`` in total (or ``max_repeats``
    rounds have run).

    Args:
        functions: ``{name: function of no arguments}``.
        min_repeats, min_seconds, max_repeats: when to stop (see above).
        warmup: untimed rounds first.
        threads: thread count of torch and BLAS during the measurement.

    Returns:
        ``{name: Latency}``; ``times[r]`` of every entry come from the same round r.
    """
    if not isinstance(functions, Mapping) or not functions:
        raise TypeError(f"functions must be a non-empty mapping {{name: function}}; got {describe(functions)}")
    for name, fn in functions.items():
        check_callable(fn, f"functions[{name!r}]", "a function of no arguments to time")
    min_repeats = check_positive_int(min_repeats, "min_repeats")
    max_repeats = check_positive_int(max_repeats, "max_repeats", minimum=min_repeats)
    min_seconds = check_non_negative(min_seconds, "min_seconds")
    warmup = check_positive_int(warmup, "warmup", minimum=0)
    threads = check_positive_int(threads, "threads")
    names = list(functions)
    times = {name: [] for name in names}
    with _Threads(threads):
        for _ in range(warmup):
            for name in names:
                functions[name]()
        rounds = 0
        while rounds < max_repeats and (
            rounds < min_repeats or min(sum(values) for values in times.values()) < min_seconds
        ):
            shift = rounds % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                functions[name]()
                times[name].append(time.perf_counter() - start)
            rounds += 1
    return {name: Latency(times=tuple(values), threads=threads, warmup=warmup) for name, values in times.items()}


@dataclass(frozen=True)
class SpeedRatio:
    """How many times faster a candidate is than a reference, from interleaved rounds.

    Attributes:
        median: median over rounds of reference time / candidate time (> 1: candidate faster).
        low, high: the 10th and 90th percentiles of those per-round ratios.
    """

    median: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        """``"faster"``, ``"slower"``, or ``"no measurable difference"`` when the spread straddles 1."""
        if self.low > 1:
            return "faster"
        if self.high < 1:
            return "slower"
        return "no measurable difference"

    def __str__(self) -> str:
        return f"{self.median:.2f}x (10-90%: {self.low:.2f}-{self.high:.2f}): {self.verdict}"

    @property
    def short(self) -> str:
        """Compact form for tables: ``"2.21x (1.68-2.68)"``, or ``"~1 (0.91-1.12)"`` when the
        spread straddles 1 (no measurable difference)."""
        head = "~1" if self.verdict == "no measurable difference" else f"{self.median:.2f}x"
        return f"{head} ({self.low:.2f}-{self.high:.2f})"


def speedup(reference: Latency, candidate: Latency) -> SpeedRatio:
    """The candidate's speed relative to the reference, round by round (see :class:`SpeedRatio`)."""
    for name, value in (("reference", reference), ("candidate", candidate)):
        if not isinstance(value, Latency):
            raise TypeError(f"{name} must be a Latency from measure.latencies; got {describe(value)}")
    if len(reference.times) != len(candidate.times):
        raise ValueError(
            f"reference and candidate must come from the same measure.latencies call (same rounds); got "
            f"{len(reference.times)} and {len(candidate.times)} timings"
        )
    ratios = np.asarray(reference.times) / np.asarray(candidate.times)
    low, median, high = np.percentile(ratios, [10, 50, 90])
    return SpeedRatio(median=float(median), low=float(low), high=float(high))
