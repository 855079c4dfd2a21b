"""PNG plots of a run (a plotting module: imports matplotlib lazily, headless)."""

from __future__ import annotations

import re

__all__ = ["pyplot", "save", "plottable", "convergence", "time_axis", "predictions", "prediction_panels",
           "forecast_panels", "forecast", "forecast_bands", "backtest_steps", "diagnostics", "wrapped",
           "plain_log_labels", "OFF_SCALE"]


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg backend, imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(plt, fig, ax, path: str, *, title: str, xlabel: str, ylabel: str | None = None,
            grid: str = "major") -> None:
    """Labels, grid and legend, then write the PNG atomically (temp file + rename) and close."""
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.set_title(wrapped(title))
    ax.grid(True, which=grid, alpha=0.3)
    ax.legend()
    save(plt, fig, path)


def save(plt, fig, path: str, *, dpi: int = 110) -> None:
    """Write ``fig`` as a PNG atomically (temp file + rename), then close it."""
    from rnnx.io import atomic

    try:
        with atomic.replacing(path) as f:
            fig.savefig(f, dpi=dpi, format="png")
    finally:
        plt.close(fig)


#: What a log-scale panel says of values it cannot show (inf, NaN, > 1e100, <= 0).
OFF_SCALE = "zero, non-finite or off the log scale"


def wrapped(title: str, width: int = 78) -> str:
    """``title`` with each of its lines broken at ``width`` characters: a long note (an
    exploding run's) stays inside a 7-inch figure instead of running off both edges."""
    import textwrap

    return "\n".join(textwrap.fill(line, width) for line in title.split("\n"))


def plottable(values: list[float]) -> list[float]:
    """NaN (a gap) for what a log axis cannot show: inf, overflowing or non-positive values."""
    return [v if (v == v and 0 < v < 1e100) else float("nan") for v in values]


def convergence(history: list[dict], path: str, title: str, best_epoch: int | None = None) -> None:
    """Train and validation MSE per epoch, log scale; ``best_epoch`` (the epoch of the
    lowest validation MSE, metrics.json's ``best_epoch``) marked with a vertical line
    labelled ``best epoch N``.  A row whose ``train_mse`` is None (not computed at that
    epoch: ``rnnx train`` computes it every 10 epochs and at the last and best) has no
    training point; the points there are joined and marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    ep = [r["epoch"] for r in history]
    known = [r for r in history if r["train_mse"] is not None]
    sparse = len(known) < len(history)
    ax.semilogy([r["epoch"] for r in known], plottable([r["train_mse"] for r in known]),
                label="train MSE (at the marked epochs)" if sparse else "train MSE", marker="o" if sparse else None, ms=3)
    val = plottable([r["val_mse"] for r in history])
    if any(v == v for v in val):  # not all NaN
        ax.semilogy(ep, val, label="validation MSE")
    if best_epoch is not None and best_epoch in ep:
        ax.axvline(best_epoch, color="tab:green", ls=":", lw=1.2, label=f"best epoch {best_epoch}")
    _integer_ticks(ax.xaxis)
    plain_log_labels(ax)
    _finish(plt, fig, ax, path, title=title, xlabel="epoch", ylabel="MSE (series units)", grid="both")


def _integer_ticks(axis) -> None:
    """Ticks at whole numbers only (epochs, updates): never 79.6 ... 80.4."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def plain_log_labels(ax) -> None:
    """A log y axis spanning under three decades labelled in plain numbers (``20``, ``0.003``)
    instead of matplotlib's ``2 x 10^1`` on its minor ticks; the ticks labelled stay
    matplotlib's choice.  Call it once the data are drawn (it reads the y limits)."""
    from matplotlib.ticker import LogFormatterSciNotation

    class Plain(LogFormatterSciNotation):
        def __call__(self, x, pos=None):
            return f"{x:.4g}" if super().__call__(x, pos) else ""

    lo, hi = ax.get_ylim()
    if 0 < lo < hi < 1e3 * lo:
        ax.yaxis.set_major_formatter(Plain())
        ax.yaxis.set_minor_formatter(Plain(labelOnlyBase=False))


def time_axis(index: list[int], labels: tuple[str, ...] | None, name: str | None = None) -> tuple[list, str]:
    """The x values of rows ``index`` and the axis label: the time column's labels as dates
    when they all parse as dates/times -- ISO ``2012-01-31`` (a time may follow) or year-first
    with slashes ``2012/01/31`` -- labelled ``name`` (the time column's, default ``time``),
    else the row indices labelled ``series index``."""
    if labels:
        import numpy as np

        try:
            picked = [labels[i].strip() for i in index]
        except (IndexError, AttributeError):
            picked = None
        if picked:
            iso = [_SLASHED.sub(_iso_date, v) for v in picked]
            try:
                return list(np.array(iso, dtype="datetime64[s]")), name or "time"
            except (ValueError, TypeError):
                pass
    return list(index), "series index"


#: Year-first dates written with slashes (``2012/01/31``, the Seattle weather file's).
_SLASHED = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?=$|[ T])")


def _iso_date(m: re.Match) -> str:
    return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"


#: Values beyond this are drawn divided by a power of ten (the axis says which): matplotlib's
#: tick arithmetic overflows on ranges near the float64 limit (1.8e308).
_BIG = 1e100


def _drawable(*series: list[float]) -> tuple[list[list[float]], str, int]:
    """``series`` as they can be drawn: non-finite values as NaN (gaps), and all of them
    divided by ``10**k`` when the largest finite magnitude is beyond :data:`_BIG`; returns
    (the series, the axis label's suffix: ``""`` or ``" (x 1e308)"``, the number of
    non-finite values left out)."""
    import math

    finite = [abs(v) for s in series for v in s if math.isfinite(v)]
    top = max(finite, default=0.0)
    k = int(math.floor(math.log10(top))) if top > _BIG else 0
    out = [[v / 10.0**k if math.isfinite(v) else float("nan") for v in s] for s in series]
    dropped = sum(1 for s in series for v in s if not math.isfinite(v))
    return out, (f" (x 1e{k})" if k else ""), dropped


def _dropped_note(dropped: int) -> str:
    return f" [{dropped} non-finite value{'s' if dropped != 1 else ''} not drawn]" if dropped else ""


def _one_step(ax, rax, index: list, truth: list[float], pred: list[float], persistence: list[float],
              target: str, measure: str = "") -> int:
    """One target's test part on ``ax`` (truth, the one-step predictions, persistence; y
    axis ``target (measure)``, ``measure`` its unit or nothing) and its residuals on ``rax``
    (prediction - truth, persistence - truth, zero marked; in the same unit); returns the
    number of non-finite values not drawn."""
    (truth, pred, persistence), unit, dropped = _drawable(truth, pred, persistence)
    lim = 1e6 * (1 + max((abs(v) for v in truth if v == v), default=0.0))
    pred = [v if abs(v) < lim else float("nan") for v in pred]
    ax.plot(index, truth, color="black", lw=2, label="truth")
    ax.plot(index, pred, color="tab:red", lw=1.2, ls="--", label="rnnx one-step prediction")
    ax.plot(index, persistence, color="tab:gray", lw=0.8, alpha=0.7, label="persistence (last value)")
    of = f" ({measure})" if measure else ""
    ax.set_ylabel(target + of + unit)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    rax.axhline(0.0, color="black", lw=0.8)
    rax.plot(index, [b - t for b, t in zip(persistence, truth)], color="tab:gray", lw=0.8, alpha=0.7,
             label="persistence - truth")
    rax.plot(index, [p - t for p, t in zip(pred, truth)], color="tab:red", lw=1.0, label="prediction - truth")
    rax.set_ylabel("prediction - truth" + of + unit, fontsize="small")
    rax.grid(True, alpha=0.3)
    rax.legend(fontsize="x-small", loc="upper left")
    return dropped


def _date_ticks(ax, index: list) -> None:
    """Concise date ticks when the x values are dates (:func:`time_axis`)."""
    import numpy as np

    if index and isinstance(index[0], np.datetime64):
        import matplotlib.dates as mdates

        loc = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def predictions(index: list, truth: list[float], pred: list[float], persistence: list[float],
                path: str, title: str, xlabel: str = "series index", target: str = "value", unit: str = "") -> None:
    """The test part's one-step predictions (each from the true window before it, not a
    forecast fed its own output): truth, the model's predictions and the persistence
    baseline against ``index`` (row indices, or dates from :func:`time_axis`), y axis named
    ``target``, and under it the residuals (prediction - truth); values near the float64
    limit drawn scaled, non-finite ones left out: both said."""
    prediction_panels(index, [target], [truth], [pred], [persistence], path, [""], title, xlabel, [unit])


def prediction_panels(index: list, names: list[str], truth: list[list[float]], pred: list[list[float]],
                      persistence: list[list[float]], path: str, titles: list[str], title: str,
                      xlabel: str = "series index", units: list[str] | None = None) -> None:
    """:func:`predictions` for several targets: per target (``names[k]`` in ``units[k]``, with its values
    ``truth[k]``, ``pred[k]``, ``persistence[k]`` and panel title ``titles[k]``) its panel
    and its residual panel under it; all panels share the x axis."""
    plt = pyplot()
    n = len(names)
    fig, axes = plt.subplots(2 * n, 1, figsize=(9, 3.4 * n + 0.8), layout="constrained", sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1] * n})
    axes = [row[0] for row in axes]
    notes = []
    for k, (name, t, p, b) in enumerate(zip(names, truth, pred, persistence)):
        ax = axes[2 * k]
        dropped = _one_step(ax, axes[2 * k + 1], index, t, p, b, name, (units or [""] * n)[k])
        note = (titles[k] if k < len(titles) else "") + _dropped_note(dropped)
        if n > 1:
            ax.set_title(note.strip(), fontsize="medium")
        else:
            notes.append(_dropped_note(dropped))
    _date_ticks(axes[-1], index)
    axes[-1].set_xlabel(xlabel)
    fig.suptitle(title + "".join(notes))
    save(plt, fig, path)


def _panels(plt, n: int, width: float = 9):
    """A figure of ``n`` stacked panels sharing the x-axis (one per target)."""
    fig, axes = plt.subplots(n, 1, figsize=(width, 2.6 * n + 0.8), layout="constrained", sharex=True, squeeze=False)
    return fig, [row[0] for row in axes]


def _finish_panels(plt, fig, axes, path: str, *, title: str, xlabel: str, titles: list[str]) -> None:
    """Each panel's title, label, grid and legend; the figure's title; the PNG written atomically."""
    for ax, t in zip(axes, titles):
        ax.set_title(t, fontsize="medium")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    axes[-1].set_xlabel(xlabel)
    fig.suptitle(title)
    save(plt, fig, path)


def forecast_panels(history_index: list[int], history: list[list[float]], index: list[int],
                    values: list[list[float]], names: list[str], path: str, title: str) -> None:
    """:func:`forecast` for several targets: one panel per target."""
    plt = pyplot()
    fig, axes = _panels(plt, len(names))
    titles = []
    for ax, name, h, v in zip(axes, names, history, values):
        (h, v), unit, dropped = _drawable(h, v)
        ax.plot(history_index, h, color="black", label="series")
        ax.plot(index, v, color="tab:red", ls="--", marker=".", label="forecast")
        ax.set_ylabel(name + unit)
        titles.append(name + _dropped_note(dropped))
    _finish_panels(plt, fig, axes, path, title=title, xlabel="series index", titles=titles)


def forecast(history_index: list[int], history: list[float], index: list[int], values: list[float],
             path: str, title: str, name: str = "value") -> None:
    """The end of the series and the autoregressive forecast that continues it; ``name`` labels the
    value axis."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    (history, values), unit, dropped = _drawable(history, values)
    ax.plot(history_index, history, color="black", label="series")
    ax.plot(index, values, color="tab:red", ls="--", marker=".", label="forecast")
    _finish(plt, fig, ax, path, title=title + _dropped_note(dropped), xlabel="series index",
            ylabel=name + unit if unit or name != "value" else None)


def forecast_bands(history_x: list, history: list[float], x: list, values: list[float],
                   bands: dict[str, tuple[list[float], list[float]]], path: str, title: str, *,
                   xlabel: str = "series index", ylabel: str = "value") -> None:
    """The series and a direct forecast that continues it, with its prediction intervals shaded
    (``bands``: level name -> (lower, upper), widest first drawn lightest); ``history_x`` and
    ``x`` row indices or dates (:func:`time_axis`: concise date ticks)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    ax.plot(history_x, history, color="black", label="series")
    for alpha, (name, (lo, hi)) in zip((0.18, 0.35, 0.5), sorted(bands.items(), key=lambda b: -float(b[0]))):
        ax.fill_between(x, lo, hi, color="tab:red", alpha=alpha, lw=0, label=f"{name}% interval")
    ax.plot(x, values, color="tab:red", ls="--", marker=".", label="forecast")
    _date_ticks(ax, list(history_x))
    _finish(plt, fig, ax, path, title=title, xlabel=xlabel, ylabel=ylabel)


def backtest_steps(mae: list[float], rmse: list[float], reference_mae: list[float], path: str, title: str, *,
                   reference: str = "seasonal naive MAE", ylabel: str = "error") -> None:
    """A rolling-origin backtest's errors by horizon step ``h = 1 .. H``: its MAE and RMSE per
    step over the origins (bars side by side) and a baseline's MAE per step from the same origins
    (``reference_mae``, a dashed line): where the bars rise above the line the model loses to it."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    steps = list(range(1, len(mae) + 1))
    ax.bar([s - 0.2 for s in steps], mae, width=0.4, color="tab:blue", label="MAE")
    ax.bar([s + 0.2 for s in steps], rmse, width=0.4, color="tab:orange", label="RMSE")
    ax.plot(steps, reference_mae, color="black", ls="--", marker="x", label=reference)
    ax.set_xticks(steps)
    top = max(v for v in (*mae, *rmse, *reference_mae) if v == v)  # NaN-free: the legend's row above the data
    ax.set_ylim(0, 1.3 * top if top > 0 else 1.0)
    _finish(plt, fig, ax, path, title=title, xlabel="horizon step", ylabel=ylabel, grid="major")


def diagnostics(d: dict, path: str, title: str, *, layer: int = 0, direction: int = 0) -> None:
    """The four panels of ``diagnostics.json`` (:meth:`rnnx.diagnostics.recorder.Recorder.to_json`), for
    one layer and direction: (1) log10 ||dL/dh_t|| over (epoch, step), a step no gradient
    reaches blank; (2) the Jacobian profile ||v^T dh_T/dh_t|| per epoch against the steps
    back from the last, log axis; (3) the fraction of saturated gates per gate type (mean
    over steps) per epoch; (4) the pre-clip gradient norm per update, log axis, with the
    clipping threshold and the clipped updates marked.  A record of one epoch (``rnnx
    diagnose --model``: the trained model, measured once) draws (1) and (3) against the step
    instead, and (4), having no per-update records, the gradient's norm per parameter on the
    probe batch.  Epoch axes tick whole epochs.  A panel whose record is absent
    (``--diagnostics`` without it) says so."""
    import math

    import numpy as np

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), layout="constrained")
    epochs = d.get("epochs") or []
    where = f"layer {layer}, direction {direction}"
    once = len(epochs) == 1  # the trained model, measured once: per step, not per epoch

    def pick(row: dict, key: str):
        v = row.get(key)
        return None if v is None else v[layer][direction]

    def labels(ax, xlabel: str, ylabel: str, grid: str) -> None:
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend()
        ax.grid(True, which=grid, alpha=0.3)

    def empty(ax, text: str) -> None:
        ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])

    def nan(v):
        return float("nan") if v is None else v

    def shown(values: list) -> bool:  # does a log axis show any of them?
        return any(v == v for v in plottable([nan(v) for v in values]))

    def note_off(ax, values: list) -> None:  # the steps a log axis leaves out, counted on the panel
        off = sum(v != v for v in plottable([nan(v) for v in values]))
        if off:
            ax.text(0.02, 0.02, f"{off} of {len(values)} steps {OFF_SCALE}", transform=ax.transAxes, fontsize="small")

    ax = axes[0][0]
    rows = [pick(r, "flow_h") for r in epochs]
    if rows and all(r is not None for r in rows) and once and not shown(rows[0]):
        empty(ax, f"epoch {epochs[0]['epoch']}: {OFF_SCALE} at every step")
    elif rows and all(r is not None for r in rows) and once:
        ax.semilogy(range(len(rows[0])), plottable([nan(v) for v in rows[0]]), marker=".",
                    label=f"epoch {epochs[0]['epoch']}")
        note_off(ax, rows[0])
        labels(ax, "step t", "||dL/dh_t||", "both")
        _integer_ticks(ax.xaxis)
    elif rows and all(r is not None for r in rows):
        grid = np.array([[math.log10(v) if v is not None and v > 0 else np.nan for v in r] for r in rows])
        im = ax.imshow(grid, aspect="auto", origin="lower", interpolation="nearest", cmap="viridis",
                       extent=(-0.5, grid.shape[1] - 0.5, epochs[0]["epoch"] - 0.5, epochs[-1]["epoch"] + 0.5))
        fig.colorbar(im, ax=ax, label="log10 ||dL/dh_t||")
        ax.set_xlabel("step t")
        ax.set_ylabel("epoch (0: before training)")
        _integer_ticks(ax.yaxis)
    else:
        empty(ax, "no gradient flow recorded (--diagnostics flow)")
    ax.set_title(f"gradient flow, mean over the probe batch ({where})")

    ax = axes[0][1]
    prof = [(r["epoch"], pick(r, "jacobian")) for r in epochs if r.get("jacobian") is not None]
    if prof and not any(shown(p) for _, p in prof):
        empty(ax, f"{OFF_SCALE} at every step")
    elif prof:
        chosen = prof if len(prof) <= 6 else [prof[round(i * (len(prof) - 1) / 5)] for i in range(6)]
        for e, p in chosen:
            back = list(range(len(p)))  # steps back from the final step
            vals = p[::-1] if direction == 0 else p
            ax.semilogy(back, plottable([nan(v) for v in vals]), label=f"epoch {e}", marker="." if once else None)
        if once:  # every step on the axis, a lone point left included
            note_off(ax, prof[0][1])
            ax.set_xlim(-0.5, len(prof[0][1]) - 0.5)
        labels(ax, "steps back from the last", "||v^T dh_T/dh_t||", "both")
        _integer_ticks(ax.xaxis)
    else:
        empty(ax, "no Jacobian profile recorded (--diagnostics jacobian)")
    ax.set_title("Jacobian profile")

    ax = axes[1][0]
    sat = [r for r in epochs if r.get("saturated")]
    if sat and once:
        for g, per in sat[0]["saturated"].items():
            v = per[layer][direction]
            ax.plot(range(len(v)), [nan(u) for u in v], marker=".", label=f"gate {g}")
        ax.set_ylim(-0.02, 1.02)
        labels(ax, "step t", "fraction saturated", "major")
        _integer_ticks(ax.xaxis)
        ax.set_title(f"gate saturation per step, epoch {sat[0]['epoch']}")
    elif sat:
        for g in sat[0]["saturated"]:
            ys = []
            for r in sat:
                v = [u for u in r["saturated"][g][layer][direction] if u is not None]
                ys.append(sum(v) / len(v) if v else float("nan"))
            ax.plot([r["epoch"] for r in sat], ys, marker=".", label=f"gate {g}")
        ax.set_ylim(-0.02, 1.02)
        labels(ax, "epoch", "fraction saturated", "major")
        _integer_ticks(ax.xaxis)
        ax.set_title("gate saturation, mean over steps")
    else:
        empty(ax, "no gate statistics recorded (--diagnostics gates)")
        ax.set_title("gate saturation, mean over steps")

    ax = axes[1][1]
    ups = d.get("updates") or []
    grads = (d.get("gradient") or {}).get("grad_norms") or {}
    if ups:
        n = [u["update"] for u in ups]
        g = plottable([u["grad_norm"] if u["grad_norm"] is not None else float("inf") for u in ups])
        ax.semilogy(n, g, lw=0.8, label="||g|| before clipping")
        cl = [(u["update"], u["grad_norm"]) for u in ups if u["clipped"] and u["grad_norm"] is not None]
        if cl:
            ax.semilogy(*zip(*cl), "r.", ms=3, label=f"clipped ({len(cl)})")
        bad = [u["update"] for u in ups if not u.get("finite", True)]
        for b in bad:
            ax.axvline(b, color="k", lw=0.8)
        if d.get("clip_norm"):
            ax.axhline(d["clip_norm"], color="r", ls="--", lw=1, label=f"--clip-norm {d['clip_norm']:g}")
        labels(ax, "update", "global gradient norm", "both")
        _integer_ticks(ax.xaxis)
        ax.set_title("gradient norm per update")
    elif grads:  # a trained model measured once (rnnx diagnose --model): its gradient per parameter
        names = list(grads)[::-1]
        ax.barh(names, plottable([nan(grads[k]) for k in names]), color="tab:blue")
        ax.set_xscale("log")
        ax.set_xlabel("||dL/dW|| on the probe batch")
        ax.grid(True, which="both", axis="x", alpha=0.3)
        total = d["gradient"].get("grad_norm")
        off = [k for k in names[::-1] if not shown([grads[k]])]
        ax.set_title("gradient per parameter" + (f" (global norm {total:.3g})" if total is not None else "")
                     + "\nno per-update records: a trained model is measured once"
                     + (f"\n{OFF_SCALE}, no bar:\n{wrapped(', '.join(off), 60)}" if off else ""), fontsize="medium")
    else:
        empty(ax, "no updates recorded (--diagnostics updates)")
        ax.set_title("gradient norm per update")
    fig.suptitle(title)
    save(plt, fig, path, dpi=100)
