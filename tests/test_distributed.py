"""Data parallel on a JAX mesh (issue 19): rnnx's forward and explicit BPTT inside
``jax.shard_map`` over a batch-sharded mesh of 4 forced host devices, gradients averaged by
``lax.pmean``, equal one device to <= 1e-13 (float64), and the compiled program's only
collectives are all-reduces (no all-gather, all-to-all, collective-permute or
reduce-scatter).  Each case runs in a fresh process (the device count is fixed when JAX
starts): one case by default (2 layers, bidirectional, lengths), all of them with ``RNNX_DISTRIBUTED=full``
(``python -m pytest -m distributed``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")

SCRIPT = Path(__file__).parent / "distributed" / "shard_map_grads.py"
FULL = os.environ.get("RNNX_DISTRIBUTED") == "full"


@pytest.mark.distributed
def test_shard_map_gradients_equal_one_device_with_all_reduces_only():
    cases = [] if FULL else ["lstm-L2-bi-lengths"]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    r = subprocess.run([sys.executable, str(SCRIPT), *cases], capture_output=True, text=True, env=env, timeout=300,
                       cwd=Path(__file__).parent.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == (5 if FULL else 1), r.stdout
    for row in rows:
        assert row["loss"] <= 1e-13 and row["grads"] <= 1e-13 * max(1.0, row["scale"]), row
        c = row["collectives"]
        assert c["all-reduce"] >= 1 and all(c[k] == 0 for k in c if k != "all-reduce"), row
