"""rnnx.data.accuracy: MAE, RMSE, MAPE, sMAPE and MASE against sktime's forecasting metrics, the
refusals, and split-conformal intervals (the exact quantile, and coverage on i.i.d. noise)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sktime.performance_metrics.forecasting import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_absolute_scaled_error,
    mean_squared_error,
)

from rnnx.data import DataError
from rnnx.data.accuracy import (
    ACCURACY_METRICS,
    accuracy,
    conformal_intervals,
    conformal_quantile,
    mae,
    mape,
    mase,
    naive_scale,
    rmse,
    smape,
)


def _case(seed: int, h: int, m: int):
    rng = np.random.default_rng(seed)
    t = np.arange(120 + h)
    y = 50 + 0.3 * t + 10 * np.sin(2 * np.pi * t / max(m, 2)) + rng.normal(0, 2, t.size)
    return y[:120], y[120:], y[120:] + rng.normal(0, 3, h)


@pytest.mark.parametrize(("seed", "h", "m"), [(0, 1, 1), (1, 6, 1), (2, 12, 4), (3, 24, 12), (4, 7, 7), (5, 3, 52)])
def test_metrics_match_sktime(seed, h, m):
    train, actual, forecast = _case(seed, h, m)
    got = accuracy(actual, forecast, train, m)
    assert tuple(got) == ACCURACY_METRICS
    assert got["mae"] == pytest.approx(mean_absolute_error(actual, forecast), rel=1e-12)
    assert got["rmse"] == pytest.approx(mean_squared_error(actual, forecast, square_root=True), rel=1e-12)
    assert got["mape"] == pytest.approx(100 * mean_absolute_percentage_error(actual, forecast), rel=1e-12)
    assert got["smape"] == pytest.approx(100 * mean_absolute_percentage_error(actual, forecast, symmetric=True),
                                         rel=1e-12)
    assert got["mase"] == pytest.approx(mean_absolute_scaled_error(actual, forecast, y_train=train, sp=m), rel=1e-12)
    assert (mae(actual, forecast), rmse(actual, forecast), mape(actual, forecast), smape(actual, forecast),
            mase(actual, forecast, train, m)) == tuple(got.values())


def test_many_forecasts_average_over_every_step():
    rng = np.random.default_rng(9)
    a, f, train = rng.normal(5, 1, (8, 4)), rng.normal(5, 1, (8, 4)), rng.normal(0, 1, 40)
    both = accuracy(a, f, train, 3)
    flat = accuracy(a.ravel(), f.ravel(), train, 3)
    assert both == pytest.approx(flat, rel=1e-15)
    assert both["rmse"] == pytest.approx(math.sqrt(np.mean((a - f) ** 2)), rel=1e-15)
    assert both["mase"] == pytest.approx(np.mean(np.abs(a - f)) / np.mean(np.abs(train[3:] - train[:-3])), rel=1e-15)


def test_smape_convention_and_zeros():
    assert smape([1.0, 0.0], [-1.0, 0.0]) == pytest.approx(100.0)  # opposite sign: 200; 0 against 0: 0
    assert smape([0.0], [3.0]) == pytest.approx(200.0)
    assert smape([2.0], [2.0]) == 0.0
    got = accuracy([0.0, 2.0], [1.0, 2.0], [1.0, 2.0, 4.0])
    assert got["mape"] is None and got["smape"] == pytest.approx(100.0)
    assert accuracy([1.0], [2.0], [3.0, 3.0, 3.0])["mase"] is None  # a constant training series


def test_refusals_name_the_argument():
    with pytest.raises(DataError, match=r"^actual: row 1, step 2 is 0; MAPE expected actual values other than 0"):
        mape([[1.0, 2.0, 3.0], [1.0, 1.0, 0.0]], np.ones((2, 3)))
    with pytest.raises(DataError, match=r"^forecast: expected the shape of actual \(3,\), got \(4,\)$"):
        mae([1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(DataError, match=r"^actual: step 1 is nan; expected finite numbers$"):
        rmse([1.0, float("nan")], [1.0, 1.0])
    with pytest.raises(DataError, match=r"^actual: expected a non-empty array of shape \(H,\) or \(N, H\), got shape "
                                        r"\(1, 1, 1\)$"):
        mae(np.ones((1, 1, 1)), np.ones((1, 1, 1)))
    with pytest.raises(DataError, match=r"^train: the seasonal-naive \(m=2\) in-sample MAE is 0"):
        naive_scale([1.0, 5.0, 1.0, 5.0], 2)
    with pytest.raises(DataError, match=r"^train: expected more than m=12 values for the seasonal-naive scale, got 12$"):
        accuracy([1.0], [1.0], np.arange(12.0), 12)
    with pytest.raises(DataError, match=r"^m: expected the seasonal period, a whole number >= 1, got 0$"):
        mase([1.0], [1.0], [1.0, 2.0], 0)


def test_conformal_quantile_is_the_k_th_smallest_score():
    r = np.array([[-1.0, 10.0], [2.0, -20.0], [-3.0, 30.0], [4.0, -40.0]])
    np.testing.assert_array_equal(conformal_quantile(r, 0.8), [4.0, 40.0])  # k = ceil(5 * 0.8) = 4
    r = np.arange(1.0, 20.0)[::-1, None] * np.array([1.0, -2.0])  # N = 19
    np.testing.assert_array_equal(conformal_quantile(r, 0.95), [19.0, 38.0])  # k = 19
    np.testing.assert_array_equal(conformal_quantile(r, 0.8), [16.0, 32.0])  # k = ceil(20 * 0.8) = 16
    np.testing.assert_array_equal(conformal_quantile(r, 0.5), [10.0, 20.0])
    out = conformal_intervals(np.array([[100.0, 200.0]]), r)
    assert set(out) == {0.8, 0.95}
    np.testing.assert_array_equal(out[0.95][0], [[81.0, 162.0]])
    np.testing.assert_array_equal(out[0.95][1], [[119.0, 238.0]])


def test_conformal_refusals():
    with pytest.raises(DataError, match=r"^residuals: 18 validation forecasts give no finite 0.95 interval; expected "
                                        r"at least 19 rows \(N, H\)$"):
        conformal_quantile(np.ones((18, 2)), 0.95)
    conformal_quantile(np.ones((4, 2)), 0.8)
    with pytest.raises(DataError, match=r"^residuals: 3 validation forecasts give no finite 0.8 interval; expected "
                                        r"at least 4 rows"):
        conformal_quantile(np.ones((3, 2)), 0.8)
    with pytest.raises(DataError, match=r"^level: expected a coverage between 0 and 1 such as 0.8 or 0.95, got 95$"):
        conformal_quantile(np.ones((30, 2)), 95)
    with pytest.raises(DataError, match=r"^residuals: expected 3 columns \(one per horizon step of the forecast\), got "
                                        r"shape \(30, 2\)$"):
        conformal_intervals(np.ones(3), np.ones((30, 2)))
    with pytest.raises(DataError, match=r"^residuals: expected a non-empty array of shape \(N, H\), got shape \(30,\)$"):
        conformal_intervals(np.ones(3), np.ones(30))


@pytest.mark.parametrize("noise", ["normal", "student-t", "uniform"])
def test_conformal_coverage_on_iid_noise(noise):
    """For exchangeable errors the coverage of a new point, averaged over calibration sets, is exactly
    ceil((N+1) level) / (N+1): with N = 19, 16/20 = 0.8 and 19/20 = 0.95.  400 seeded trials of 19
    calibration residuals and 25 new points per step, 2 steps: 20,000 covered-or-not counts."""
    rng = np.random.default_rng(31)
    draw = {"normal": lambda s: rng.normal(0.0, 1.0, s), "student-t": lambda s: rng.standard_t(3, s),
            "uniform": lambda s: rng.uniform(-1.0, 1.0, s)}[noise]
    covered = {0.8: 0, 0.95: 0}
    total = 0
    for _ in range(400):
        forecast = rng.normal(0.0, 5.0, (25, 2))
        new = forecast + draw((25, 2))  # the actuals of 25 new forecasts
        for level, (lo, hi) in conformal_intervals(forecast, draw((19, 2))).items():
            covered[level] += int(np.sum((lo <= new) & (new <= hi)))
        total += new.size
    for level, count in covered.items():
        assert abs(count / total - level) < 0.02, (level, count / total)
    big = conformal_intervals(np.zeros(3), draw((999, 3)), levels=(0.9,))[0.9]
    hits = (big[0] <= (x := draw((5000, 3)))) & (x <= big[1])
    assert abs(hits.mean() - 0.9) < 0.02
