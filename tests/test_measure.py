import numpy as np
import pytest
import scipy.sparse as sp
import torch

from reccompress import measure


def test_nbytes_sums_every_kind_of_array():
    dense = np.zeros((3, 4), dtype=np.float32)
    csr = sp.csr_array(np.eye(3, 5, dtype=np.float64))
    coo = csr.tocoo()
    tensor = torch.zeros(2, 3, dtype=torch.float16)
    expected = 48 + (3 * 8 + csr.indices.nbytes + csr.indptr.nbytes) + (3 * 8 + coo.row.nbytes + coo.col.nbytes) + 12
    assert measure.nbytes(dense, csr, coo, tensor, None) == expected


def test_nbytes_rejects_unknown_objects():
    with pytest.raises(TypeError, match="got list"):
        measure.nbytes([1, 2, 3])
    with pytest.raises(TypeError, match="LIL"):
        measure.nbytes(sp.lil_array((2, 2)))


def test_latency_counts_runs_and_restores_threads():
    calls = []
    before = torch.get_num_threads()
    result = measure.latency(lambda: calls.append(torch.get_num_threads()), repeats=5, warmup=2, threads=1)
    assert len(calls) == 7 and set(calls) == {1}
    assert len(result.times) == 5 and result.threads == 1 and result.warmup == 2
    assert result.spread[0] <= result.median <= result.spread[1]
    assert "over 5 runs after 2 warm-up, 1 thread(s)" in str(result)
    assert torch.get_num_threads() == before


def test_latency_rejects_zero_repeats():
    with pytest.raises(ValueError, match="repeats must be at least 1; got 0"):
        measure.latency(lambda: None, repeats=0)


# ---------------------------------------------------------------- torch modules, honestly
def test_a_plain_module_counts_its_parameters_and_buffers():
    module = torch.nn.Sequential(torch.nn.Embedding(7, 3), torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.BatchNorm1d(2))
    expected = (7 * 3 + 3 * 2 + 2 + 2 + 2) * 4 + (2 + 2) * 4 + 8  # + running mean/var (float32), num_batches_tracked (int64)
    assert measure.nbytes(module) == expected


def test_a_masked_layer_counts_its_effective_weight_once():
    from torch.nn.utils import prune

    layer = torch.nn.Linear(6, 4)
    dense = measure.nbytes(layer)
    prune.l1_unstructured(layer, "weight", amount=0.5)
    assert {name for name, _ in layer.named_buffers()} == {"weight_mask"}
    assert measure.nbytes(layer) == dense  # not weight_orig + weight_mask (twice the bytes)
    prune.remove(layer, "weight")
    assert measure.nbytes(layer) == dense


def test_dynamic_quantized_linear_counts_codes_scales_and_bias():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao is deprecated (Chapter 6 says what replaces it)
        from torch.ao.quantization import quantize_dynamic

        model = quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU()), {torch.nn.Linear})
    assert sum(p.numel() for p in model.parameters()) == 0  # what a parameter count would see
    assert measure.nbytes(model) == 6 * 5 * 1 + 4 + 4 + 5 * 4  # int8 codes, scale, zero point, float32 bias


@pytest.mark.parametrize(("dtype", "per_row"), [(torch.quint8, 64 + 8), (torch.quint4x2, 32 + 4)])
def test_quantized_embedding_bag_counts_the_row_wise_layout(dtype, per_row):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch.ao.nn.quantized as nnq

        table = nnq.EmbeddingBag(10, 64, dtype=dtype)
    assert measure.nbytes(table) == 10 * per_row  # 72 B / 36 B per 64-dim row: fbgemm's layout


def test_an_unknown_layer_without_parameters_is_an_error_not_zero():
    class Packed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.packed = b"\x00" * 100  # weights kept where parameters() cannot see them

        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="nbytes does not know the layer type .*Packed.*integer `nbytes` attribute"):
        measure.nbytes(torch.nn.Sequential(torch.nn.Linear(2, 2), Packed()))

    class Declared(Packed):
        nbytes = 100

    assert measure.nbytes(torch.nn.Sequential(torch.nn.Linear(2, 2), Declared())) == (4 + 2) * 4 + 100


def test_the_same_object_twice_is_counted_once():
    table = np.zeros((3, 4), dtype=np.float32)
    assert measure.nbytes(table, table) == 48


# ---------------------------------------------------------------- interleaved latency
def test_latencies_interleave_rotate_and_reach_the_minimum():
    order = []
    result = measure.latencies({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                               min_repeats=4, min_seconds=0.0, warmup=1)
    assert order[:2] == ["a", "b"]  # warm-up round
    assert order[2:] == ["a", "b", "b", "a", "a", "b", "b", "a"]  # the order rotates round by round
    assert all(len(value.times) == 4 for value in result.values())


def test_latencies_keep_going_until_min_seconds():
    import time

    result = measure.latencies({"sleep": lambda: time.sleep(0.002)}, min_repeats=2, min_seconds=0.03, warmup=0)
    assert sum(result["sleep"].times) >= 0.03 and len(result["sleep"].times) >= 10


def test_speedup_verdict_follows_the_spread():
    slow = measure.Latency(times=(2.0,) * 10, threads=1, warmup=0)
    fast = measure.Latency(times=(1.0,) * 10, threads=1, warmup=0)
    noisy = measure.Latency(times=(0.5, 3.0) * 5, threads=1, warmup=0)
    assert measure.speedup(slow, fast).verdict == "faster" and measure.speedup(slow, fast).median == 2.0
    assert measure.speedup(fast, slow).verdict == "slower"
    assert measure.speedup(slow, noisy).verdict == "no measurable difference"
    assert "no measurable difference" in str(measure.speedup(slow, noisy))
    assert measure.speedup(slow, fast).short == "2.00x (2.00-2.00)" and measure.speedup(slow, noisy).short.startswith("~1 (")
    with pytest.raises(ValueError, match="same measure.latencies call"):
        measure.speedup(slow, measure.Latency(times=(1.0,), threads=1, warmup=0))


def test_latency_wants_a_function():
    with pytest.raises(TypeError, match="fn must be a function of no arguments to time"):
        measure.latency(42)
    with pytest.raises(TypeError, match=r"functions\['x'\] must be a function"):
        measure.latencies({"x": None})
    with pytest.raises(TypeError, match="functions must be a non-empty mapping"):
        measure.latencies([lambda: None])
