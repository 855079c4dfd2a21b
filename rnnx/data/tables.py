"""Many-column CSV tables: named input and target columns, missing values, differencing,
per-column scaling and batch-first windows; host-side (NumPy, imported inside functions).

A table is N kept rows by C used columns (the inputs, then the targets that are not inputs).
A window of length W ending at row ``i + W - 1`` has inputs ``values[i : i+W, inputs]`` and
target ``values[i+W+h-1, targets]`` (many-to-one, horizon h) or ``values[i+h : i+W+h, targets]``
(every step's target h rows ahead).  Windows are split in time order
(:func:`chronological_split`) and the scaler is fitted on the training rows only.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnx.data.dataset import Dataset

from rnnx.data import (
    DataChanged,
    DataError,
    Normaliser,
    cell_value,
    check_sha256,
    column_index,
    csv_records,
    decode,
    read_bytes,
    separator_hint,
    split_counts,
    too_short,
)

__all__ = ["MISSING_POLICIES", "Table", "read_table", "difference", "undifference", "range_warning",
           "ColumnScaler", "windows", "chronological_split", "build_table"]

#: The missing-value policies of :func:`read_table` (``--missing``).
MISSING_POLICIES = ("error", "interpolate", "drop")

#: Cell texts read as a missing value (after stripping, case-insensitive); an empty cell is one too.
MISSING_CELLS = frozenset({"", "na", "n/a", "nan", "null"})

#: A test column whose values leave the training range by more than this fraction of it is warned about.
RANGE_MARGIN = 0.1


@dataclass(frozen=True, eq=False)
class Table:
    """The used columns of a CSV file: ``values`` is (N, len(columns)) float64, one row per kept
    data row; ``rows`` (N,) is each kept row's number in the file (the header is row 1, as in
    error messages); ``filled`` counts interpolated cells, ``dropped`` the rows removed."""

    columns: tuple[str, ...]
    values: Any
    inputs: tuple[str, ...]
    targets: tuple[str, ...]
    time: tuple[str, ...] | None
    digest: str
    rows: Any
    filled: int
    dropped: int

    def input_index(self) -> list[int]:
        """Where each input column is in ``columns`` (and in ``values``' second axis)."""
        return [self.columns.index(n) for n in self.inputs]

    def target_index(self) -> list[int]:
        """Where each target column is in ``columns`` (and in ``values``' second axis)."""
        return [self.columns.index(n) for n in self.targets]


def _names(arg: str, names: Any) -> tuple[str, ...]:
    """The column names given as ``arg``: a non-empty sequence of distinct strings, stripped."""
    if isinstance(names, str) or not isinstance(names, Sequence):
        got = f"{type(names).__name__} {str(names)[:40]!r}"
        raise TypeError(f"{arg}: expected a list of column names, got {got}")
    if not names:
        raise DataError(f"{arg}: expected at least one column name, got none")
    bad = next((n for n in names if not isinstance(n, str)), None)
    if bad is not None:
        raise TypeError(f"{arg}: expected column names (strings), got {type(bad).__name__} {bad!r}")
    out = tuple(n.strip() for n in names)
    twice = next((n for i, n in enumerate(out) if n in out[:i]), None)
    if twice is not None:
        raise DataError(f"{arg}: column {twice!r} listed twice")
    return out


def _locate(path: str, header: list[str] | None, name: str, arg: str) -> int:
    """Where column ``name`` (given as ``arg``) is in the header; an empty header or one that
    names a column twice is :func:`rnnx.data.column_index`'s error."""
    names = [h.strip() for h in header or []]
    if any(names) and name not in names:
        listed = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        raise DataError(f"{arg}: {path!r} has no column {name!r} (columns: {listed}){separator_hint(path, names)}")
    return column_index(path, header, name)


def _is_missing(cell: str | None) -> bool:
    """Whether a cell is a missing value: absent (a short row), blank, or one of MISSING_CELLS."""
    return cell is None or cell.strip().lower() in MISSING_CELLS


def _missing_error(path: str, row_no: int, column: str, advice: str) -> DataError:
    return DataError(f"csv: {path!r} row {row_no}, column {column!r}: missing value; {advice}")


def _verified_text(path: str, sha256: str | None) -> tuple[str, str]:
    """The file's text and the sha256 (hex) of its bytes, read once; a digest other than
    ``sha256`` (when given) is :class:`DataChanged`, raised before anything is decoded."""
    want = check_sha256(sha256)
    raw = read_bytes(path)
    got = hashlib.sha256(raw).hexdigest()
    if want not in (None, got):
        raise DataChanged(f"csv: {path!r} changed since the run began (sha256 {got[:12]}... now, "
                          f"{want[:12]}... recorded)")
    return decode(path, raw), got


def _check_request(inputs: Any, targets: Any, time_column: Any, missing: Any) -> tuple[tuple[str, ...], ...]:
    """The checked (inputs, targets, used columns) of a :func:`read_table` call."""
    if missing not in MISSING_POLICIES:
        raise DataError(f"missing: expected one of {', '.join(MISSING_POLICIES)}, got {missing!r}")
    ins, outs = _names("inputs", inputs), _names("targets", targets)
    if time_column is not None:
        if not isinstance(time_column, str):
            raise TypeError(f"time_column: expected a column name or None, got {type(time_column).__name__}")
        for arg, names in (("inputs", ins), ("targets", outs)):
            if time_column.strip() in names:
                raise DataError(f"time_column: {time_column.strip()!r} is also in {arg}; expected a column "
                                "that is neither an input nor a target")
    return ins, outs, ins + tuple(n for n in outs if n not in ins)


def _numbers(path: str, row_no: int, row: list[str], columns: tuple[str, ...], idx: list[int],
             missing: str) -> list[float]:
    """One row's numbers in ``columns`` (at ``idx``), NaN for a missing cell; a missing cell
    under ``missing="error"``, a non-number or a non-finite cell is one DataError."""
    line = []
    for name, j in zip(columns, idx):
        cell = row[j] if j < len(row) else None
        if not _is_missing(cell):
            line.append(cell_value(path, row_no, name, cell))
        elif missing == "error":
            raise _missing_error(path, row_no, name, "pass --missing interpolate or --missing drop")
        else:
            line.append(math.nan)
    return line


def _time_cell(path: str, row_no: int, row: list[str], column: str, j: int, missing: str) -> str | None:
    """One row's time cell as text, or None when it is missing and ``missing="drop"``; a
    missing time cell under another policy is one DataError (text cannot be interpolated)."""
    cell = row[j] if j < len(row) else None
    if not _is_missing(cell):
        return cell.strip()
    if missing == "drop":
        return None
    why = "the time column cannot be interpolated; " if missing == "interpolate" else ""
    raise _missing_error(path, row_no, column, f"{why}fill it or pass --missing drop")


def _read_cells(path: str, text: str, columns: tuple[str, ...], n_inputs: int, time_column: str | None,
                missing: str) -> tuple[list[list[float]], list[str | None], list[int]]:
    """Each non-blank data row's numbers in ``columns`` (NaN for a missing cell), its time
    cell (None when missing) and its row number; the first ``n_inputs`` columns are the
    inputs, the rest targets (for the message of a column not in the file)."""
    records = csv_records(path, text)
    header = next(records, (1, None))[1]
    idx = [_locate(path, header, n, "inputs" if i < n_inputs else "targets") for i, n in enumerate(columns)]
    t_idx = None if time_column is None else _locate(path, header, time_column, "time_column")
    values, times, rows = [], [], []
    for row_no, row in records:
        if not row or all(not c.strip() for c in row):
            continue
        values.append(_numbers(path, row_no, row, columns, idx, missing))
        if t_idx is not None:
            times.append(_time_cell(path, row_no, row, time_column, t_idx, missing))
        rows.append(row_no)
    if not values:
        raise DataError(f"csv: {path!r} has a header but no data rows")
    return values, times, rows


def _interpolate(path: str, values: Any, columns: tuple[str, ...]) -> tuple[Any, int]:
    """``values`` with each NaN replaced by linear interpolation in row position between the
    nearest valid cells of its column (the nearest valid value before the first or after the
    last), and the number of cells filled.  Each column is interpolated on ``v / 2**k``
    (``2**k`` above its largest ``|v|``, an exact scaling), so no difference overflows."""
    import numpy as np

    pos = np.arange(values.shape[0], dtype=np.float64)
    out = []
    for j, name in enumerate(columns):
        col = values[:, j]
        gap = np.isnan(col)
        if gap.all():
            raise DataError(f"csv: {path!r} column {name!r}: every cell is missing; "
                            "nothing to interpolate from")
        k = math.frexp(float(np.max(np.abs(col[~gap]))))[1]
        u = np.interp(pos, pos[~gap], np.ldexp(col[~gap], -k))
        out.append(np.where(gap, np.ldexp(u, k), col))
    return np.stack(out, axis=1), int(np.isnan(values).sum())


def _drop(path: str, values: Any, rows: Any, times: list[str | None],
          timed: bool) -> tuple[Any, Any, list[str | None], int]:
    """The rows of ``values`` (and ``rows``, ``times``) with no NaN and, when ``timed``, a time
    cell, and how many were removed; none left is a DataError."""
    import numpy as np

    keep = ~np.isnan(values).any(axis=1)
    if timed:
        keep = keep & np.array([t is not None for t in times], dtype=bool)
    if not keep.any():
        raise DataError(f"csv: {path!r}: every data row has a missing value in a used column; "
                        "no row is left after --missing drop")
    kept_times = [t for t, k in zip(times, keep) if k] if timed else times
    return values[keep], rows[keep], kept_times, int(keep.size - keep.sum())


def read_table(path: str, *, inputs: Sequence[str], targets: Sequence[str], time_column: str | None = None,
               missing: str = "error", sha256: str | None = None) -> Table:
    """The ``inputs`` and ``targets`` columns of a CSV file with a header row, as a :class:`Table`.

    The file is read once as bytes (at most :data:`rnnx.data.MAX_CSV_BYTES`) and its sha256
    taken from them (:class:`rnnx.data.DataChanged` when ``sha256`` is given and differs);
    UTF-8 text, blank lines skipped, as :func:`rnnx.data.read_csv`.  A missing cell (empty,
    ``NA``, ``N/A``, ``NaN``, ``null``, any case) is, by ``missing``: ``"error"`` one DataError
    naming the row and column; ``"interpolate"`` filled linearly in row position from the
    nearest valid cells of its column; ``"drop"`` its row removed (a missing time cell too).
    The time column's cells are kept as text.  Every problem is one DataError (a ValueError)
    whose message starts with the argument (``inputs``, ``targets``, ``time_column``,
    ``missing``, ``csv``) and names the file, row and column where they apply."""
    import numpy as np

    ins, outs, columns = _check_request(inputs, targets, time_column, missing)
    time_column = None if time_column is None else time_column.strip()
    text, digest = _verified_text(path, sha256)
    cells, times, row_nos = _read_cells(path, text, columns, len(ins), time_column, missing)
    values = np.array(cells, dtype=np.float64)
    rows = np.array(row_nos, dtype=np.int64)
    filled = dropped = 0
    if missing == "interpolate":
        values, filled = _interpolate(path, values, columns)
    elif missing == "drop":
        values, rows, times, dropped = _drop(path, values, rows, times, time_column is not None)
    values.setflags(write=False)
    rows.setflags(write=False)
    return Table(columns, values, ins, outs, tuple(times) if time_column is not None else None,
                 digest, rows, filled, dropped)


def _matrix(arg: str, values: Any) -> Any:
    """``values`` as a 2-D float64 NumPy array (rows, columns); any other shape is a DataError."""
    import numpy as np

    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 2:
        raise DataError(f"{arg}: expected a 2-D array (rows, columns), got shape {tuple(a.shape)}")
    return a


def _column_list(arg: str, columns: Any, n: int) -> list[int]:
    """``columns`` as a non-empty list of distinct column indices in ``[0, n)``."""
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence) or not columns:
        raise DataError(f"{arg}: expected a non-empty list of column indices, got {columns!r}")
    out = []
    for c in columns:
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < n:
            raise DataError(f"{arg}: expected column indices in 0..{n - 1}, got {c!r}")
        if c in out:
            raise DataError(f"{arg}: column {c} listed twice")
        out.append(c)
    return out


def difference(values: Any, columns: Sequence[int]) -> Any:
    """First differences of the given columns: ``d[i, j] = v[i+1, j] - v[i, j]`` for ``j`` in
    ``columns``, ``d[i, j] = v[i+1, j]`` for the others; shape (N-1, C) from (N, C).  A
    difference beyond float64 is a DataError."""
    import numpy as np

    v = _matrix("values", values)
    cols = _column_list("columns", columns, v.shape[1])
    if v.shape[0] < 2:
        raise DataError(f"values: differencing needs at least 2 rows, got {v.shape[0]}")
    diffed = np.isin(np.arange(v.shape[1]), cols)[None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.where(diffed, v[1:] - v[:-1], v[1:])
    if not np.isfinite(out).all():
        raise DataError("values: a difference of consecutive rows is beyond float64; rescale the column")
    return out


def undifference(start_levels: Any, diffs: Any) -> Any:
    """Levels from a starting level and the changes that follow it:
    ``level[i] = start + d[0] + ... + d[i]`` (a cumulative sum along axis 0), the inverse of
    :func:`difference` for the differenced columns.  ``diffs`` is (N,) or (N, C) and
    ``start_levels`` a scalar or (C,); the result has the shape of ``diffs``."""
    import numpy as np

    d = np.asarray(diffs, dtype=np.float64)
    start = np.asarray(start_levels, dtype=np.float64)
    if d.ndim not in (1, 2) or start.shape not in ((), d.shape[1:]):
        raise DataError(f"start_levels: expected a scalar or shape {d.shape[1:]} for diffs of shape "
                        f"{d.shape} (rows or rows x columns), got shape {start.shape}")
    return start + np.cumsum(d, axis=0)


def range_warning(train: Any, test: Any, names: Sequence[str]) -> str | None:
    """One line naming each column whose test values leave its training range ``[lo, hi]`` by
    more than :data:`RANGE_MARGIN` of ``hi - lo`` (a trending series, whose level a model
    trained on the past has never seen), with both ranges and advice to model the change
    (``--difference``); None when every column stays within."""

    tr, te = _matrix("train", train), _matrix("test", test)
    if not (tr.shape[1] == te.shape[1] == len(names)) or tr.shape[0] == 0 or te.shape[0] == 0:
        raise DataError(f"names: expected train and test with one column per name ({len(names)}), "
                        f"got shapes {tr.shape} and {te.shape}")
    lo, hi, t_lo, t_hi = tr.min(axis=0), tr.max(axis=0), te.min(axis=0), te.max(axis=0)
    margin = RANGE_MARGIN * (hi - lo)
    out = [f"{n!r} test {a:.4g}..{b:.4g}, training {c:.4g}..{d:.4g}"
           for n, a, b, c, d, m in zip(names, t_lo, t_hi, lo, hi, margin) if a < c - m or b > d + m]
    if not out:
        return None
    return (f"warning: test values leave the training range by more than {RANGE_MARGIN:.0%} of it: "
            f"{'; '.join(out)}; a model of the level has not seen these values: "
            "try --difference (model the change)")


@dataclass(frozen=True)
class ColumnScaler:
    """Per-column ``z = (v - mean) / std``, fitted on the training rows only; each column's
    statistics are :meth:`rnnx.data.Normaliser.fit`'s (exact for any float64 magnitude; a
    constant column gets std 1)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, values: Any) -> ColumnScaler:
        """Mean and population std of each column of ``values`` (rows, columns)."""
        v = _matrix("values", values)
        norms = [Normaliser.fit(v[:, j].tolist()) for j in range(v.shape[1])]
        return cls(tuple(n.mean for n in norms), tuple(n.std for n in norms))

    def _stats(self, columns: Sequence[int] | None) -> tuple[Any, Any]:
        import numpy as np

        n = len(self.mean)
        idx = list(range(n)) if columns is None else _column_list("columns", columns, n)
        return (np.array([self.mean[j] for j in idx], dtype=np.float64),
                np.array([self.std[j] for j in idx], dtype=np.float64))

    def _last_axis(self, v: Any, n: int) -> Any:
        import numpy as np

        a = np.asarray(v, dtype=np.float64)
        if a.ndim == 0 or a.shape[-1] != n:
            raise DataError(f"values: expected a last axis of {n} columns, got shape {tuple(a.shape)}")
        return a

    def transform(self, values: Any) -> Any:
        """``(v - mean) / std`` along the last axis of ``values`` (..., C)."""
        mean, std = self._stats(None)
        return (self._last_axis(values, len(mean)) - mean) / std

    def inverse(self, values: Any, columns: Sequence[int] | None = None) -> Any:
        """``z * std + mean`` along the last axis; ``columns`` picks the fitted columns that the
        last axis holds (e.g. the target columns of a prediction), all of them by default."""
        mean, std = self._stats(columns)
        return self._last_axis(values, len(mean)) * std + mean

    def to_json(self) -> dict[str, list[float]]:
        """``{"mean": [...], "std": [...]}`` for a checkpoint's metadata."""
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_json(cls, state: Any) -> ColumnScaler:
        """The scaler that :meth:`to_json` wrote; anything else is a DataError."""
        ok = (isinstance(state, dict) and set(state) == {"mean", "std"}
              and all(isinstance(state[k], list) for k in ("mean", "std"))
              and len(state["mean"]) == len(state["std"]) > 0
              and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                      for x in state["mean"] + state["std"])
              and all(s > 0 for s in state["std"]))
        if not ok:
            raise DataError('state: expected {"mean": [...], "std": [...]}, equal non-empty lists of finite '
                            f"numbers with every std > 0, got {str(state)[:80]}")
        return cls(tuple(float(x) for x in state["mean"]), tuple(float(x) for x in state["std"]))


def _steps(arg: str, n: Any) -> int:
    """A positive whole number of steps (``window``, ``horizon``); anything else is a DataError."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DataError(f"{arg}: expected a positive whole number of steps, got {n!r}")
    return n


def windows(values: Any, *, input_cols: Sequence[int], target_cols: Sequence[int], window: int,
            horizon: int = 1, every_step: bool = False) -> tuple[Any, Any, Any]:
    """Every window of ``window`` rows with its target(s) ``horizon`` rows ahead, batch-first.

    With ``n = N - window - horizon + 1`` windows of ``values`` (N, C): ``x[i] =
    values[i : i+window, input_cols]`` (n, window, I); ``y[i] = values[i+window+horizon-1,
    target_cols]`` (n, O), or with ``every_step`` ``y[i] = values[i+horizon : i+window+horizon,
    target_cols]`` (n, window, O); ``target_rows[i] = i + window + horizon - 1`` (n,), the row of
    each window's (last) target.  Too few rows is :func:`rnnx.data.too_short`'s error."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    v = _matrix("values", values)
    ins = _column_list("input_cols", input_cols, v.shape[1])
    outs = _column_list("target_cols", target_cols, v.shape[1])
    window, horizon = _steps("window", window), _steps("horizon", horizon)
    n = v.shape[0] - window - horizon + 1
    if n < 1:
        raise too_short(v.shape[0], window, horizon)
    x = sliding_window_view(v[:, ins], window, axis=0)[:n].transpose(0, 2, 1)
    if every_step:
        y = sliding_window_view(v[horizon:, outs], window, axis=0)[:n].transpose(0, 2, 1)
    else:
        y = v[window + horizon - 1 : window + horizon - 1 + n][:, outs]
    rows = np.arange(n, dtype=np.int64) + (window + horizon - 1)
    return np.ascontiguousarray(x), np.ascontiguousarray(y), rows


def chronological_split(n_windows: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """Window counts (train, val, test) in time order: :func:`rnnx.data.split_counts`."""
    return split_counts(n_windows, tuple(fractions))


_difference = difference  # build_table's parameter `difference` shadows the function


def _target_names(target: Any, targets: Any, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The target columns of a :func:`build_table` call: ``targets`` (distinct names), or the
    one column ``target``; exactly one of the two, each a column of ``columns``."""
    if (target is None) == (targets is None):
        raise TypeError("targets: expected the target columns as targets=(...) or one as target=NAME, "
                        f"not {'both' if target is not None else 'neither'}")
    if target is not None:
        if not isinstance(target, str):
            raise TypeError(f"target: expected a column name, got {type(target).__name__} {target!r}")
        names = (target,)
    else:
        names = _names("targets", targets)
    missing = next((n for n in names if n not in columns), None)
    if missing is not None:
        raise DataError(f"targets: {missing!r} is not among the columns {', '.join(columns)}")
    return names


def _target_normalisers(arg: str, norm: Any, n: int) -> tuple[Normaliser, ...] | None:
    """``norm`` as one Normaliser per target: None, a Normaliser (one target) or a sequence
    of ``n`` of them."""
    if norm is None:
        return None
    got = (norm,) if isinstance(norm, Normaliser) else tuple(norm) if isinstance(norm, Sequence) else None
    if got is None or len(got) != n or not all(isinstance(g, Normaliser) for g in got):
        raise TypeError(f"{arg}: expected a Normaliser per target column ({n}), got {str(norm)[:80]}")
    return got


def build_table(values: Any, *, columns: tuple[str, ...], inputs: tuple[str, ...],
                targets: Sequence[str] | None = None, target: str | None = None, window: int,
                horizon: int, split: tuple[float, float, float], every_step: bool, difference: bool = False,
                final_target_every_step: bool = False,
                time: tuple[str, ...] | None = None, xp: Any, dtype: Any, device: Any,
                norm: Normaliser | Sequence[Normaliser] | None = None,
                scalers: tuple[Normaliser, ...] | None = None,
                target_range: tuple[float, float] | None = None) -> Dataset:
    """Windows of a table (``values`` (N, C) float64 NumPy, ``columns`` its names): each
    window's ``inputs`` columns and the O ``targets`` columns (or the one ``target``)
    ``horizon`` rows after its end (or at every step), split in time order; each input column
    and each target normalised on the training rows by its own scaler (``norm``: one
    Normaliser per target, or one for one target, and ``scalers``: a trained model's, used as
    they are).  y is (N, O) many-to-one, (T, N, O) at every step.  ``target_range``: the range
    of a bounded output activation (:data:`rnnx.nn.head.RANGES`); each target's training values
    are then scaled onto its middle 90% (:meth:`rnnx.data.Normaliser.fit_range`) instead of
    standardised (the inputs stay standardised).

    ``difference``: the inputs are the first differences of the input columns and the
    modelled quantity is each target's change over the horizon, ``y[t] - y[t - horizon]``;
    each window keeps ``bases`` = the targets' levels at its end, so predictions (base +
    change) and every metric stay in the targets' levels.  ``final_target_every_step``:
    many-to-many towards the window's targets at every step (what Keras does with
    ``return_sequences=True`` and an (N, O) target).  ``series`` holds the first target
    column's levels (persistence, plots); a Part's ``last_targets`` every target's."""
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    names = _target_names(target, targets, columns)
    norms = _target_normalisers("norm", norm, len(names))
    in_cols = [columns.index(c) for c in inputs]
    t_cols = [columns.index(c) for c in names]
    levels = values[:, t_cols]  # (N, O)
    if difference:
        if values.shape[0] < 2:
            raise too_short(values.shape[0], window, horizon)
        feats = _difference(values, list(range(values.shape[1])))  # row j is row j+1's change
        x, _, rows = windows(feats, input_cols=in_cols, target_cols=t_cols, window=window,
                                    horizon=horizon)
        rows = rows + 1  # the target's row in the table
        y = levels[rows] - levels[rows - horizon]
        first = 1
    else:
        x, y, rows = windows(values, input_cols=in_cols, target_cols=t_cols, window=window, horizon=horizon,
                                    every_step=every_step and not final_target_every_step)
        first = 0
    n_train, n_val, n_test = split_counts(len(rows), split, need_train=norms is None)
    if norms is None:
        fit_rows = (feats if difference else values)[: rows[n_train - 1] + 1 - first]
        scalers = tuple(Normaliser.fit(fit_rows[:, j].tolist()) for j in in_cols)
        fit = Normaliser.fit if target_range is None else lambda v: Normaliser.fit_range(v, *target_range)
        if difference:
            norms = tuple(fit(y[:n_train, k].tolist()) for k in range(len(names)))
        else:
            norms = tuple(fit(fit_rows[:, j].tolist()) for j in t_cols)
    mean = np.asarray([s.mean for s in scalers])
    std = np.asarray([s.std for s in scalers])
    xz = (x - mean) / std
    yz = (y - np.asarray([n.mean for n in norms])) / np.asarray([n.std for n in norms])
    for name, arr in (("inputs", xz), ("target", yz)):
        top = float(np.max(np.abs(arr))) if arr.size else 0.0
        info = xp.finfo(dtype)
        if not top <= float(info.max):
            raise DataError(f"csv: the {name} normalise to values up to {top:.3g}, beyond float{info.bits}; "
                              "rescale the column")
    from rnnx.data.dataset import Dataset, Part

    ds = Dataset(levels[:, 0].tolist(), norms[0], window, horizon, inputs=tuple(inputs), scalers=tuple(scalers),
                 time=time, targets=names, norms=norms)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(rows))}
    for name, (a, b) in bounds.items():
        idx = rows[a:b].tolist()
        end = [r - horizon for r in idx]  # the window's last row (many-to-one)
        if b > a:
            xt = xp.asarray(np.ascontiguousarray(np.transpose(xz[a:b], (1, 0, 2))), dtype=dtype, device=device)
            yb = yz[a:b]
            if final_target_every_step:
                yb = np.repeat(yb[:, None, :], window, axis=1)
            if yb.ndim == 3:  # every step: (N, T, O) -> (T, N, O)
                yb = np.transpose(yb, (1, 0, 2))
            yt = xp.asarray(np.ascontiguousarray(yb), dtype=dtype, device=device)
        else:
            xt = yt = None
        truth = tuple(levels[idx, k].tolist() for k in range(len(names)))
        last = tuple(levels[end, k].tolist() for k in range(len(names)))
        ds.parts[name] = Part(xt, yt, truth, last, idx, bases=last if difference else None)
    return ds
