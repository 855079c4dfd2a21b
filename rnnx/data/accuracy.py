"""Forecast accuracy on the host, in the target's own levels: MAE, RMSE, MAPE, sMAPE and MASE, and
split-conformal prediction intervals from validation residuals per horizon step; NumPy (imported
inside functions).

``actual`` and ``forecast`` are (H,) (one forecast of H steps) or (N, H) (N forecasts, e.g. one
per test window); every metric averages over all N*H forecasts.  Bad input is one
:class:`rnnx.data.DataError` (a ValueError) whose message starts with the argument, says what it
got and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from rnnx.data import DataError

__all__ = ["ACCURACY_METRICS", "mae", "rmse", "mape", "smape", "naive_scale", "mase", "accuracy",
           "INTERVAL_LEVELS", "conformal_quantile", "conformal_intervals"]

#: The keys of :func:`accuracy`'s dict, in order.
ACCURACY_METRICS = ("mae", "rmse", "mape", "smape", "mase")
#: The coverage levels of :func:`conformal_intervals` by default (80% and 95%).
INTERVAL_LEVELS = (0.8, 0.95)


def _array(arg: str, values: Any, ndims: tuple[int, ...]) -> Any:
    """``values`` as a non-empty float64 array with one of ``ndims`` dimensions, every value finite."""
    import numpy as np

    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{arg}: expected an array of numbers, got {type(values).__name__}") from None
    if a.ndim not in ndims or a.size == 0:
        shapes = " or ".join({1: "(H,)", 2: "(N, H)"}[d] for d in ndims)
        raise DataError(f"{arg}: expected a non-empty array of shape {shapes}, got shape {tuple(a.shape)}")
    bad = np.argwhere(~np.isfinite(a))
    if bad.size:
        raise DataError(f"{arg}: {_at(tuple(bad[0]))} is {float(a[tuple(bad[0])])!r}; expected finite numbers")
    return a


def _at(index: tuple[int, ...]) -> str:
    """``step j`` of a (H,) array, ``row i, step j`` of an (N, H) one (0-based)."""
    return f"step {index[0]}" if len(index) == 1 else f"row {index[0]}, step {index[1]}"


def _pair(actual: Any, forecast: Any) -> tuple[Any, Any]:
    """``actual`` and ``forecast`` as float64 arrays of one shape, (H,) or (N, H)."""
    a = _array("actual", actual, (1, 2))
    f = _array("forecast", forecast, (1, 2))
    if a.shape != f.shape:
        raise DataError(f"forecast: expected the shape of actual {tuple(a.shape)}, got {tuple(f.shape)}")
    return a, f


def mae(actual: Any, forecast: Any) -> float:
    """Mean absolute error ``mean(|a - f|)``."""
    import numpy as np

    a, f = _pair(actual, forecast)
    return float(np.mean(np.abs(a - f)))


def rmse(actual: Any, forecast: Any) -> float:
    """Root mean squared error ``sqrt(mean((a - f)**2))`` (over all N*H forecasts together)."""
    import numpy as np

    a, f = _pair(actual, forecast)
    return math.sqrt(float(np.mean((a - f) ** 2)))


def mape(actual: Any, forecast: Any) -> float:
    """Mean absolute percentage error, in percent: ``100 * mean(|a - f| / |a|)``.  An actual equal to
    0 has no percentage error: refused, naming the first (:func:`accuracy` reports None instead)."""
    import numpy as np

    a, f = _pair(actual, forecast)
    zero = np.argwhere(a == 0)
    if zero.size:
        raise DataError(f"actual: {_at(tuple(zero[0]))} is 0; MAPE expected actual values other than 0 "
                        "(use sMAPE or MASE)")
    return 100 * float(np.mean(np.abs(a - f) / np.abs(a)))


def smape(actual: Any, forecast: Any) -> float:
    """Symmetric MAPE, in percent on the 0-200 scale: ``100 * mean(2 |a - f| / (|a| + |f|))``; a term with
    ``a = f = 0`` (a perfect forecast of 0) counts 0.  (The statsforecast / sktime ``symmetric=True``
    convention, times 100; 200 is a forecast of the opposite sign or a 0 against a non-zero.)"""
    import numpy as np

    a, f = _pair(actual, forecast)
    den = np.abs(a) + np.abs(f)
    return 100 * float(np.mean(np.where(den > 0, 2 * np.abs(a - f) / np.where(den > 0, den, 1.0), 0.0)))


def _period(m: Any) -> int:
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise DataError(f"m: expected the seasonal period, a whole number >= 1, got {m!r}")
    return m


def _scale(train: Any, m: Any) -> float:
    """``mean(|y_t - y_{t-m}|)`` over ``t = m .. n-1`` of the checked training series (0 allowed)."""
    import numpy as np

    y = _array("train", train, (1,))
    m = _period(m)
    if y.size <= m:
        raise DataError(f"train: expected more than m={m} values for the seasonal-naive scale, got {y.size}")
    return float(np.mean(np.abs(y[m:] - y[:-m])))


def naive_scale(train: Any, m: int = 1) -> float:
    """The in-sample MAE of the seasonal-naive forecast on the training series ``train`` (n,), the
    MASE denominator: ``mean(|y_t - y_{t-m}|)`` over ``t = m .. n-1`` (m = 1: the naive forecast).
    Needs n > m; a scale of 0 (a constant, or exactly m-periodic, training series) is refused."""
    scale = _scale(train, m)
    if scale == 0:
        raise DataError(f"train: the seasonal-naive (m={m}) in-sample MAE is 0 (the training series repeats "
                        "exactly); expected a series the naive forecast gets wrong somewhere, MASE is undefined")
    return scale


def mase(actual: Any, forecast: Any, train: Any, m: int = 1) -> float:
    """Mean absolute scaled error: ``mae(actual, forecast) / naive_scale(train, m)``; below 1 the
    forecast beats the seasonal-naive one's in-sample error."""
    return mae(actual, forecast) / naive_scale(train, m)


def accuracy(actual: Any, forecast: Any, train: Any, m: int = 1) -> dict[str, float | None]:
    """All of :data:`ACCURACY_METRICS` for ``actual`` and ``forecast`` ((H,) or (N, H)), the training
    series ``train`` (n,) and the seasonal period ``m``: ``{"mae", "rmse", "mape", "smape", "mase"}``.
    MAPE is None when an actual is 0 and MASE None when the training series' seasonal-naive MAE is
    0 (each undefined there; :func:`mape` and :func:`mase` refuse those cases)."""
    import numpy as np

    a, f = _pair(actual, forecast)
    scale = _scale(train, m)
    err = mae(a, f)
    return {"mae": err, "rmse": rmse(a, f), "mape": None if np.any(a == 0) else mape(a, f), "smape": smape(a, f),
            "mase": err / scale if scale > 0 else None}


def _level(level: Any) -> Fraction:
    """A coverage level in (0, 1) as the exact fraction it is written as (0.95 -> 19/20)."""
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise DataError(f"level: expected a coverage between 0 and 1 such as 0.8 or 0.95, got {level!r}")
    return Fraction(repr(float(level)))


def conformal_quantile(residuals: Any, level: float) -> Any:
    """The split-conformal half-width per horizon step (H,) for coverage ``level`` = 1 - alpha, from
    the validation residuals ``residuals`` (N, H) (actual - forecast, one row per validation forecast):
    with scores ``|r|``, ``q_h`` is the ``k``-th smallest ``|r[:, h]|``, ``k = ceil((N + 1) level)``
    (the ``k/N`` empirical quantile).  For exchangeable residuals a new forecast's error at step h lies
    in ``[-q_h, q_h]`` with probability at least ``level`` (and below ``level + 1/(N + 1)``).  N must
    give ``k <= N`` (N >= 4 for 0.8, N >= 19 for 0.95), else no finite interval: refused."""
    import numpy as np

    r = _array("residuals", residuals, (2,))
    lev = _level(level)
    n = r.shape[0]
    k = math.ceil((n + 1) * lev)
    if k > n:
        need = math.ceil(lev / (1 - lev))  # the least N with ceil((N+1) lev) <= N
        raise DataError(f"residuals: {n} validation forecast{'s' if n != 1 else ''} give no finite "
                        f"{float(lev):g} interval; expected at least {need} rows (N, H)")
    return np.sort(np.abs(r), axis=0)[k - 1]


def conformal_intervals(forecast: Any, residuals: Any,
                        levels: Sequence[float] = INTERVAL_LEVELS) -> dict[float, tuple[Any, Any]]:
    """Prediction intervals ``{level: (lower, upper)}`` around ``forecast`` ((H,) or (M, H)):
    ``forecast -/+ conformal_quantile(residuals, level)`` per horizon step, for each of ``levels``
    (default 80% and 95%).  The residuals and the forecast must be in the same space; an interval
    found in a transformed space (log, Box-Cox) keeps its coverage when both ends are inverted, as
    the transforms are increasing."""
    f = _array("forecast", forecast, (1, 2))
    r = _array("residuals", residuals, (2,))
    if r.shape[1] != f.shape[-1]:
        raise DataError(f"residuals: expected {f.shape[-1]} columns (one per horizon step of the forecast), "
                        f"got shape {tuple(r.shape)}")
    out = {}
    for level in levels:
        q = conformal_quantile(r, level)
        out[level] = (f - q, f + q)
    return out
