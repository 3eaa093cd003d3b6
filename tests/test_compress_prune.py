import numpy as np
import pytest
import scipy.sparse as sp
import torch

from reccompress import models, repro
from reccompress.compress import prune


@pytest.fixture
def interactions() -> sp.csr_array:
    rng = np.random.default_rng(5)
    return sp.csr_array((rng.random((26, 17)) < 0.3).astype(np.float32))


@pytest.fixture
def mf(interactions):
    repro.set_reproducible(seed=0, threads=1)
    return models.BPRMF(dim=6, epochs=3, init_std=0.1).fit(interactions)


@pytest.fixture
def ncf(interactions):
    repro.set_reproducible(seed=0, threads=1)
    return models.NCF(dim=4, hidden=(5,), epochs=2, init_std=0.1).fit(interactions)


def count_zeros(model, which="embeddings"):
    return sum(int((layer.weight == 0).sum()) for layer, _ in prune.prunable_weights(model, which))


@pytest.mark.parametrize("amount", [0.0, 0.25, 0.9])
def test_global_magnitude_prunes_exactly_the_amount_asked(mf, amount):
    pruned = prune.magnitude_prune(mf, amount)
    total = (26 + 17) * 6
    assert count_zeros(pruned) == round(amount * total)
    assert prune.sparsity(pruned) == pytest.approx(round(amount * total) / total)
    assert prune.sparsity(mf) == 0.0  # the original is untouched


def test_global_magnitude_removes_the_smallest_weights(mf):
    pruned = prune.magnitude_prune(mf, 0.5)
    before = torch.cat([mf.module_.user_embedding.weight.flatten(), mf.module_.item_embedding.weight.flatten()]).abs()
    after = torch.cat([pruned.module_.user_embedding.weight.flatten(), pruned.module_.item_embedding.weight.flatten()])
    assert before[after == 0].max() <= before[after != 0].min()


def test_layer_scope_prunes_each_layer_by_the_same_share(ncf):
    pruned = prune.magnitude_prune(ncf, 0.5, scope="layer", which="all")
    for layer, _ in prune.prunable_weights(pruned, "all"):
        assert int((layer.weight == 0).sum()) == round(0.5 * layer.weight.numel())


def test_finalize_leaves_no_mask_and_the_same_outputs(ncf):
    pruned = prune.magnitude_prune(ncf, 0.6, which="all")
    final = prune.finalize(pruned)
    assert not any(name.endswith(("_orig", "_mask")) for name, _ in final.module_.named_parameters())
    assert not any(name.endswith("_mask") for name, _ in final.module_.named_buffers())
    assert np.array_equal(final.score([0, 5]), pruned.score([0, 5]))
    assert final.nbytes == ncf.nbytes  # dense storage: zeros cost as much as any number


def test_fine_tuning_keeps_pruned_weights_at_zero(mf, interactions):
    pruned = prune.magnitude_prune(mf, 0.7)
    tuned = prune.fine_tune(pruned, interactions, epochs=2)
    assert count_zeros(tuned) >= count_zeros(pruned)
    assert not np.array_equal(tuned.score([1]), pruned.score([1]))  # it did train


def test_gradual_schedule_reaches_the_final_amount(mf, interactions):
    pruned = prune.gradual_magnitude_prune(mf, interactions, 0.8, steps=3, epochs_per_step=1)
    assert prune.sparsity(pruned) == pytest.approx(0.8, abs=1.0 / ((26 + 17) * 6))


def test_lottery_ticket_rewinds_survivors_to_their_initial_values(mf, interactions):
    rewound = prune.lottery_ticket(mf, interactions, 0.5, epochs=1, lr=0.0)  # lr 0: no retraining moves
    initial = mf.init_state_["user_embedding.weight"]
    kept = rewound.module_.user_embedding.weight_mask.bool()
    assert torch.equal(rewound.module_.user_embedding.weight[kept], initial[kept])


def test_threshold_prune_zeroes_small_weights(mf):
    pruned = prune.threshold_prune(mf, 0.05)
    weights = mf.module_.user_embedding.weight.detach().abs()
    assert int((pruned.module_.user_embedding.weight == 0).sum()) == int((weights <= 0.05).sum())


@pytest.mark.parametrize("criterion", prune.CRITERIA)
def test_dimension_pruning_keeps_exactly_the_dimensions_asked(mf, criterion):
    smaller = prune.prune_dimensions(mf, 2, criterion)
    assert smaller.dim == 2 and smaller.module_.user_embedding.weight.shape == (26, 2)
    assert smaller.nbytes == (26 + 17) * 2 * 4 and mf.nbytes == (26 + 17) * 6 * 4


def test_principal_basis_is_the_best_rank_k_score_approximation(mf):
    full = mf.score(np.arange(26)).astype(np.float64)
    spectrum = np.linalg.svd(full, compute_uv=False)
    smaller = prune.prune_dimensions(mf, 3, "principal")
    error = np.linalg.norm(full - smaller.score(np.arange(26)))
    assert error == pytest.approx(np.sqrt(np.sum(spectrum[3:] ** 2)), rel=1e-4)
    by_norm = prune.prune_dimensions(mf, 3, "norm")
    assert error <= np.linalg.norm(full - by_norm.score(np.arange(26))) + 1e-6


def test_penalties_act_on_the_batch_rows(mf):
    module = mf.module_
    users, positives, negatives = torch.tensor([0, 2, 2]), torch.tensor([1, 3, 5]), torch.tensor([4, 4, 0])
    p, qi, qj = module.user_embedding(users), module.item_embedding(positives), module.item_embedding(negatives)
    l1 = prune.l1_penalty(0.5)(module, users, positives, negatives)
    assert l1.item() == pytest.approx((0.5 * (p.abs().sum(1) + qi.abs().sum(1) + qj.abs().sum(1)).mean()).item())
    group = prune.group_lasso_penalty(2.0)(module, users, positives, negatives)
    columns = p.pow(2).sum(0) + qi.pow(2).sum(0) + qj.pow(2).sum(0)
    assert group.item() == pytest.approx((2.0 * columns.sqrt().sum()).item(), rel=1e-5)


def test_sparse_storage_counts_what_is_kept_and_scores_alike(mf, interactions):
    pruned = prune.magnitude_prune(mf, 0.75)
    stored = prune.to_sparse(pruned, interactions)
    kept = (26 + 17) * 6 - count_zeros(pruned)
    assert stored.nbytes == kept * (4 + 4) + (26 + 1 + 17 + 1) * 4
    assert np.allclose(stored.score([0, 3]), pruned.score([0, 3]), atol=1e-6)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m: prune.magnitude_prune(m, 1.0), ValueError, r"amount must be in \[0, 1\); got 1.0"),
        (lambda m: prune.magnitude_prune(m, -0.1), ValueError, r"amount must be in \[0, 1\); got -0.1"),
        (lambda m: prune.magnitude_prune(m, 0.5, scope="row"), ValueError, "scope must be 'global' or 'layer'"),
        (lambda m: prune.magnitude_prune(m, 0.5, which="bias"), ValueError, "which must be one of"),
        (lambda m: prune.magnitude_prune(m, 0.5, which="mlp"), ValueError, "BPRMF has no mlp layers to prune"),
        (lambda m: prune.prune_dimensions(m, 7), ValueError, "keep must be at least 1 and at most 6; got 7"),
        (lambda m: prune.prune_dimensions(m, 2, "random"), ValueError, "criterion must be one of"),
        (lambda m: prune.magnitude_prune(models.EASE(), 0.5), TypeError, "expected a fitted BPRMF or NCF model; got EASE"),
    ],
)
def test_bad_arguments_are_explained(mf, call, error, message):
    with pytest.raises(error, match=message):
        call(mf)


def test_dimension_pruning_needs_matrix_factorization(ncf):
    with pytest.raises(TypeError, match="dimension pruning needs a fitted BPRMF; got NCF"):
        prune.prune_dimensions(ncf, 2)


def test_l1_training_drives_weights_towards_zero_where_l2_does_not(interactions):
    repro.set_reproducible(seed=0, threads=1)
    plain = models.BPRMF(dim=6, epochs=10, init_std=0.1, validation_fraction=0.0).fit(interactions)
    sparse_ish = models.BPRMF(dim=6, epochs=10, init_std=0.1, validation_fraction=0.0).fit_penalized(
        interactions, prune.l1_penalty(0.05))
    small = lambda m: float((m.module_.user_embedding.weight.abs() < 1e-2).float().mean())  # noqa: E731
    assert small(sparse_ish) > small(plain)
    with pytest.raises(TypeError, match="penalty must be a function of the module"):
        models.BPRMF(dim=2).fit_penalized(interactions, 0.1)
