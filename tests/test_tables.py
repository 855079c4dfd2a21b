"""rnnx.data.tables: many-column CSV tables (the Seattle weather file read as pandas reads it),
missing-value policies, one-line errors, differencing, the range warning, per-column scaling
and batch-first windows checked against a direct loop."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from rnnx.data import tables as T
from rnnx.data import DataChanged, DataError

WEATHER = ["precipitation", "temp_max", "temp_min", "wind"]


def _write(tmp_path, text: str, name: str = "data.csv") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def _weather_path() -> str:
    vega = pytest.importorskip("vega_datasets", reason="vega_datasets is not installed")
    return vega.local_data.seattle_weather.filepath


def test_seattle_weather_equals_pandas():
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    path = _weather_path()
    t = T.read_table(path, inputs=WEATHER, targets=["temp_max"], time_column="date")
    ref = pd.read_csv(path)
    assert t.values.shape == (1461, 4) and t.values.dtype == np.float64
    assert t.columns == tuple(WEATHER) and t.inputs == tuple(WEATHER) and t.targets == ("temp_max",)
    np.testing.assert_array_equal(t.values, ref[WEATHER].to_numpy(dtype=np.float64))
    assert t.time == tuple(ref["date"]) and t.time[0] == "2012/01/01"
    assert t.rows.tolist() == list(range(2, 1463))
    assert (t.filled, t.dropped) == (0, 0)
    assert t.input_index() == [0, 1, 2, 3] and t.target_index() == [1]
    with open(path, "rb") as f:
        assert t.digest == hashlib.sha256(f.read()).hexdigest()
    assert not t.values.flags.writeable


def test_targets_not_among_inputs_follow_them(tmp_path):
    path = _write(tmp_path, "t,a,b,c\n0,1,2,3\n1,4,5,6\n")
    t = T.read_table(path, inputs=["c", "a"], targets=["b", "a"])
    assert t.columns == ("c", "a", "b") and t.time is None
    np.testing.assert_array_equal(t.values, [[3, 1, 2], [6, 4, 5]])
    assert t.input_index() == [0, 1] and t.target_index() == [2, 1]


GAPS = "day,a,b\nd1,1,10\nd2,,20\nd3,3,NA\nd4,N/A,null\n\nd5,9,nan\nd6,NaN,60\n"


def test_missing_interpolate(tmp_path):
    path = _write(tmp_path, GAPS)
    t = T.read_table(path, inputs=["a"], targets=["b"], time_column="day", missing="interpolate")
    # a: 1, _, 3, _, 9, _ -> 2 (between 1 and 3), 6 (between 3 and 9), 9 (trailing: nearest)
    # b: 10, 20, _, _, _, 60 -> 30, 40, 50 (linear from 20 to 60)
    np.testing.assert_array_equal(t.values, [[1, 10], [2, 20], [3, 30], [6, 40], [9, 50], [9, 60]])
    assert t.rows.tolist() == [2, 3, 4, 5, 7, 8] and t.time == ("d1", "d2", "d3", "d4", "d5", "d6")
    assert (t.filled, t.dropped) == (6, 0)


def test_missing_interpolate_leading_gap_and_huge_values(tmp_path):
    path = _write(tmp_path, "a\nNA\n-1e308\n\n1e308\nnull\n")
    t = T.read_table(path, inputs=["a"], targets=["a"], missing="interpolate")
    # leading and trailing gaps take the nearest valid value; a blank line is skipped, not a gap
    np.testing.assert_array_equal(t.values[:, 0], [-1e308, -1e308, 1e308, 1e308])
    assert t.rows.tolist() == [2, 3, 5, 6] and t.filled == 2
    path = _write(tmp_path, "a,b\n-1.5e308,0\n,0\n1.5e308,0\n", "big.csv")
    t = T.read_table(path, inputs=["a", "b"], targets=["a"], missing="interpolate")
    np.testing.assert_array_equal(t.values[:, 0], [-1.5e308, 0.0, 1.5e308])  # no overflow to inf


def test_missing_drop(tmp_path):
    t = T.read_table(_write(tmp_path, GAPS), inputs=["a"], targets=["b"], time_column="day", missing="drop")
    np.testing.assert_array_equal(t.values, [[1, 10]])
    assert t.rows.tolist() == [2] and t.time == ("d1",) and (t.filled, t.dropped) == (0, 5)
    path = _write(tmp_path, "day,a\nd1,1\n,2\nd3,3\n", "t.csv")
    t = T.read_table(path, inputs=["a"], targets=["a"], time_column="day", missing="drop")
    assert t.values[:, 0].tolist() == [1, 3] and t.rows.tolist() == [2, 4] and t.dropped == 1


def test_unused_columns_may_be_missing_or_text(tmp_path):
    path = _write(tmp_path, "a,note,b\n1,,2\n3,rain,4\n")
    t = T.read_table(path, inputs=["a"], targets=["b"])
    np.testing.assert_array_equal(t.values, [[1, 2], [3, 4]])


def _error(tmp_path, text: str, **kw) -> str:
    path = _write(tmp_path, text)
    kw = {"inputs": ["a"], "targets": ["b"], **kw}
    with pytest.raises(DataError) as e:
        T.read_table(path, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    return msg.replace(repr(path), "F")


MISS = "missing value; pass --missing interpolate or --missing drop"
NEITHER = "expected a column that is neither an input nor a target"

#: name -> (file text, read_table arguments beyond inputs=["a"], targets=["b"], the message; F is the file)
ERRORS = {
    "missing-default": ("a,b\n1,2\n3,\n", {}, f"csv: F row 3, column 'b': {MISS}"),
    "missing-na": ("a,b\n1,2\nNA,4\n", {}, f"csv: F row 3, column 'a': {MISS}"),
    "short-row": ("a,b\n1,2\n3\n", {}, f"csv: F row 3, column 'b': {MISS}"),
    "not-a-number": ("a,wind\n1,2\n3,abc\n", {"targets": ["wind"]},
                     "csv: F row 3, column 'wind': 'abc' is not a number"),
    "inf": ("a,b\n1,inf\n", {},
            "csv: F row 2, column 'b': 'inf' is not finite (NaN/Inf); clean or interpolate the series first"),
    "no-column": ("a,b,c\n1,2,3\n", {"targets": ["x"]}, "targets: F has no column 'x' (columns: a, b, c)"),
    "no-input-column": ("a,b,c\n1,2,3\n", {"inputs": ["b", "y"]},
                        "inputs: F has no column 'y' (columns: a, b, c)"),
    "no-time-column": ("a,b\n1,2\n", {"time_column": "date"},
                       "time_column: F has no column 'date' (columns: a, b)"),
    "input-twice": ("a,b\n1,2\n", {"inputs": ["a", "b", "a"]}, "inputs: column 'a' listed twice"),
    "target-twice": ("a,b\n1,2\n", {"targets": ["b", "b"]}, "targets: column 'b' listed twice"),
    "no-inputs": ("a,b\n1,2\n", {"inputs": []}, "inputs: expected at least one column name, got none"),
    "no-targets": ("a,b\n1,2\n", {"targets": ()}, "targets: expected at least one column name, got none"),
    "time-is-input": ("a,b\n1,2\n", {"time_column": "a"}, f"time_column: 'a' is also in inputs; {NEITHER}"),
    "time-is-target": ("a,b\n1,2\n", {"time_column": "b"}, f"time_column: 'b' is also in targets; {NEITHER}"),
    "policy": ("a,b\n1,2\n", {"missing": "x"}, "missing: expected one of error, interpolate, drop, got 'x'"),
    "all-missing": ("a,b\n1,\n2,NA\n", {"missing": "interpolate"},
                    "csv: F column 'b': every cell is missing; nothing to interpolate from"),
    "all-dropped": ("a,b\n1,\n,2\n", {"missing": "drop"},
                    ("csv: F: every data row has a missing value in a used column; "
                     "no row is left after --missing drop")),
    "time-gap": ("d,a,b\nx,1,2\n,3,4\n", {"time_column": "d", "missing": "interpolate"},
                 ("csv: F row 3, column 'd': missing value; the time column cannot be interpolated; "
                  "fill it or pass --missing drop")),
    "time-missing": ("d,a,b\nx,1,2\n,3,4\n", {"time_column": "d"},
                     "csv: F row 3, column 'd': missing value; fill it or pass --missing drop"),
    "header-only": ("a,b\n", {}, "csv: F has a header but no data rows"),
    "empty": ("", {}, "csv: F is empty; expected a header row and numeric rows"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_messages(tmp_path, name):
    text, kw, want = ERRORS[name]
    assert _error(tmp_path, text, **kw) == want


def test_argument_types_and_digest(tmp_path):
    path = _write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(TypeError, match=r"^inputs: expected a list of column names, got str 'a'$"):
        T.read_table(path, inputs="a", targets=["b"])
    with pytest.raises(TypeError, match=r"^targets: expected column names \(strings\), got int 3$"):
        T.read_table(path, inputs=["a"], targets=[3])
    digest = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert T.read_table(path, inputs=["a"], targets=["b"], sha256=digest.upper()).digest == digest
    with pytest.raises(DataChanged, match=r"^csv: .* changed since the run began"):
        T.read_table(path, inputs=["a"], targets=["b"], sha256="0" * 64)


def test_difference_round_trip():
    rng = np.random.default_rng(0)
    v = np.cumsum(rng.integers(-5, 6, size=(50, 3)), axis=0).astype(np.float64)
    d = T.difference(v, [0, 2])
    assert d.shape == (49, 3)
    np.testing.assert_array_equal(d[:, 0], v[1:, 0] - v[:-1, 0])
    np.testing.assert_array_equal(d[:, 1], v[1:, 1])  # not differenced: the level at rows 1..N-1
    np.testing.assert_array_equal(T.undifference(v[0, [0, 2]], d[:, [0, 2]]), v[1:, [0, 2]])  # exact
    np.testing.assert_array_equal(T.undifference(v[0, 0], d[:, 0]), v[1:, 0])
    f = rng.normal(size=(40, 2)) * 1e3
    np.testing.assert_allclose(T.undifference(f[0], T.difference(f, [0, 1])), f[1:], rtol=1e-12, atol=1e-9)
    with pytest.raises(DataError, match=r"^values: a difference of consecutive rows is beyond float64"):
        T.difference(np.array([[-1e308], [1e308]]), [0])
    with pytest.raises(DataError, match=r"^columns: expected column indices in 0\.\.2, got 3$"):
        T.difference(v, [3])
    with pytest.raises(DataError, match=r"^values: differencing needs at least 2 rows, got 1$"):
        T.difference(v[:1], [0])
    with pytest.raises(DataError, match=r"^start_levels: expected a scalar or shape \(2,\)"):
        T.undifference([1.0, 2.0, 3.0], d[:, :2])


def test_range_warning_trend_and_sine():
    t = np.arange(400, dtype=np.float64)
    co2 = (315 + 0.12 * t + 3 * np.sin(2 * np.pi * t / 12))[:, None]
    msg = T.range_warning(co2[:300], co2[300:], ["co2"])
    lo, hi = co2[:300].min(), co2[:300].max()
    assert msg is not None and "\n" not in msg
    assert f"'co2' test {co2[300:].min():.4g}..{co2[300:].max():.4g}, training {lo:.4g}..{hi:.4g}" in msg
    assert "--difference" in msg
    wave = np.sin(0.1 * t)[:, None]
    assert T.range_warning(wave[:300], wave[300:], ["sine"]) is None
    both = np.concatenate([wave, co2], axis=1)
    msg = T.range_warning(both[:300], both[300:], ["sine", "co2"])
    assert "'co2'" in msg and "'sine'" not in msg
    # just inside the 10% margin: no warning; just outside: a warning
    train = np.array([[0.0], [10.0]])
    assert T.range_warning(train, np.array([[11.0], [-1.0]]), ["x"]) is None
    assert T.range_warning(train, np.array([[11.01]]), ["x"]) is not None


def test_column_scaler_huge_and_constant():
    base = np.array([[1.0, 7.0, -2.0], [2.0, 7.0, 0.0], [3.0, 7.0, 5.0], [6.0, 7.0, 1.0]])
    huge = base * np.array([1e300, 1.0, 1e-300])
    s = T.ColumnScaler.fit(huge)
    ref = T.ColumnScaler.fit(base)
    assert s.std[1] == 1.0 and s.mean[1] == 7.0  # a constant column: std 1
    z = s.transform(huge)
    assert np.isfinite(z).all()
    np.testing.assert_allclose(z[:, [0, 2]], ref.transform(base)[:, [0, 2]], rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(z[:, 1], np.zeros(4))
    np.testing.assert_allclose(s.inverse(z), huge, rtol=1e-14)
    np.testing.assert_allclose(s.inverse(z[:, [0]], columns=[0]), huge[:, [0]], rtol=1e-14)
    z1 = ref.transform(base)
    assert abs(z1[:, 0].mean()) < 1e-15 and math.isclose(z1[:, 0].std(), 1.0, rel_tol=1e-14)
    again = T.ColumnScaler.from_json(s.to_json())
    assert again == s
    with pytest.raises(DataError, match=r"^state: expected"):
        T.ColumnScaler.from_json({"mean": [0.0], "std": [0.0]})
    with pytest.raises(DataError, match=r"^values: expected a last axis of 3 columns, got shape \(4, 2\)$"):
        s.transform(base[:, :2])


def _loop_windows(v, ins, outs, window, horizon, every_step):
    n = len(v) - window - horizon + 1
    x = [[[v[i + s][c] for c in ins] for s in range(window)] for i in range(n)]
    if every_step:
        y = [[[v[i + s + horizon][c] for c in outs] for s in range(window)] for i in range(n)]
    else:
        y = [[v[i + window + horizon - 1][c] for c in outs] for i in range(n)]
    return np.array(x), np.array(y), [i + window + horizon - 1 for i in range(n)]


@pytest.mark.parametrize("window,horizon,every_step",
                         [(3, 1, False), (3, 1, True), (4, 2, False), (2, 2, True)])
def test_windows_against_a_loop(window, horizon, every_step):
    v = np.arange(30, dtype=np.float64).reshape(10, 3) + np.array([0.0, 0.5, 0.25])
    x, y, rows = T.windows(v, input_cols=[0, 2], target_cols=[1], window=window, horizon=horizon,
                           every_step=every_step)
    wx, wy, wrows = _loop_windows(v.tolist(), [0, 2], [1], window, horizon, every_step)
    n = 10 - window - horizon + 1
    assert x.shape == (n, window, 2) and y.shape == ((n, window, 1) if every_step else (n, 1))
    np.testing.assert_array_equal(x, wx)
    np.testing.assert_array_equal(y, wy)
    assert rows.tolist() == wrows and x.dtype == y.dtype == np.float64


def test_windows_errors_and_split(tmp_path):
    v = np.zeros((5, 2))
    with pytest.raises(DataError, match=r"^window: a window of 5 steps with horizon 1 needs at least 6 "
                                        r"values, the series has 5 values$"):
        T.windows(v, input_cols=[0], target_cols=[1], window=5)
    with pytest.raises(DataError, match=r"^horizon: a target 3 steps after a window of 3 needs at least 6"):
        T.windows(v, input_cols=[0], target_cols=[1], window=3, horizon=3)
    with pytest.raises(DataError, match=r"^window: expected a positive whole number of steps, got 0$"):
        T.windows(v, input_cols=[0], target_cols=[1], window=0)
    with pytest.raises(DataError, match=r"^target_cols: column 1 listed twice$"):
        T.windows(v, input_cols=[0], target_cols=[1, 1], window=2)
    # rows left after dropping missing values are what count
    t = T.read_table(_write(tmp_path, "a\n1\n\nNA\n2\n3\n"), inputs=["a"], targets=["a"], missing="drop")
    with pytest.raises(DataError, match=r"the series has 3 values$"):
        T.windows(t.values, input_cols=[0], target_cols=[0], window=3)
    assert T.chronological_split(100, (0.7, 0.15, 0.15)) == (70, 15, 15)
    with pytest.raises(DataError, match=r"^split: "):
        T.chronological_split(2, (0.7, 0.15, 0.15))


def _build(v, **kw):
    base = dict(columns=("p", "q", "r"), inputs=("p", "q"), window=3, horizon=1, split=(0.6, 0.2, 0.2),
                every_step=False, xp=np, dtype=np.float64, device="cpu")
    return T.build_table(v, **{**base, **kw})


@pytest.mark.parametrize("difference", [False, True])
def test_build_table_several_targets_each_scaled_on_its_training_rows(difference):
    from rnnx.data import Normaliser

    rng = np.random.default_rng(1)
    v = np.cumsum(rng.normal(size=(40, 3)), axis=0) * np.array([1.0, 10.0, 0.1])
    ds = _build(v, targets=("r", "p"), difference=difference)
    tr = ds.parts["train"]
    assert ds.targets == ("r", "p") and ds.n_targets == 2 and tr.y.shape == (tr.n, 2) and tr.x.shape[2] == 2
    rows = np.asarray(tr.target_index)
    for k, col in enumerate((2, 0)):
        levels = v[:, col]
        assert tr.last_targets[k] == levels[rows].tolist() and tr.last_inputs[k] == levels[rows - 1].tolist()
        modelled = levels[rows] - levels[rows - 1] if difference else levels[: rows[-1] + 1]
        norm = Normaliser.fit(modelled.tolist())
        assert ds.target_norms[k] == norm
        y = levels[rows] - levels[rows - 1] if difference else levels[rows]
        np.testing.assert_allclose(tr.y[:, k], (y - norm.mean) / norm.std, rtol=1e-12)
    assert (tr.bases is not None) == difference and ds.norm == ds.target_norms[0] and ds.series == v[:, 2].tolist()
    every = _build(v, targets=("r", "p"), every_step=True)
    assert every.parts["test"].y.shape == (3, every.parts["test"].n, 2)  # (T, N, O)
    # target= is targets=(one,): the same windows, the same numbers
    one, many = _build(v, target="q"), _build(v, targets=("q",))
    for name in ("train", "val", "test"):
        a, b = one.parts[name], many.parts[name]
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
        assert a.last_targets == b.last_targets and a.last_inputs == b.last_inputs
    assert one.target_norms == many.target_norms and one.scalers == many.scalers
    # a trained model's normalisers, one per target, are used as they are
    again = _build(v, targets=("r", "p"), norm=ds.target_norms, scalers=ds.scalers, difference=difference)
    np.testing.assert_array_equal(again.parts["test"].y, ds.parts["test"].y)


def test_build_table_target_arguments_refused():
    v = np.arange(60, dtype=np.float64).reshape(20, 3)
    with pytest.raises(TypeError, match=r"^targets: expected the target columns as targets=\(...\) or one as "
                                        r"target=NAME, not both$"):
        _build(v, target="p", targets=("p",))
    with pytest.raises(TypeError, match=r"not neither$"):
        _build(v)
    with pytest.raises(DataError, match=r"^targets: column 'p' listed twice$"):
        _build(v, targets=("p", "p"))
    with pytest.raises(DataError, match=r"^targets: 'z' is not among the columns p, q, r$"):
        _build(v, targets=("p", "z"))
    with pytest.raises(TypeError, match=r"^norm: expected a Normaliser per target column \(2\)"):
        _build(v, targets=("p", "q"), norm=T.Normaliser(0.0, 1.0))
