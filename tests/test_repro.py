import random

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from reccompress import repro


def test_same_seed_same_draws_and_settings_applied():
    settings = repro.set_reproducible(seed=11, threads=1)
    first = (random.random(), np.random.rand(), torch.rand(2).tolist())
    repro.set_reproducible(seed=11, threads=1)
    assert (random.random(), np.random.rand(), torch.rand(2).tolist()) == first
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == 1
    assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert "seed 11, 1 thread(s)" in str(settings)


def test_rejects_zero_threads():
    with pytest.raises(ValueError, match="threads must be at least 1; got 0"):
        repro.set_reproducible(threads=0)
