"""From a series, or from named columns of a table, to train / val / test arrays on a
backend, and the presets of the seed workloads.  Arrays are time-major: x (T, N, I)
(I = 1 for a series, the number of input columns for a table); y (N, 1) many-to-one or
(T, N, 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rnnx import data as D


@dataclass
class Part:
    x: Any  # (T, N, 1), normalised
    y: Any  # (N, 1) or (T, N, 1), normalised
    last_target: list[float]  # the value after each window, original units
    last_input: list[float]  # each window's last input: the persistence forecast
    target_index: list[int]
    #: with --difference: the target's level at each window's end, which the modelled
    #: change is added to (predictions and metrics are then in levels)
    base: list[float] | None = None

    @property
    def n(self) -> int:
        return len(self.last_target)


@dataclass
class Dataset:
    series: list[float]
    norm: D.Normaliser
    window: int
    horizon: int
    parts: dict[str, Part] = field(default_factory=dict)
    #: a table run: the input columns' names and normalisers (``norm`` is the target's)
    inputs: tuple[str, ...] = ()
    scalers: tuple[D.Normaliser, ...] = ()
    #: the time column's label of every row (plots), or None
    time: tuple[str, ...] | None = None

    def persistence_mse(self, part: str = "test") -> float:
        """Test MSE of predicting the last seen value (original units); ``inf`` when the
        squared errors exceed float64 (values beyond about 1e154)."""
        p = self.parts[part]
        if p.n == 0:
            return float("nan")
        return sum((a - b) * (a - b) for a, b in zip(p.last_input, p.last_target)) / p.n


def _check_normalised(series: list[float], norm: D.Normaliser, xp: Any, dtype: Any) -> None:
    """Every ``norm(v)`` of the series must be a finite number of ``dtype``: a value far
    outside the training part (or an unnormalised series in float32) is a DataError."""
    top = max(abs(norm(v)) for v in series)
    info = xp.finfo(dtype)
    if not top <= float(info.max):  # also catches inf and nan
        raise D.DataError(f"csv: values from {min(series):.3g} to {max(series):.3g} normalise (mean {norm.mean:.3g}, "
                          f"std {norm.std:.3g}) to {top:.3g}, beyond float{info.bits} (largest {float(info.max):.3g}); "
                          "rescale the column")


def build(series: list[float], *, window: int, horizon: int, split: tuple[float, float, float],
          every_step: bool, final_target_every_step: bool = False, xp: Any, dtype: Any, device: Any,
          norm: D.Normaliser | None = None) -> Dataset:
    """Window the series, split in time order, normalise on the training part, and put
    each part on the backend.  ``final_target_every_step`` reproduces seed 001's quirk:
    every step of a window is trained towards the window's final target.  A given ``norm``
    (a trained model's) is used as it is, and then the split may leave no training part."""
    if len(series) < window + horizon:
        raise D.too_short(len(series), window, horizon)
    w = D.windows(series, window, horizon, every_step=every_step and not final_target_every_step)
    n_train, n_val, n_test = D.split_counts(len(w.inputs), split, need_train=norm is None)
    if norm is None:
        norm = D.Normaliser.fit(series[: w.target_index[n_train - 1] + 1])
    _check_normalised(series, norm, xp, dtype)
    ds = Dataset(series, norm, window, horizon)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(w.inputs))}
    for name, (a, b) in bounds.items():
        ins = [norm(r) for r in w.inputs[a:b]]
        last_target = [series[i] for i in w.target_index[a:b]]
        if b > a:
            x = xp.asarray(ins, dtype=dtype, device=device)  # (N, T)
            x = xp.expand_dims(xp.permute_dims(x, (1, 0)), axis=2)  # (T, N, 1)
            if final_target_every_step:
                y = xp.broadcast_to(xp.asarray([norm(v) for v in last_target], dtype=dtype, device=device)[None, :, None],
                                    (window, b - a, 1))
            elif every_step:
                y = xp.expand_dims(xp.permute_dims(xp.asarray([norm(t) for t in w.targets[a:b]], dtype=dtype,
                                                              device=device), (1, 0)), axis=2)
            else:
                y = xp.asarray([[norm(v)] for v in last_target], dtype=dtype, device=device)
        else:
            x = y = None
        ds.parts[name] = Part(x, y, last_target, [r[-1] for r in w.inputs[a:b]], w.target_index[a:b])
    return ds


def build_table(values: Any, *, columns: tuple[str, ...], inputs: tuple[str, ...], target: str, window: int,
                horizon: int, split: tuple[float, float, float], every_step: bool, difference: bool = False,
                final_target_every_step: bool = False,
                time: tuple[str, ...] | None = None, xp: Any, dtype: Any, device: Any,
                norm: D.Normaliser | None = None, scalers: tuple[D.Normaliser, ...] | None = None) -> Dataset:
    """Windows of a table (``values`` (N, C) float64 NumPy, ``columns`` its names): each
    window's ``inputs`` columns, the ``target`` column ``horizon`` rows after its end (or at
    every step), split in time order; each input column and the target normalised on the
    training rows (``norm``/``scalers``: a trained model's, used as they are).

    ``difference``: the inputs are the first differences of the input columns and the
    modelled quantity is the change of the target over the horizon,
    ``y[t] - y[t - horizon]``; each window keeps ``base`` = the target's level at its end,
    so predictions (``base`` + change) and every metric stay in the target's levels.
    ``final_target_every_step``: many-to-many towards the window's one target at every step
    (what Keras does with ``return_sequences=True`` and a (N, 1) target).
    ``series`` holds the target column's levels (persistence, plots)."""
    from rnnx import tables

    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    in_cols = [columns.index(c) for c in inputs]
    t_col = columns.index(target)
    levels = values[:, t_col]
    if difference:
        if values.shape[0] < 2:
            raise D.too_short(values.shape[0], window, horizon)
        feats = tables.difference(values, list(range(values.shape[1])))  # row j is row j+1's change
        x, _, rows = tables.windows(feats, input_cols=in_cols, target_cols=[t_col], window=window,
                                    horizon=horizon)
        rows = rows + 1  # the target's row in the table
        y = (levels[rows] - levels[rows - horizon])[:, None]
        first = 1
    else:
        x, y, rows = tables.windows(values, input_cols=in_cols, target_cols=[t_col], window=window, horizon=horizon,
                                    every_step=every_step and not final_target_every_step)
        first = 0
    n_train, n_val, n_test = D.split_counts(len(rows), split, need_train=norm is None)
    if norm is None:
        fit_rows = (feats if difference else values)[: rows[n_train - 1] + 1 - first]
        scalers = tuple(D.Normaliser.fit(fit_rows[:, j].tolist()) for j in in_cols)
        if difference:
            norm = D.Normaliser.fit(y[:n_train, 0].tolist())
        else:
            norm = D.Normaliser.fit(fit_rows[:, t_col].tolist())
    mean = np.asarray([s.mean for s in scalers])
    std = np.asarray([s.std for s in scalers])
    xz = (x - mean) / std
    yz = (y - norm.mean) / norm.std
    for name, arr in (("inputs", xz), ("target", yz)):
        top = float(np.max(np.abs(arr))) if arr.size else 0.0
        info = xp.finfo(dtype)
        if not top <= float(info.max):
            raise D.DataError(f"csv: the {name} normalise to values up to {top:.3g}, beyond float{info.bits}; "
                              "rescale the column")
    ds = Dataset(levels.tolist(), norm, window, horizon, inputs=tuple(inputs), scalers=tuple(scalers), time=time)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(rows))}
    for name, (a, b) in bounds.items():
        idx = rows[a:b].tolist()
        end = [r - horizon for r in idx]  # the window's last row (many-to-one)
        if b > a:
            xt = xp.asarray(np.ascontiguousarray(np.transpose(xz[a:b], (1, 0, 2))), dtype=dtype, device=device)
            yb = yz[a:b]
            if final_target_every_step:
                yb = np.repeat(yb[:, None, :], window, axis=1)
            if yb.ndim == 3:  # every step: (N, T, 1) -> (T, N, 1)
                yb = np.transpose(yb, (1, 0, 2))
            yt = xp.asarray(np.ascontiguousarray(yb), dtype=dtype, device=device)
        else:
            xt = yt = None
        ds.parts[name] = Part(xt, yt, levels[idx].tolist(), levels[end].tolist(), idx,
                              base=levels[end].tolist() if difference else None)
    return ds


#: The seed workloads.  Each is a set of CLI defaults; the README says why these values.
PRESETS: dict[str, dict[str, Any]] = {
    # seed 000: 175 training windows of 25 steps of sin(t), t = 0, 1, 2, ... (1 rad per step),
    # the 26th value as target; vanilla tanh RNN with 100 hidden units.  The series is
    # extended to 250 values so that 25 further windows validate and 25 test.
    "seed000": dict(series=("sine-step", 250, 0.0, 1.0), window=25, horizon=1, split=(0.7777777777777778, 0.1111111111111111, 0.1111111111111111),
                    cell="rnn", hidden=100, layers=1, objective="many-to-one", optimizer="adam", lr=0.005,
                    batch_size=25, epochs=300, clip_norm=1.0, early_stopping=50),
    # seed 001: sin at 1000 points over [0, 100], windows of 10, 80/20 split in time order
    # (the last 10% of the 80% validates), hidden 16.
    "seed001": dict(series=("sine-linspace", 1000, 0.0, 100.0), window=10, horizon=1, split=(0.72, 0.08, 0.2),
                    cell="rnn", hidden=16, layers=1, objective="many-to-one", optimizer="adam", lr=0.01,
                    batch_size=64, epochs=150, clip_norm=1.0, early_stopping=30),
    # seed 001 as its listing trains: per-sample SGD at lr 0.005 for 2000 epochs, every
    # gradient clipped element-wise to [-1, 1], weights N(0, 0.01^2) and zero biases, the
    # loss 0.5 * sum_t (y_t - target)^2 with the window's final target at every step, raw
    # (unnormalised) values; bias_hh stays at zero so that bias_ih is the listing's one b_h.
    "seed001-original": dict(series=("sine-linspace", 1000, 0.0, 100.0), window=10, horizon=1, split=(0.8, 0.0, 0.2),
                             cell="rnn", hidden=16, layers=1, objective="many-to-many", optimizer="sgd", lr=0.005,
                             batch_size=1, epochs=2000, clip_value=1.0, loss="half-sse", init="normal-0.01",
                             final_target_every_step=True, freeze=("bias_hh_l0",), normalise=False),
}


#: Presets of a table: the CSV a package bundles and its columns (``--inputs``/``--targets``).
PRESETS["seed004"] = dict(
    # seed 004: the course notes' Keras model, LSTM(50, activation='sigmoid',
    # return_sequences=True) + Dense(1), MSE, Adam, batch 4, shuffle=False, on weather-station
    # data: here the Seattle station vega_datasets bundles; the next day's temp_max from the
    # past 14 days of precipitation, temp_max, temp_min and wind; chronological 70/15/15.  The
    # sequence output trains every step towards the window's target (Keras broadcasts the
    # (N, 1) target over the 14 steps); early stopping (patience 20) keeps the best epoch.
    table=("vega_datasets", "seattle-weather"), inputs=("precipitation", "temp_max", "temp_min", "wind"),
    targets=("temp_max",), time_column="date", missing="error", window=14, horizon=1, split=(0.7, 0.15, 0.15),
    cell="lstm", hidden=50, layers=1, activation="sigmoid", objective="many-to-many", final_target_every_step=True,
    optimizer="adam", lr=1e-3, batch_size=4, shuffle=False, epochs=300, early_stopping=20)


#: seed004 corrected, the variant docs/real-data.md chose on validation MSE among LSTM/GRU(50) x lr
#: 1e-3/3e-3 (3 seeds): a many-to-one tanh LSTM read at the last step, shuffled batches of 32,
#: clipping; test MSE there 7.49 +- 0.60 degC^2 (torch LSTM(50) 7.10 +- 0.33, persistence 8.57).
PRESETS["seed004-corrected"] = {**PRESETS["seed004"], "activation": "tanh", "objective": "many-to-one",
                                "final_target_every_step": False, "batch_size": 32, "shuffle": True, "lr": 3e-3,
                                "clip_norm": 1.0}


def preset_table(spec: tuple) -> str:
    """The path of a preset's bundled CSV (``("vega_datasets", name)``)."""
    package, name = spec
    try:
        from vega_datasets import local_data
    except ImportError:
        raise D.DataError(f"preset: its data ({name}.csv) comes with {package}: pip install 'rnnx[data]'") from None
    return getattr(local_data, name.replace("-", "_")).filepath


def preset_series(spec: tuple) -> list[float]:
    kind, n, a, b = spec
    if kind == "sine-step":
        return D.sine(n, a, 0.0, step=b)
    return D.sine(n, a, b)
