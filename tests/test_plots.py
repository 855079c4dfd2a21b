"""What a student and a forecaster see in a run's PNGs (issue 30 item 4), asserted on the
matplotlib objects each figure holds (axes, labels, titles, line data, ticks), never on pixels:
predictions.png says one-step predictions, names the target, has dates on its axis when the
run has a time column and a residual panel; convergence.png marks the best epoch; the
diagnostics figure of a run of one (or few) recorded epochs has integer epoch ticks and no
empty panel; compare.png keeps overlapping traces apart."""

from __future__ import annotations

import datetime
import json
import math
import os

import numpy as np
import pytest

import rnnx.cli
from rnnx.diagnostics import plots

pytest.importorskip("matplotlib")


@pytest.fixture
def figures(monkeypatch):
    """Every figure rnnx.diagnostics.plots.save writes, by path (the figure object, still inspectable
    after it is closed); the PNG is written as before."""
    drawn: dict[str, object] = {}
    real = plots.save

    def keep(plt, fig, path, **k):
        drawn[os.path.abspath(path)] = fig
        real(plt, fig, path, **k)

    monkeypatch.setattr(plots, "save", keep)
    return drawn


def _texts(fig) -> list[str]:
    """Every piece of text the figure shows: titles, axis labels, legends, notes."""
    out = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()] + [t.get_text() for t in ax.texts]
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return out


def _line(ax, label: str):
    found = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(found) == 1, [ln.get_label() for ln in ax.get_lines()]
    return found[0]


@pytest.fixture
def dated(tmp_path):
    """A CSV of a daily series with its date column written as the Seattle weather file
    writes it (``2012/01/01``)."""
    f = tmp_path / "daily.csv"
    day0 = datetime.date(2012, 1, 1)
    rows = [f"{(day0 + datetime.timedelta(days=i)).strftime('%Y/%m/%d')},{math.sin(i / 5) + 10:.6f}" for i in range(160)]
    f.write_text("date,level\n" + "\n".join(rows) + "\n")
    return f, day0, 160


def test_predictions_png_is_one_step_names_the_target_dates_its_axis_and_shows_residuals(dated, tmp_path, figures,
                                                                                        capsys):
    f, day0, n = dated
    out = tmp_path / "r"
    assert rnnx.cli.main(["train", "--csv", str(f), "--targets", "level", "--time-column", "date", "--epochs", "3",
                          "--hidden", "4", "--quiet", "--out", str(out)]) == 0, capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    fig = figures[str(out / "predictions.png")]
    series, resid = fig.axes  # the series over its residuals
    texts = " ".join(_texts(fig))
    assert "one-step predictions" in texts and "forecast" not in texts, texts
    assert series.get_ylabel().startswith("level"), series.get_ylabel()
    truth, pred = _line(series, "truth"), _line(series, "rnnx one-step prediction")
    xs = truth.get_xdata()
    assert len(xs) == m["windows"]["test"]
    last = np.datetime64(day0 + datetime.timedelta(days=n - 1), "D")  # the test part ends with the file's last day
    assert np.datetime64(xs[-1], "D") == last and np.datetime64(xs[0], "D") == last - (len(xs) - 1)
    assert resid.get_xlabel() == "date" and series.get_shared_x_axes().joined(series, resid)
    r = _line(resid, "prediction - truth")
    np.testing.assert_allclose(r.get_ydata(), np.asarray(pred.get_ydata()) - np.asarray(truth.get_ydata()))
    assert "prediction - truth" in resid.get_ylabel()

    conv = figures[str(out / "convergence.png")]
    (ax,) = conv.axes
    best = _line(ax, f"best epoch {m['best_epoch']}")
    assert list(best.get_xdata()) == [m["best_epoch"]] * 2
    import csv

    with open(out / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    sparse = any(not r["train_mse"] for r in rows)  # the train MSE at some epochs only: its legend says so
    train = _line(ax, "train MSE (at the marked epochs)" if sparse else "train MSE")
    assert list(train.get_xdata()) == [int(r["epoch"]) for r in rows if r["train_mse"]]


def test_units_name_the_value_axes_of_predictions_and_forecast_and_a_wrong_count_is_refused(dated, tmp_path, figures,
                                                                                             capsys):
    f, _, _ = dated
    out = tmp_path / "u"
    assert rnnx.cli.main(["train", "--csv", str(f), "--targets", "level", "--time-column", "date", "--units", "m",
                          "--epochs", "2", "--hidden", "4", "--quiet", "--out", str(out)]) == 0, capsys.readouterr().err
    series, resid = figures[str(out / "predictions.png")].axes
    assert series.get_ylabel() == "level (m)" and resid.get_ylabel() == "prediction - truth (m)"
    assert rnnx.cli.main(["forecast", "--model", str(out), "--steps", "3"]) == 0, capsys.readouterr().err
    (ax,) = figures[str(out / "forecast.png")].axes
    assert ax.get_ylabel() == "level (m)"
    capsys.readouterr()
    assert rnnx.cli.main(["train", "--csv", str(f), "--targets", "level", "--units", "m,s", "--epochs", "1",
                          "--out", str(tmp_path / "bad")]) == 2
    assert capsys.readouterr().err == ("rnnx train: error: --units: 2 units (m,s) for 1 target (level); expected one per "
                                       "--targets column\n")
    assert not (tmp_path / "bad").exists()
    assert rnnx.cli.main(["train", "--preset", "seed004", "--epochs", "1", "--quiet", "--out", str(tmp_path / "w")]) == 0
    series, _ = figures[str(tmp_path / "w" / "predictions.png")].axes
    assert series.get_ylabel() == "temp_max (degC)"  # the preset's unit
    two = tmp_path / "two.csv"
    two.write_text("a,b\n" + "".join(f"{math.sin(i / 5):.5f},{math.cos(i / 7):.5f}\n" for i in range(120)))
    assert rnnx.cli.main(["train", "--csv", str(two), "--targets", "a,b", "--units", "m,s", "--epochs", "1",
                          "--hidden", "4", "--quiet", "--out", str(tmp_path / "ab")]) == 0, capsys.readouterr().err
    assert [ax.get_ylabel() for ax in figures[str(tmp_path / "ab" / "predictions.png")].axes] == [
        "a (m)", "prediction - truth (m)", "b (s)", "prediction - truth (s)"]


def test_a_preset_names_itself_on_the_y_axis(tmp_path, figures, capsys):
    out = tmp_path / "p"
    assert rnnx.cli.main(["train", "--preset", "seed001", "--epochs", "2", "--quiet", "--out", str(out)]) == 0, \
        capsys.readouterr().err
    series, resid = figures[str(out / "predictions.png")].axes
    assert series.get_ylabel().startswith("seed001") and series.get_xlabel() == ""
    assert resid.get_xlabel() == "series index"


def test_time_axis_reads_dates_with_dashes_or_slashes_and_leaves_other_labels_as_indices():
    xs, label = plots.time_axis([0, 2], ("2012/01/01", "2012/01/02", "2012/01/03"), "date")
    assert label == "date" and [np.datetime64(x, "D") for x in xs] == [np.datetime64("2012-01-01"),
                                                                        np.datetime64("2012-01-03")]
    xs, label = plots.time_axis([1], ("2012-01-01 10:00", "2012-01-01 11:30"))
    assert label == "time" and np.datetime64(xs[0], "m") == np.datetime64("2012-01-01T11:30")
    assert plots.time_axis([0, 1], ("a", "b"), "date") == ([0, 1], "series index")
    assert plots.time_axis([0, 1], None) == ([0, 1], "series index")


def test_prediction_panels_give_each_target_its_residuals(tmp_path, figures):
    idx = list(range(5))
    truth, pred = [[1.0, 2, 3, 4, 5], [0.0, 0, 1, 1, 0]], [[1.5, 2, 2, 4, 6], [0.0, 1, 1, 1, 0]]
    plots.prediction_panels(idx, ["a", "b"], truth, pred, truth, str(tmp_path / "p.png"), ["a: MSE", "b: MSE"],
                            "t test part")
    fig = figures[str(tmp_path / "p.png")]
    assert len(fig.axes) == 4 and [ax.get_ylabel().split(" ")[0] for ax in fig.axes[::2]] == ["a", "b"]
    for k, ax in enumerate(fig.axes[1::2]):
        r = _line(ax, "prediction - truth")
        np.testing.assert_allclose(r.get_ydata(), np.subtract(pred[k], truth[k]))
    assert "forecast" not in " ".join(_texts(fig))


def _integer_epoch_ticks(fig) -> None:
    for ax in fig.axes:
        for axis, label in ((ax.xaxis, ax.get_xlabel()), (ax.yaxis, ax.get_ylabel())):
            if "epoch" not in label:
                continue
            lo, hi = sorted(axis.get_view_interval())
            ticks = [t for t in axis.get_ticklocs() if lo - 1e-9 <= t <= hi + 1e-9]
            assert ticks and all(float(t).is_integer() for t in ticks), (label, ticks)


def _no_empty_panel(fig) -> None:
    for ax in fig.axes:
        assert ax.get_lines() or ax.images or ax.collections or ax.patches, ax.get_title()


def test_the_diagnostics_figure_of_one_or_few_epochs_has_integer_epochs_and_no_empty_panel(tmp_path, figures, capsys):
    out = tmp_path / "d"
    assert rnnx.cli.main(["train", "--preset", "seed001", "--epochs", "2", "--diagnostics", "--quiet",
                          "--out", str(out)]) == 0, capsys.readouterr().err
    trained = figures[str(out / "diagnostics.png")]  # epochs 0, 1, 2 and every update
    _integer_epoch_ticks(trained)
    _no_empty_panel(trained)
    assert rnnx.cli.main(["diagnose", "--model", str(out)]) == 0, capsys.readouterr().err
    fig = figures[str(out / "diagnose" / "diagnostics.png")]  # one epoch: the trained model
    _integer_epoch_ticks(fig)
    _no_empty_panel(fig)
    assert any("no per-update records" in t for t in _texts(fig)), _texts(fig)
    flow = fig.axes[0]
    assert "epoch 2" in [ln.get_label() for ln in flow.get_lines()]  # the trained model's epoch, named


def test_compare_png_keeps_identical_traces_apart(tmp_path, figures):
    from rnnx.cli import diagnose_app as D
    from rnnx.cli.settings import TrainSettings

    ups = [{"update": i + 1, "grad_norm": 2.0 / (i + 1), "clipped": False} for i in range(12)]
    other = [{**u, "grad_norm": u["grad_norm"] * 0.5} for u in ups]
    runs = [{"variant": v, "seed": 0, "test_mse": 1.0, "failed": None, "diagnostics": {"updates": u, "epochs": []}}
            for v, u in (("none", ups), ("norm=0.1", other), ("norm=1", other), ("norm=10", ups),
                         ("value=0.1", other), ("value=1", ups))]
    table = [{"variant": v, "test_mse_mean": 1.0} for v, _ in D.VARIANTS["clip"]]
    D._figure("clip", runs, table, "verdict", str(tmp_path / "compare.png"), TrainSettings(preset="seed001"))
    a = figures[str(tmp_path / "compare.png")].axes[0]
    lines = a.get_lines()
    assert len(lines) == 6
    looks = [(ln.get_linestyle(), ln.get_marker()) for ln in lines]
    assert len(set(looks)) == 6, looks  # each trace drawn its own way
    labels = [ln.get_label() for ln in lines]
    assert labels == ["none", "norm=0.1", "norm=1 (identical to norm=0.1)", "norm=10 (identical to none)",
                      "value=0.1 (identical to norm=0.1)", "value=1 (identical to none)"], labels


def test_an_exploded_run_keeps_its_titles_on_the_figure_and_says_why_a_panel_is_empty(tmp_path, figures, capsys):
    """A run that explodes: convergence.png's long note is broken into lines that fit the figure
    (each <= 78 characters, not clipped at both edges), and ``diagnose --model`` of its last
    checkpoint says in the gradient-flow and Jacobian panels that every value is off the log
    scale, and names the parameters whose gradient has no bar, instead of drawing empty axes."""
    out = tmp_path / "x"
    assert rnnx.cli.main(["train", "--preset", "seed001", "--optimizer", "sgd", "--lr", "3", "--nonlinearity", "relu",
                          "--no-clip", "--diagnostics", "--quiet", "--out", str(out)]) == 3
    capsys.readouterr()
    title = figures[str(out / "convergence.png")].axes[0].get_title()
    assert "off the scale from epoch" in title and max(len(line) for line in title.split("\n")) <= 78, title
    assert rnnx.cli.main(["diagnose", "--model", str(out)]) == 0, capsys.readouterr().err
    fig = figures[str(out / "diagnose" / "diagnostics.png")]
    flow, jac, bars = fig.axes[0], fig.axes[1], fig.axes[3]
    for ax in (flow, jac):  # a dead ReLU's zeros and an overflow: the panel counts what it cannot draw
        assert any(plots.OFF_SCALE in t.get_text() for t in ax.texts), [t.get_text() for t in ax.texts]
    for ln in jac.get_lines():  # a lone point left is drawn as a point
        assert ln.get_marker() == "."
    assert plots.OFF_SCALE in bars.get_title() and "weight_hh_l0" in bars.get_title(), bars.get_title()


@pytest.mark.parametrize("low, high, plain", [(12.0, 36.0, True), (0.002, 0.05, True), (1e-7, 3.0, False)])
def test_convergence_png_labels_a_narrow_log_axis_in_plain_numbers(tmp_path, figures, low, high, plain):
    """seed004's 5 epochs (MSE 35 -> 12) read ``3 x 10^1`` / ``2 x 10^1`` on the y axis; a
    log axis of under three decades is now labelled ``30``, ``20`` (``0.003``), a wide one
    keeps matplotlib's powers of ten."""
    ratio = (high / low) ** 0.25
    history = [{"epoch": e, "train_mse": low * ratio ** (4 - e) * 1.1, "val_mse": low * ratio ** (4 - e)}
               for e in range(5)]
    path = str(tmp_path / "convergence.png")
    plots.convergence(history, path, "t", best_epoch=4)
    fig = figures[os.path.abspath(path)]
    fig.canvas.draw()
    shown = [t.get_text() for t in fig.axes[0].get_yticklabels(which="both") if t.get_text()]
    assert shown, "no y tick labelled"
    math_text = [t for t in shown if "$" in t or "10^" in t or "times" in t]
    if plain:
        assert not math_text, shown
        assert all(float(t) > 0 for t in shown), shown
    else:
        assert math_text, shown
