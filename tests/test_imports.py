"""Importing the data side of the library must stay cheap: no torch."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "statement",
    [
        "import reccompress",
        "import reccompress.data",
        "from reccompress import data, metrics, splits",
        "from reccompress import storage, report, measure, synthetic, svd, tuning, compare, presets, frontier",
        "from reccompress.models import EASE, PureSVD, ItemKNN, MostPopular, ImplicitALS",
        "from reccompress.compress import sparse, lowrank",
    ],
)
def test_importing_the_numpy_side_does_not_import_torch(statement):
    code = f"{statement}\nimport sys\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", f"{statement!r} imported torch"


def test_the_neural_models_load_on_first_use():
    code = "from reccompress import models\nimport sys\nmodels.BPRMF\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"
