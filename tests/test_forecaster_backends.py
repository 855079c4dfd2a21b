"""rnnx.Forecaster gives the same forecast on every backend (issue 31 item 4): a small model
(hidden 4, 3 epochs, no transform, first differences, float64) fitted on NumPy, JAX, torch and
array-api-strict (on its non-default device) forecasts the same values to 1e-10; a backend
that is not installed is skipped with its own reason (:func:`rnnx.backends.selected`)."""

from __future__ import annotations

import numpy as np
import pytest

import rnnx
from rnnx import backends

SMALL = {"hidden": 4, "epochs": 3, "patience": 2, "batch_size": 16, "transform": "none", "difference": "first",
         "dtype": "float64"}


def _first_target(backend: str):
    """The backend's first (CPU, or array-api-strict's device1) target, as a pytest param."""
    t = next(t for t in backends.selected() if t.backend == backend)
    reason = t.unavailable()
    marks = [pytest.mark.skip(reason=f"{t.id} unavailable: {reason}")] if reason else []
    return pytest.param(t, id=t.id, marks=marks)


def _series(n: int = 60) -> tuple[np.ndarray, list[str]]:
    """A trending monthly series with a season of 12 and noise, labelled 2001-01, 2001-02, ..."""
    rng = np.random.default_rng(7)
    t = np.arange(n)
    y = 20 + 0.3 * t + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.3, n)
    return y, [f"{2001 + i // 12}-{i % 12 + 1:02d}" for i in range(n)]


_FITTED: list = []


def _numpy_fitted() -> rnnx.Forecaster:
    """The NumPy reference, fitted once."""
    if not _FITTED:
        y, labels = _series()
        _FITTED.append(rnnx.Forecaster(3, **SMALL).fit(y, time=labels))
    return _FITTED[0]


@pytest.fixture(scope="module")
def numpy_forecast() -> dict:
    return _numpy_fitted().predict()


@pytest.mark.parametrize("target", [_first_target(b) for b in ("jax", "torch", "array_api_strict")])
def test_forecaster_on_each_backend_equals_numpy(target, numpy_forecast):
    y, labels = _series()
    f = rnnx.Forecaster(3, backend=target.backend, device=target.device, **SMALL).fit(y, time=labels)
    got = f.predict()
    assert got["time"] == numpy_forecast["time"] == ["2006-01", "2006-02", "2006-03"]
    assert [(c["transform"], c["difference"], c["strategy"]) for c in f.search_] == [
        ("none", "first", "direct"), ("none", "first", "recursive")]  # one preprocessing, both strategies
    assert [c["val_rmse"] for c in f.search_] == pytest.approx([c["val_rmse"] for c in _numpy_fitted().search_],
                                                               rel=1e-10)
    for key, ref in numpy_forecast.items():
        if key == "time":
            continue
        assert len(got[key]) == 3
        diff = np.max(np.abs(np.asarray(got[key]) - np.asarray(ref)))
        assert diff <= 1e-10, (target.id, key, diff, got[key], ref)
    assert np.all(np.isfinite(got["forecast"]))
    assert np.max(np.abs(f.residuals_ - np.asarray(_numpy_fitted().residuals_))) <= 1e-10
