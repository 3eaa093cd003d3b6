import numpy as np
import pytest
import scipy.sparse as sp
import torch

from reccompress import measure, models, repro, train
from reccompress.compress import base, prune
from reccompress.train import TrainSettings


@pytest.fixture
def interactions() -> sp.csr_array:
    rng = np.random.default_rng(5)
    return sp.csr_array((rng.random((26, 17)) < 0.3).astype(np.float32))


@pytest.fixture
def mf(interactions):
    repro.set_reproducible(seed=0, threads=1)
    return models.BPRMF(rank=6, init_std=0.1, training=TrainSettings(epochs=3)).fit(interactions)


@pytest.fixture
def ncf(interactions):
    repro.set_reproducible(seed=0, threads=1)
    return models.NCF(rank=4, hidden=(5,), init_std=0.1, training=TrainSettings(epochs=2)).fit(interactions)


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
    assert pruned.nbytes == ncf.nbytes  # a masked layer counts its effective weight once, not orig + mask


def test_fine_tuning_keeps_pruned_weights_at_zero(mf, interactions):
    pruned = prune.magnitude_prune(mf, 0.7)
    tuned = prune.fine_tune(pruned, interactions, epochs=2)
    assert count_zeros(tuned) >= count_zeros(pruned)
    assert not np.array_equal(tuned.score([1]), pruned.score([1]))  # it did train
    assert len(tuned.history_.losses) == 2 and tuned.source_ is pruned


def test_fine_tuning_refuses_a_matrix_of_another_shape(mf, interactions):
    with pytest.raises(ValueError, match=r"user_items has shape \(26, 16\) but the model was trained on \(26, 17\)"):
        prune.fine_tune(mf, interactions[:, :16].tocsr(), epochs=1)


def test_fine_tuning_a_dense_factor_model_trains_its_tables(mf, interactions):
    smaller = prune.prune_dimensions(mf, 3)
    tuned = prune.fine_tune(smaller, interactions, epochs=2)
    assert tuned.module_.user_embedding.weight.shape == (26, 3)
    assert not np.allclose(tuned.score([0]), smaller.score([0]))


def test_gradual_schedule_reaches_the_final_amount(mf, interactions):
    pruned = prune.gradual_magnitude_prune(mf, interactions, 0.8, steps=3, epochs_per_step=1)
    assert prune.sparsity(pruned) == pytest.approx(0.8, abs=1.0 / ((26 + 17) * 6))
    assert pruned.source_ is mf and pruned.recipe_["verb"] == "gradual_magnitude_prune"


def test_lottery_ticket_rewinds_survivors_to_their_initial_values(mf, interactions):
    rewound = prune.lottery_ticket(mf, interactions, 0.5, epochs=1, lr=0.0)  # lr 0: no retraining moves
    initial = mf.init_state_["user_embedding.weight"]
    kept = rewound.module_.user_embedding.weight_mask.bool()
    assert torch.equal(rewound.module_.user_embedding.weight[kept], initial[kept])


def test_a_dense_factor_model_can_be_pruned_and_stored_sparse(mf):
    rotated = prune.prune_dimensions(mf, 6, "principal")  # same scores, ordered basis
    assert np.allclose(rotated.score([0, 1]), mf.score([0, 1]), atol=1e-5)
    pruned = prune.magnitude_prune(rotated, 0.5)
    assert prune.sparsity(pruned) == pytest.approx(round(0.5 * (26 + 17) * 6) / ((26 + 17) * 6))
    assert pruned.nbytes == rotated.nbytes  # masks are not inference bytes
    assert prune.to_sparse(pruned).nbytes > rotated.nbytes  # at 50% CSR costs more than dense
    assert prune.to_sparse(prune.magnitude_prune(rotated, 0.8)).nbytes < rotated.nbytes


def test_the_random_control_draws_fresh_starting_values_under_the_same_mask(mf, interactions):
    ticket = prune.lottery_ticket(mf, interactions, 0.5, epochs=1, lr=0.0)
    control = prune.lottery_ticket(mf, interactions, 0.5, epochs=1, lr=0.0, rewind="random", reinit_seed=5)
    same_mask = torch.equal(ticket.module_.user_embedding.weight_mask, control.module_.user_embedding.weight_mask)
    kept = control.module_.user_embedding.weight_mask.bool()
    initial = mf.init_state_["user_embedding.weight"]
    assert same_mask and not torch.equal(control.module_.user_embedding.weight[kept], initial[kept])
    assert control.module_.user_embedding.weight[kept].std().item() == pytest.approx(initial.std().item(), rel=0.3)
    with pytest.raises(ValueError, match=r"rewind must be one of \('initial', 'random'\)"):
        prune.lottery_ticket(mf, interactions, 0.5, epochs=1, rewind="zero")


def test_threshold_prune_zeroes_small_weights(mf):
    pruned = prune.threshold_prune(mf, 0.05)
    weights = mf.module_.user_embedding.weight.detach().abs()
    assert int((pruned.module_.user_embedding.weight == 0).sum()) == int((weights <= 0.05).sum())


@pytest.mark.parametrize("criterion", prune.CRITERIA)
def test_dimension_pruning_keeps_exactly_the_dimensions_asked(mf, criterion):
    smaller = prune.prune_dimensions(mf, 2, criterion)
    assert isinstance(smaller, base.FactorRecommender)
    assert smaller.rank == 2 and smaller.user_factors_.shape == (26, 2) and smaller.item_factors_.shape == (17, 2)
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
    batch = train.Batch(users, positives, negatives, np.random.default_rng(0))
    p, qi, qj = module.user_embedding(users), module.item_embedding(positives), module.item_embedding(negatives)
    l1 = prune.L1Penalty(0.5).loss(module, batch)
    assert l1.item() == pytest.approx((0.5 * (p.abs().sum(1) + qi.abs().sum(1) + qj.abs().sum(1)).mean()).item())
    group = prune.GroupLassoPenalty(2.0).loss(module, batch)
    columns = p.pow(2).sum(0) + qi.pow(2).sum(0) + qj.pow(2).sum(0)
    assert group.item() == pytest.approx((2.0 * columns.sqrt().sum()).item(), rel=1e-5)


def test_sparse_storage_counts_what_is_kept_and_scores_alike(mf, interactions):
    pruned = prune.magnitude_prune(mf, 0.75)
    stored = prune.to_sparse(pruned)
    kept = (26 + 17) * 6 - count_zeros(pruned)
    assert stored.nbytes == kept * (4 + 4) + (26 + 1 + 17 + 1) * 4
    assert np.allclose(stored.score([0, 3]), pruned.score([0, 3]), atol=1e-6)
    assert measure.nbytes(pruned.module_) == (26 + 17) * 6 * 4  # the masked model, stored dense


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m: prune.magnitude_prune(m, 1.0), ValueError, r"amount must be in \[0, 1\); got 1.0"),
        (lambda m: prune.magnitude_prune(m, -0.1), ValueError, r"amount must be in \[0, 1\); got -0.1"),
        (lambda m: prune.magnitude_prune(m, 0.5, scope="row"), ValueError, r"scope must be one of \('global', 'layer'\)"),
        (lambda m: prune.magnitude_prune(m, 0.5, which="bias"), ValueError, "which must be one of"),
        (lambda m: prune.magnitude_prune(m, 0.5, which="mlp"), ValueError, "MFModule has no mlp layers to prune"),
        (lambda m: prune.prune_dimensions(m, 7), ValueError, "rank must be at least 1 and at most 6; got 7"),
        (lambda m: prune.prune_dimensions(m, 2, "random"), ValueError, "criterion must be one of"),
        (lambda m: prune.magnitude_prune(models.EASE(), 0.5), TypeError, "expected a fitted BPRMF or NCF.*; got EASE"),
        (lambda m: prune.fine_tune(m, m.user_items_, epochs=1, lr="fast"), TypeError, "lr must be a real number"),
        (lambda m: prune.fine_tune(m, m.user_items_, epochs=1, speed=2), TypeError, r"TrainSettings has no setting\(s\) \['speed'\]"),
    ],
)
def test_bad_arguments_are_explained(mf, call, error, message):
    with pytest.raises(error, match=message):
        call(mf)


def test_dimension_pruning_needs_matrix_factorization(ncf, interactions):
    with pytest.raises(TypeError, match="expected a fitted matrix-factorization model .*; got NCF"):
        prune.prune_dimensions(ncf, 2)
    with pytest.raises(TypeError, match="folds users in"):
        prune.prune_dimensions(models.PureSVD(rank=3).fit(interactions), 2)


def test_l1_training_drives_weights_towards_zero_where_l2_does_not(interactions):
    repro.set_reproducible(seed=0, threads=1)
    settings = TrainSettings(epochs=10, validation_fraction=0.0)
    plain = models.BPRMF(rank=6, init_std=0.1, training=settings).fit(interactions)
    sparse_ish = models.BPRMF(rank=6, init_std=0.1, training=settings,
                              objective=train.BPR() + prune.L1Penalty(0.05)).fit(interactions)
    small = lambda m: float((m.module_.user_embedding.weight.abs() < 1e-2).float().mean())  # noqa: E731
    assert small(sparse_ish) > small(plain)
    with pytest.raises(TypeError, match="objective must be a train.Objective"):
        models.BPRMF(rank=2, objective=0.1).fit(interactions)


def test_a_pruned_fine_tuned_ncf_scores_as_its_forward_pass(ncf, interactions):
    tuned = prune.fine_tune(prune.magnitude_prune(ncf, 0.5, scope="layer", which="all"), interactions, epochs=1)
    module, users = tuned.module_, torch.tensor([0, 3, 25])
    scores = tuned.score(users.numpy())  # first: no forward call has refreshed the cached weights since training
    with torch.no_grad():
        pairs = torch.stack([module(torch.full((17,), int(u)), torch.arange(17)) for u in users])
    assert np.allclose(scores, pairs.numpy(), atol=1e-5)


def test_compact_stores_the_cheaper_way(mf):
    light = prune.compact(prune.magnitude_prune(mf, 0.3))
    heavy = prune.compact(prune.magnitude_prune(mf, 0.9))
    assert isinstance(light.user_table_, base.DenseTable) and light.nbytes == mf.nbytes
    assert isinstance(heavy.user_table_, base.CSRTable) and heavy.nbytes < mf.nbytes
    assert np.allclose(heavy.score([0, 2]), prune.magnitude_prune(mf, 0.9).score([0, 2]), atol=1e-6)
