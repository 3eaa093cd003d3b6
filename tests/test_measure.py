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
