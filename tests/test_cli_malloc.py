"""Where the ``rnnx`` command tunes glibc's malloc (:func:`rnnx.backends.malloc.tune`):
only for a run on a backend it helps (NumPy, torch, CuPy), decided once the run's backend is
known; never for JAX, whose small compiled updates it slows (issue 29, item 5;
docs/performance.md), nor for a command that runs no backend."""

from __future__ import annotations

import math

import pytest

from rnnx.backends import Target, malloc
from rnnx.cli import main


@pytest.fixture
def calls(monkeypatch):
    seen: list[int] = []
    monkeypatch.setattr(malloc, "tune", lambda: seen.append(1) or "counted")
    return seen


@pytest.fixture
def series_csv(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("t,value\n" + "".join(f"{i},{math.sin(0.2 * i)}\n" for i in range(120)))
    return p


def _train(tmp_path, series_csv, backend: str, name: str) -> int:
    return main(["train", "--csv", str(series_csv), "--column", "value", "--window", "8", "--hidden", "4",
                 "--epochs", "1", "--backend", backend, "--quiet", "--out", str(tmp_path / name)])


def test_a_numpy_run_tunes_malloc_once(tmp_path, series_csv, calls, capsys):
    assert _train(tmp_path, series_csv, "numpy", "np") == 0, capsys.readouterr().err
    assert len(calls) == 1


@pytest.mark.skipif(bool(Target("jax", "cpu").unavailable()), reason="JAX not installed")
def test_a_jax_run_leaves_malloc_alone(tmp_path, series_csv, calls, capsys):
    assert _train(tmp_path, series_csv, "jax", "jx") == 0, capsys.readouterr().err
    assert calls == []
    # a resumed JAX run (its backend read from the run's record) leaves it alone too
    assert main(["train", "--resume", str(tmp_path / "jx"), "--epochs", "2", "--quiet"]) == 0, capsys.readouterr().err
    assert calls == []


def test_a_command_without_a_backend_leaves_malloc_alone(calls, capsys):
    assert main(["backends"]) == 0
    assert calls == []
