"""PNG plots of a run (a plotting module: imports matplotlib lazily, headless)."""

from __future__ import annotations


def _plt():
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
    ax.set_title(title)
    ax.grid(True, which=grid, alpha=0.3)
    ax.legend()
    from rnnx.io import atomic

    try:
        with atomic.replacing(path) as f:
            fig.savefig(f, dpi=110, format="png")
    finally:
        plt.close(fig)


def _plottable(values: list[float]) -> list[float]:
    """NaN (a gap) for what a log axis cannot show: inf, overflowing or non-positive values."""
    return [v if (v == v and 0 < v < 1e100) else float("nan") for v in values]


def convergence(history: list[dict], path: str, title: str) -> None:
    """Train and validation MSE per epoch, log scale."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    ep = [r["epoch"] for r in history]
    ax.semilogy(ep, _plottable([r["train_mse"] for r in history]), label="train MSE")
    val = _plottable([r["val_mse"] for r in history])
    if any(v == v for v in val):  # not all NaN
        ax.semilogy(ep, val, label="validation MSE")
    _finish(plt, fig, ax, path, title=title, xlabel="epoch", ylabel="MSE (series units)", grid="both")


def time_axis(index: list[int], labels: tuple[str, ...] | None) -> tuple[list, str]:
    """The x values of rows ``index`` and the axis label: the time column's labels as dates
    when they all parse as ISO dates/times (``--time-column``), else the row indices."""
    if labels:
        import numpy as np

        try:
            return list(np.array([labels[i] for i in index], dtype="datetime64[s]")), "time"
        except (ValueError, TypeError, IndexError):
            pass
    return list(index), "series index"


def predictions(index: list, truth: list[float], pred: list[float], persistence: list[float],
                path: str, title: str, xlabel: str = "series index") -> None:
    """The test part: truth, the model's one-step forecasts and the persistence baseline."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    ax.plot(index, truth, color="black", lw=2, label="truth")
    lim = 1e6 * (1 + max(abs(v) for v in truth))
    ax.plot(index, [v if abs(v) < lim else float("nan") for v in pred], color="tab:red", lw=1.2, ls="--",
            label="rnnx forecast")
    ax.plot(index, persistence, color="tab:gray", lw=0.8, alpha=0.7, label="persistence (last value)")
    _finish(plt, fig, ax, path, title=title, xlabel=xlabel, ylabel="value")


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
    from rnnx.io import atomic

    try:
        with atomic.replacing(path) as f:
            fig.savefig(f, dpi=110, format="png")
    finally:
        plt.close(fig)


def prediction_panels(index: list, names: list[str], truth: list[list[float]], pred: list[list[float]],
                      persistence: list[list[float]], path: str, titles: list[str], title: str,
                      xlabel: str = "series index") -> None:
    """:func:`predictions` for several targets: one panel per target (``names[k]``, with
    its values ``truth[k]``, ``pred[k]``, ``persistence[k]`` and panel title ``titles[k]``)."""
    plt = _plt()
    fig, axes = _panels(plt, len(names))
    for ax, name, t, p, b in zip(axes, names, truth, pred, persistence):
        ax.plot(index, t, color="black", lw=2, label="truth")
        lim = 1e6 * (1 + max(abs(v) for v in t))
        ax.plot(index, [v if abs(v) < lim else float("nan") for v in p], color="tab:red", lw=1.2, ls="--",
                label="rnnx forecast")
        ax.plot(index, b, color="tab:gray", lw=0.8, alpha=0.7, label="persistence (last value)")
        ax.set_ylabel(name)
    _finish_panels(plt, fig, axes, path, title=title, xlabel=xlabel, titles=titles)


def forecast_panels(history_index: list[int], history: list[list[float]], index: list[int],
                    values: list[list[float]], names: list[str], path: str, title: str) -> None:
    """:func:`forecast` for several targets: one panel per target."""
    plt = _plt()
    fig, axes = _panels(plt, len(names))
    for ax, name, h, v in zip(axes, names, history, values):
        ax.plot(history_index, h, color="black", label="series")
        ax.plot(index, v, color="tab:red", ls="--", marker=".", label="forecast")
        ax.set_ylabel(name)
    _finish_panels(plt, fig, axes, path, title=title, xlabel="series index", titles=list(names))


def forecast(history_index: list[int], history: list[float], index: list[int], values: list[float],
             path: str, title: str) -> None:
    """The end of the series and the autoregressive forecast that continues it."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    ax.plot(history_index, history, color="black", label="series")
    ax.plot(index, values, color="tab:red", ls="--", marker=".", label="forecast")
    _finish(plt, fig, ax, path, title=title, xlabel="series index")
