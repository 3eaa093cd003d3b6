"""Chapter 8's tables: every id has a row, exact bytes, 1x is a plain table, seeded hashing, exact TT."""

import copy
import math
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from reccompress import models
from reccompress.compress import embeddings as E
from reccompress.compress import prune
from reccompress.train import TrainSettings

N_IDS, DIM = 301, 8  # a small vocabulary, a narrow table
COUNTS = np.random.default_rng(0).zipf(1.5, N_IDS).astype(float)
SPECS = {
    "hashing": lambda c: E.Hashing(c),
    "hashing_2": lambda c: E.Hashing(c, hashes=2),
    "quotient_remainder": lambda c: E.QuotientRemainder(c),
    "frequency_hash": lambda c: E.FrequencyAware(c, tail="hash"),
    "frequency_qr": lambda c: E.FrequencyAware(c, head_share=0.6, tail="qr"),
    "frequency_pruning": lambda c: E.FrequencyPruning(c),
    "mixed_dimension": lambda c: E.MixedDimension(c, alpha=0.5, blocks=3),
    "tensor_train": lambda c: E.TensorTrain(c),
}


def build(spec, n_ids=N_IDS, dim=DIM, counts=COUNTS, seed=0):
    return spec.build(n_ids, dim, counts, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", SPECS)
@pytest.mark.parametrize("compression", [2, 3.5])
def test_every_id_has_a_row_within_budget(name, compression):
    table = build(SPECS[name](compression))
    ids = torch.arange(N_IDS)
    rows = table(ids)
    assert rows.shape == (N_IDS, DIM) and torch.isfinite(rows).all()
    assert table(torch.tensor([[0, N_IDS - 1]])).shape == (1, 2, DIM)  # the edges, any id shape
    assert table.nbytes <= N_IDS * DIM * 4 / compression
    assert (table.num_embeddings, table.embedding_dim) == (N_IDS, DIM)


@pytest.mark.parametrize("name", SPECS)
def test_compression_one_is_a_plain_table(name):
    table = build(SPECS[name](1))
    plain = torch.nn.Embedding(N_IDS, DIM)
    torch.nn.init.normal_(plain.weight, std=0.01, generator=torch.Generator().manual_seed(0))
    assert isinstance(table, E.PlainEmbedding)
    assert torch.equal(table.weight, plain.weight) and table.nbytes == N_IDS * DIM * 4


def test_model_at_one_x_equals_the_plain_model():
    user_items = sp.random(11, 17, density=0.3, format="csr", random_state=1)
    user_items.data[:] = 1
    settings = TrainSettings(epochs=3, validation_fraction=0.0)
    plain = models.BPRMF(rank=4, training=settings).fit(user_items)
    spec = models.BPRMF(rank=4, training=settings, embeddings=E.TensorTrain(1)).fit(user_items)
    np.testing.assert_array_equal(plain.score(np.arange(11)), spec.score(np.arange(11)))


def test_exact_bytes():
    hashed = build(E.Hashing(4, hashes=2))
    assert hashed.nbytes == hashed.rows * DIM * 4 + 2 * 8  # rows + one int64 seed per hash
    qr = build(E.QuotientRemainder(2))
    assert qr.nbytes == sum(qr.sizes) * DIM * 4 and math.prod(qr.sizes) >= N_IDS
    frequent = build(E.FrequencyAware(2, tail="hash"))
    n_head = frequent.head_ids.numel()
    assert frequent.head_ids.dtype == torch.int16  # the narrowest type that holds 301 ids
    assert frequent.nbytes == n_head * DIM * 4 + n_head * 2 + frequent.tail.nbytes
    mixed = build(E.MixedDimension(2, alpha=0.5, blocks=3))
    listed = sum(ids.numel() for ids in mixed.block_ids)
    assert mixed.nbytes == sum(t.numel() for t in mixed.tables) * 4 + listed * 2
    tt = build(E.TensorTrain(2))
    (n1, n2, n3), (d1, d2, d3), (r1, r2) = tt.id_shape, tt.dim_shape, tt.ranks
    assert tt.nbytes == 4 * (n1 * d1 * r1 + n2 * r1 * d2 * r2 + n3 * r2 * d3)


def test_hashing_is_deterministic_under_a_seed():
    ids = torch.arange(1000)
    first, again = E.HashedEmbedding(1000, 50, 4, seed=3), E.HashedEmbedding(1000, 50, 4, seed=3)
    other = E.HashedEmbedding(1000, 50, 4, seed=4)
    assert torch.equal(first.row_ids(ids), again.row_ids(ids))
    assert not torch.equal(first.row_ids(ids), other.row_ids(ids))
    # Every row is used, no row is crowded, and ids never seen in training hash too.
    load = torch.bincount(first.row_ids(ids)[:, 0], minlength=50)
    assert (load > 0).all() and load.max() <= 2 * 1000 / 50
    assert first(torch.tensor([10**9])).shape == (1, 4)


def test_frequency_aware_keeps_the_most_frequent_ids():
    counts = np.arange(N_IDS)[::-1].astype(float)  # id 0 most frequent
    table = build(E.FrequencyAware(2, tail="hash"), counts=counts)
    n_head = table.head_ids.numel()
    assert table.head_ids.long().tolist() == list(range(n_head))
    head_rows = table(torch.arange(n_head))
    assert torch.equal(head_rows, table.head.detach()[:n_head])  # own rows, in order
    unseen = torch.tensor([N_IDS + 5, 40_000, 10**9])  # beyond the vocabulary and the int16 list
    torch.testing.assert_close(table(unseen), table.tail(unseen))  # unseen ids go to the tail


def test_frequency_pruning_shares_one_row():
    table = build(E.FrequencyPruning(4))
    tail_ids = np.setdiff1d(np.arange(N_IDS), table.head_ids.numpy())
    rows = table(torch.as_tensor(tail_ids))
    assert (rows == rows[0]).all()


def test_mixed_dimension_rows_are_distinct_and_found_by_search():
    table = build(E.MixedDimension(2, alpha=0.5, blocks=3))
    block, row = table.rows_of(torch.arange(N_IDS))
    assert len(set(zip(block.tolist(), row.tolist()))) == N_IDS
    for k, size in enumerate(t.shape[0] for t in table.tables):
        assert sorted(row[block == k].tolist()) == list(range(size))
    widths = torch.tensor(table.widths)[block]
    rows = table(torch.arange(N_IDS))
    assert all((rows[i, widths[i]:] == 0).all() for i in range(N_IDS))  # zero padding
    assert torch.equal(table(torch.arange(5)), rows[:5])  # the small-batch path agrees


def test_tensor_train_full_rank_reconstruction_is_exact():
    matrix = np.random.default_rng(0).normal(size=(N_IDS, DIM))
    id_shape, dim_shape = (7, 7, 7), (2, 2, 2)
    table = E.TensorTrainEmbedding.from_matrix(matrix, id_shape, dim_shape)
    np.testing.assert_allclose(table(torch.arange(N_IDS)).detach().numpy(), matrix, atol=1e-5)
    truncated = E.TensorTrainEmbedding.from_matrix(matrix, id_shape, dim_shape, ranks=(2, 2))
    error = np.abs(truncated(torch.arange(N_IDS)).detach().numpy() - matrix).max()
    assert error > 1e-3 and truncated.nbytes < table.nbytes


def test_tensor_train_paths_agree():
    table = E.TensorTrainEmbedding(N_IDS, (7, 7, 7), (2, 2, 2), (3, 5), init_std=0.5,
                                   generator=torch.Generator().manual_seed(0))
    whole = table(torch.arange(N_IDS))  # a small table: rebuilt whole for a lookup
    few = table.contract(torch.tensor([0, 7, N_IDS - 1]))  # a large one's path: id by id
    torch.testing.assert_close(few, whole[[0, 7, N_IDS - 1]])
    torch.testing.assert_close(table.full_table()[:N_IDS], whole)


def test_tt_svd_matches_tensorly():
    tensorly = pytest.importorskip("tensorly")
    from tensorly.decomposition import tensor_train

    matrix = np.random.default_rng(1).normal(size=(27, 8))
    ours = E.TensorTrainEmbedding.from_matrix(matrix, (3, 3, 3), (2, 2, 2), ranks=(3, 3))
    tensor = matrix.reshape(3, 3, 3, 2, 2, 2).transpose(0, 3, 1, 4, 2, 5).reshape(6, 6, 6)
    theirs = tensorly.tt_to_tensor(tensor_train(tensor, rank=[1, 3, 3, 1]))
    theirs = theirs.reshape(3, 2, 3, 2, 3, 2).transpose(0, 2, 4, 1, 3, 5).reshape(27, 8)
    np.testing.assert_allclose(ours(torch.arange(27)).detach().numpy(), theirs, atol=1e-4)


def test_model_with_compressed_tables_trains_and_counts_its_bytes():
    user_items = sp.random(13, 19, density=0.3, format="csr", random_state=2)
    user_items.data[:] = 1
    model = models.BPRMF(rank=8, training=TrainSettings(epochs=2, validation_fraction=0.0),
                         embeddings=(E.MixedDimension(2, alpha=0.5, blocks=2), E.FrequencyAware(2)))
    model.fit(user_items)
    module = model.module_
    assert model.nbytes == module.user_embedding.nbytes + module.item_embedding.nbytes
    assert model.score(np.arange(13)).shape == (13, 19)


@pytest.mark.parametrize("compression, error, match", [
    (0.5, ValueError, "compression must be a finite number >= 1"),
    ("4", TypeError, "compression must be a number"),
    (float("inf"), ValueError, "finite"),
])
def test_bad_ratios_are_refused(compression, error, match):
    with pytest.raises(error, match=match):
        build(E.Hashing(compression))


def test_shapes_that_cannot_fit_are_refused():
    with pytest.raises(ValueError, match="QuotientRemainder cannot store 301 ids x 8 dims in 1/40"):
        build(E.QuotientRemainder(40))  # 7 rows in all: two or more parts need more
    with pytest.raises(ValueError, match="cannot store"):
        build(E.MixedDimension(40))
    with pytest.raises(ValueError, match="needs the ids' training counts"):
        E.FrequencyAware(2).build(N_IDS, DIM)
    with pytest.raises(ValueError, match="counts must be"):
        build(E.FrequencyAware(2), counts=COUNTS[:-1])
    with pytest.raises(ValueError, match="head_share"):
        build(E.FrequencyAware(2, head_share=1.5))
    with pytest.raises(ValueError, match="tail must be"):
        build(E.FrequencyAware(2, tail="bloom"))
    with pytest.raises(ValueError, match="n_ids must be"):
        E.Hashing(2).build(0, DIM)


def test_bad_ids_are_refused():
    table = build(E.QuotientRemainder(2))
    with pytest.raises(IndexError, match="maps ids 0..300; got ids from 0 to 301"):
        table(torch.tensor([0, 301]))
    with pytest.raises(TypeError, match="integer tensor of ids"):
        table(torch.tensor([0.0, 1.0]))


def test_bad_embeddings_argument_is_refused():
    user_items = sp.random(5, 6, density=0.5, format="csr", random_state=0)
    user_items.data[:] = 1
    with pytest.raises(TypeError, match="embeddings must be a table spec"):
        models.BPRMF(rank=2, embeddings="hashing").fit(user_items)


@pytest.mark.parametrize("name", SPECS)
@pytest.mark.parametrize("compression", [2, 5])
def test_nbytes_is_what_the_state_dict_stores(name, compression):
    table = build(SPECS[name](compression))
    assert table.nbytes == sum(t.numel() * t.element_size() for t in table.state_dict().values())


def test_learned_projections_are_counted_and_fit_the_budget():
    table = build(E.MixedDimension(2, alpha=0.5, blocks=3, learn_projections=True))
    stored = sum(t.numel() * t.element_size() for t in table.state_dict().values())
    assert table.nbytes == stored <= N_IDS * DIM * 4 / 2
    assert any(p.requires_grad and p.numel() for p in table.projections)


@pytest.mark.parametrize("spec", [E.QuotientRemainder(4), E.FrequencyAware(4, head_share=0.3, tail="qr")])
def test_composed_rows_are_distinct(spec):
    table = build(spec)
    rows = table(torch.arange(N_IDS)).detach().numpy()
    assert np.unique(rows.round(7), axis=0).shape[0] == N_IDS  # no two ids share an embedding


def test_large_vocabularies_use_wider_id_lists():
    n_ids = 40_000  # beyond int16
    counts = np.random.default_rng(0).zipf(1.5, n_ids).astype(float)
    table = E.FrequencyAware(64, tail="hash").build(n_ids, 4, counts)
    assert table.head_ids.dtype == torch.int32
    head = table.head_ids.long()
    torch.testing.assert_close(table(head), table.head.detach())
    mixed = E.MixedDimension(16, blocks=3).build(n_ids, 64, counts)
    block, row = mixed.rows_of(torch.arange(n_ids))
    assert len(set(zip(block.tolist(), row.tolist()))) == n_ids


def test_tt_svd_truncated_ranks_are_capped():
    matrix = np.random.default_rng(0).normal(size=(64, 4))
    table = E.TensorTrainEmbedding.from_matrix(matrix, (2, 2, 16), (1, 1, 4), ranks=(1, 3))
    assert table.ranks == (1, 2)  # r2 <= r1 n2 d2 once r1 is truncated


def test_tensor_train_cache_follows_the_cores():
    user_items = sp.random(30, 40, density=0.3, format="csr", random_state=0)
    user_items.data[:] = 1
    model = models.BPRMF(rank=8, training=TrainSettings(epochs=2, validation_fraction=0.0),
                         embeddings=E.TensorTrain(2)).fit(user_items)
    table = model.module_.item_embedding
    before = table(torch.arange(40)).detach().clone()
    copy.deepcopy(model.module_)  # copies and pickles work after training
    pickle.dumps(model.module_)
    tuned = prune.fine_tune(model, user_items, epochs=1)  # training again changes the rows
    assert not torch.equal(tuned.module_.item_embedding(torch.arange(40)), before)
    with torch.no_grad():
        table.cores[0].mul_(2)  # an in-place change invalidates the rebuilt table
    torch.testing.assert_close(table(torch.arange(40)), table.full_table()[:40])
    assert table.double()(torch.arange(3)).dtype == torch.float64


def test_specs_check_their_settings_at_one_x():
    with pytest.raises(ValueError, match="tail must be"):
        E.FrequencyAware(1, tail="bloom").build(N_IDS, DIM, COUNTS)


def test_budget_errors_have_their_own_type():
    with pytest.raises(E.BudgetError):
        build(E.QuotientRemainder(40))


@pytest.mark.parametrize("n_ids, rows", [(943, 235), (1682, 420), (36, 11), (9724, 151)])
def test_hashing_spreads_consecutive_ids_like_a_random_function(n_ids, rows):
    used = E.HashedEmbedding(n_ids, rows, 2, seed=0).row_ids(torch.arange(n_ids))[:, 0].unique().numel()
    expected = rows * (1 - (1 - 1 / rows) ** n_ids)  # rows a random function would use
    assert used >= 0.9 * expected


def test_mix32_matches_murmur3_fmix32():
    def fmix32(h):  # the reference, in Python integers
        h ^= h >> 16
        h = (h * 0x85EBCA6B) & 0xFFFFFFFF
        h ^= h >> 13
        h = (h * 0xC2B2AE35) & 0xFFFFFFFF
        return h ^ (h >> 16)

    ids = [0, 1, 2, 12345, 2**31 - 2]
    assert E.mix32(torch.tensor(ids), 77).tolist() == [fmix32(x ^ 77) for x in ids]
