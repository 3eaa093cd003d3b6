"""One protocol test for every model the library can make, reference or compressed.

Each model is fitted (reference) or built by its verb (compressed) on a tiny non-square
matrix, then checked for: score shape and dtype, ``recommend`` ranking by score and never
returning a seen item, and ``nbytes`` equal to the bytes of the arrays it stores — counted
here independently, and with every stored array accounted for.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from reccompress import models, repro
from reccompress.compress import base, lowrank, pq, prune, qat, sparse
from reccompress.compress import embeddings as emb
from reccompress.compress import quantize as quant
from reccompress.train import TrainSettings

TINY = TrainSettings(epochs=2, validation_fraction=0.0)


@pytest.fixture(scope="module")
def interactions() -> sp.csr_array:
    """11 users x 8 items, about a third seen; user 10 has seen a single item."""
    rng = np.random.default_rng(7)
    dense = (rng.random((11, 8)) < 0.35).astype(np.float32)
    dense[10] = 0
    dense[10, 3] = 1
    dense[:, 7] = np.maximum(dense[:, 7], rng.random(11) < 0.8)  # a popular item
    return sp.csr_array(dense)


def _bpr(x):
    repro.set_reproducible(seed=0, threads=1)
    return models.BPRMF(rank=3, init_std=0.1, training=TINY).fit(x)


def _item_only(x):
    repro.set_reproducible(seed=0, threads=1)
    return models.ItemOnlyMF(rank=3, init_std=0.1, training=TINY).fit(x)


def _bpr_tables(spec):
    def fit(x):
        repro.set_reproducible(seed=0, threads=1)
        return models.BPRMF(rank=3, init_std=0.1, training=TINY, embeddings=spec).fit(x)
    return fit


def _ncf(x):
    repro.set_reproducible(seed=0, threads=1)
    return models.NCF(rank=3, hidden=(4,), init_std=0.1, training=TINY).fit(x)


MAKERS = {
    # reference models, fitted
    "MostPopular": lambda x: models.MostPopular().fit(x),
    "ItemKNN": lambda x: models.ItemKNN(k=3).fit(x),
    "EASE": lambda x: models.EASE(l2=1.0).fit(x),
    "PureSVD": lambda x: models.PureSVD(rank=3).fit(x),
    "ImplicitALS": lambda x: models.ImplicitALS(rank=3, iterations=2).fit(x),
    "BiasedMF": lambda x: models.BiasedMF(rank=2, iterations=2).fit(x),
    "BPRMF": _bpr,
    "NCF": _ncf,
    "ItemOnlyMF": _item_only,
    "BPRMF (hashed tables, two hashes)": _bpr_tables(emb.Hashing(2, hashes=2)),
    "BPRMF (mixed-dimension users, frequency-aware items)": _bpr_tables(
        (emb.MixedDimension(1.5, blocks=2), emb.FrequencyAware(1.5))),
    "BPRMF (tensor-train tables)": _bpr_tables(emb.TensorTrain(1.2)),
    # compressed models, built by their verbs
    "sparse.magnitude_prune": lambda x: sparse.magnitude_prune(models.EASE(l2=1.0).fit(x), 0.7),
    "sparse.column_topk_prune": lambda x: sparse.column_topk_prune(models.ItemKNN(k=4).fit(x), 2),
    "sparse.refit_on_support": lambda x: sparse.refit_on_support(sparse.magnitude_prune(models.EASE(l2=1.0).fit(x), 0.5), 1.0),
    "lowrank.factorize": lambda x: lowrank.factorize(models.EASE(l2=1.0).fit(x), 3),
    "lowrank.truncate_ease": lambda x: lowrank.truncate_ease(models.EASE(l2=1.0).fit(x), 3),
    "prune.magnitude_prune (BPR-MF)": lambda x: prune.magnitude_prune(_bpr(x), 0.5),
    "prune.magnitude_prune (NCF MLP)": lambda x: prune.magnitude_prune(_ncf(x), 0.5, scope="layer", which="mlp"),
    "prune.finalize": lambda x: prune.finalize(prune.magnitude_prune(_bpr(x), 0.5)),
    "prune.fine_tune": lambda x: prune.fine_tune(prune.magnitude_prune(_bpr(x), 0.5), x, epochs=1),
    "prune.prune_dimensions": lambda x: prune.prune_dimensions(_bpr(x), 2, "principal"),
    "prune.magnitude_prune (rotated)": lambda x: prune.magnitude_prune(prune.prune_dimensions(_bpr(x), 3, "principal"), 0.5),
    "prune.to_sparse": lambda x: prune.to_sparse(prune.magnitude_prune(_bpr(x), 0.6)),
    "factor_model (PureSVD)": lambda x: base.factor_model(models.PureSVD(rank=3).fit(x)),
    "factor_model (ALS)": lambda x: base.factor_model(models.ImplicitALS(rank=3, iterations=2).fit(x)),
    "factor_model (ItemOnlyMF)": lambda x: base.factor_model(_item_only(x)),
    "factor_model (BiasedMF)": lambda x: base.factor_model(models.BiasedMF(rank=2, iterations=2).fit(x)),
    "quantize 4-bit (BPR-MF)": lambda x: quant.quantize(_bpr(x), 4),
    "quantize 8-bit (EASE)": lambda x: quant.quantize(models.EASE(l2=1.0).fit(x), 8),
    "quantize 2-bit (truncated EASE)": lambda x: quant.quantize(
        lowrank.truncate_ease(models.EASE(l2=1.0).fit(x), 3), 2, scale_dtype=np.float16, vector_dtype=np.float16),
    "product_quantize": lambda x: pq.product_quantize(_bpr(x), 3, 4, tables="all"),
    "quantization_aware_training": lambda x: qat.quantization_aware_training(_bpr(x), x, 4, epochs=1),
    "HammingRecommender": lambda x: quant.HammingRecommender.from_model(_bpr(x)),
}

# Fitted attributes that scoring does not need: the training history and diagnostics.
NOT_FOR_INFERENCE = {"user_items_", "singular_values_", "loss_history_", "rmse_history_", "history_", "init_state_",
                     "source_", "recipe_"}


@pytest.fixture(scope="module", params=list(MAKERS))
def model(request, interactions):
    return MAKERS[request.param](interactions)


def test_score_has_one_float32_row_per_user(model):
    scores = model.score([0, 10, 3])
    assert scores.shape == (3, 8) and scores.dtype == np.float32
    assert np.all(np.isfinite(scores))


def test_recommend_ranks_by_score_and_excludes_seen_items(model, interactions):
    users = np.arange(11)
    items, item_scores = model.recommend(users, k=3)
    assert items.shape == item_scores.shape == (11, 3) and items.dtype == np.int64
    scores = model.score(users)
    for user in users:
        seen = set(interactions[[user]].indices.tolist())
        allowed = [i for i in range(8) if i not in seen]
        expected = sorted(allowed, key=lambda i: (-scores[user, i], i))[:3]
        assert items[user, : len(expected)].tolist() == expected
        assert not seen & set(items[user, : len(expected)].tolist())


def _stored_bytes(value) -> int:
    """Bytes of one stored object, counted without the library's byte counter."""
    if isinstance(value, np.ndarray | np.generic):
        return value.nbytes
    if sp.issparse(value):
        return value.data.nbytes + value.indices.nbytes + value.indptr.nbytes
    if isinstance(value, base.Table):
        return sum(_stored_bytes(array) for array in value.arrays().values())
    if isinstance(value, torch.nn.Module):
        state = value.state_dict()
        # a pruned layer stores weight_orig (the effective weight's size) and a mask buffer (not inference)
        return sum(t.numel() * t.element_size() for name, t in state.items() if not name.endswith("_mask"))
    raise AssertionError(f"unexpected stored object {type(value)}")


def test_nbytes_is_the_sum_of_the_stored_arrays(model):
    arrays = model.inference_arrays()
    assert arrays, "a model stores something"
    assert model.nbytes == sum(_stored_bytes(value) for value in arrays.values())


def test_every_stored_array_is_counted(model):
    """An array attribute that is not part of the training history must be in inference_arrays."""
    counted = {id(value) for value in model.inference_arrays().values()}
    for name, value in vars(model).items():
        if not name.endswith("_") or name in NOT_FOR_INFERENCE or value is None:
            continue
        if isinstance(value, np.ndarray | np.generic | base.Table | torch.nn.Module) or sp.issparse(value):
            assert id(value) in counted, f"{type(model).__name__}.{name} is stored but not counted in nbytes"


def test_bad_user_ids_are_explained(model):
    with pytest.raises(ValueError, match=r"user_ids must lie in \[0, 11\); got values from 0 to 11"):
        model.score([0, 11])
    with pytest.raises(ValueError, match="transposed"):
        model.recommend([0], k=1, exclude=model.user_items_.T.tocsr())
