"""Series, windows and splits for training, in time order; host-side, standard library only.

A series is a list of floats.  A window of length W starting at i has inputs
``v[i : i+W]`` and target ``v[i+W+h-1]`` (many-to-one, horizon h) or
``v[i+h : i+W+h]`` (many-to-many: every step's value h steps ahead).  Windows are split in
time order by the position of their targets, and normalisation is fitted on the training
part of the series only.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from typing import Any


class DataError(ValueError):
    """Bad data: the message starts with the parameter (``csv``, ``window``, ...) and names the
    file, row and what was expected."""


def sine(n: int, start: float, stop: float, *, step: float | None = None) -> list[float]:
    """``sin`` at n points: ``linspace(start, stop, n)``, or ``start + i*step`` if step is given."""
    if step is not None:
        return [math.sin(start + i * step) for i in range(n)]
    d = (stop - start) / (n - 1)
    return [math.sin(start + i * d) for i in range(n)]


def load_csv(path: str, column: str) -> list[float]:
    """Read one numeric column of a CSV file with a header row."""
    if not os.path.exists(path):
        raise DataError(f"csv: file {path!r} does not exist")
    if os.path.isdir(path):
        raise DataError(f"csv: {path!r} is a directory, expected a CSV file")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or all(not h.strip() for h in header):
            raise DataError(f"csv: {path!r} is empty; expected a header row and numeric rows")
        names = [h.strip() for h in header]
        if column not in names:
            raise DataError(f"column: {column!r} is not a column of {path!r}; its columns are {names}")
        j = names.index(column)
        values = []
        for row_no, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            cell = row[j].strip() if j < len(row) else ""
            try:
                v = float(cell)
            except ValueError:
                raise DataError(f"csv: {path!r} row {row_no}, column {column!r}: {cell!r} is not a number") from None
            if not math.isfinite(v):
                raise DataError(f"csv: {path!r} row {row_no}, column {column!r}: {cell!r} is not finite "
                                "(NaN/Inf); clean or interpolate the series first")
            values.append(v)
    if not values:
        raise DataError(f"csv: {path!r} has a header but no data rows")
    return values


@dataclass(frozen=True)
class Windows:
    """Windowed series: inputs (N, W) and targets (N,) or (N, W), plus where targets sit."""

    inputs: list[list[float]]
    targets: list[Any]
    target_index: list[int]  # series index of each window's (last) target


def windows(values: list[float], window: int, horizon: int = 1, *, every_step: bool = False) -> Windows:
    """Every window of ``window`` inputs with its target(s) ``horizon`` steps ahead."""
    if window < 1:
        raise DataError(f"window: expected a positive length, got {window}")
    if horizon < 1:
        raise DataError(f"horizon: expected a positive number of steps, got {horizon}")
    n = len(values) - window - horizon + 1
    if n < 1:
        raise DataError(f"window: a window of {window} steps with horizon {horizon} needs at least "
                        f"{window + horizon} values, the series has {len(values)}")
    ins = [values[i : i + window] for i in range(n)]
    if every_step:
        tgt: list[Any] = [values[i + horizon : i + window + horizon] for i in range(n)]
    else:
        tgt = [values[i + window + horizon - 1] for i in range(n)]
    return Windows(ins, tgt, [i + window + horizon - 1 for i in range(n)])


def split_counts(n: int, fractions: tuple[float, float, float], *, need_train: bool = True) -> tuple[int, int, int]:
    """Window counts of train / val / test for the given fractions, in time order."""
    if len(fractions) != 3 or any(not (0 <= f <= 1) for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise DataError(f"split: expected three fractions train,val,test summing to 1, got {fractions}")
    n_test = int(round(fractions[2] * n))
    n_val = int(round(fractions[1] * n))
    n_train = n - n_val - n_test
    if (need_train and n_train < 1) or (fractions[2] > 0 and n_test < 1):
        raise DataError(f"split: {n} windows split {fractions} leave train={n_train}, val={n_val}, "
                        f"test={n_test}; expected at least one window in train and test")
    return n_train, n_val, n_test


@dataclass(frozen=True)
class Normaliser:
    """``z = (v - mean) / std``, fitted on the training part of the series."""

    mean: float
    std: float

    @classmethod
    def fit(cls, values: list[float]) -> Normaliser:
        m = math.fsum(values) / len(values)
        s = math.sqrt(math.fsum((v - m) ** 2 for v in values) / len(values))
        return cls(m, s if s > 0 else 1.0)

    def __call__(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self(u) for u in v]
        return (v - self.mean) / self.std

    def inverse(self, z: Any) -> Any:
        return z * self.std + self.mean
