r"""Forecasting one series: an RNN that outputs the next ``H`` values at once (direct
multi-step) or one value applied ``H`` times (recursive), its preprocessing chosen on a validation part, conformal prediction intervals,
dated outputs and rolling-origin backtests -- the sktime / Darts habit
(``Forecaster(horizon).fit(y).predict()``).  Host-side NumPy (imported inside functions) around
the one engine (:func:`rnnx.fit`).

**Fit** on levels :math:`y_0 \dots y_{n-1}` with horizon :math:`H`:

1. The seasonal period :math:`m`: ``period``, else the time labels' calendar
   (:func:`rnnx.data.calendar.infer_calendar`: 12 monthly, 4 quarterly, 7 daily, ...), else 1.
2. Validation: the last :math:`V = H + N_v - 1` observations, so that the :math:`N_v`
   (``validation``) origins :math:`o = n - V, \dots, n - H` each forecast :math:`y_{o:o+H}` from
   :math:`y_{:o}`.
3. Each candidate preprocessing (transform none / log / Box-Cox times differencing none /
   first / seasonal / both; "auto" tries those the data allow) is fitted on :math:`y_{:n-V}`:
   :math:`z = (D(T(y)) - \mu) / \sigma` (:class:`rnnx.data.transforms.Preprocessing`).  The
   model reads windows of :math:`W` steps, each step :math:`[z_t, c_t]` with :math:`c_t` the
   calendar features of its date (sine and cosine of its phase in the season), and outputs
   :math:`\hat z_{t+1..t+H}` (many-to-one, ``H`` outputs), trained on MSE with early stopping on
   the validation windows.  Its score: the RMSE of the level forecasts
   :math:`T^{-1}(D^{-1}(\hat z \sigma + \mu))` over the validation origins.
   ``strategy="recursive"``: the model outputs :math:`\hat z_{t+1}` only (trained on the same
   windows, target :math:`z_{t+1}`); a forecast applies it :math:`H` times, each time dropping the
   window's oldest step and appending :math:`[\hat z_{t+j}, c_{t+j}]` (the next date's calendar
   features: they are known ahead; past-observed covariates are not, so ``covariates=`` needs
   ``direct``).  ``"auto"``: the search above with direct, then one recursive model on the best
   preprocessing, scored the same way; the lower validation RMSE is kept (``strategy_``).
   The three candidates with the lowest validation RMSE, and the recursive one, are finalists: each
   trained again with the next seed and scored by the RMSE of the two runs' mean forecast (as the
   ensemble forecasts), so that one lucky run does not choose; the lowest such score wins.
   Future-known covariates :math:`x^f` (``future_covariates=``): each history step is
   :math:`[z_t, 0, c_t, x_t, x^f_t]` and the window goes on with the :math:`L` rows it forecasts
   (:math:`L = H` direct, 1 recursive) as :math:`[0, 1, c_{t+j}, 0, x^f_{t+j}]`.
4. The best candidate is refitted on all :math:`n` observations for its best epoch count; its
   validation residuals :math:`r_{o,h} = y_{o+h} - \hat y_{o+h}` (:math:`N_v \times H`, of the two runs' mean forecast) give
   split-conformal intervals per horizon step (:func:`rnnx.data.accuracy.conformal_intervals`).

**Predict** the :math:`H` values after the series, their intervals and, with time labels, their
dates continued at the inferred frequency (:meth:`rnnx.data.calendar.Calendar.future`).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from rnnx.interop._common import usable_target

__all__ = ["Forecaster"]

_TRANSFORMS = ("none", "log", "boxcox")
_DIFFERENCES = ("none", "first", "seasonal", "both")
_STRATEGIES = ("direct", "recursive")
#: The candidates (lowest validation RMSE of one run) scored again as the mean of two runs before one
#: is chosen: a single run's score varies with its seed and even the BLAS thread count (CO2, H 48,
#: seed 0: none + first 0.808 with two threads, 0.694 with one), and the mean of runs is what the
#: ensemble forecasts (docs/forecasting.md).
_FINALISTS = 3


def _labels_of(y: Any, time: Any) -> tuple[list[str] | None, Any]:
    """The time labels as text (``time``, else a pandas index of ``y``) and the index object to
    rebuild a frame with (None for plain arrays)."""
    if time is not None:
        return [str(v).strip() for v in time], None
    index = getattr(y, "index", None)
    if index is None or not hasattr(y, "to_numpy"):
        return None, None
    if hasattr(index, "to_timestamp"):  # a PeriodIndex: '1949-01', '1959Q1', '1871'
        return [str(v) for v in index], index
    if hasattr(index, "strftime"):  # a DatetimeIndex: dates, or date-times when a time of day shows
        midnight = all(t.hour == 0 and t.minute == 0 and t.second == 0 for t in index)
        return list(index.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S")), index
    return None, None


def _index_of(kind: Any, labels: list[str], bad: Any) -> Any:
    """The pandas index a saved forecaster was fitted with, rebuilt on its last ``labels``
    (``kind``: null, ``datetime`` or ``period:<frequency alias>``); None without pandas."""
    import re

    if kind is None:
        return None
    if not isinstance(kind, str) or not re.fullmatch(r"datetime|period:[A-Za-z0-9-]{1,12}", kind):
        raise bad("index", "null, 'datetime' or 'period:<frequency>'", kind)
    try:
        import pandas as pd
    except ImportError:
        return None
    try:
        return pd.DatetimeIndex(labels) if kind == "datetime" else pd.PeriodIndex(labels, freq=kind[len("period:"):])
    except (ValueError, TypeError):
        raise bad("index", "a pandas index of the labels", kind) from None


def _positive_int(name: str, v: Any, low: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {v!r}")
    return v


class Forecaster:
    """Direct or recursive multi-step RNN forecaster of one series; see the module docstring for the maths.

    - ``horizon`` H: the steps forecast (direct: the model's outputs).
    - ``strategy``: "auto" (default: the better of the two on validation; direct with
      ``covariates=``), "direct" (H outputs) or "recursive" (one output fed back H times; not with
      ``covariates=``).
    - ``transform``: "auto" (none, log and Box-Cox where every training value is > 0; chosen on
      validation) or one of ``none``, ``log``, ``boxcox``; ``difference``: "auto" (none and first,
      and seasonal and both when there is a season) or one of ``none``, ``first``, ``seasonal``,
      ``both``; ``period``: the seasonal period (default: the time labels', else 1).
    - ``window`` W: steps each forecast reads (default ``max(2 m, H, 10)``: two seasons at least).
    - ``validation``: the validation origins (default ``max(20, min(100, n // 10 - H + 1))`` for
      ``n`` observations: the validation part a tenth of the series at most, 20 origins at least, 19 being the least that gives a finite 95% conformal interval,
      and more on a long series, where 20 consecutive origins choose by chance; ``validation_``
      after fit); ``levels``: the interval coverages (default 80% and 95%).
    - The model and its training: ``cell``, ``hidden``, ``epochs`` (the most), ``patience`` (early
      stopping), ``batch_size``, ``lr`` (Adam), ``clip_norm``, ``seed``, ``backend``, ``device``,
      ``dtype`` as in :func:`rnnx.fit`; ``ensemble``: the chosen candidate is refitted this many
      times (seeds ``seed``, ``seed + 1``, ...) and the forecast is the members' mean (default 5:
      on Seattle's temp_max it lowered the backtest RMSE of seeds 0, 1, 2 by 1-3%, docs/forecasting.md).

    After :meth:`fit`: ``search_`` (a row per candidate: its transform, differencing, strategy,
    ``val_rmse`` (one run's validation RMSE) and ``best_epoch``; the three lowest, the finalists,
    scored again as the mean forecast of two runs, seeds ``seed`` and ``seed + 1`` (``runs`` 2,
    ``score`` that mean's RMSE, ``best_epoch`` the runs' mean; ``ensemble=1``: one run), the finalist
    with the lowest ``score`` ``chosen``; with "auto" the recursive row last), ``chosen_`` (that row), ``strategy_`` (the one
    chosen), ``baselines_`` (the naive and seasonal-naive RMSEs on the same origins),
    ``preprocessing_``, ``period_``, ``window_``, ``residuals_`` (N_v, H) (actual - forecast at each
    validation origin), ``accuracy_`` (the chosen candidate's MAE, RMSE, MAPE, sMAPE and MASE over
    those forecasts: :func:`rnnx.data.accuracy.accuracy`), ``calendar_`` (None
    without time labels), ``covariates_`` and ``future_covariates_`` (names, mean, std; the
    latter None without them), ``model_``, ``members_`` (each member's parameters: ``ensemble``
    models of the chosen candidate refitted with seeds ``seed``, ``seed + 1``, ...; a forecast is
    their mean z forecast, inverted), ``params_`` (the first member's)."""

    def __init__(self, horizon: int, *, transform: str = "auto", difference: str = "auto", period: int | None = None,
                 window: int | None = None, validation: int | None = None, levels: tuple[float, ...] = (0.8, 0.95),
                 cell: str = "lstm", hidden: int = 32, epochs: int = 300, patience: int = 30, batch_size: int = 32,
                 lr: float = 3e-3, clip_norm: float | None = 1.0, seed: int = 0, backend: str = "numpy",
                 device: str | None = None, dtype: str = "float64", strategy: str = "auto", ensemble: int = 5) -> None:
        self.strategy, self.ensemble = strategy, ensemble
        self.horizon, self.transform, self.difference, self.period, self.window = horizon, transform, difference, period, window
        self.validation, self.levels, self.cell, self.hidden, self.epochs = validation, levels, cell, hidden, epochs
        self.patience, self.batch_size, self.lr, self.clip_norm, self.seed = patience, batch_size, lr, clip_norm, seed
        self.backend, self.device, self.dtype = backend, device, dtype

    # -- checks -----------------------------------------------------------------------------------
    def _checked(self) -> None:
        _positive_int("horizon", self.horizon)
        if self.validation is not None:
            _positive_int("validation", self.validation)
        for name in ("hidden", "epochs", "patience", "batch_size", "ensemble"):
            _positive_int(name, getattr(self, name))
        if self.window is not None:
            _positive_int("window", self.window, 2)
        if self.period is not None:
            _positive_int("period", self.period)
        for name, allowed in (("transform", _TRANSFORMS), ("difference", _DIFFERENCES), ("strategy", _STRATEGIES)):
            if getattr(self, name) not in ("auto", *allowed):
                raise ValueError(f"{name}: expected 'auto' or one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {self.dtype!r}")
        if not isinstance(self.levels, (tuple, list)) or not self.levels or not all(
                isinstance(v, float) and 0 < v < 1 for v in self.levels):
            raise ValueError(f"levels: expected a tuple of coverages in (0, 1) such as (0.8, 0.95), got {self.levels!r}")
        need = self._least_origins()
        if self.validation is not None and self.validation < need:
            raise ValueError(f"validation: {self.validation} origins give no finite {max(self.levels):g} interval; "
                             f"expected at least {need} (or lower levels)")

    def _least_origins(self) -> int:
        """The least N validation origins with a finite conformal interval at every level: the least N
        with ceil((N + 1) v) <= N, v the highest level."""
        return max(math.ceil(v / (1 - v)) for v in self.levels)

    def _origins_for(self, n: int) -> int:
        """The validation origins of a fit on ``n`` observations: ``validation``, or by default
        ``max(20, min(100, n // 10 - H + 1))``: the validation part (``H + V - 1`` rows) a tenth of
        the series at most, but 20 origins at least (and the least with finite intervals, for high
        levels)."""
        return self.validation or max(20, self._least_origins(), min(100, n // 10 - self.horizon + 1))

    def _levels_of(self, y: Any) -> Any:
        import numpy as np

        v = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
        if v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        if v.ndim != 1 or v.dtype.kind not in "iuf":
            raise ValueError(f"y: expected one series of numbers (n,), got shape {v.shape} dtype {v.dtype}")
        v = v.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            raise ValueError(f"y: position {int(bad[0])} is {v[bad[0]]}; expected finite numbers (fill or drop gaps first)")
        return v

    @staticmethod
    def _covariates_of(covariates: Any, n: int, arg: str = "covariates",
                       rows: str = "one row per observation") -> tuple[Any, list[str]]:
        """Covariates (``arg``) as (n, K) float64 and their names (a DataFrame's columns, else
        ``x0``, ``x1``, ...); None: (n, 0)."""
        import numpy as np

        if covariates is None:
            return np.zeros((n, 0)), []
        names = [str(c) for c in covariates.columns] if hasattr(covariates, "columns") else None
        c = np.asarray(covariates.to_numpy() if hasattr(covariates, "to_numpy") else covariates)
        if c.ndim == 1:
            c = c[:, None]
        if c.ndim != 2 or c.shape[0] != n or c.dtype.kind not in "iuf":
            raise ValueError(f"{arg}: expected numbers of shape ({n}, K), {rows}, got shape {c.shape} dtype {c.dtype}")
        c = c.astype(np.float64)
        bad = np.argwhere(~np.isfinite(c))
        if bad.size:
            raise ValueError(f"{arg}: row {int(bad[0][0])} column {int(bad[0][1])} is {c[tuple(bad[0])]}; "
                             "expected finite numbers (fill or drop gaps first)")
        return c, names or [f"x{i}" for i in range(c.shape[1])]

    def _features(self, labels: Any, cov: Any, fut: Any = None) -> Any:
        """Each row's step features after z (and the future flag): its calendar features, then its
        past-observed covariates ``cov`` and, when fitted with them, its future-known covariates
        ``fut``, each standardised with the fitted part's mean and std (``covariates_``,
        ``future_covariates_``)."""
        import numpy as np

        cal = self.calendar_.features(labels) if self.calendar_ is not None else np.zeros((len(cov), 0))
        st, fs = self.covariates_, self.future_covariates_
        parts = [cal, (cov - np.array(st["mean"])) / np.array(st["std"])]
        if fs is not None:
            parts.append((fut - np.array(fs["mean"])) / np.array(fs["std"]))
        return np.concatenate(parts, axis=1)

    def _lead(self, strategy: str) -> int:
        """The future steps each window ends with: none without future-known covariates, else H
        (direct) or 1 (recursive)."""
        return 0 if self.future_covariates_ is None else self.horizon if strategy == "direct" else 1

    def _candidates(self, train: Any, m: int) -> list[tuple[str, str]]:
        ts = (self.transform,) if self.transform != "auto" else (_TRANSFORMS if float(train.min()) > 0 else ("none",))
        if self.difference != "auto":
            if self.difference in ("seasonal", "both") and m < 2:
                raise ValueError(f"difference: {self.difference!r} needs a seasonal period >= 2; got period {m} "
                                 "(give period=, or time labels with a season)")
            ds = (self.difference,)
        else:
            ds = _DIFFERENCES if m > 1 and len(train) > 4 * m + self.horizon else ("none", "first")
        return list(itertools.product(ts, ds))

    # -- the pieces ---------------------------------------------------------------------------------
    def _inputs(self, z: Any, feats: Any, ends: Any, lead: int = 0) -> Any:
        """Windows (N, W, 1 + F) ending before positions ``ends`` of ``z`` (each step z_t with its
        row's features ``feats``).  With ``lead`` L > 0 (future-known covariates) each step is
        :math:`[z_t, 0, f_t]` and the window goes on with the L rows after it as
        :math:`[0, 1, f_{e+j}]` (z unknown, flag 1, past-observed covariates zeroed): (N, W + L,
        2 + F); ``feats`` then reaches L rows past ``z`` where a window ends at its end."""
        import numpy as np

        w, n = self.window_, len(z)
        if not lead:
            steps = np.concatenate([z[:, None], feats[:n]], axis=1)
            return np.stack([steps[e - w:e] for e in ends])
        past = np.concatenate([z[:, None], np.zeros((n, 1)), feats[:n]], axis=1)
        ahead = self._ahead_rows(feats)
        return np.stack([np.concatenate([past[e - w:e], ahead[e:e + lead]]) for e in ends])

    def _ahead_rows(self, feats: Any) -> Any:
        """Future steps :math:`[0, 1, f]` of feature rows ``feats`` (..., F), the past-observed
        covariates' columns zeroed (their future is unknown)."""
        import numpy as np

        kp, kf = len(self.covariates_["names"]), len(self.future_covariates_["names"])
        keep = np.ones(feats.shape[-1])
        keep[feats.shape[-1] - kf - kp:feats.shape[-1] - kf] = 0.0
        lead = np.zeros((*feats.shape[:-1], 2))
        lead[..., 1] = 1.0
        return np.concatenate([lead, feats * keep], axis=-1)

    def _zhat(self, model: Any, params: Any, x: Any, ahead: Any, strategy: str, lead: int = 0) -> Any:
        r"""The model's z forecasts (N, H) float64 from windows ``x`` (N, W, 1 + F): direct, its H
        outputs; recursive, its one output applied H times, each time the window dropping its
        oldest step and taking :math:`[\hat z_{t+j}, a_j]` (``ahead`` (N, H, F): the step features of
        the H rows forecast).  With future-known covariates (``lead`` 1) the window's last step is
        the next row's :math:`[0, 1, a_j]` and the forecast row joins the history as
        :math:`[\hat z_{t+j}, 0, a_j]`."""
        import numpy as np

        from rnnx.training import engine

        t = self._target_  # the caller holds its scope

        def run(a: Any) -> Any:
            p = engine.predict(model, params, t.from_numpy(np.ascontiguousarray(a, dtype=self.dtype)))
            return np.asarray(t.to_numpy(p), dtype=np.float64)

        if strategy == "direct":
            return run(x)
        zs, h = [], self.horizon
        for j in range(h):
            p = run(x)[:, 0]  # the next step's z for every window
            zs.append(p)
            if not lead:
                x = np.concatenate([x[:, 1:], np.concatenate([p[:, None], ahead[:, j]], axis=1)[:, None]], axis=1)
            elif j + 1 < h:  # drop the oldest step and the old future step; the forecast row, then the next one
                row = np.concatenate([p[:, None], np.zeros((len(p), 1)), ahead[:, j]], axis=1)
                x = np.concatenate([x[:, 1:-1], row[:, None], self._ahead_rows(ahead[:, j + 1])[:, None]], axis=1)
        return np.stack(zs, axis=1)

    def _train(self, pre: Any, levels: Any, feats: Any, val_origins: Any, epochs: int, seed: int,
               strategy: str = "direct") -> dict:
        """Train on ``levels`` (the fitted part) with ``pre``; with validation origins (positions in
        the full series), early stopping on their windows and their level forecasts.  ``strategy``
        "direct": H outputs, targets :math:`z_{t+1..t+H}`; "recursive": one output, target
        :math:`z_{t+1}` of the same windows (early stopping on the one-step validation loss), its
        H-step validation forecasts by :meth:`_zhat`."""
        import numpy as np

        from rnnx.nn.model import Model
        from rnnx.training import EarlyStopping, engine

        k, w, h = pre.differencing.order, self.window_, self.horizon
        z = pre.forward(levels)  # (n - K,): z[j] belongs to row j + K
        f = feats[k:len(levels)]
        ends = np.arange(w, len(z) - h + 1)
        if ends.size < 1:
            raise ValueError(f"y: {len(levels)} observations leave no training window of {w} steps + {h} ahead "
                             f"after {k} differenced away; expected a longer series, or a smaller window/horizon/validation")
        lead = self._lead(strategy)
        x = self._inputs(z, f, ends, lead)
        out_size = h if strategy == "direct" else 1
        y = np.stack([z[e:e + out_size] for e in ends])
        t, fdt = self._target_, np.dtype(self.dtype)
        arr = lambda a: t.from_numpy(np.ascontiguousarray(a, dtype=fdt))  # noqa: E731
        model = Model(self.cell, x.shape[2], self.hidden, out_size)
        kw = dict(epochs=epochs, batch_size=self.batch_size, optimizer="adam", lr=self.lr, clip_norm=self.clip_norm,
                  seed=seed, shuffle=True)
        with t.scope():
            val, zv = None, None
            if val_origins is not None:
                zv = pre.forward(self._all_levels)  # the same chain over the whole series (fitted on the part)
                fv = self._feats[k:]
                xv = self._inputs(zv, fv, val_origins - k, lead)
                yv = np.stack([zv[o - k:o - k + out_size] for o in val_origins])
                val = (arr(xv), arr(yv))
            stop = [EarlyStopping(self.patience, restore_best_weights=True)] if val is not None else []
            result = engine.fit(model, arr(x), arr(y), validation_data=val, callbacks=stop, **kw)
            out = {"model": model, "params": result.params, "best_epoch": result.best_epoch or len(result.history)}
            if val is not None and strategy == "direct":
                pz = np.asarray(t.to_numpy(engine.predict(model, result.params, val[0])), dtype=np.float64)
            elif val is not None:
                pz = self._zhat(model, result.params, xv, np.stack([fv[o - k:o - k + h] for o in val_origins]),
                                strategy, lead)
            if val is not None:
                fc = np.stack([pre.inverse(pz[i], self._all_levels[:o]) for i, o in enumerate(val_origins)])
                out["residuals"] = np.stack([self._all_levels[o:o + h] for o in val_origins]) - fc
        return out

    # -- the API ------------------------------------------------------------------------------------
    def fit(self, y: Any, *, time: Any = None, covariates: Any = None, future_covariates: Any = None) -> Forecaster:
        """Choose the preprocessing on the validation origins, then refit the best on all of ``y``
        (n,) (a sequence of numbers, or a pandas Series with a DatetimeIndex / PeriodIndex);
        ``time``: the labels of its rows as text (ISO dates, ``1959Q1``, ``1949-01``, ``1871``);
        ``covariates`` (n, K) (an array or a DataFrame): past-observed columns read beside the
        series in every window (each standardised with the mean and std of the rows before the
        validation part); a forecast needs none of their future values.  ``future_covariates``
        (n, K_f): columns known ahead (prices, holidays, a weather forecast), scaled the same way;
        every window then ends with the rows it forecasts (:meth:`_inputs`), and :meth:`predict`
        needs their values for the next dates."""
        import numpy as np

        from rnnx.data.accuracy import accuracy
        from rnnx.data.calendar import infer_calendar
        from rnnx.data.transforms import Preprocessing

        self._checked()
        levels = self._levels_of(y)
        labels, index = _labels_of(y, time)
        if labels is not None and len(labels) != len(levels):
            raise ValueError(f"time: {len(labels)} labels for {len(levels)} observations; expected one per observation")
        cal = infer_calendar(labels, arg="time") if labels is not None else None
        m = self.period or (cal.period if cal is not None else 1)
        h = self.horizon
        nv = self._origins_for(len(levels))
        self.validation_ = nv
        self.window_ = self.window or max(2 * m, h, 10)
        self.period_, self.calendar_, self._index, self._labels, self._n = m, cal, index, labels, len(levels)
        cov, names = self._covariates_of(covariates, len(levels))
        if self.strategy == "recursive" and cov.shape[1]:
            raise ValueError("strategy: 'recursive' feeds its own forecasts back and past-observed covariates have no "
                             "future values; expected 'direct' or 'auto' (which means direct) with covariates=")
        v = h + nv - 1
        cut = len(levels) - v
        fut, fnames = self._covariates_of(future_covariates, len(levels), "future_covariates")

        def scaling(c: Any, names: list[str]) -> dict:
            mean, std = c[:max(cut, 1)].mean(axis=0), c[:max(cut, 1)].std(axis=0)
            return {"names": names, "mean": mean.tolist(), "std": np.where(std > 0, std, 1.0).tolist()}

        self.covariates_ = scaling(cov, names)
        self.future_covariates_ = scaling(fut, fnames) if fut.shape[1] else None
        feats = self._features(labels, cov, fut)
        self._feats, self._all_levels, self._cov, self._fut = feats, levels, cov, fut
        self._target_ = usable_target(self.backend, self.device)
        origins = np.arange(cut, len(levels) - h + 1)
        search = []
        first = "recursive" if self.strategy == "recursive" else "direct"  # the preprocessing search's strategy

        runs = min(2, self.ensemble)  # the runs a finalist is scored with: like the forecast, a mean

        def scored(pre: Any, tr: str, df: str, strategy: str) -> dict:
            got = self._train(pre, levels[:cut], feats, origins, self.epochs, self.seed, strategy)
            r = got["residuals"]
            rmse = float(np.sqrt(np.mean(r ** 2)))
            return {"transform": tr, "difference": df, "strategy": strategy, "val_rmse": rmse,
                    "best_epoch": int(got["best_epoch"]), "runs": 1, "score": rmse, "chosen": False,
                    "residuals": r, "pre": pre, "epochs": [int(got["best_epoch"])]}

        def raced(row: dict) -> dict:
            """A finalist scored again with its forecast the mean of ``runs`` runs (seeds s, s + 1)."""
            rs = [row["residuals"]]
            for i in range(1, runs):
                got = self._train(row["pre"], levels[:cut], feats, origins, self.epochs, self.seed + i,
                                  row["strategy"])
                rs.append(got["residuals"])
                row["epochs"].append(int(got["best_epoch"]))
            row["residuals"] = np.mean(rs, axis=0)  # actual - the runs' mean level forecast
            row.update(runs=runs, score=float(np.sqrt(np.mean(row["residuals"] ** 2))),
                       best_epoch=max(1, round(float(np.mean(row["epochs"])))))
            return row

        for tr, df in self._candidates(levels[:cut], m):
            pre = Preprocessing.fit(levels[:cut], tr, df, m if df in ("seasonal", "both") else None)
            if cut - pre.differencing.order - self.window_ - h + 1 < 1:
                continue  # too short for this differencing: not a candidate
            search.append(scored(pre, tr, df, first))
        if not search:
            raise ValueError(f"y: {len(levels)} observations are too few for horizon {h}, window {self.window_} and "
                             f"{nv} validation origins; expected at least {v + self.window_ + h + 1}")
        finalists = [raced(s) for s in sorted(search, key=lambda s: s["val_rmse"])[:_FINALISTS]]
        if self.strategy == "auto" and not cov.shape[1] and h > 1:  # H = 1: recursive is direct
            top = min(finalists, key=lambda s: s["score"])
            search.append(raced(scored(top["pre"], top["transform"], top["difference"], "recursive")))
            finalists.append(search[-1])
        naive = np.stack([levels[o:o + h] - levels[o - 1] for o in origins])
        snaive = np.stack([levels[o:o + h] - levels[o - m + np.arange(h) % m] for o in origins]) if m > 1 else naive
        best = min(finalists, key=lambda s: s["score"])
        best["chosen"] = True
        self.search_ = [{k: v for k, v in s.items() if k not in ("residuals", "pre", "epochs")} for s in search]
        self.strategy_ = best["strategy"]
        self.baselines_ = {"naive": float(np.sqrt(np.mean(naive ** 2))),
                           "seasonal naive": float(np.sqrt(np.mean(snaive ** 2)))}
        self.residuals_ = best["residuals"]
        actual = np.stack([levels[o:o + h] for o in origins])
        self.accuracy_ = accuracy(actual, actual - best["residuals"], levels[:cut], m)
        self.preprocessing_ = Preprocessing.fit(levels, best["transform"], best["difference"],
                                                m if best["difference"] in ("seasonal", "both") else None)
        self.members_ = []
        for i in range(self.ensemble):  # member i: seed + i, the chosen candidate's epochs on all of y
            got = self._train(self.preprocessing_, levels, feats, None, best["best_epoch"], self.seed + i,
                              self.strategy_)
            self.members_.append(got["params"])
        self.model_, self.params_ = got["model"], self.members_[0]
        return self

    def predict(self, horizon: int | None = None, *, future_covariates: Any = None) -> Any:
        """The next ``horizon`` (default H, at most H) values after the fitted series with their
        intervals: a dict of lists ``{"time", "forecast", "lower_80", "upper_80", ...}`` (``time``:
        the continued labels, or positions n, n+1, ... without labels), a pandas DataFrame indexed
        by the future dates when ``fit`` had a pandas Series.  ``future_covariates`` (h, K_f):
        required when fitted with future-known covariates (their values on the next dates; a
        direct model reads all H rows, so it needs (H, K_f)), refused otherwise."""
        import numpy as np

        if not hasattr(self, "params_"):
            raise RuntimeError("This Forecaster is not fitted yet: call fit(y) first")
        h = self.horizon if horizon is None else _positive_int("horizon", horizon)
        if h > self.horizon:
            raise ValueError(f"horizon: {h} steps from a model fitted for {self.horizon}; expected <= {self.horizon} "
                             f"(the conformal intervals are calibrated on {self.horizon} steps, for either strategy; "
                             "fit with a larger horizon)")
        n = self._n
        out = {"time": list(self.calendar_.future(h)) if self.calendar_ is not None else list(range(n, n + h))}
        fut = self._future_of(future_covariates, h)
        ahead = self._features(list(self.calendar_.future(self.horizon)) if self.calendar_ is not None else None,
                               np.zeros((self.horizon, self._cov.shape[1])), fut)
        for k, v in self._forecast(self._all_levels, self._feats, ahead).items():
            out[k] = v[:h].tolist()
        return self._frame(out)

    def _future_of(self, values: Any, h: int) -> Any:
        """``predict``'s future covariates as (H, K_f) float64: h to H rows given (H for a direct
        model), the rows after h (not read by a recursive model's first h steps) filled with the
        fitted mean; (H, 0) without future covariates."""
        import numpy as np

        fs, big = self.future_covariates_, self.horizon
        if fs is None:
            if values is not None:
                raise ValueError("future_covariates: this Forecaster was fitted without future covariates; expected None")
            return np.zeros((big, 0))
        need = big if self.strategy_ == "direct" else h
        rows = len(values) if values is not None and np.ndim(values) >= 1 else None
        if rows is None or not need <= rows <= big:
            got = "None" if values is None else f"shape {np.shape(values)}"
            why = f"a direct model reads all {big} future steps" if self.strategy_ == "direct" else "one per step"
            raise ValueError(f"future_covariates: expected {need if need == big else f'{need} to {big}'} rows of "
                             f"{', '.join(fs['names'])}, the values on the next dates ({why}), got {got}")
        c, names = self._covariates_of(values, rows, "future_covariates", "one row per future date")
        if c.shape[1] != len(fs["names"]) or (hasattr(values, "columns") and names != fs["names"]):
            raise ValueError(f"future_covariates: expected the columns {', '.join(fs['names'])} (as fitted), got "
                             f"{', '.join(names)}")
        return np.concatenate([c, np.tile(np.array(fs["mean"]), (big - rows, 1))])

    def _forecast(self, levels: Any, feats: Any, ahead: Any, realised: Any = None) -> dict:
        """The H values after the history ``levels`` (its step features ``feats``) from the
        fitted model and preprocessing, with their intervals: ``{"forecast": (H,), "lower_80": ...}``;
        ``ahead`` (H, F): the step features of the H rows forecast (read by the recursive strategy
        and with future-known covariates).  ``realised`` (M, H): errors of this fit's earlier
        forecasts whose actual values are known by now (NaN where not yet), calibrating the
        intervals beside the validation residuals (:meth:`_intervals`)."""
        import numpy as np

        pre, t = self.preprocessing_, self._target_
        z = pre.forward(levels)
        lead = self._lead(self.strategy_)
        x = self._inputs(z, np.concatenate([feats[pre.differencing.order:], ahead]), np.array([len(z)]), lead)
        with t.scope():
            pz = np.mean([self._zhat(self.model_, p, x, ahead[None], self.strategy_, lead)[0] for p in self.members_],
                         axis=0)  # the members' mean z forecast (one member: its own)
        out = {"forecast": pre.inverse(pz, levels)}
        for level, (lo, hi) in self._intervals(out["forecast"], realised).items():
            pct = f"{round(level * 100):d}"
            out[f"lower_{pct}"], out[f"upper_{pct}"] = lo, hi
        return out

    def _intervals(self, forecast: Any, realised: Any = None) -> dict:
        r"""Split-conformal intervals ``{level: (lower, upper)}`` around ``forecast`` (H,): at step
        :math:`h` the scores are the validation residuals :math:`r_{\cdot,h}` (``residuals_``, :math:`N_v`
        rows in origin order) and, in a rolling backtest, the errors at step :math:`h` of this fit's
        earlier forecasts whose actual value is already observed (``realised`` (M, H), NaN where not
        yet), of which the latest :math:`N_v` count: the calibration window rolls forward with the
        observations, as an operational forecaster recalibrates (online split conformal;
        :func:`rnnx.data.accuracy.conformal_quantile` per step).  Seattle's next-day temp_max,
        fitted once, 364 daily origins: 80%/95% coverage 0.736/0.907 with the validation residuals
        alone, 0.769/0.931 with every observed error added, 0.802/0.945 with the window
        (docs/forecasting.md)."""
        import numpy as np

        from rnnx.data.accuracy import conformal_intervals, conformal_quantile

        if realised is None or not len(realised):
            return conformal_intervals(forecast, self.residuals_, tuple(self.levels))
        nv = len(self.residuals_)
        pools = [np.concatenate([self.residuals_[:, i], col[~np.isnan(col)]])[-nv:] for i, col in enumerate(realised.T)]
        out = {}
        for level in self.levels:
            q = np.array([conformal_quantile(p[:, None], level)[0] for p in pools])
            out[level] = (forecast - q, forecast + q)
        return out

    def get_params(self) -> dict:
        """The settings given to ``__init__`` (scikit-learn's convention): a fresh, unfitted copy is
        ``Forecaster(**f.get_params())``."""
        import inspect

        return {k: getattr(self, k) for k in inspect.signature(Forecaster.__init__).parameters if k != "self"}

    def backtest(self, y: Any, *, time: Any = None, covariates: Any = None, future_covariates: Any = None,
                 folds: int = 3, step: int | None = None, refit: bool = True) -> dict:
        r"""Rolling-origin evaluation on ``y`` (n,): ``folds`` origins
        :math:`o_k = n - H - (\text{folds} - 1 - k)\,\text{step}` (``step`` default H), each forecasting
        :math:`y_{o_k : o_k + H}` from :math:`y_{:o_k}` with a copy of this forecaster fitted on
        :math:`y_{:o_k}` (``refit``) or on :math:`y_{:o_0}` once (``refit=False``: the later origins only
        read more history).  Returns ``{"origins", "forecast", "actual", "lower_80", "upper_80", ...}``
        (folds x H lists; ``origins`` the time labels of :math:`o_k`, or positions), ``"by_step"``
        (``mae``, ``rmse`` per horizon step over the folds), ``"metrics"``
        (:func:`rnnx.data.accuracy.accuracy` of every value, MASE scaled on :math:`y_{:o_0}`),
        ``"coverage"`` (each level's share of actual values inside its interval; a fit's intervals
        at a later origin are calibrated on its validation residuals and the errors of its earlier
        forecasts already observed there, :meth:`_intervals`) and ``"chosen"``
        (each fit's transform, differencing lags and strategy).  ``covariates`` and
        ``future_covariates`` (n, K) are sliced as ``y`` (a fold's future covariates: its actual rows)."""
        import numpy as np

        from rnnx.data.accuracy import accuracy

        _positive_int("folds", folds)
        h = _positive_int("horizon", self.horizon)
        step = h if step is None else _positive_int("step", step)
        if not isinstance(refit, bool):
            raise TypeError(f"refit: expected True or False, got {refit!r}")
        levels = self._levels_of(y)
        labels, _ = _labels_of(y, time)
        cov = self._covariates_of(covariates, len(levels))[0]
        fut = self._covariates_of(future_covariates, len(levels), "future_covariates")[0]
        cov_given, fut_given = covariates, future_covariates
        n = len(levels)
        origins = [n - h - (folds - 1 - k) * step for k in range(folds)]
        if origins[0] < 1:
            raise ValueError(f"folds: {folds} origins {step} steps apart, each forecasting {h}, need more than "
                             f"{h + (folds - 1) * step} observations; got {n}")
        rows: dict[str, list] = {}
        chosen, f, made = [], None, []  # made: (origin, error (H,)) of the current fit's forecasts so far
        for o in origins:
            if refit or f is None:
                made = []
                f = Forecaster(**self.get_params()).fit(levels[:o], time=None if labels is None else labels[:o],
                                                        covariates=None if cov_given is None else cov[:o],
                                                        future_covariates=None if fut_given is None else fut[:o])
                pre = f.preprocessing_
                chosen.append({"origin": o, "transform": pre.transform.kind, "lags": list(pre.differencing.lags),
                               "strategy": f.strategy_})
            ahead = f._features(None if labels is None else labels[o:o + h], cov[o:o + h], fut[o:o + h])
            past = f._features(None if labels is None else labels[:o], cov[:o], fut[:o])
            known = np.array([np.where(p + np.arange(h) < o, e, np.nan) for p, e in made]).reshape(-1, h)
            got = f._forecast(levels[:o], past, ahead, known)
            for k, v in got.items():
                rows.setdefault(k, []).append(v)
            rows.setdefault("actual", []).append(levels[o:o + h])
            made.append((o, levels[o:o + h] - got["forecast"]))
        fc, act = np.stack(rows["forecast"]), np.stack(rows["actual"])
        err = act - fc
        out = {"origins": [labels[o] if labels is not None else o for o in origins],
               **{k: np.stack(v).tolist() for k, v in rows.items()},
               "by_step": {"mae": np.mean(np.abs(err), axis=0).tolist(),
                           "rmse": np.sqrt(np.mean(err ** 2, axis=0)).tolist()},
               "metrics": accuracy(act, fc, levels[:origins[0]], f.period_), "chosen": chosen}
        out["coverage"] = {k[len("lower_"):]: float(np.mean((act >= np.stack(rows[k]))
                                                            & (act <= np.stack(rows["upper_" + k[len("lower_"):]]))))
                           for k in rows if k.startswith("lower_")}
        return out

    @property
    def chosen_(self) -> dict:
        """The ``search_`` row of the candidate chosen (its preprocessing, strategy and scores)."""
        return next(r for r in self.search_ if r["chosen"])

    @property
    def history_(self) -> dict:
        """The end of the fitted series that :meth:`predict` reads: ``{"time": [...], "levels": [...]}``,
        its last ``window_ + K`` observations (K the differencing order) with their time labels
        (positions without labels)."""
        if not hasattr(self, "params_"):
            raise RuntimeError("This Forecaster is not fitted yet: call fit(y) first")
        tail = self.window_ + self.preprocessing_.differencing.order
        time = self._labels[-tail:] if self._labels is not None else list(range(self._n - tail, self._n))
        return {"time": list(time), "levels": self._all_levels[-tail:].tolist()}

    # -- the file -----------------------------------------------------------------------------------
    def save(self, path: str, *, overwrite: bool = False) -> None:
        """Write the fitted forecaster to ``path`` (one ``.npz``, atomically: :func:`rnnx.io.checkpoint.save`;
        an existing ``path`` only with ``overwrite``; a link at ``path`` is replaced, never written
        through): the model's configuration and parameters as :func:`rnnx.save` writes them, and
        the ``forecaster`` record (JSON): ``settings`` (:meth:`get_params`), ``preprocessing``
        (:meth:`rnnx.data.transforms.Preprocessing.to_json`), ``calendar`` (its fields, or null),
        ``period``, ``window``, ``n`` (the observations fitted), ``residuals`` (N_v x H),
        ``search``, ``baselines``, ``accuracy``, ``strategy`` (the chosen one), and the last ``window + K`` levels and time labels (all that
        :meth:`predict` reads: K the differencing order), ``covariates`` (their names, the mean
        and std they were scaled with, their last ``window + K`` rows), ``future_covariates`` (the
        same, or null) and ``index`` (the pandas index kind)."""
        if not hasattr(self, "params_"):
            raise RuntimeError("This Forecaster is not fitted yet: call fit(y) first")
        from rnnx.io import checkpoint, files

        cal, ix, end = self.calendar_, self._index, self.history_
        state = {
            "settings": {**self.get_params(), "levels": list(self.levels)},
            "preprocessing": self.preprocessing_.to_json(),
            "calendar": None if cal is None else {"frequency": cal.frequency, "style": cal.style, "key": cal.key,
                                                  "last": cal.last.isoformat(), "anchor": cal.anchor},
            "period": self.period_, "window": self.window_, "n": self._n,
            "residuals": self.residuals_.tolist(), "search": self.search_, "baselines": self.baselines_,
            "accuracy": self.accuracy_, "strategy": self.strategy_,
            "levels": end["levels"], "labels": None if cal is None else end["time"],
            "covariates": {**self.covariates_, "tail": self._cov[len(self._cov) - len(end["levels"]):].tolist()},
            "future_covariates": None if self.future_covariates_ is None else {
                **self.future_covariates_, "tail": self._fut[len(self._fut) - len(end["levels"]):].tolist()},
            "index": None if ix is None else ("period:" + ix.freqstr if hasattr(ix, "to_timestamp") else "datetime"),
        }
        groups = {("params" if i == 0 else f"member{i}"): files.host_params(path, self.model_, p, self._target_.to_numpy)
                  for i, p in enumerate(self.members_)}
        checkpoint.save(path, {"kind": "rnnx-forecaster", "model": self.model_.config(), "forecaster": state},
                        groups, to_numpy=lambda a: a, overwrite=overwrite)

    @classmethod
    def load(cls, path: str, backend: str | None = None, device: str | None = None, *,
             nofollow: bool = False) -> Forecaster:
        """The forecaster :meth:`save` wrote to ``path``, its model on ``backend`` / ``device``
        (default: the saved ones); its :meth:`predict` is the saved one's.  The file is data: every
        field is checked (a missing or malformed one: one :class:`ValueError` line naming ``path``
        and the field; a damaged file: :class:`rnnx.io.checkpoint.FileFormatError`), nothing in it
        is run.  ``nofollow`` refuses a symbolic link (a file inside a run folder)."""
        import numpy as np

        from rnnx.data.calendar import FREQUENCIES, Calendar, infer_calendar
        from rnnx.data.transforms import Preprocessing
        from rnnx.io import checkpoint
        from rnnx.nn.model import Model

        meta, groups = checkpoint.load(path, nofollow=nofollow)

        def bad(field: str, expected: str, got: Any) -> ValueError:
            where = "forecaster" + (f".{field}" if field else "")
            return ValueError(f"Forecaster.load: {path!r}: {where}: expected {expected}, got {str(got)[:80]}")

        if meta["kind"] != "rnnx-forecaster":
            raise ValueError(f"Forecaster.load: {path!r} holds a {meta['kind']!r}, expected an 'rnnx-forecaster' "
                             "(written by Forecaster.save)")
        st = meta["forecaster"]
        fields = ("settings", "preprocessing", "calendar", "period", "window", "n", "residuals", "search",
                  "baselines", "accuracy", "strategy", "levels", "labels", "covariates", "future_covariates", "index")
        if isinstance(st, dict) and "strategy" not in st and isinstance(st.get("settings"), dict) and \
                "strategy" not in st["settings"]:  # written before the strategies: direct
            st = {**st, "strategy": "direct", "settings": {**st["settings"], "strategy": "direct"}}
        if isinstance(st, dict) and isinstance(st.get("settings"), dict) and "ensemble" not in st["settings"]:
            st = {**st, "settings": {**st["settings"], "ensemble": 1}}  # written before ensembles: one model
        if isinstance(st, dict) and "future_covariates" not in st:  # written before them: none
            st = {**st, "future_covariates": None}
        if set(st) != set(fields):
            raise bad("", f"the fields {', '.join(fields)}", sorted(st))

        def number_list(field: str, v: Any, size: int | None = None) -> Any:
            if not (isinstance(v, list) and (size is None or len(v) == size) and all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)):
                raise bad(field, "a list of " + (f"{size} " if size is not None else "") + "finite numbers", v)
            return np.array(v, dtype=np.float64)

        def integer(field: str, low: int) -> int:
            v = st[field]
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise bad(field, f"an int >= {low}", v)
            return v

        params = list(cls(1).get_params())
        sets = st["settings"]
        if not isinstance(sets, dict) or set(sets) != set(params):
            raise bad("settings", f"the settings {', '.join(params)}", sets)
        if isinstance(sets["levels"], list):
            sets = {**sets, "levels": tuple(sets["levels"])}
        f = cls(**sets)
        number = (int, float)
        kinds = {"cell": (str, "a cell name"), "backend": (str, "a backend name"),
                 "device": ((str, type(None)), "a device name or null"), "lr": (number, "a finite number > 0"),
                 "clip_norm": ((*number, type(None)), "a finite number > 0 or null"), "seed": (int, "an int")}
        try:
            f._checked()
            for k, (types, words) in kinds.items():
                v = sets[k]
                if isinstance(v, bool) or not isinstance(v, types) or (
                        isinstance(v, float) and not (math.isfinite(v) and v > 0)) or (k == "lr" and not v > 0):
                    raise ValueError(f"{k}: expected {words}, got {v!r}")
        except ValueError as e:
            raise ValueError(f"Forecaster.load: {path!r}: forecaster.settings.{e}") from None
        try:
            f.preprocessing_ = Preprocessing.from_json(st["preprocessing"])
        except ValueError as e:
            raise ValueError(f"Forecaster.load: {path!r}: forecaster.preprocessing: {e}") from None
        f.period_, f.window_, f._n = integer("period", 1), integer("window", 2), integer("n", 1)
        if st["strategy"] not in _STRATEGIES or f.strategy not in ("auto", st["strategy"]):
            raise bad("strategy", f"one of {', '.join(_STRATEGIES)} that settings.strategy {f.strategy!r} allows",
                      st["strategy"])
        f.strategy_ = st["strategy"]
        h, k = f.horizon, f.preprocessing_.differencing.order
        rs, nv = st["residuals"], f._origins_for(f._n)
        if not isinstance(rs, list) or len(rs) != nv:
            raise bad("residuals", f"{nv} rows (the validation origins)", rs)
        f.validation_ = nv
        f.residuals_ = np.stack([number_list(f"residuals[{i}]", r, h) for i, r in enumerate(rs)])
        tail = f.window_ + k
        f._all_levels = number_list("levels", st["levels"], tail)
        if f._n < tail:
            raise bad("n", f"an int >= {tail} (the levels kept)", f._n)
        cal, labels = st["calendar"], st["labels"]
        f.calendar_, f._index, f._labels = None, None, None
        if cal is None:
            if labels is not None or st["index"] is not None:
                raise bad("labels", "null without a calendar", labels)
            f._feats = np.zeros((tail, 0))
        else:
            keys = ("frequency", "style", "key", "last", "anchor")
            ok = isinstance(cal, dict) and set(cal) == set(keys) and cal["frequency"] in FREQUENCIES and \
                cal["style"] in ("datetime", "date", "month", "quarter", "year") and isinstance(cal["key"], str) and \
                len(cal["key"]) <= 2 and isinstance(cal["last"], str) and isinstance(cal["anchor"], int) and \
                not isinstance(cal["anchor"], bool) and 0 <= cal["anchor"] <= 31
            try:
                import datetime as _dt

                f.calendar_ = Calendar(cal["frequency"], cal["style"], cal["key"],
                                       _dt.datetime.fromisoformat(cal["last"]), cal["anchor"]) if ok else None
            except ValueError:
                ok = False
            if not ok:
                raise bad("calendar", "{frequency, style, key, last (ISO), anchor} of a time column", cal)
            if not (isinstance(labels, list) and len(labels) == tail and all(isinstance(x, str) for x in labels)):
                raise bad("labels", f"a list of {tail} time labels", labels)
            try:
                f._feats = f.calendar_.features(labels)
                if infer_calendar(labels) != f.calendar_:
                    raise ValueError("labels")
            except ValueError:
                raise bad("labels", f"time labels in the calendar's {cal['style']} format", labels) from None
            f._labels = labels
            f._index = _index_of(st["index"], labels, bad)
        def columns(field: str) -> tuple[dict, Any]:
            cv = st[field]
            if not (isinstance(cv, dict) and set(cv) == {"names", "mean", "std", "tail"} and isinstance(cv["names"], list)
                    and all(isinstance(x, str) for x in cv["names"]) and isinstance(cv["tail"], list)
                    and len(cv["tail"]) == tail):
                raise bad(field, f"{{names, mean, std, tail}} with {tail} rows in tail", cv)
            kc = len(cv["names"])
            std = number_list(f"{field}.std", cv["std"], kc)
            if np.any(std <= 0):
                raise bad(f"{field}.std", "numbers > 0", cv["std"])
            stats = {"names": list(cv["names"]), "mean": number_list(f"{field}.mean", cv["mean"], kc).tolist(),
                     "std": std.tolist()}
            rows = np.stack([number_list(f"{field}.tail[{i}]", r, kc) for i, r in enumerate(cv["tail"])]) \
                if kc else np.zeros((tail, 0))
            return stats, rows

        f.covariates_, cov_tail = columns("covariates")
        f.future_covariates_, fut_tail = None, np.zeros((tail, 0))
        if st["future_covariates"] is not None:
            f.future_covariates_, fut_tail = columns("future_covariates")
            if not f.future_covariates_["names"]:
                raise bad("future_covariates", "null or at least one column", st["future_covariates"])
        if f.strategy_ == "recursive" and f.covariates_["names"]:
            raise bad("strategy", "direct with past-observed covariates", f.strategy_)
        f._cov, f._fut = cov_tail, fut_tail
        f._feats = f._features(f._labels, cov_tail, fut_tail)
        search = st["search"]
        if isinstance(search, list) and all(isinstance(r, dict) and "strategy" not in r for r in search):
            search = [{**r, "strategy": "direct"} for r in search]  # written before the strategies
        if isinstance(search, list) and search and all(isinstance(r, dict) and "runs" not in r for r in search):
            # written before the finalists' second run: each row scored by its one run, the lowest chosen
            low = min(range(len(search)), key=lambda i: search[i].get("val_rmse", math.inf) if isinstance(
                search[i].get("val_rmse"), (int, float)) else math.inf)
            search = [{**r, "runs": 1, "score": r.get("val_rmse"), "chosen": i == low} for i, r in enumerate(search)]
        row = ("transform", "difference", "strategy", "val_rmse", "best_epoch", "runs", "score", "chosen")
        number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
        if not (isinstance(search, list) and search and all(
                isinstance(r, dict) and set(r) == set(row) and r["transform"] in _TRANSFORMS
                and r["difference"] in _DIFFERENCES and r["strategy"] in _STRATEGIES
                and number(r["val_rmse"]) and number(r["score"]) and r["runs"] in (1, 2)
                and isinstance(r["chosen"], bool) and isinstance(r["best_epoch"], int)
                and not isinstance(r["best_epoch"], bool) for r in search)
                and sum(r["chosen"] for r in search) == 1):
            raise bad("search", "a list of {" + ", ".join(row) + "} rows, one of them chosen", search)
        f.search_ = search
        if f.chosen_["strategy"] != f.strategy_:
            raise bad("search", f"its chosen row's strategy to be the file's strategy {f.strategy_!r}", f.chosen_)
        base = st["baselines"]
        if not (isinstance(base, dict) and set(base) == {"naive", "seasonal naive"}):
            raise bad("baselines", "{naive, seasonal naive}", base)
        for k2, v in base.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise bad(f"baselines.{k2}", "a finite number", v)
        f.baselines_ = {k2: float(v) for k2, v in base.items()}
        acc = st["accuracy"]
        if not (isinstance(acc, dict) and set(acc) == {"mae", "rmse", "mape", "smape", "mase"} and all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
                for v in acc.values())):
            raise bad("accuracy", "{mae, rmse, mape, smape, mase}: finite numbers or null", acc)
        f.accuracy_ = {k2: None if v is None else float(v) for k2, v in acc.items()}
        model = Model.from_config(meta["model"])  # checked by rnnx.io.schema
        feats = f._feats.shape[1]
        outs, ins = h if f.strategy_ == "direct" else 1, 1 + feats + (f.future_covariates_ is not None)
        if (model.layer.input_size, model.output_size) != (ins, outs):
            raise ValueError(f"Forecaster.load: {path!r}: model: {model.layer.input_size} inputs and "
                             f"{model.output_size} outputs; expected {ins} and {outs} "
                             f"({'horizon' if f.strategy_ == 'direct' else 'one step: recursive'})")
        names = ["params", *(f"member{i}" for i in range(1, f.ensemble))]
        if sorted(groups) != sorted(names):
            raise ValueError(f"Forecaster.load: {path!r}: expected the parameter groups {', '.join(names)} "
                             f"(settings.ensemble {f.ensemble}), got {', '.join(sorted(groups)) or 'none'}")
        for g in names:
            checkpoint.check_params(path, groups[g], model.param_shapes(), f"{model.layer!r} + head")
        if backend is not None:
            f.backend, f.device = backend, device
        elif device is not None:
            f.device = device
        f._target_ = usable_target(f.backend, f.device)
        with f._target_.scope():
            f.members_ = [{k2: f._target_.from_numpy(v) for k2, v in groups[g].items()} for g in names]
        f.model_, f.params_ = model, f.members_[0]
        return f

    def _frame(self, out: dict) -> Any:
        if self._index is None:
            return out
        import pandas as pd

        if hasattr(self._index, "to_timestamp"):
            index = pd.PeriodIndex(out["time"], freq=self._index.freq)
        else:
            index = pd.DatetimeIndex(out["time"])
        return pd.DataFrame({k: v for k, v in out.items() if k != "time"}, index=index)
