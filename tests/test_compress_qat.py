import numpy as np
import pytest
import scipy.sparse as sp
import torch

from reccompress import models, repro
from reccompress.compress import qat
from reccompress.compress import quantize as q
from reccompress.train import TrainSettings


@pytest.fixture
def mf():
    rng = np.random.default_rng(7)
    interactions = sp.csr_array((rng.random((30, 20)) < 0.3).astype(np.float32))
    repro.set_reproducible(seed=0, threads=1)
    return models.BPRMF(rank=8, init_std=0.1, training=TrainSettings(epochs=3, validation_fraction=0.0)).fit(interactions)


@pytest.mark.parametrize("bits", [4, 2, 1])
@pytest.mark.parametrize("learned_step", [False, True])
def test_fake_quantization_gives_exactly_the_values_stored(mf, bits, learned_step):
    weight = torch.as_tensor(mf.item_factors_)
    quantizer = qat.FakeQuantize(weight, bits, "symmetric" if bits == 1 else "asymmetric", learned_step)
    with torch.no_grad():
        fake = quantizer(weight).numpy()
    stored = q.dequantize(quantizer.quantized(weight))
    assert np.allclose(fake, stored, atol=1e-6)
    assert len(np.unique(stored[0])) <= 1 << bits


def test_the_straight_through_estimator_passes_gradients():
    weight = torch.randn(5, 8, requires_grad=True)
    quantizer = qat.FakeQuantize(weight.detach(), 2, learned_step=True)
    quantizer(weight).sum().backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0
    assert quantizer.log_step.grad is not None  # LSQ learns the step


def test_qat_is_reproducible_and_stores_codes(mf):
    runs = []
    for _ in range(2):
        repro.set_reproducible(seed=0, threads=1)
        runs.append(qat.quantization_aware_training(mf, mf.user_items_, 2, epochs=2, learned_step=True))
    assert np.array_equal(runs[0].score([0, 3]), runs[1].score([0, 3]))
    model = runs[0]
    assert isinstance(model.item_table_, q.QuantizedTable) and model.item_table_.bits == 2
    assert len(model.history_.losses) == 2 and model.source_ is mf


def test_bad_arguments_are_explained(mf):
    with pytest.raises(ValueError, match="bits must be one of"):
        qat.quantization_aware_training(mf, mf.user_items_, 3, epochs=1)
    with pytest.raises(ValueError, match=r"user_items has shape \(30, 19\) but the model was trained on \(30, 20\)"):
        qat.quantization_aware_training(mf, mf.user_items_[:, :19].tocsr(), 4, epochs=1)
    with pytest.raises(TypeError, match="needs dense user and item tables"):
        qat.quantization_aware_training(models.PureSVD(rank=3).fit(mf.user_items_), mf.user_items_, 4, epochs=1)
