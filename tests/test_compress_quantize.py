import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from reccompress import models, repro
from reccompress.compress import base, lowrank
from reccompress.compress import quantize as q
from reccompress.train import TrainSettings

SETTINGS = [(bits, scheme, granularity, clip)
            for bits, scheme, granularity, clip in itertools.product(q.BITS, q.SCHEMES, q.GRANULARITIES, q.CLIPS)
            if not (bits == 1 and scheme == "asymmetric")]


@pytest.fixture
def values():
    """9 x 8 floats with rows of very different norms (as embedding rows of popular items)."""
    rng = np.random.default_rng(1)
    return (rng.normal(size=(9, 8)) * np.geomspace(0.01, 3.0, 9)[:, None]).astype(np.float32)


@pytest.fixture
def interactions():
    rng = np.random.default_rng(2)
    return sp.csr_array((rng.random((13, 11)) < 0.35).astype(np.float32))


@pytest.mark.parametrize(("bits", "scheme", "granularity", "clip"), SETTINGS)
def test_error_is_at_most_half_a_step_inside_the_range(values, bits, scheme, granularity, clip):
    group_size = 4 if granularity == "group" else None
    for scale_dtype in (np.float32, np.float16):
        quantized = q.quantize_array(values, bits, scheme=scheme, granularity=granularity, group_size=group_size,
                                     clip=clip, scale_dtype=scale_dtype)
        restored = q.dequantize(quantized)
        # one (scale, zero point) per entry, broadcast from its tensor / row / group
        repeat = {"tensor": values.size, "row": values.shape[1], "group": 4}[granularity]
        scale = np.repeat(quantized.scales.astype(np.float64).ravel(), repeat).reshape(values.shape)
        if scheme == "symmetric" and bits == 1:
            assert np.all(np.abs(restored) == scale.astype(np.float32))  # +-s: only the sign is kept
            continue
        if scheme == "symmetric":
            half = (1 << (bits - 1)) - 1
            low, high = -half * scale, half * scale
        else:
            zero = np.repeat(quantized.zero_points.astype(np.float64).ravel(), repeat).reshape(values.shape)
            low, high = -zero * scale, ((1 << bits) - 1 - zero) * scale
        inside = (values >= low) & (values <= high)
        error = np.abs(restored.astype(np.float64) - values)
        assert np.all(error[inside] <= scale[inside] / 2 * (1 + 1e-6) + 1e-7)
        if clip == "minmax" and bits >= 2:
            # min-max clips nothing but the zero point's shift: at most half a step beyond the grid
            assert np.all(error <= scale * (1 + 1e-6) + 1e-7)


@pytest.mark.parametrize("bits", q.BITS)
@pytest.mark.parametrize("count", [1, 7, 64, 1001])
def test_pack_and_unpack_round_trip_exactly(bits, count):
    codes = np.random.default_rng(count).integers(0, 1 << bits, size=count)
    packed = q.pack(codes, bits)
    assert packed.dtype == np.uint8 and packed.size == -(-count * bits // 8)
    assert np.array_equal(q.unpack(packed, bits, count), codes)


def test_more_bits_and_mse_clipping_mean_less_error(values):
    def error(bits, clip):
        return np.mean((q.dequantize(q.quantize_array(values, bits, clip=clip)) - values) ** 2)

    assert error(8, "minmax") < error(4, "minmax") < error(2, "minmax")
    assert error(2, "mse") <= error(2, "minmax") and error(4, "mse") <= error(4, "minmax")


def test_per_row_scales_fit_rows_of_different_norms(values):
    per_tensor = q.dequantize(q.quantize_array(values, 4, granularity="tensor"))
    per_row = q.dequantize(q.quantize_array(values, 4, granularity="row"))
    small_rows = slice(0, 3)  # the rows with the smallest norms lose everything to a tensor-wide step
    assert np.abs(per_row - values)[small_rows].max() < np.abs(per_tensor - values)[small_rows].max()


@pytest.mark.parametrize(("bits", "scheme", "granularity"), [(8, "asymmetric", "row"), (4, "symmetric", "group"),
                                                             (2, "asymmetric", "tensor"), (1, "symmetric", "row")])
def test_table_bytes_are_codes_plus_scales_plus_zero_points(values, bits, scheme, granularity):
    group_size = 4 if granularity == "group" else None
    table = q.QuantizedTable.from_values(values, bits, scheme=scheme, granularity=granularity, group_size=group_size,
                                         scale_dtype=np.float16)
    groups = {"tensor": 1, "row": 9, "group": 9 * 2}[granularity]
    zero_bytes = -(-groups * bits // 8) if scheme == "asymmetric" else 0  # packed at the codes' width
    expected = -(-values.size * bits // 8) + groups * 2 + zero_bytes
    assert table.nbytes == expected
    assert np.array_equal(table.rows([4, 0]), table.to_dense()[[4, 0]])


def test_rows_not_on_byte_boundaries_decode_correctly():
    values = np.random.default_rng(3).normal(size=(5, 3)).astype(np.float32)  # 3 columns x 2 bits: 6-bit rows
    table = q.QuantizedTable.from_values(values, 2)
    assert np.array_equal(table.rows([4, 1, 2]), table.to_dense()[[4, 1, 2]])


def test_a_32_bit_quantization_scores_identically(interactions):
    svd = models.PureSVD(rank=3).fit(interactions)
    same = q.quantize(svd, 32)
    assert np.array_equal(same.score(np.arange(13)), base.factor_model(svd).score(np.arange(13)))


def test_quantized_models_keep_the_protocol_and_share_tables(interactions):
    svd = q.quantize(models.PureSVD(rank=3).fit(interactions), 8)
    assert svd.fold_in_ is svd.item_table_ and isinstance(svd.item_table_, q.QuantizedTable)
    assert svd.nbytes == svd.item_table_.nbytes  # the shared table, counted once
    truncated = q.quantize(lowrank.truncate_ease(models.EASE(l2=1.0).fit(interactions), 3), 4,
                           scale_dtype=np.float16, vector_dtype=np.float16)
    assert truncated.item_scale_.dtype == np.float16 and truncated.fold_in_weights_.dtype == np.float16
    assert truncated.nbytes == truncated.item_table_.nbytes + 2 * (3 + 11)
    ease = models.EASE(l2=1.0).fit(interactions)
    quantized_ease = q.quantize(ease, 8)
    assert isinstance(quantized_ease.weights_, q.QuantizedTable)
    assert np.allclose(quantized_ease.score([0, 1]), ease.score([0, 1]), atol=0.05)
    assert quantized_ease.recipe_["bits"] == 8 and quantized_ease.source_ is ease


def test_int8_bpr_mf_scores_close_to_float(interactions):
    repro.set_reproducible(seed=0, threads=1)
    mf = models.BPRMF(rank=4, init_std=0.1, training=TrainSettings(epochs=3, validation_fraction=0.0)).fit(interactions)
    quantized = q.quantize(mf, 8)
    assert quantized.nbytes == (13 + 11) * 4 + (13 + 11) * 4 + (13 + 11)  # codes, float32 scales, 8-bit zero points
    assert np.abs(quantized.score(np.arange(13)) - mf.score(np.arange(13))).max() < 0.01


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda v: q.quantize_array(v, 3), ValueError, r"bits must be one of \(1, 2, 4, 8\) \(codes pack evenly into bytes\); got 3"),
        (lambda v: q.quantize_array(v, 4, granularity="column"), ValueError, "granularity must be one of"),
        (lambda v: q.quantize_array(v, 4, granularity="group", group_size=3), ValueError, "group_size must divide the 8"),
        (lambda v: q.quantize_array(v, 4, group_size=4), ValueError, "group_size goes with granularity='group'"),
        (lambda v: q.quantize_array(v, 4, scheme="signed"), ValueError, "scheme must be one of"),
        (lambda v: q.quantize_array(v, 1, scheme="asymmetric"), ValueError, "1-bit codes are symmetric"),
        (lambda v: q.quantize_array(v, 4, clip="percentile"), ValueError, "clip must be one of"),
        (lambda v: q.quantize_array(v, 4, scale_dtype=np.float64), ValueError, "scale_dtype must be np.float32 or np.float16"),
        (lambda v: q.quantize_array(v[0], 4), ValueError, "values must be a finite 2-D float array"),
        (lambda v: q.pack(np.array([0, 4]), 2), ValueError, r"codes must be integers in \[0, 4\)"),
        (lambda v: q.unpack(np.zeros(2, np.uint8), 4, 5), ValueError, "2 bytes hold at most 4 4-bit codes"),
        (lambda v: q.quantize(models.MostPopular(), 4), TypeError, "expected a fitted matrix-factorization model"),
        (lambda v: q.QuantizedTable(v), TypeError, "expected a QuantizedArray"),
    ],
)
def test_bad_arguments_are_explained(values, call, error, message):
    with pytest.raises(error, match=message):
        call(values)


def test_hamming_scores_are_dot_products_of_signs(interactions):
    rng = np.random.default_rng(4)
    users, items = rng.normal(size=(5, 16)), rng.normal(size=(7, 16))
    scores = q.hamming_scores(q.sign_codes(users), q.sign_codes(items), 16)
    signs = lambda a: np.where(a >= 0, 1.0, -1.0)  # noqa: E731
    assert np.array_equal(scores, signs(users) @ signs(items).T)
    odd = q.hamming_scores(q.sign_codes(users[:, :13]), q.sign_codes(items[:, :13]), 13)  # not a multiple of 8 bits
    assert np.array_equal(odd, signs(users[:, :13]) @ signs(items[:, :13]).T)


def test_hamming_recommender_stores_one_bit_per_number(interactions):
    repro.set_reproducible(seed=0, threads=1)
    mf = models.BPRMF(rank=16, init_std=0.1, training=TrainSettings(epochs=2, validation_fraction=0.0)).fit(interactions)
    model = q.HammingRecommender.from_model(mf)
    assert model.nbytes == (13 + 11) * 16 // 8 and mf.nbytes / model.nbytes == 32
    with pytest.raises(TypeError, match="needs a user table"):
        q.HammingRecommender.from_model(models.PureSVD(rank=3).fit(interactions))
