"""rnnx.data.transforms: the Box-Cox likelihood and lambda against SciPy, the transforms' exact
inverses, and differencing's round trip (property tests on random series)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as sps
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnx.data import DataError
from rnnx.data.transforms import Differencing, Preprocessing, Transform, boxcox_lambda, boxcox_llf


def _samples():
    rng = np.random.default_rng(31)
    out = [rng.lognormal(rng.normal(), rng.uniform(0.1, 1.5), size=int(rng.integers(10, 400))) for _ in range(12)]
    out += [rng.gamma(2.0, 3.0, size=300), np.abs(rng.normal(100.0, 5.0, size=200)), rng.uniform(1e-3, 1.0, 50),
            1e6 * rng.lognormal(0.0, 0.3, 120), np.array([1.0, 2.0, 5.0]), np.arange(1.0, 145.0)]
    return out


@pytest.mark.parametrize("x", _samples(), ids=lambda x: f"n{x.size}")
def test_boxcox_matches_scipy(x):
    lam = boxcox_lambda(x)
    assert lam == pytest.approx(sps.boxcox_normmax(x, method="mle"), abs=1e-6)
    for grid_lam in (-1.5, -0.3, 0.0, 0.5, 2.0, lam):
        assert boxcox_llf(grid_lam, x) == pytest.approx(sps.boxcox_llf(grid_lam, x), rel=1e-10, abs=1e-10)
    # near 0 SciPy's llf loses digits (1e-8 relative at 1e-9, checked against 50-digit mpmath); ours is
    # continuous into its lambda = 0 limit: the derivative there is O(n sum(ln v)**2), so 1e-9 moves it little
    assert boxcox_llf(1e-9, x) == pytest.approx(boxcox_llf(0.0, x), rel=1e-6, abs=1e-6)
    t = Transform("boxcox").fit(x)
    assert t.lmbda == lam
    y = t.forward(x)
    np.testing.assert_allclose(y, sps.boxcox(x, lmbda=lam), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(t.inverse(y), x, rtol=1e-12)


def test_boxcox_lambda_is_the_bounded_maximum():
    x = np.exp(np.linspace(0.0, 3.0, 40))  # log-uniform: lambda near 0
    lam = boxcox_lambda(x)
    for step in (1e-4, -1e-4):
        assert boxcox_llf(lam, x) >= boxcox_llf(lam + step, x)
    skewed = np.exp(np.exp(np.linspace(0.0, 2.5, 60)))  # its unbounded maximum is near -0.17
    assert sps.boxcox_normmax(skewed, method="mle") < 0.0
    assert boxcox_lambda(skewed, bounds=(0.5, 2.0)) == pytest.approx(0.5, abs=1e-9)
    assert boxcox_lambda(skewed, bounds=(-3.0, -1.0)) == pytest.approx(-1.0, abs=1e-9)
    with pytest.raises(DataError, match=r"^bounds: expected finite \(low, high\) with low < high, got \(1.0, 1.0\)$"):
        boxcox_lambda(skewed, bounds=(1.0, 1.0))


@pytest.mark.parametrize("t", [Transform("none"), Transform("log"), Transform("boxcox", 0.0),
                               Transform("boxcox", 0.37), Transform("boxcox", -1.2)], ids=repr)
def test_transform_inverse_is_exact(t):
    x = np.random.default_rng(5).lognormal(2.0, 1.0, size=(7, 9))
    y = t.fit(x[0]).forward(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(t.inverse(y), x, rtol=1e-13)
    if t.kind == "log":
        np.testing.assert_array_equal(y, np.log(x))
    assert Transform.from_json(t.to_json()) == t


def test_transform_refusals_name_the_argument_and_row():
    with pytest.raises(DataError, match=r"^train: row 7 is -2.0; expected values > 0 for the log transform$"):
        Transform("log").fit([1.0, 3.0, -2.0, 0.0], rows=[5, 6, 7, 8])
    with pytest.raises(DataError, match=r"^values: position 1 is 0.0; expected values > 0 for the Box-Cox"):
        Transform("boxcox", 0.5).forward([1.0, 0.0])
    with pytest.raises(DataError, match=r"^train: position 2 is nan; expected finite numbers$"):
        Transform("none").fit([1.0, 2.0, float("nan")])
    with pytest.raises(DataError, match=r"^transform: expected one of none, log, boxcox, got 'sqrt'$"):
        Transform("sqrt")
    with pytest.raises(DataError, match=r"^transform: the Box-Cox lambda is not fitted"):
        Transform("boxcox").forward([1.0])
    with pytest.raises(DataError, match=r"^values: expected at least 2 values that are not all equal"):
        Transform("boxcox").fit([3.0, 3.0, 3.0])
    with pytest.raises(DataError, match=r"^values: position 1 is 3.0, beyond the Box-Cox range of lambda -0.5; "
                                        r"expected values < 2$"):
        Transform("boxcox", -0.5).inverse([1.0, 3.0])
    with pytest.raises(DataError, match=r"^values: position 0 is 800.0, whose level is beyond float64; expected "
                                        r"values the log inverse can take$"):
        Transform("log").inverse([800.0, 1.0])
    with pytest.raises(DataError, match=r"^lmbda: expected a finite number, got inf$"):
        Transform("boxcox", float("inf"))
    with pytest.raises(DataError, match=r"^lmbda: only the boxcox transform has a lambda"):
        Transform("log", 0.5)
    with pytest.raises(DataError, match=r"^state: expected"):
        Transform.from_json({"kind": "log"})


@settings(max_examples=80, deadline=None)
@given(lam=st.floats(-2.0, 2.0), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 50),
       decades=st.floats(-2.0, 2.0))
def test_boxcox_round_trip(lam, seed, n, decades):
    v = 10.0 ** (decades + np.random.default_rng(seed).uniform(-1.0, 1.0, n))  # 1e-3 .. 1e3
    t = Transform("boxcox", lam)
    back = t.inverse(t.forward(v))
    assert np.all(np.abs(back - v) <= 1e-12 * v * (1.0 + v ** -lam))


def test_differencing_kinds():
    y = np.arange(30.0) ** 2
    assert Differencing.of("none").lags == () and Differencing.of("first").lags == (1,)
    assert Differencing.of("seasonal", 12).lags == (12,) and Differencing.of("both", 4).lags == (1, 4)
    np.testing.assert_array_equal(Differencing.of("first").forward(y), np.diff(y))
    np.testing.assert_array_equal(Differencing.of("seasonal", 4).forward(y), y[4:] - y[:-4])
    both = y[5:] - y[4:-1] - y[1:-4] + y[:-5]
    np.testing.assert_array_equal(Differencing.of("both", 4).forward(y), both)
    np.testing.assert_array_equal(Differencing.of("none").forward(y), y)
    assert Differencing.of("both", 12).order == 13


def test_differencing_refusals():
    with pytest.raises(DataError, match=r"^difference: expected one of none, first, seasonal, both, got 'second'$"):
        Differencing.of("second")
    with pytest.raises(DataError, match=r"^period: seasonal differencing needs the seasonal period, got None$"):
        Differencing.of("seasonal")
    with pytest.raises(DataError, match=r"^period: expected a positive whole number of steps, got 0$"):
        Differencing.of("both", 0)
    with pytest.raises(DataError, match=r"^period: only seasonal differencing has a period"):
        Differencing.of("first", 12)
    with pytest.raises(DataError, match=r"^values: differencing with lags \(1, 4\) needs more than 5 values"):
        Differencing.of("both", 4).forward(np.ones(5))
    with pytest.raises(DataError, match=r"^history: expected at least 5 values along the last axis"):
        Differencing.of("both", 4).inverse(np.ones(3), np.ones(4))


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["none", "first", "seasonal", "both"]), period=st.integers(1, 13),
       n=st.integers(0, 80), h=st.integers(1, 30), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([1e-3, 1.0, 1e4]), walk=st.booleans())
def test_differencing_round_trip(kind, period, n, h, seed, scale, walk):
    d = Differencing.of(kind, None if kind in ("none", "first") else period)
    rng = np.random.default_rng(seed)
    y = scale * rng.normal(size=d.order + n + h)
    if walk:
        y = np.cumsum(y)
    diffs = d.forward(y)
    back = d.inverse(diffs[diffs.size - h:], y[: y.size - h])
    assert back.shape == (h,)
    assert np.max(np.abs(back - y[y.size - h:])) <= 1e-12 * max(1.0, float(np.max(np.abs(y))))
    whole = d.inverse(diffs, y[: d.order])  # the whole series from its first K values
    assert np.max(np.abs(whole - y[d.order:])) <= 1e-12 * max(1.0, float(np.max(np.abs(y))))


def test_differencing_inverse_per_row_history():
    rng = np.random.default_rng(2)
    y = np.cumsum(rng.normal(size=(6, 50)), axis=1)
    d = Differencing.of("both", 7)
    back = d.inverse(d.forward(y)[:, -8:], y[:, :-8])
    np.testing.assert_allclose(back, y[:, -8:], rtol=0, atol=1e-12)
    one = d.inverse(d.forward(y[0])[-8:][None, :].repeat(3, axis=0), y[0, :-8])  # one history, 3 rows
    np.testing.assert_allclose(one, np.broadcast_to(y[0, -8:], (3, 8)), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("transform", "difference"), [("none", "none"), ("log", "first"), ("boxcox", "seasonal"),
                                                       ("boxcox", "both"), ("log", "none")])
def test_preprocessing_chain_and_its_inverse(transform, difference):
    rng = np.random.default_rng(4)
    t = np.arange(120)
    v = (50 + t) * (1.2 + 0.3 * np.sin(2 * np.pi * t / 12)) * np.exp(rng.normal(0, 0.02, t.size))
    train = v[:96]
    p = Preprocessing.fit(train, transform, difference, None if difference in ("none", "first") else 12)
    tr = Transform(transform).fit(train)
    diffs = p.differencing.forward(tr.forward(train))
    assert p.transform == tr and p.mean == pytest.approx(diffs.mean(), rel=1e-12)
    assert p.std == pytest.approx(diffs.std(), rel=1e-12)
    z = p.forward(v)
    np.testing.assert_allclose(z, (p.differencing.forward(tr.forward(v)) - p.mean) / p.std, rtol=1e-15)
    assert z[: diffs.size].mean() == pytest.approx(0.0, abs=1e-12)
    back = p.inverse(z[z.size - 24:], v[:96])  # the last 24 levels from their z and the history before them
    np.testing.assert_allclose(back, v[96:], rtol=1e-12)
    rows = np.stack([v[o - 30:o] for o in (60, 70, 80)])  # one history per row
    zs = np.stack([z[o - p.differencing.order:o - p.differencing.order + 5] for o in (60, 70, 80)])
    np.testing.assert_allclose(p.inverse(zs, rows), np.stack([v[o:o + 5] for o in (60, 70, 80)]), rtol=1e-12)
    assert Preprocessing.from_json(p.to_json()) == p
    assert Preprocessing.fit(train, transform, difference, None if difference in ("none", "first") else 12,
                             scale=False).std == 1.0


def test_preprocessing_refusals():
    with pytest.raises(DataError, match=r"^train: row 3 is 0.0; expected values > 0 for the log transform$"):
        Preprocessing.fit([1.0, 2.0, 0.0], "log", rows=[1, 2, 3])
    with pytest.raises(DataError, match=r"^values: differencing with lags \(12,\) needs more than 12 values"):
        Preprocessing.fit(np.ones(12), "none", "seasonal", 12)
    with pytest.raises(DataError, match=r"^state: expected"):
        Preprocessing.from_json({"transform": {"kind": "none", "lambda": None}, "lags": [], "mean": 0.0, "std": 0})
