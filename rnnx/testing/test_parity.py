"""rnnx's parity rows, one test each, on the namespace ``--xp`` names
(:mod:`rnnx.testing.pytest_plugin`): ``python -m pytest --pyargs rnnx.testing --xp MODULE``."""

from __future__ import annotations

import pytest

from rnnx.testing.pytest_plugin import failure, run_row


def test_parity_row(parity_row):
    """One cell variant x dtype x device: forward + BPTT over the battery against the float64
    NumPy reference (and torch.nn in float64, where torch is installed)."""
    record = run_row(parity_row)
    if not record["pass"]:
        pytest.fail(f"{record['target']} {record['dtype']} {record['cell']}: {failure(record)}", pytrace=False)
