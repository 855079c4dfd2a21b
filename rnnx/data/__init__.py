"""Series, windows and splits for training, in time order; host-side, standard library only.

A series is a list of floats.  A window of length W starting at i has inputs
``v[i : i+W]`` and target ``v[i+W+h-1]`` (many-to-one, horizon h) or
``v[i+h : i+W+h]`` (many-to-many: every step's value h steps ahead).  Windows are split in
time order by the position of their targets, and normalisation is fitted on the training
part of the series only.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["DataError", "sine", "MAX_CSV_BYTES", "DataChanged", "file_digest", "size_text", "check_sha256",
           "read_bytes", "decode", "csv_records", "separator_hint", "column_index", "cell_value", "read_csv",
           "load_csv", "Windows", "too_short", "windows", "split_counts", "Normaliser"]


class DataError(ValueError):
    """Bad data: the message starts with the parameter (``csv``, ``window``, ...) and names the
    file, row and what was expected."""


def sine(n: int, start: float, stop: float, *, step: float | None = None) -> list[float]:
    """``sin`` at n points: ``linspace(start, stop, n)``, or ``start + i*step`` if step is given."""
    if step is not None:
        return [math.sin(start + i * step) for i in range(n)]
    d = (stop - start) / (n - 1)
    return [math.sin(start + i * d) for i in range(n)]


#: The largest CSV file :func:`load_csv` reads (bytes); a larger one is refused before reading.
MAX_CSV_BYTES = 1 << 30

_CHUNK = 1 << 20  # file_digest reads this many bytes at a time
_BOM = b"\xef\xbb\xbf"


class DataChanged(DataError):
    """The CSV file's sha256 is not the one recorded: the file changed since the run began."""


def file_digest(path: str) -> tuple[str, int]:
    """The sha256 (hex) and size in bytes of the file at ``path``, read in 1 MiB chunks
    (anything but a regular file: :class:`rnnx.io.inputs.NotARegularFile`, nothing read)."""
    from rnnx.io.inputs import open_regular

    h = hashlib.sha256()
    size = 0
    with open_regular(path) as f:  # a FIFO or a device: NotARegularFile (an OSError), nothing read
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def size_text(n: int) -> str:
    """``n`` bytes for a message: ``120 bytes``, ``3.4 MiB``, ``1.2 GiB``."""
    if n < 1024:
        return f"{n} bytes"
    unit, scale = next((u, k) for u, k in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)) if n >= k)
    return f"{n / scale:.1f} {unit}"


def _line(raw: bytes, offset: int) -> int:
    """The line (1-based) of the byte at ``offset``."""
    return raw.count(b"\n", 0, offset) + 1


def check_sha256(sha256: Any) -> str | None:
    """The expected digest in lower case, or None; anything but 64 hex digits is refused."""
    if sha256 is None:
        return None
    if not isinstance(sha256, str):
        raise TypeError(f"sha256: expected a hex string of 64 digits or None, got {type(sha256).__name__}")
    if len(sha256) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha256):
        raise ValueError(f"sha256: expected 64 hexadecimal digits, got {sha256[:80]!r}")
    return sha256.lower()


def _noun(what: str) -> str:
    """The kind of file a reader's messages expect: ``CSV`` for ``csv``, else ``what``."""
    return "CSV" if what == "csv" else what


def read_bytes(path: str, what: str = "csv", *, limit: int | None = None,
                limit_name: str = "MAX_CSV_BYTES") -> bytes:
    """The whole file, after checking it exists, is a regular file (not a folder, a FIFO,
    a device: refused before a byte is read) and is at most ``limit`` bytes (default
    :data:`MAX_CSV_BYTES`).  Every problem is one DataError starting ``<what>:`` and naming
    the file (``what``: the parameter or flag it came from, ``csv``, ``text``)."""
    from rnnx.io.inputs import NotARegularFile, open_regular

    limit = MAX_CSV_BYTES if limit is None else limit
    too_big = f"expected at most {size_text(limit)} ({limit_name})"
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise DataError(f"{what}: {path!r} is {size_text(size)}; {too_big}")
            raw = f.read(limit + 1)  # a file that grew after the stat is still bounded
    except FileNotFoundError:
        raise DataError(f"{what}: file {path!r} does not exist") from None
    except NotARegularFile as e:
        if os.path.isdir(path):
            raise DataError(f"{what}: {path!r} is a directory, expected a {_noun(what)} file") from None
        raise DataError(f"{what}: {path!r} {e.strerror}") from None
    except OSError as e:
        raise DataError(f"{what}: cannot read {path!r} ({e.strerror or e})") from None
    if len(raw) > limit:
        raise DataError(f"{what}: {path!r} is more than {size_text(limit)}; {too_big}")
    return raw


def decode(path: str, raw: bytes, what: str = "csv") -> str:
    """The file's text: UTF-8 with an optional BOM and no NUL byte; anything else is one
    DataError starting ``<what>:`` naming the byte, its offset in the file and its line
    (1-based)."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"{what}: {path!r} is UTF-16 text (it starts with a UTF-16 byte-order mark), "
                        "not UTF-8; re-save it as UTF-8")
    skip = len(_BOM) if raw.startswith(_BOM) else 0
    try:
        text = raw[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = skip + e.start
        raise DataError(f"{what}: {path!r} is not UTF-8 text (byte 0x{raw[at]:02x} at offset {at}, "
                        f"line {_line(raw, at)}); re-save it as UTF-8") from None
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise DataError(f"{what}: {path!r} has a NUL byte at offset {nul} (line {_line(raw, nul)}); "
                        f"expected a text file (is it UTF-16 or binary? re-save it as UTF-8 {_noun(what)})")
    return text




def csv_records(path: str, text: str) -> Iterator[tuple[int, list[str]]]:
    """``(row, cells)`` of each CSV record, the header being row 1; a record the csv
    module cannot read is one DataError naming the row."""
    reader = csv.reader(io.StringIO(text, newline=""))
    row_no = 0
    while True:
        row_no += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            if "field larger than field limit" in str(e):
                raise DataError(f"csv: {path!r} row {row_no}: a field of more than {csv.field_size_limit()} "
                                "characters; expected numeric cells") from None
            raise DataError(f"csv: {path!r} row {row_no}: not readable as CSV ({e})") from None
        yield row_no, row


def _short(s: str, n: int = 40) -> str:
    """``repr(s)``, cut to about ``n`` characters for a one-line message."""
    return repr(s) if len(s) <= n else repr(s[:n]) + f"... ({len(s)} characters)"


def separator_hint(path: str, names: list[str]) -> str:
    """``; the file looks ';'-separated ...`` when the header is one name holding a ``;`` or a
    tab (a CSV written with another separator, as spreadsheets in many locales do); else ``""``."""
    if len(names) != 1:
        return ""
    sep = next((c for c in (";", "\t") if c in names[0]), None)
    if sep is None:
        return ""
    import shlex

    shown = "tab" if sep == "\t" else repr(sep)
    convert = (f"python -c \"import csv,sys; csv.writer(sys.stdout).writerows(csv.reader(sys.stdin, "
               f"delimiter={sep!r}))\" < {shlex.quote(path)} > comma.csv")
    decimals = " (and decimal commas to points)" if sep == ";" else ""
    return (f"; the file looks {shown}-separated; rnnx reads comma-separated CSV: convert it{decimals}, "
            f"e.g. {convert}")


def column_index(path: str, header: list[str] | None, column: str) -> int:
    """Where ``column`` is in the header; an empty header, a duplicated name or a
    missing column is one DataError."""
    if not header or all(not h.strip() for h in header):
        raise DataError(f"csv: {path!r} is empty; expected a header row and numeric rows")
    names = [h.strip() for h in header]
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if name and name in seen:
            raise DataError(f"csv: {path!r} names column {_short(name)} twice (columns {seen[name] + 1} and "
                            f"{j + 1} of the header); expected unique column names")
        seen[name] = j
    if column not in seen:
        listed = ", ".join(_short(n) for n in names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        raise DataError(f"column: {column!r} is not a column of {path!r}; its columns are [{listed}]"
                        f"{separator_hint(path, names)}")
    return seen[column]


def cell_value(path: str, row_no: int, column: str, cell: str | None) -> float:
    """The number in one cell; a missing, blank, non-numeric or non-finite cell is one
    DataError naming the row and column."""
    where = f"csv: {path!r} row {row_no}, column {column!r}"
    if cell is None or not cell.strip():
        raise DataError(f"{where}: missing value; fill or drop the row")
    cell = cell.strip()
    try:
        v = float(cell)
    except ValueError:
        raise DataError(f"{where}: {_short(cell)} is not a number") from None
    if math.isinf(v) and cell.lstrip("+-").lower() not in ("inf", "infinity"):
        raise DataError(f"{where}: {_short(cell)} is beyond float64 (largest {sys.float_info.max:.3g}); "
                        "rescale the column")
    if not math.isfinite(v):
        raise DataError(f"{where}: {_short(cell)} is not finite (NaN/Inf); clean or interpolate the series first")
    return v


def read_csv(path: str, column: str, *, sha256: str | None = None) -> tuple[list[float], str]:
    """One numeric column of a CSV file with a header row, and the file's sha256 (hex).

    The file is read once, as bytes (at most :data:`MAX_CSV_BYTES`); its sha256 is taken from
    those bytes and, when ``sha256`` is given and differs, :class:`DataChanged` is raised
    before anything is decoded (its message holds nothing of the file).  The text is UTF-8
    (a BOM is skipped); blank lines are skipped; every other row needs a number in
    ``column``.  Every problem is one :class:`DataError` naming the file and, where it
    applies, the row (the header is row 1) and the column."""
    expected = check_sha256(sha256)
    raw = read_bytes(path)
    digest = hashlib.sha256(raw).hexdigest()
    if expected is not None and digest != expected:
        raise DataChanged(f"csv: {path!r} changed since the run began "
                          f"(sha256 {digest[:12]}... now, {expected[:12]}... recorded)")
    records = csv_records(path, decode(path, raw))
    header = next(records, (1, None))[1]
    j = column_index(path, header, column)
    values = []
    for row_no, row in records:
        if not row or all(not c.strip() for c in row):
            continue
        values.append(cell_value(path, row_no, column, row[j] if j < len(row) else None))
    if not values:
        raise DataError(f"csv: {path!r} has a header but no data rows")
    return values, digest


def load_csv(path: str, column: str, *, sha256: str | None = None) -> list[float]:
    """One numeric column of a CSV file with a header row: :func:`read_csv` without the digest."""
    return read_csv(path, column, sha256=sha256)[0]


@dataclass(frozen=True)
class Windows:
    """Windowed series: inputs (N, W) and targets (N,) or (N, W), plus where targets sit."""

    inputs: list[list[float]]
    targets: list[Any]
    target_index: list[int]  # series index of each window's (last) target


def too_short(n: int, window: int, horizon: int) -> DataError:
    """The error for a series of ``n`` values too short for one window and its target; it
    names ``horizon`` when a window with a next-step target would fit, else ``window``."""
    values = f"{n} value{'' if n == 1 else 's'}"
    if n >= window + 1:  # the window fits with a next-step target: the horizon reaches too far
        return DataError(f"horizon: a target {horizon} steps after a window of {window} needs at least "
                         f"{window + horizon} values, the series has {values}")
    return DataError(f"window: a window of {window} steps with horizon {horizon} needs at least "
                     f"{window + horizon} values, the series has {values}")


def windows(values: list[float], window: int, horizon: int = 1, *, every_step: bool = False) -> Windows:
    """Every window of ``window`` inputs with its target(s) ``horizon`` steps ahead."""
    if window < 1:
        raise DataError(f"window: expected a positive length, got {window}")
    if horizon < 1:
        raise DataError(f"horizon: expected a positive number of steps, got {horizon}")
    n = len(values) - window - horizon + 1
    if n < 1:
        raise too_short(len(values), window, horizon)
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
    """``z = (v - mean) / std``, fitted on the training part of the series: the mean and
    standard deviation (:meth:`fit`), or, for a head whose output activation is bounded, an
    offset and a scale that put the training values inside its range (:meth:`fit_range`)."""

    mean: float
    std: float

    @classmethod
    def fit(cls, values: list[float]) -> Normaliser:
        """Mean and (population) standard deviation of ``values``; a std of 0 becomes 1.

        Both are computed on ``u = v / 2**k``, with ``2**k`` the power of two just above the
        largest ``|v|`` (an exact scaling): ``|u| < 1``, so the squares cannot overflow and
        values up to the float64 maximum keep full precision; then ``mean = 2**k * mean(u)``
        and ``std = 2**k * sqrt(mean((u - mean(u))**2))``.  Values whose spread
        ``max - min`` exceeds float64 cannot all be normalised (``v - mean`` overflows for
        some of them): a DataError."""
        if not values:
            raise DataError("values: expected at least one value to fit the normalisation, got none")
        lo, hi = min(values), max(values)
        if math.isinf(hi - lo):
            raise DataError(f"csv: values from {lo:.3g} to {hi:.3g} are too far apart to normalise in float64; "
                            "rescale the column")
        k = math.frexp(max(-lo, hi))[1]
        u = [math.ldexp(v, -k) for v in values]
        m = math.fsum(u) / len(u)
        s = math.sqrt(math.fsum((x - m) ** 2 for x in u) / len(u))
        std = math.ldexp(s, k)  # 0 when s is 0, or underflows (a spread below 5e-324)
        return cls(math.ldexp(m, k), std if std > 0 else 1.0)

    @classmethod
    def fit_range(cls, values: list[float], low: float, high: float, fill: float = 0.9) -> Normaliser:
        """The scaling ``z = (v - mean) / std`` that maps ``min(values)`` and ``max(values)``
        onto the middle ``fill`` of ``(low, high)`` (0.9: a margin of 5% of the range on each
        side, for later values a little beyond the training ones): the targets of a head whose
        output activation is bounded (:data:`rnnx.nn.head.RANGES`).  ``mean`` is then an offset
        and ``std`` a scale, and every reader of a stored ``[mean, std]`` inverts it unchanged.
        Constant values get scale 1 (they map onto the range's middle)."""
        if not values:
            raise DataError("values: expected at least one value to fit the normalisation, got none")
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"low, high: expected finite low < high, got {low!r}, {high!r}")
        if not 0.0 < fill <= 1.0:
            raise ValueError(f"fill: expected a fraction in (0, 1], got {fill!r}")
        lo, hi = min(values), max(values)
        half = hi / 2 - lo / 2  # halves first: hi - lo may overflow float64
        scale = half / (fill * (high - low) / 2) if half > 0 else 1.0
        offset = (lo / 2 + hi / 2) - (low / 2 + high / 2) * scale  # the range's middle is the values'
        if not (math.isfinite(scale) and math.isfinite(offset)):
            raise DataError(f"csv: values from {lo:.3g} to {hi:.3g} are too far apart to scale onto ({low:g}, "
                            f"{high:g}) in float64; rescale the column")
        return cls(offset, scale)

    def __call__(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self(u) for u in v]
        return (v - self.mean) / self.std

    def inverse(self, z: Any) -> Any:
        return z * self.std + self.mean


# Forecasting building blocks (issue 31), imported last: they use DataError from above.
from rnnx.data.transforms import (  # noqa: E402
    BOXCOX_BOUNDS,
    DIFFERENCING,
    TRANSFORMS,
    Differencing,
    Preprocessing,
    Transform,
    boxcox_lambda,
    boxcox_llf,
)

__all__ += ["TRANSFORMS", "BOXCOX_BOUNDS", "boxcox_llf", "boxcox_lambda", "Transform", "DIFFERENCING",
            "Differencing", "Preprocessing"]
from rnnx.data.calendar import CALENDAR_FEATURES, FREQUENCIES, SEASONAL_PERIODS, Calendar, infer_calendar  # noqa: E402

__all__ += ["FREQUENCIES", "SEASONAL_PERIODS", "CALENDAR_FEATURES", "Calendar", "infer_calendar"]
from rnnx.data.accuracy import (  # noqa: E402
    ACCURACY_METRICS,
    INTERVAL_LEVELS,
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

__all__ += ["ACCURACY_METRICS", "mae", "rmse", "mape", "smape", "naive_scale", "mase", "accuracy",
            "INTERVAL_LEVELS", "conformal_quantile", "conformal_intervals"]
